#!/bin/sh
# tests/test_cli.sh -- the command line as a user meets it:
# help and usage, bad flags and values, corrupt checkpoints, malformed JSONL,
# prompts longer than the context, unwritable run folders, the contents of a
# run folder, and reproducibility (same seed, any thread count, --quiet or not).
#
# Every bad input must give exactly one line on stderr, "r1: ...", naming the
# flag or the file; exit status 2 for usage errors and 1 for data errors;
# nothing on stdout; no crash (exit >= 128, a sanitizer report), no hang (each
# run is killed after 20 s, 60 s under the sanitizers), no half-written file. Run from the repository root
# after `make r1`:
#
#     sh tests/test_cli.sh        # R1=path/to/r1: test another build; KEEP=1: keep the temp folder
#
# Prints "FAIL: ..." per failure, then "cli: N passed, M failed"; exits 1 if M > 0.

# shellcheck disable=SC2086,SC2154,SC2010,SC2016
set -f                                     # no globbing: $safe etc. are split on spaces
LC_ALL=C; export LC_ALL                    # bytes, not characters, in grep, tr, ${#x}
R1=${R1:-./r1}
case $R1 in /*) ;; *) R1=$(pwd)/$R1 ;; esac
if [ ! -x "$R1" ] || [ ! -f data/tokenizer.txt ]; then
    echo "FAIL: $R1 or data/tokenizer.txt not found (run make r1 from the repository root)"
    echo "cli: 0 passed, 1 failed"
    exit 1
fi
TMP=$(mktemp -d /tmp/r1-cli.XXXXXX) || exit 1
trap 'kill "$watchdog" 2>/dev/null; rm -rf "$TMP"' EXIT
[ -n "$KEEP" ] && trap 'kill "$watchdog" 2>/dev/null' EXIT
trap 'exit 1' HUP INT TERM
# python3, for the checks that parse JSON or UTF-8: the interpreter itself,
# not a version manager's shim (pyenv's runs some fifteen processes before
# python, each time), found on PATH without running anything; -S below skips
# site-packages, half of python's start (the checks use the standard library)
PY=""
IFS_=$IFS; IFS=:
for d in $PATH; do
    case $d in */shims) continue ;; esac
    [ -x "${d:-.}/python3" ] && PY=${d:-.}/python3 && break
done
IFS=$IFS_
if [ -z "$PY" ] && PY=$(command -v python3 2>/dev/null) &&        # a shim alone: ask it once
   PYX=$("$PY" -S -c 'import sys; print(sys.executable)' 2>/dev/null) && [ -x "$PYX" ]; then PY=$PYX; fi
# make test pins this script to one CPU (tests/run.sh); the runs that compare
# two threads with one get back the CPUs the lanes came from, so that their
# workers run side by side as a user's do (and spin while they wait)
TWO=""; [ -n "${R1_TEST_CPUS:-}" ] && TWO="taskset -c $R1_TEST_CPUS"
pass=0; nfail=0

# ---- helpers ---------------------------------------------------------------

# run CMD ARGS...: run with a time limit; sets rc, leaves $TMP/out and $TMP/err.
# (The sanitizers' build, R1_SLOW=1, is some ten times slower, and on one CPU
# of a loaded machine its 5-step pretraining with 64 threads took over 20 s.)
# The limit is kept by one watchdog for the whole script, not by a `timeout`
# process a run: this script runs ./r1 some 500 times, and starting a process
# costs about what a run that fails on a bad flag does. run writes its number
# to $TMP/running; once a second the watchdog looks, and a run it has seen
# there for LIMIT seconds it marks hung ($TMP/hung.NUMBER) and stops, with
# TERM and 5 s later KILL to each child of this script but the watchdog (ps
# finds them: the run, and any run started in the background).
LIMIT=20; [ "${R1_SLOW:-0}" = 1 ] && LIMIT=60
runs=0
: >"$TMP/running"
(
    seen=""; secs=0
    while kill -0 $$ 2>/dev/null; do               # until the script is gone
        sleep 1
        now=""; read -r now 2>/dev/null <"$TMP/running"
        if [ -z "$now" ] || [ "$now" != "$seen" ]; then seen=$now; secs=0; continue; fi
        secs=$((secs + 1)); sig=""
        if [ $secs -eq $LIMIT ]; then sig=TERM; : >"$TMP/hung.$now"
        elif [ $secs -ge $((LIMIT + 5)) ]; then sig=KILL; fi
        [ -n "$sig" ] && read -r me <"$TMP/watchdog" && ps -e -o pid= -o ppid= |
            while read -r pid ppid; do [ "$ppid" = $$ ] && [ "$pid" != "$me" ] && kill -$sig "$pid"; done
    done
) >/dev/null 2>&1 &
watchdog=$!
echo "$watchdog" >"$TMP/watchdog"
run() {
    runs=$((runs + 1))
    echo "$runs" >"$TMP/running"
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    : >"$TMP/running"
}

ok() { pass=$((pass + 1)); }
lines() { n=$(wc -l <"$1"); echo $((n + 0)); }

# fail WHAT: count a failure and print it with the last exit status and stderr.
fail() {
    nfail=$((nfail + 1))
    printf 'FAIL: %s (exit %s, stderr: %s)\n' "$1" "$rc" \
        "$(head -c 300 "$TMP/err" | tr '\n\t' '| ' | tr -d '\r\033')"
}

# crash_why: why the last run counts as a crash or hang ("" if it doesn't).
crash_why() {
    why=""
    if [ -e "$TMP/hung.$runs" ]; then why="hung: killed after $LIMIT s"
    elif [ "$rc" -ge 125 ]; then why="crashed (signal $((rc - 128)))"
    elif [ -s "$TMP/err" ] && grep -q 'Sanitizer\|runtime error:' "$TMP/err"; then why="sanitizer report"
    fi
}

# stderr_one_line NEEDLE: stderr is exactly one newline-terminated line that
# starts with "r1: " and contains NEEDLE. Sets why ("" if so). (No process
# unless it fails: this runs some 450 times. The first read succeeds only on
# a whole line, the second must find nothing after it. The shell's read drops
# NUL bytes, which no printf of r1's messages can write.)
stderr_one_line() {
    why=""; line=""; more=""
    if ! { IFS= read -r line && ! IFS= read -r more && [ -z "$more" ]; } <"$TMP/err"; then
        why="stderr is $(lines "$TMP/err") lines ($(($(wc -c <"$TMP/err") + 0)) bytes), want exactly one"
    else
        case $line in
            "r1: "*"$1"*) ;;
            "r1: "*) why="stderr does not mention '$1'" ;;
            *) why="stderr does not start with 'r1: '" ;;
        esac
    fi
}

# expect_err CODES NEEDLE WHAT CMD ARGS...: CMD fails with an exit status among
# CODES (e.g. "2" or "1 2"), one line on stderr mentioning NEEDLE, an empty stdout.
# A crash or hang fails this too (its exit status is 125 or more, a sanitizer
# report is more than one line), and is looked for only then, to be named.
expect_err() {
    codes=$1; needle=$2; what=$3; shift 3
    run "$@"
    case " $codes " in
        *" $rc "*) stderr_one_line "$needle"
                   if [ -z "$why" ] && [ -s "$TMP/out" ]; then
                       why="wrote $(lines "$TMP/out") lines to stdout before failing"
                   fi ;;
        *) why="expected exit $(echo "$codes" | sed 's/ / or /')" ;;
    esac
    if [ -z "$why" ]; then ok; else
        why_=$why; crash_why
        fail "$what: ${why:-$why_}"
    fi
}

# expect_ok WHAT CMD ARGS...: CMD exits 0 (stderr may carry progress lines).
# Returns non-zero if it didn't, so callers can skip checks of its output.
expect_ok() {
    what=$1; shift
    run "$@"
    crash_why
    if [ -z "$why" ] && [ "$rc" -ne 0 ]; then why="expected exit 0"; fi
    if [ -z "$why" ]; then ok; else fail "$what: $why"; fi
    [ -z "$why" ]
}

# has_line FILE PATTERN: some line of FILE matches the shell PATTERN (a case
# pattern, * for any text). A loop of builtins: grep would start a process,
# which costs more than the run whose output it reads.
has_line() {
    while IFS= read -r l || [ -n "$l" ]; do
        # shellcheck disable=SC2254
        case $l in $2) return 0 ;; esac
    done <"$1"
    return 1
}

# check STATUS WHAT: count the result of a shell test on the last run's output
# (a failure shows that run's exit status and stderr).
check() {
    if [ "$1" -eq 0 ]; then ok; else fail "$2"; fi
}

# no_debris DIR WHAT: no temporaries (*.tmp, *.tmp.PID) or probe files left in DIR.
no_debris() {
    left=$(ls -A "$1" 2>/dev/null | grep -E '\.tmp(\.[0-9]+)?$|\.write-test$' | tr '\n' ' ')
    [ -z "$left" ]; check $? "$2: left $left in $1"
}

# replace SRC DST OLD NEW [SRC DST OLD NEW]...: copy a binary file, replacing
# the first OLD by NEW (a failure, counted, if SRC holds no OLD: the checks on
# DST would test nothing). Several copies take one python.
replace() {
    if [ -n "$PY" ]; then
        "$PY" -S -c 'import sys
a = sys.argv[1:]
for src, dst, old, new in zip(a[0::4], a[1::4], a[2::4], a[3::4]):
    try:
        s = open(src, "rb").read(); o = old.encode(); n = new.encode()
        assert o in s, o
        open(dst, "wb").write(s.replace(o, n, 1))
    except Exception:
        print("replace: no %s in %s to make %s of" % (old, src, dst))' "$@" >"$TMP/replace" 2>"$TMP/err"
        rc=$?; [ "$rc" -eq 0 ] || fail "replace: python failed"
        while IFS= read -r l; do fail "$l"; done <"$TMP/replace"
    else
        while [ $# -ge 4 ]; do
            grep -q "$3" "$1" && LC_ALL=C sed "s/$3/$4/" "$1" >"$2"
            rc=$?; [ "$rc" -eq 0 ] || fail "replace: no $3 in $1 to make $2 of"
            shift 4
        done
    fi
}

# py_check KIND FILE WHAT: have python check FILE (kept until the end), one
# check, counted when py_checks runs them all at the end of the script in one
# interpreter (python takes longer to start than most runs here take); its
# failure reads "WHAT: " and python's exception. The kinds:
PYCHECKS='import json, math, sys
def ask_json(b):        # ask --json: one object, reasoning_content and content
    d = json.loads(b)   # bytes: must be UTF-8
    assert set(d) == {"reasoning_content", "content"}, sorted(d)
    assert d["reasoning_content"] is None or isinstance(d["reasoning_content"], str)
    assert isinstance(d["content"], str)
def eval_json(b):       # eval --json on two.jsonl with --k 1
    d = json.loads(b)
    assert d["k"] == 1 and d["n"] == 2, d
    for key in ("pass@1", "cons@k", "greedy", "format_rate"): assert 0 <= d[key] <= 1, key
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in d.values()), d
def shown(b):           # text for a terminal: UTF-8 without C1 controls
    s = b.decode("utf-8")
    assert not any(0x80 <= ord(c) <= 0x9f for c in s), "a C1 control"
for line in open(sys.argv[1], "rb"):
    kind, path, what = line.decode().rstrip("\n").split("\t", 2)
    try:
        globals()[kind](open(path, "rb").read())
        print("ok")
    except Exception as e:
        print(("%s: %s" % (type(e).__name__, e)).replace("\n", " ")[:300])'
py_check() {
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$TMP/pychecks"
}
py_checks() {
    [ -s "$TMP/pychecks" ] || return
    "$PY" -S -c "$PYCHECKS" "$TMP/pychecks" >"$TMP/pyres" 2>"$TMP/pyerr"
    rc=$?
    while IFS='	' read -r _ _ what; do
        res=""; IFS= read -r res <&3
        if [ "$res" = ok ]; then ok; else fail "$what: ${res:-python stopped: $(tail -n 1 "$TMP/pyerr")}"; fi
    done <"$TMP/pychecks" 3<"$TMP/pyres"
}

# ---- fixtures ----------------------------------------------------------------

# A small data dir keeps the RL stages fast: they watch the development sets
# at every step, each question sampled to the length limit by a model this
# untrained (2 questions each; the 8-question test sets are evaluation's).
DD=$TMP/dd
sh tests/small_data.sh "$DD" 8 add_test add_hard && sh tests/small_data.sh "$DD" 2 add_dev add_hard_dev
ADDS="$DD/add_test.jsonl $DD/add_hard.jsonl $DD/add_dev.jsonl $DD/add_hard_dev.jsonl"   # the data dir's additions
printf '{"prompt": "1+2", "answer": "3"}\n{"prompt": "20+22", "answer": 42}\n' >"$TMP/two.jsonl"

# (d=16, one layer: what is checked with it is plumbing, whatever the shape;
# the demo's shape costs every stage below some 6 times more. Pretraining
# runs whose shape does not matter take it too.)
TINY="--d-model 16 --layers 1 --heads 2"
if ! expect_ok "pretrain --steps 2 (the tiny model for every later test)" \
        "$R1" pretrain --steps 2 $TINY --out "$TMP/base" --threads 1 --quiet ||
   [ ! -s "$TMP/base/model.safetensors" ]; then
    echo "cli: $pass passed, $((nfail + 1)) failed"
    exit 1
fi
BASE=$TMP/base/model.safetensors

SAFE_pretrain="--steps 1 --batch 2 --out $TMP/junk --quiet"
SAFE_zero="--model $TMP/base --data-dir $DD --steps 1 --prompts 2 --group 2 --out $TMP/junk --quiet"
SAFE_coldstart="--model $TMP/base --base $TMP/base --data-dir $DD --questions 2 --steps 1 --out $TMP/junk --quiet"
SAFE_reason="--model $TMP/base --data-dir $DD --steps 1 --prompts 2 --group 2 --out $TMP/junk --quiet"
SAFE_rsft="--model $TMP/base --base $TMP/base --data-dir $DD --questions 2 --steps 1 --out $TMP/junk --quiet"
SAFE_align="--model $TMP/base --data-dir $DD --questions 2 --steps 1 --prompts 2 --group 2 --out $TMP/junk --quiet"
SAFE_distill="--model $TMP/base --base $TMP/base --data-dir $DD --questions 2 --steps 1 --out $TMP/junk --quiet"
SAFE_eval="--model $TMP/base --data $TMP/two.jsonl --k 1 --quiet"
SAFE_ask="--model $TMP/base 1+2"
SAFE_score="--model $TMP/base 1+2"
SAFE_make_data="--data-dir $TMP/md"
SAFE_demo="--data-dir $DD --steps 1 --prompts 2 --group 2 --out $TMP/junk --quiet"

# ---- help and usage ----------------------------------------------------------

run "$R1"
crash_why
if [ -n "$why" ]; then fail "no arguments: $why"
elif [ "$rc" -ne 2 ]; then fail "no arguments: expected exit 2 (usage error)"
elif ! cat "$TMP/out" "$TMP/err" | grep -q 'usage:'; then fail "no arguments: no usage message"
else ok; fi

for h in --help -h help; do
    run "$R1" "$h"
    ok_=1
    for c in demo pretrain zero coldstart reason rsft align distill eval ask score make-data; do
        has_line "$TMP/out" "  $c *" || ok_=0
    done
    if [ "$rc" -ne 0 ] || [ "$ok_" -ne 1 ] || [ -s "$TMP/err" ]; then
        fail "./r1 $h: expected exit 0 and every command listed on stdout"
    else ok; fi
done

for c in demo pretrain zero coldstart reason rsft align distill eval ask score make-data; do
    run "$R1" "$c" --help
    if [ "$rc" -ne 0 ] || ! has_line "$TMP/out" "usage: ./r1 $c*" || [ -s "$TMP/err" ]; then
        fail "./r1 $c --help: expected exit 0 and 'usage: ./r1 $c' on stdout"
    else ok; fi
done

expect_err 2 frobnicate "unknown command" "$R1" frobnicate
expect_err 2 --steps "a flag as the command" "$R1" --steps 3
expect_err 2 "" "empty command" "$R1" ""

# ---- flags -------------------------------------------------------------------

for c in demo pretrain zero coldstart reason rsft align distill eval ask score make-data; do
    case $c in make-data) safe=$SAFE_make_data ;; *) eval "safe=\$SAFE_$c" ;; esac
    expect_err 2 --frobnicate "$c: unknown flag" "$R1" "$c" --frobnicate $safe
done
expect_err 2 --Steps "pretrain: flag names are case-sensitive" "$R1" pretrain --Steps 1 $SAFE_pretrain
expect_err 2 --steps=1 "pretrain: --steps=1 is not a flag" "$R1" pretrain --steps=1 $SAFE_pretrain
# another model shape (a distillation student's): the checkpoint says so; a shape that cannot be is refused
if expect_ok "pretrain --d-model 48 --layers 2" "$R1" pretrain --d-model 48 --layers 2 --steps 1 --batch 2 --out "$TMP/student" --quiet; then
    head -c 300 "$TMP/student/model.safetensors" | grep -q '"d_model":"48","n_layer":"2","n_head":"4"'
    check $? "pretrain --d-model 48 --layers 2: the checkpoint's metadata does not say d_model 48, n_layer 2"
fi
expect_err 2 "n_head must divide d_model" "pretrain --d-model 50 (4 heads do not divide it)" "$R1" pretrain --d-model 50 $SAFE_pretrain

# flags that belong to another command
expect_err 2 --steps "score: --steps belongs to training commands" "$R1" score --steps 1 $SAFE_score
expect_err 2 --model "pretrain: --model belongs to zero/eval/ask/score" "$R1" pretrain --model "$TMP/base" $SAFE_pretrain
expect_err 2 --k "ask: --k belongs to eval" "$R1" ask --k 2 $SAFE_ask
expect_err 2 --out "eval: --out belongs to training commands" "$R1" eval --out "$TMP/junk" $SAFE_eval
expect_err 2 --top-p "zero: --top-p belongs to eval/ask" "$R1" zero --top-p 0.9 $SAFE_zero
expect_err 2 --json "pretrain: --json belongs to eval/ask" "$R1" pretrain --json $SAFE_pretrain
expect_err 2 --json "score: --json belongs to eval/ask" "$R1" score --json $SAFE_score
expect_err 2 --threads "make-data: --threads is not one of its flags" "$R1" make-data --threads 1 $SAFE_make_data

# stray positional arguments
expect_err 2 stray "pretrain: an unexpected argument" "$R1" pretrain stray $SAFE_pretrain
expect_err 2 stray "zero: an unexpected argument" "$R1" zero stray $SAFE_zero
expect_err 2 1+2 "eval: an unexpected argument" "$R1" eval 1+2 $SAFE_eval
expect_err 2 3+4 "ask: a second question" "$R1" ask $SAFE_ask 3+4
expect_err 2 3+4 "score: a second text" "$R1" score $SAFE_score 3+4

# bad_num FLAG CMD VALUE...: each VALUE and a missing value are usage errors.
bad_num() {
    flag=$1; cmd=$2; shift 2
    eval "safe=\$SAFE_$cmd"
    for v in "$@"; do
        expect_err 2 "$flag" "$cmd $flag '$v'" "$R1" "$cmd" "$flag" "$v" $safe
    done
    expect_err 2 "$flag" "$cmd $flag without a value" "$R1" "$cmd" $safe "$flag"
}
COMMON="abc 1x nan inf -inf 1e30"
INT="$COMMON 1.5 99999999999 -1"
bad_num --steps pretrain $INT 0 ""
bad_num --steps zero 0 nan 1e30
bad_num --threads pretrain $INT 0 100000 ""
bad_num --threads score abc 0 -1 nan 99999999999
bad_num --threads eval abc 0 nan
bad_num --batch pretrain abc 0 -1 nan 1e30 1.5
bad_num --k eval $INT 0 ""
bad_num --prompts zero $INT 0 ""
bad_num --group zero $INT 0 1 ""
bad_num --mu zero abc 0 -1 nan 1e30 1.5
bad_num --ref-reset zero abc -1 nan 1e30 1.5
bad_num --seed pretrain $INT 2147483648 ""
bad_num --seed ask abc -1 nan 99999999999
bad_num --lr pretrain $COMMON 0 -1 2 ""
bad_num --lr zero nan 0 -0.001
bad_num --beta zero $COMMON -1 ""
bad_num --clip zero $COMMON -0.2 ""
bad_num --clip-high zero abc -0.2 nan inf 1e30
bad_num --temperature ask $COMMON -1 ""
bad_num --temperature eval abc -1 nan inf
bad_num --temperature zero -1 nan 0 0.0
bad_num --temperature demo 0
# a tiny positive temperature is refused up front: it would overflow logits / temperature
# (or round to 0 as a float), not fail later or sample greedily in all but name
bad_num --temperature zero 1e-45 1e-50 0.001 0.009
bad_num --temperature ask 1e-45 1e-50 1e-39 0.001
bad_num --temperature eval 1e-45 0.005
bad_num --temperature reason 1e-45
bad_num --temperature align 1e-45
bad_num --beta zero 1e-45
expect_ok "ask --temperature 0 (greedy)" "$R1" ask --model "$TMP/base" --temperature 0 1+2
expect_ok "ask --temperature 0.01 (the least that samples)" "$R1" ask --model "$TMP/base" --temperature 0.01 1+2
bad_num --top-p ask $COMMON 0 -0.5 2 ""
bad_num --top-p eval nan 0 2
bad_num --format-reward zero $COMMON -1 11 ""
bad_num --process-reward zero $COMMON -1 11 ""
bad_num --process-reward reason abc -1

# string flags: empty values, and --loss must name a known loss
expect_err 2 --model "score --model ''" "$R1" score --model "" 1+2
expect_err 2 --model "ask --model without a value" "$R1" ask 1+2 --model
expect_err 2 --out "pretrain --out ''" "$R1" pretrain --out "" --steps 1 --quiet
expect_err 2 --data "eval --data ''" "$R1" eval --data "" --model "$TMP/base" --k 1
expect_err 2 --data-dir "pretrain --data-dir ''" "$R1" pretrain --data-dir "" $SAFE_pretrain
expect_err 2 --loss "zero --loss ''" "$R1" zero --loss "" $SAFE_zero
expect_err 2 --loss "zero --loss ppo" "$R1" zero --loss ppo $SAFE_zero
expect_err 2 --loss "zero --loss GRPO" "$R1" zero --loss GRPO $SAFE_zero
expect_err 2 --samples "eval --samples ''" "$R1" eval --samples "" $SAFE_eval
expect_err 1 "$TMP/no-such-dir" "eval --samples into a missing folder" "$R1" eval --samples "$TMP/no-such-dir/s.txt" $SAFE_eval
expect_err 2 --samples "ask: --samples belongs to eval" "$R1" ask --samples "$TMP/s.txt" $SAFE_ask
if expect_ok "eval --samples (every completion, for exercise 4.1)" "$R1" eval --samples "$TMP/s.txt" $SAFE_eval --k 3; then
    [ "$(grep -c '^1+2 => ' "$TMP/s.txt")" -eq 3 ] && [ "$(grep -c '^20+22 => ' "$TMP/s.txt")" -eq 3 ] && [ ! -e "$TMP/s.txt.tmp" ]
    check $? "eval --samples --k 3 on two questions: want 3 'QUESTION => ...' lines each and no temporary"
fi
expect_err 2 --filter "rsft --filter ''" "$R1" rsft --filter "" $SAFE_rsft
expect_err 2 --filter "rsft --filter loose" "$R1" rsft --filter loose $SAFE_rsft
expect_err 2 --filter "distill --filter STRICT" "$R1" distill --filter STRICT $SAFE_distill
expect_err 2 --filter "zero: --filter belongs to rsft and distill" "$R1" zero --filter none $SAFE_zero
# the exercises' reward weights: without the format reward it is still logged; the process reward gets its column
if expect_ok "zero --format-reward 0 --process-reward 0.5" \
        "$R1" zero --model "$TMP/base" --data-dir "$DD" --steps 1 --prompts 2 --group 2 --format-reward 0 \
        --process-reward 0.5 --out "$TMP/zero-fp" --quiet; then
    head -n 1 "$TMP/zero-fp/metrics.csv" | grep -q '^step,reward,reward_std,format_reward,accuracy_reward,process_reward,'
    check $? "zero --format-reward 0 --process-reward 0.5: metrics.csv lacks format_reward or process_reward"
fi
# demo reuses ./runs/base when it is a finished 3000-step base: run it in a
# folder whose runs/base is our tiny model labelled finished, so that a flag
# checked late costs a second rather than a pretraining (and the repository's
# runs/ is untouched)
if [ -n "$PY" ]; then
    mkdir -p "$TMP/cwd/runs/base"
    "$PY" -S -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); h["__metadata__"]["step"] = h["__metadata__"]["steps"] = "3000"
s = json.dumps(h, separators=(",", ":")).encode(); s += b" " * (-len(s) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(s)) + s + b[8 + n:])' "$BASE" "$TMP/cwd/runs/base/model.safetensors"
    expect_err 2 --loss "demo --loss ppo (a usage error, before any work)" \
        sh -c 'cd "$1" && shift && exec "$@"' sh "$TMP/cwd" "$R1" demo --loss ppo $SAFE_demo
    make_data_5=$TMP/cwd/dd5
    "$R1" make-data --seed 5 --data-dir "$make_data_5" >/dev/null 2>&1
    expect_err 1 "another tokenizer" "demo reusing a base trained with another tokenizer" \
        sh -c 'cd "$1" && shift && exec "$@"' sh "$TMP/cwd" "$R1" demo --data-dir "$make_data_5" --steps 1 --prompts 2 --group 2 --out "$TMP/junk" --quiet
fi

# missing required inputs
expect_err 2 --model "eval without --model" "$R1" eval --data "$TMP/two.jsonl" --k 1
expect_err 2 --model "ask without --model" "$R1" ask 1+2
expect_err 2 --model "score without --model" "$R1" score 1+2
expect_err 2 ask "ask without a question" "$R1" ask --model "$TMP/base"
expect_err 2 ask "ask with an empty question" "$R1" ask --model "$TMP/base" ""
expect_err 2 score "score without a text" "$R1" score --model "$TMP/base"
expect_err 2 score "score with an empty text" "$R1" score --model "$TMP/base" ""

# ---- checkpoints -------------------------------------------------------------

size=$(wc -c <"$BASE"); size=$((size + 0))
mkdir "$TMP/emptydir" "$TMP/dirmodel" "$TMP/dirmodel/model.safetensors"
: >"$TMP/empty.safetensors"
head -c 4 "$BASE" >"$TMP/short.safetensors"
head -c 1000 "$BASE" >"$TMP/trunc-header.safetensors"
head -c $((size - 1000)) "$BASE" >"$TMP/trunc-data.safetensors"
head -c $((size - 1)) "$BASE" >"$TMP/trunc-1.safetensors"
{ cat "$BASE"; printf 'x'; } >"$TMP/trailing.safetensors"
LC_ALL=C awk 'BEGIN { srand(7); for (i = 0; i < 65536; i++) printf "%c", 1 + int(rand() * 255) }' \
    </dev/null >"$TMP/random.safetensors"
{ printf '\100\000\000\000\000\000\000\000'; head -c 8192 "$TMP/random.safetensors"; } \
    >"$TMP/garbage-header.safetensors"
cp data/tokenizer.txt "$TMP/text.safetensors"
replace "$BASE" "$TMP/d64.safetensors" '"d_model":"16"' '"d_model":"64"' \
        "$BASE" "$TMP/ctx100.safetensors" '"n_ctx":"128"' '"n_ctx":"100"' \
        "$BASE" "$TMP/layers9.safetensors" '"n_layer":"1"' '"n_layer":"9"' \
        "$BASE" "$TMP/layers2.safetensors" '"n_layer":"1"' '"n_layer":"2"' \
        "$BASE" "$TMP/f16.safetensors" '"dtype":"F32"' '"dtype":"F16"'
{ head -c $((size - 4096)) "$BASE"; LC_ALL=C tr '\000' '\377' </dev/zero | head -c 4096; } >"$TMP/nan.safetensors"

for f in nope.safetensors emptydir dirmodel empty.safetensors short.safetensors \
         trunc-header.safetensors trunc-data.safetensors trunc-1.safetensors \
         trailing.safetensors random.safetensors garbage-header.safetensors \
         text.safetensors d64.safetensors ctx100.safetensors layers9.safetensors \
         layers2.safetensors f16.safetensors nan.safetensors; do
    p=$TMP/$f
    expect_err 1 "$p" "score --model $f" "$R1" score --model "$p" 1+2
    expect_err 1 "$p" "ask --model $f" "$R1" ask --model "$p" 1+2
    expect_err 1 "$p" "eval --model $f" "$R1" eval --model "$p" --data "$TMP/two.jsonl" --k 1
done
for f in nope.safetensors emptydir trunc-data.safetensors d64.safetensors; do
    expect_err 1 "$TMP/$f" "zero --model $f" "$R1" zero --model "$TMP/$f" --data-dir "$DD" \
        --steps 1 --prompts 2 --group 2 --out "$TMP/junk" --quiet
done
expect_err 1 "$TMP/nodir" "eval --data-dir that does not exist" \
    "$R1" eval --data-dir "$TMP/nodir" --model "$TMP/base" --data "$TMP/two.jsonl" --k 1
expect_err 1 "$TMP/nodir" "ask --data-dir that does not exist" \
    "$R1" ask --data-dir "$TMP/nodir" --model "$TMP/base" 1+2

# FIFOs and devices are refused at once: no hang waiting for a writer, no
# 2 GiB read from /dev/zero before "too large"
if mkfifo "$TMP/fifo" 2>/dev/null; then
    expect_err 1 "not a regular file" "ask --model a FIFO" "$R1" ask --model "$TMP/fifo" 1+2
    expect_err 1 "not a regular file" "eval --data a FIFO" "$R1" eval --model "$TMP/base" --data "$TMP/fifo" --k 1
    mkdir "$TMP/dd-fifo" && cp $ADDS "$TMP/dd-fifo/" && mkfifo "$TMP/dd-fifo/tokenizer.txt"
    expect_err 1 "not a regular file" "ask with tokenizer.txt a FIFO" "$R1" ask --model "$TMP/base" --data-dir "$TMP/dd-fifo" 1+2
    mkdir "$TMP/run-fifo" && mkfifo "$TMP/run-fifo/state.bin"
    expect_err 1 "not a regular file" "pretrain --resume with state.bin a FIFO" \
        "$R1" pretrain --steps 1 --batch 2 --out "$TMP/run-fifo" --resume --quiet
fi
expect_err 1 "not a regular file" "ask --model /dev/zero" "$R1" ask --model /dev/zero 1+2
expect_err 1 "not a regular file" "eval --data /dev/zero" "$R1" eval --model "$TMP/base" --data /dev/zero --k 1

# control characters in what a message quotes are shown as \xNN: a newline in
# a path cannot forge a second "r1:" line, nor an escape sequence reach the terminal
NL='
'
expect_err 1 'x\x0ar1: forged' "ask --model with a newline in its name" "$R1" ask --model "$TMP/x${NL}r1: forged" 1+2
expect_err 1 'y\x1b[2J' "ask --model with an escape sequence in its name" "$R1" ask --model "$TMP/y$(printf '\033')[2J" 1+2

# a data dir with a broken tokenizer or benchmark
mkdir "$TMP/dd-tok" "$TMP/dd-bench"
cp $ADDS "$TMP/dd-tok/"; head -c 200 "$DD/tokenizer.txt" >"$TMP/dd-tok/tokenizer.txt"
cp "$DD/tokenizer.txt" $ADDS "$TMP/dd-bench/"
{ head -n 2 "$DD/add_test.jsonl"; echo '{"prompt": "1+2", '; } >"$TMP/dd-bench/add_test.jsonl"
expect_err 1 "$TMP/dd-tok/tokenizer.txt" "eval with a truncated tokenizer.txt" \
    "$R1" eval --data-dir "$TMP/dd-tok" --model "$TMP/base" --data "$TMP/two.jsonl" --k 1
expect_err 1 "$TMP/dd-bench/add_test.jsonl:3" "pretrain with a malformed add_test.jsonl" \
    "$R1" pretrain --data-dir "$TMP/dd-bench" $SAFE_pretrain
# a data dir from before the development sets: one line that names the file and the fix
mkdir "$TMP/dd-nodev" && cp "$DD/tokenizer.txt" "$DD/add_test.jsonl" "$DD/add_hard.jsonl" "$TMP/dd-nodev/"
expect_err 1 "add_dev.jsonl: no such file; training watches the development sets (\`./r1 make-data\` writes them)" \
    "pretrain with no add_dev.jsonl" "$R1" pretrain --data-dir "$TMP/dd-nodev" $SAFE_pretrain

# ---- the stages chain: each starts from the previous stage's checkpoint ------

if expect_ok "zero --steps 1 from the tiny base (for the chain)" \
        "$R1" zero --model "$TMP/base" --data-dir "$DD" --steps 1 --prompts 2 --group 2 --out "$TMP/zero" --quiet; then
    expect_err 1 "stage 'base'" "coldstart from a base model, not R1-Zero" \
        "$R1" coldstart --model "$TMP/base" --base "$TMP/base" --data-dir "$DD" --questions 2 --steps 1 --out "$TMP/cs" --quiet
    expect_err 1 "stage 'r1_zero'" "coldstart with R1-Zero as the base" \
        "$R1" coldstart --model "$TMP/zero" --base "$TMP/zero" --data-dir "$DD" --questions 2 --steps 1 --out "$TMP/cs" --quiet
    expect_err 1 "nothing-here" "coldstart from a missing R1-Zero" \
        "$R1" coldstart --model "$TMP/nothing-here" --base "$TMP/base" --data-dir "$DD" --questions 2 --steps 1 --out "$TMP/cs" --quiet
    expect_err 1 "stage 'r1_zero'" "reason from R1-Zero, not the cold start" \
        "$R1" reason --model "$TMP/zero" --data-dir "$DD" --steps 1 --prompts 2 --group 2 --out "$TMP/rs" --quiet
    if expect_ok "coldstart --questions 8 --steps 2 from the tiny R1-Zero" \
            "$R1" coldstart --model "$TMP/zero" --base "$TMP/base" --data-dir "$DD" --questions 8 --steps 2 --out "$TMP/cs" --quiet; then
        if ! grep -q -- '-1\.0' "$TMP/out"; then ok; else
            fail "coldstart's summary shows an undefined figure as -1: $(cat "$TMP/out")"; fi
        for f in model.safetensors metrics.csv curves.svg samples.txt coldstart.jsonl coldstart.txt; do
            [ -s "$TMP/cs/$f" ]; check $? "coldstart: $f missing or empty"
        done
        n=$(grep -c '^{"prompt": ".*", "completion": "<think>.*</think><answer>[0-9]*</answer>"}$' "$TMP/cs/coldstart.jsonl")
        [ "$n" -gt 0 ] && [ "$n" -eq "$(lines "$TMP/cs/coldstart.jsonl")" ]
        check $? "coldstart.jsonl: $n of $(lines "$TMP/cs/coldstart.jsonl") lines are prompt/completion pairs in the pattern"
        if expect_ok "reason --steps 1 from the cold start" \
                "$R1" reason --model "$TMP/cs" --data-dir "$DD" --steps 1 --prompts 2 --group 2 --out "$TMP/rs" --quiet; then
            head -n 1 "$TMP/rs/metrics.csv" | grep -q ',language_reward,.*,zh_mixed,.*,hard_accuracy,'
            check $? "reason: metrics.csv lacks the language reward, zh_mixed or hard_accuracy columns"
        fi
        if [ -s "$TMP/rs/model.safetensors" ]; then
            expect_err 1 "stage 'r1_zero'" "rsft from R1-Zero, not reasoning RL" \
                "$R1" rsft --model "$TMP/zero" --base "$TMP/base" --data-dir "$DD" --questions 2 --out "$TMP/rsft" --quiet
            expect_err 1 "stage 'reasoning_rl'" "rsft with the reasoning-RL model as the base" \
                "$R1" rsft --model "$TMP/rs" --base "$TMP/rs" --data-dir "$DD" --questions 2 --out "$TMP/rsft" --quiet
            # a model trained for a few steps gets nothing right: a clear error, not an empty set
            expect_err 1 "passed the filters" "rsft from a reasoning-RL model that is never right" \
                "$R1" rsft --model "$TMP/rs" --base "$TMP/base" --data-dir "$DD" --questions 4 --out "$TMP/rsft" --quiet
            # ...unless the filter is loosened to keep every sample (an exercise)
            expect_ok "rsft --filter none from a reasoning-RL model that is never right" \
                "$R1" rsft --model "$TMP/rs" --base "$TMP/base" --data-dir "$DD" --questions 4 --steps 1 --filter none \
                --out "$TMP/rsft-none" --quiet &&
                grep -q -- '--filter none' "$TMP/rsft-none/rsft.txt" && [ -s "$TMP/rsft-none/model.safetensors" ]
            check $? "rsft --filter none: no rsft.txt naming the filter, or no checkpoint"
            expect_err 1 "stage 'reasoning_rl'" "distill from reasoning RL, not the aligned model" \
                "$R1" distill --model "$TMP/rs" --base "$TMP/base" --data-dir "$DD" --questions 2 --out "$TMP/ds" --quiet
            expect_err 1 "stage 'reasoning_rl'" "align from reasoning RL, not rsft" \
                "$R1" align --model "$TMP/rs" --data-dir "$DD" --questions 2 --steps 1 --out "$TMP/al" --quiet
        fi
        expect_ok "reason --lang-reward 0 (the ablation)" \
            "$R1" reason --model "$TMP/cs" --data-dir "$DD" --steps 1 --prompts 2 --group 2 --lang-reward 0 --out "$TMP/rs0" --quiet &&
            ! head -n 1 "$TMP/rs0/metrics.csv" | grep -q language_reward
        check $? "reason --lang-reward 0 still logs a language reward"
    fi
fi

# ---- unfinished parents ------------------------------------------------------

# A run killed (or still running) leaves a checkpoint saved part-way: its
# metadata says step k of n. A stage refuses to train on it, naming the file,
# its step and the command that finishes it; --allow-unfinished makes that a
# warning. Commands that only read (ask, eval, score) warn and go on.
U=$TMP/unfinished
"$R1" pretrain --steps 100000 --save-every 1 --batch 2 --threads 1 $TINY --out "$U" --quiet >/dev/null 2>&1 &
holder=$!
i=0
while [ ! -s "$U/model.safetensors" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done    # at most 20 s
kill -9 "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
if [ -s "$U/model.safetensors" ]; then
    expect_err 1 "$U/model.safetensors is unfinished, step " "zero from a killed pretraining" \
        "$R1" zero --model "$U" --data-dir "$DD" --steps 1 --prompts 2 --group 2 --out "$TMP/zu" --quiet
    grep -q "of 100000 .*\`./r1 pretrain --resume --out $U --steps 100000 " "$TMP/err"
    check $? "zero from a killed pretraining: the error does not name its steps and the command that finishes it"
    [ ! -e "$TMP/zu" ]; check $? "zero from a killed pretraining: made its run folder anyway"
    if expect_ok "zero --allow-unfinished from a killed pretraining" \
            "$R1" zero --model "$U/model.safetensors" --allow-unfinished --data-dir "$DD" --steps 1 --prompts 2 --group 2 \
            --out "$TMP/zu" --quiet; then
        grep -q "^r1: warning: .*$U/model.safetensors, unfinished at step " "$TMP/err"
        check $? "zero --allow-unfinished: no warning naming the unfinished checkpoint"
    fi
    for c in coldstart:zero rsft:rs; do     # --base: the base a stage fine-tunes
        [ -s "$TMP/${c#*:}/model.safetensors" ] &&
            expect_err 1 "$U/model.safetensors is unfinished" "${c%:*} --base a killed pretraining" \
                "$R1" ${c%:*} --model "$TMP/${c#*:}" --base "$U" --data-dir "$DD" --questions 2 --steps 1 \
                --out "$TMP/junk" --quiet
    done
    if expect_ok "ask from a killed pretraining (it only reads)" "$R1" ask --model "$U" 1+2; then
        grep -q '^answer:' "$TMP/out" && [ "$(lines "$TMP/err")" -eq 1 ] &&
            grep -q "^r1: warning: $U/model.safetensors is unfinished, step .* of 100000" "$TMP/err"
        check $? "ask from a killed pretraining: want the answer and one warning line"
    fi
    if expect_ok "score from a killed pretraining (it only reads)" "$R1" score --model "$U" "1+2"; then
        grep -q "^r1: warning: $U/model.safetensors is unfinished" "$TMP/err"
        check $? "score from a killed pretraining: no warning"
    fi
    if expect_ok "eval --json from a killed pretraining" "$R1" eval --model "$U" --data "$TMP/two.jsonl" --k 1 --json; then
        [ "$(lines "$TMP/out")" -eq 1 ] && grep -q "^r1: warning: " "$TMP/err"
        check $? "eval --json from a killed pretraining: want one JSON line on stdout and the warning on stderr"
    fi
else fail "pretrain --save-every 1 saved nothing in 20 s"; fi
# each later stage, from a parent whose metadata says it stopped part-way
if [ -s "$TMP/cs/model.safetensors" ] && [ -s "$TMP/rs/model.safetensors" ]; then
    mkdir "$TMP/zero-half" "$TMP/cs-half" "$TMP/rs-half"
    replace "$TMP/zero/model.safetensors" "$TMP/zero-half/model.safetensors" '"step":"1"' '"step":"0"' \
            "$TMP/cs/model.safetensors" "$TMP/cs-half/model.safetensors" '"step":"2"' '"step":"1"' \
            "$TMP/rs/model.safetensors" "$TMP/rs-half/model.safetensors" '"step":"1"' '"step":"0"'
    expect_err 1 "$TMP/zero-half/model.safetensors is unfinished, step 0 of 1" "coldstart from an unfinished R1-Zero" \
        "$R1" coldstart --model "$TMP/zero-half" --base "$TMP/base" --data-dir "$DD" --questions 2 --steps 1 --out "$TMP/junk" --quiet
    grep -q 'make it again with `./r1 zero --steps 1' "$TMP/err"
    check $? "coldstart from an unfinished R1-Zero without its state: the error does not say how to make it again"
    expect_err 1 "$TMP/cs-half/model.safetensors is unfinished, step 1 of 2" "reason from an unfinished cold start" \
        "$R1" reason --model "$TMP/cs-half" --data-dir "$DD" --steps 1 --prompts 2 --group 2 --out "$TMP/junk" --quiet
    expect_err 1 "$TMP/rs-half/model.safetensors is unfinished, step 0 of 1" "rsft from an unfinished reasoning RL" \
        "$R1" rsft --model "$TMP/rs-half" --base "$TMP/base" --data-dir "$DD" --questions 2 --out "$TMP/junk" --quiet
    if [ -s "$TMP/rsft-none/model.safetensors" ]; then
        mkdir "$TMP/rsft-half"
        replace "$TMP/rsft-none/model.safetensors" "$TMP/rsft-half/model.safetensors" '"step":"1"' '"step":"0"'
        expect_err 1 "$TMP/rsft-half/model.safetensors is unfinished, step 0 of 1" "align from an unfinished rsft" \
            "$R1" align --model "$TMP/rsft-half" --data-dir "$DD" --questions 2 --steps 1 --out "$TMP/junk" --quiet
        # one question a step: a step without a general request has no reward
        # model score and no judge's figures (empty fields), not 0
        sh tests/small_data.sh "$TMP/ddg" 2 general_dev safety_dev && cp $ADDS "$TMP/ddg/"
        if expect_ok "align --prompts 1" "$R1" align --model "$TMP/rsft-none" --data-dir "$TMP/ddg" --questions 4 --steps 4 \
                --prompts 1 --group 2 --eval-every 1 --out "$TMP/al1" --quiet; then
            if awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } NR > 2 && ($c["rm_score"] == "0" ||
                ($c["rm_score"] == "") != ($c["judge_helpfulness"] == "")) { bad = 1 } END { exit bad || NR < 6 }' \
                "$TMP/al1/metrics.csv"; then ok; else
                fail "align --prompts 1: a step without a general request logs a reward-model score: $(cut -d, -f1,33-35 "$TMP/al1/metrics.csv" | tr '\n' ' ')"; fi
        fi
    fi
fi

# ---- the tokenizer a checkpoint was trained with ------------------------------

# another seed's data dir has another tokenizer (same vocabulary size): every
# command that uses a model with a tokenizer refuses the pair
expect_ok "make-data --seed 5 into a new folder" "$R1" make-data --seed 5 --data-dir "$TMP/dd5"
grep -q '"tokenizer_hash":"[0-9a-f]\{16\}"' "$BASE"; check $? "the checkpoint does not record a tokenizer_hash"
expect_err 1 "another tokenizer" "ask with another data dir's tokenizer" "$R1" ask --model "$TMP/base" --data-dir "$TMP/dd5" 1+2
expect_err 1 "another tokenizer" "eval with another data dir's tokenizer" \
    "$R1" eval --model "$TMP/base" --data-dir "$TMP/dd5" --data "$TMP/two.jsonl" --k 1
expect_err 1 "another tokenizer" "score with another data dir's tokenizer" "$R1" score --model "$TMP/base" --data-dir "$TMP/dd5" 1+2
expect_err 1 "another tokenizer" "zero with another data dir's tokenizer" "$R1" zero --model "$TMP/base" --data-dir "$TMP/dd5" \
    --steps 1 --prompts 2 --group 2 --out "$TMP/junk" --quiet
expect_err 1 "another tokenizer" "bench --model with another data dir's tokenizer" \
    "$R1" bench --model "$TMP/base" --data-dir "$TMP/dd5" --steps 1
expect_err 1 "$TMP/dd5/tokenizer.txt" "the tokenizer error names the data dir's tokenizer" \
    "$R1" ask --model "$TMP/base" --data-dir "$TMP/dd5" 1+2
# a checkpoint without the key (written before it existed) loads unchecked
replace "$BASE" "$TMP/nohash.safetensors" '"tokenizer_hash"' '"tokenizer_hasx"'
expect_ok "ask with a checkpoint that records no tokenizer" "$R1" ask --model "$TMP/nohash.safetensors" --data-dir "$TMP/dd5" 1+2
# make-data does not overwrite a data dir (every checkpoint trained with it would break) unless --force
cp "$TMP/dd5/tokenizer.txt" "$TMP/dd5-tokenizer.orig"
expect_err 2 --force "make-data into an existing data dir" "$R1" make-data --seed 6 --data-dir "$TMP/dd5"
cmp -s "$TMP/dd5/tokenizer.txt" "$TMP/dd5-tokenizer.orig"; check $? "make-data without --force changed tokenizer.txt"
expect_ok "make-data --force into an existing data dir" "$R1" make-data --seed 6 --data-dir "$TMP/dd5" --force
! cmp -s "$TMP/dd5/tokenizer.txt" "$TMP/dd5-tokenizer.orig"; check $? "make-data --force --seed 6 did not replace tokenizer.txt"

# ---- JSONL -------------------------------------------------------------------

J=$TMP/jsonl
mkdir "$J" "$J/adir"
printf '{"prompt": "1+2", "answer": "3"}\n{"prompt": "4+5", "answer": \n' >"$J/malformed.jsonl"
printf 'hello world\n' >"$J/notjson.jsonl"
printf '["1+2", "3"]\n' >"$J/array.jsonl"
printf '{"prompt": "1+2", "answer": "3"}\n\n{"prompt": "1+2"}\n' >"$J/noanswer.jsonl"
printf '{"answer": "3"}\n' >"$J/noprompt.jsonl"
printf '{"prompt": 12, "answer": "12"}\n' >"$J/numprompt.jsonl"
printf '{"prompt": "1+2", "answer": "three"}\n' >"$J/wordanswer.jsonl"
printf '{"prompt": "1+2", "answer": "3"} x\n' >"$J/trailing.jsonl"
printf '{"prompt": "1+2\377", "answer": "3"}\n' >"$J/badutf8.jsonl"
printf '{"prompt": "1+2", "answer": "\300\257"}\n' >"$J/badutf8-answer.jsonl"
printf '{"prompt": "1+2", "answer": "3"}\000\n' >"$J/nul.jsonl"
printf '{"prompt": "1+2", "answer": "3"\n' >"$J/unclosed.jsonl"
printf '{"prompt": "1+2", "answer": "3}\n' >"$J/unterminated.jsonl"
: >"$J/empty.jsonl"
printf '\n\n  \n' >"$J/blank.jsonl"
printf '{"prompt": "who are you?", "answer": "a toy"}\n' >"$J/noaddition.jsonl"
{ printf '{"prompt": "'; head -c 3000000 /dev/zero | tr '\000' 7; printf '", "answer": "3"}\n'; } >"$J/3mb.jsonl"
{ printf '{"prompt": "1+2", "answer": "'; head -c 3000000 /dev/zero | tr '\000' 7; printf '"}\n'; } >"$J/3mb-answer.jsonl"

for f in malformed.jsonl:2 notjson.jsonl:1 array.jsonl:1 noanswer.jsonl:3 noprompt.jsonl:1 \
         numprompt.jsonl:1 wordanswer.jsonl:1 trailing.jsonl:1 badutf8.jsonl:1 \
         badutf8-answer.jsonl:1 nul.jsonl:1 unclosed.jsonl:1 unterminated.jsonl:1 \
         3mb.jsonl:1 3mb-answer.jsonl:1 empty.jsonl blank.jsonl \
         missing.jsonl adir; do
    name=${f%%:*}
    expect_err 1 "$J/$f" "eval --data $name" "$R1" eval --model "$TMP/base" --data "$J/$name" --k 1
done

# arithmetic that is no question of the toy's (7-digit operands, a minus sign,
# four operands, "=", full-width digits, words around an addition) and an
# answer that is not the sum are refused, naming the first line and counting
# them all, not judged as general requests or scored against the wrong number
printf '{"prompt": "1+2", "answer": "3"}\n{"prompt": "1234567+1", "answer": "1234568"}\n{"prompt": "-3+5", "answer": "2"}\n' >"$J/arith-7digit.jsonl"
printf '{"prompt": "-3+5", "answer": "2"}\n' >"$J/arith-minus.jsonl"
printf '{"prompt": "1+2+3+4", "answer": "10"}\n' >"$J/arith-4ops.jsonl"
printf '{"prompt": "1+2=", "answer": "3"}\n' >"$J/arith-equals.jsonl"
printf '{"prompt": "3*4", "answer": "12"}\n' >"$J/arith-times.jsonl"
printf '{"prompt": "1.5+2", "answer": "3"}\n' >"$J/arith-decimal.jsonl"
printf '{"prompt": "\357\274\223+\357\274\224", "answer": "7"}\n' >"$J/arith-wide.jsonl"
printf '{"prompt": "what is 2+3?", "answer": "5"}\n' >"$J/arith-words.jsonl"
printf '{"prompt": "1加2加3加4", "answer": "10"}\n' >"$J/arith-zh.jsonl"
printf '{"prompt": "who are you?", "answer": "a toy"}\n{"prompt": "1+2", "answer": "4"}\n' >"$J/arith-wrongsum.jsonl"
# ...in any script's digits, with any space, the operator a word (issue 25, class 6)
printf '{"prompt": "\331\243+\331\244", "answer": "7"}\n' >"$J/arith-arabic.jsonl"
printf '{"prompt": "3\302\240+\302\2404", "answer": "7"}\n' >"$J/arith-nbsp.jsonl"
printf '{"prompt": "1+2", "answer": "3"}\n{"prompt": "3 plus 4", "answer": "7"}\n{"prompt": "三加四", "answer": "7"}\n' >"$J/arith-plus.jsonl"
for f in arith-7digit.jsonl:2 arith-minus.jsonl:1 arith-4ops.jsonl:1 arith-equals.jsonl:1 arith-times.jsonl:1 \
         arith-decimal.jsonl:1 arith-wide.jsonl:1 arith-words.jsonl:1 arith-zh.jsonl:1 arith-wrongsum.jsonl:2 \
         arith-arabic.jsonl:1 arith-nbsp.jsonl:1 arith-plus.jsonl:2; do
    name=${f%%:*}
    expect_err 1 "$J/$f" "eval --data $name (arithmetic the toy cannot score as asked)" \
        "$R1" eval --model "$TMP/base" --data "$J/$name" --k 1
done
expect_err 1 "(2 such lines in the file)" "eval --data arith-7digit.jsonl says how many lines" \
    "$R1" eval --model "$TMP/base" --data "$J/arith-7digit.jsonl" --k 1
expect_err 1 "(2 such lines in the file)" "eval --data arith-plus.jsonl says how many lines" \
    "$R1" eval --model "$TMP/base" --data "$J/arith-plus.jsonl" --k 1
mkdir "$TMP/dd-wrongsum" && cp "$DD/tokenizer.txt" $ADDS "$TMP/dd-wrongsum/" &&
    printf '{"prompt": "1+2", "answer": "4"}\n' >>"$TMP/dd-wrongsum/add_dev.jsonl"
n=$(lines "$TMP/dd-wrongsum/add_dev.jsonl")    # the wrong one is the last line
expect_err 1 "$TMP/dd-wrongsum/add_dev.jsonl:$n" "zero with a data dir whose add_dev has a wrong answer" \
    "$R1" zero --model "$TMP/base" --data-dir "$TMP/dd-wrongsum" --steps 1 --prompts 2 --group 2 --out "$TMP/junk" --quiet
# a number alone, or a number in a request, is a request
printf '{"prompt": "7", "answer": "7"}\n{"prompt": "reverse 12", "answer": "21"}\n' >"$J/numbers.jsonl"
expect_ok "eval --data numbers.jsonl (numbers without arithmetic are requests)" \
    "$R1" eval --model "$TMP/base" --data "$J/numbers.jsonl" --k 1

# a set with no additions is scored by the hidden judge alone
if expect_ok "eval --data noaddition.jsonl --k 1" "$R1" eval --model "$TMP/base" --data "$J/noaddition.jsonl" --k 1; then
    if grep -q '^1 requests, k=1 .*helpfulness 0.000 | harmlessness [01].000' "$TMP/out" && ! grep -q 'pass@1' "$TMP/out"
    then ok; else fail "eval --data noaddition.jsonl: $(cat "$TMP/out")"; fi
fi
if expect_ok "eval --data two.jsonl --k 1" "$R1" eval --model "$TMP/base" --data "$TMP/two.jsonl" --k 1; then
    grep -q '^2 questions' "$TMP/out"; check $? "eval --data two.jsonl: stdout does not say '2 questions'"
    # no Chinese question: those figures are undefined, shown as "–", never as -1
    if grep -q 'Chinese questions: –, –' "$TMP/out" && ! grep -q -- '-1\.0' "$TMP/out"; then ok; else fail "eval --data two.jsonl: an undefined figure not shown as '–': $(cat "$TMP/out")"; fi
fi
if expect_ok "eval --data two.jsonl --k 1 --json" "$R1" eval --model "$TMP/base" --data "$TMP/two.jsonl" --k 1 --json; then
    if [ "$(lines "$TMP/out")" -eq 1 ] && LC_ALL=C grep -q '^{.*"pass@1": *[0-9].*}$' "$TMP/out"; then ok; else fail "eval --json: stdout is not one JSON object line with \"pass@1\": $(head -c 200 "$TMP/out")"; fi
    [ -n "$PY" ] && cp "$TMP/out" "$TMP/eval.json" &&
        py_check eval_json "$TMP/eval.json" "eval --json: not valid JSON with k=1, n=2 and rates in [0,1]"
fi

# ---- prompts and texts longer than the context -------------------------------

LONG=$(awk 'BEGIN { for (i = 0; i < 200; i++) printf "1+"; print 1 }')
expect_err "1 2" context "ask with a 401-character prompt" "$R1" ask --model "$TMP/base" "$LONG"
expect_err "1 2" context "score with a 401-character text" "$R1" score --model "$TMP/base" "$LONG"
# a 100,000-character question is refused for what it is, not cut to its first
# 768 bytes (and then answered, or refused with a count of those bytes' tokens)
HUGE=$(awk 'BEGIN { for (i = 0; i < 50000; i++) printf "1+"; print 1 }')
expect_err 1 context "ask with a 100001-character question" "$R1" ask --model "$TMP/base" "$HUGE"
ntok=$(sed -n 's/.* is \([0-9]*\) tokens.*/\1/p' "$TMP/err")
[ "${ntok:-0}" -gt 100000 ]; check $? "ask with a 100001-character question: the error counts ${ntok:-no} tokens, not its 100000+"
expect_ok "ask with a prompt that fills most of the context" \
    "$R1" ask --model "$TMP/base" "$(awk 'BEGIN { for (i = 0; i < 30; i++) printf "1+"; print 1 }')"

# ---- score and ask output ----------------------------------------------------

if expect_ok "score 'User: 1+2 Assistant:3'" "$R1" score --model "$TMP/base" "User: 1+2 Assistant:3"; then
    if awk -F'\t' 'NR == 1 { if (NF != 2 || $1 !~ /^[0-9]+$/ || $2 != "-") bad = 1; next }
                { if (NF != 2 || $1 !~ /^[0-9]+$/ || $2 !~ /^-[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ || $2 + 0 >= 0) bad = 1 }
                END { exit bad || NR < 2 }' "$TMP/out"; then ok; else
        fail "score: stdout is not 'id<TAB>-' then 'id<TAB>negative logprob' lines: $(head -n 3 "$TMP/out" | tr '\n\t' '| ')"; fi
fi

# ask_json N WHAT ARGS...: ask --json prints one JSON object with the two keys
# (python's part of the check, py_check, reads the copy $TMP/ask-N.json).
ask_json() {
    n=$1; what=$2; shift 2
    expect_ok "$what" "$R1" ask --model "$TMP/base" --json "$@" || return
    [ "$(lines "$TMP/out")" -eq 1 ] && LC_ALL=C grep -q '^{"reasoning_content": .*, "content": .*}$' "$TMP/out"
    check $? "$what: stdout is not one JSON object line with reasoning_content and content"
    [ -n "$PY" ] && cp "$TMP/out" "$TMP/ask-$n.json" &&
        py_check ask_json "$TMP/ask-$n.json" "$what: stdout is not valid UTF-8 JSON"
}
ask_json 0 "ask --json 3+4" "3+4"
# a barely trained model samples arbitrary bytes: the JSON must stay valid UTF-8
for s in 1 2 3; do
    ask_json "$s" "ask --json --temperature 1 --seed $s 3+4" --temperature 1 --seed "$s" "3+4"
done

# what a model samples reaches the terminal escaped: no control character
# but newline and tab (C0, DEL, C1) and no byte that is not UTF-8, in ask and
# in the samples training shows. A barely trained model samples such bytes.
# (--json escapes them its own way, above.)
# no_raw_bytes FILE WHAT: FILE (kept to the end: python's part of the check,
# py_check, reads it there) is safe to show
no_raw_bytes() {
    LC_ALL=C tr -d '\n\t' <"$1" | LC_ALL=C grep -q '[[:cntrl:]]' && { fail "$2: a raw control byte on stdout"; return; }
    if [ -n "$PY" ]; then py_check shown "$1" "$2: stdout is not UTF-8 without control characters"
    else ok; fi
}
for s in 1 2 3 4; do
    expect_ok "ask --temperature 1 --seed $s" "$R1" ask --model "$TMP/base" --temperature 1 --seed "$s" 3+4 &&
        cp "$TMP/out" "$TMP/ask-t1-$s.txt" && no_raw_bytes "$TMP/ask-t1-$s.txt" "ask --temperature 1 --seed $s"
done
expect_ok "zero showing its samples (not --quiet)" "$R1" zero --model "$TMP/base" --data-dir "$DD" --steps 1 --prompts 2 \
    --group 2 --out "$TMP/zero-show" && cp "$TMP/out" "$TMP/zero-show.txt" &&
    no_raw_bytes "$TMP/zero-show.txt" "zero showing its samples"
# ...and so do the files people cat: samples.txt and eval --samples, one
# sample a line (a newline the model writes is escaped too)
no_raw_bytes "$TMP/zero-show/samples.txt" "zero's samples.txt"
if expect_ok "eval --samples --temperature 1" "$R1" eval --model "$TMP/base" --data "$TMP/two.jsonl" --k 4 \
        --temperature 1 --samples "$TMP/raw.txt"; then
    no_raw_bytes "$TMP/raw.txt" "eval --samples"
    [ "$(lines "$TMP/raw.txt")" -eq 8 ] && [ "$(grep -c '^[0-9]*+[0-9]* => ' "$TMP/raw.txt")" -eq 8 ]
    check $? "eval --samples: not one 'QUESTION => COMPLETION' line per sample: $(lines "$TMP/raw.txt") lines"
fi
# a path the user gave, shown on stdout ("wrote DIR/"), is escaped as in an error
expect_ok "pretrain --out a folder with an escape sequence in its name" "$R1" pretrain --steps 1 --batch 2 \
    $TINY --out "$TMP/o$(printf '\033')[2J" && cp "$TMP/out" "$TMP/wrote.txt" &&
    no_raw_bytes "$TMP/wrote.txt" "pretrain --out a folder with an escape sequence in its name"

# ---- standard output that cannot be written -------------------------------------

# full CMD ARGS...: with stdout on /dev/full, CMD fails (exit 1) and says so in one line
full() {
    what="$* > /dev/full"; what=${what#"$R1 "}
    run sh -c 'exec "$@" >/dev/full' sh "$@"
    crash_why
    [ -z "$why" ] && [ "$rc" -ne 1 ] && why="expected exit 1"
    [ -z "$why" ] && stderr_one_line "cannot write to standard output"
    if [ -z "$why" ]; then ok; else fail "$what: $why"; fi
}
if [ -w /dev/full ]; then
    full "$R1" eval --model "$TMP/base" --data "$TMP/two.jsonl" --k 1 --json
    full "$R1" ask --model "$TMP/base" 1+2
    full "$R1" score --model "$TMP/base" 1+2
    full "$R1" make-data --data-dir "$TMP/md-full"
    full "$R1" --help
fi

# ---- unwritable run folders --------------------------------------------------

echo "not a folder" >"$TMP/afile"
cp "$TMP/afile" "$TMP/afile.orig"
expect_err "2 1" /proc/forbidden "pretrain --out /proc/forbidden" "$R1" pretrain --steps 1 --out /proc/forbidden
expect_err "2 1" "$TMP/afile" "pretrain --out an existing file" "$R1" pretrain --steps 1 --out "$TMP/afile"
expect_err "2 1" "$TMP/afile/sub" "pretrain --out below a file" "$R1" pretrain --steps 1 --out "$TMP/afile/sub"
expect_err "2 1" "$TMP/afile" "zero --out an existing file" "$R1" zero --out "$TMP/afile" \
    --model "$TMP/base" --data-dir "$DD" --steps 1 --prompts 2 --group 2 --quiet
expect_err "2 1" /dev/null "pretrain --out /dev/null" "$R1" pretrain --steps 1 --out /dev/null
cmp -s "$TMP/afile" "$TMP/afile.orig"; check $? "--out an existing file: the file was modified"
no_debris "$TMP" "--out an existing file"
left=$(ls -A "$TMP" | grep -E '^afile.+' | grep -v '^afile\.orig$' | tr '\n' ' ')
[ -z "$left" ]; check $? "--out an existing file: left $left next to it"

# ---- long paths ---------------------------------------------------------------

# a run folder longer than a file name in it can be: refused before anything
# is written (not model, state and metrics over one another under a cut-off name)
A200=$(printf '%0200d' 0 | tr 0 a)
LONGOUT=$TMP/long/$A200/$A200/$A200/run
expect_err 2 "path too long" "pretrain --out of ${#LONGOUT} bytes" \
    "$R1" pretrain --steps 1 --batch 2 --out "$LONGOUT" --quiet
if [ ! -e "$TMP/long" ]; then ok; else
    fail "pretrain --out of ${#LONGOUT} bytes: created $(find "$TMP/long" -type f 2>/dev/null | wc -l) files anyway"; fi
# a run folder of 450 bytes works, and holds every file
FITOUT=$TMP/fit/$A200/$A200/$(printf '%0*d' $((450 - ${#TMP} - 407)) 0)
if expect_ok "pretrain --out of ${#FITOUT} bytes" "$R1" pretrain --steps 1 --batch 2 $TINY --out "$FITOUT" --quiet; then
    for f in model.safetensors state.bin metrics.csv curves.svg; do
        [ -s "$FITOUT/$f" ]; check $? "pretrain --out of ${#FITOUT} bytes: no $f"
    done
fi
# a data dir deeper than 512 bytes is read whole, not through a cut-off name
LONGDD=$TMP/ldd/$A200/$A200/$A200
mkdir -p "$LONGDD" && cp "$DD/tokenizer.txt" $ADDS "$LONGDD/"
expect_ok "eval --data-dir of ${#LONGDD} bytes" "$R1" eval --data-dir "$LONGDD" --model "$TMP/base" --data "$TMP/two.jsonl" --k 1
expect_err 2 "path too long" "ask --model of 5000 bytes" "$R1" ask --model "$TMP/$(printf '%05000d' 0)" 1+2

# a file-size limit (ulimit -f) makes writes fail like a full disk: one "r1:"
# line and exit 1, not death by SIGXFSZ, and no temporary left behind
run sh -c 'ulimit -f 50 && exec "$@"' sh "$R1" pretrain --steps 1 --batch 2 $TINY --out "$TMP/fsz" --quiet
crash_why
[ -z "$why" ] && [ "$rc" -eq 1 ] && stderr_one_line "cannot write" && [ -z "$why" ]
check $? "pretrain under ulimit -f 50: want exit 1 and one 'r1: cannot write' line${why:+: $why}"
no_debris "$TMP/fsz" "pretrain under ulimit -f 50"

# ---- two runs on one folder --------------------------------------------------

# A training run locks its folder: a second one is refused, naming the first's
# pid, instead of both writing the same files. (No time limit on the first: it
# is killed below.)
L=$TMP/locked
"$R1" pretrain --steps 500 --threads 1 --out "$L" --quiet >/dev/null 2>&1 &
holder=$!
i=0
while [ ! -s "$L/.lock" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done    # at most 20 s
for c in pretrain zero; do
    eval "safe=\$SAFE_$c"
    expect_err 1 "$L is in use by pid $holder (another ./r1" "$c --out a folder another run is writing" \
        "$R1" $c $safe --out "$L"
done
if [ -d "$TMP/cwd/runs/base" ]; then          # demo, with the finished tiny base made above
    run sh -c 'cd "$1" && shift && exec "$@"' sh "$TMP/cwd" "$R1" demo $SAFE_demo --out "$L"
    [ "$rc" -eq 1 ] && tail -n 1 "$TMP/err" | grep -q "^r1: $L is in use by pid $holder "
    check $? "demo --out a folder another run is writing: want exit 1 and 'r1: $L is in use by pid $holder'"
fi
kill -9 "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
# a killed run's lock is gone with it, and so are its temporaries
: >"$L/model.safetensors.tmp.12345"; : >"$L/state.bin.tmp.1"; echo keep >"$L/notes.tmp.txt"
expect_ok "pretrain into the folder of a run killed with -9" "$R1" pretrain --steps 1 --batch 2 --out "$L" --quiet
no_debris "$L" "pretrain after a killed run"
[ -s "$L/notes.tmp.txt" ]; check $? "pretrain removed notes.tmp.txt, which is not one of its temporaries"

# ---- a run folder, and reproducibility ---------------------------------------

ZERO="--model $TMP/base --data-dir $DD --steps 2 --prompts 2 --group 2 --seed 11"
expect_ok "zero into z1" "$R1" zero $ZERO --out "$TMP/z1" --threads 1
expect_ok "zero into z2 (same seed)" "$R1" zero $ZERO --out "$TMP/z2" --threads 1
expect_ok "zero into zq (same seed, --quiet)" "$R1" zero $ZERO --out "$TMP/zq" --threads 1 --quiet
expect_ok "zero into zt (same seed, --threads 2)" $TWO "$R1" zero $ZERO --out "$TMP/zt" --threads 2
Z=$TMP/z1
for f in model.safetensors metrics.csv curves.svg samples.txt; do
    [ -s "$Z/$f" ]; check $? "zero: the run folder has no non-empty $f"
done
no_debris "$Z" "zero"
header=""; IFS= read -r header <"$Z/metrics.csv"
case $header in step,reward,*) ok ;; *) fail "zero: metrics.csv header does not start with step,reward,: $header" ;; esac
for col in format_rate accuracy think_rate mean_length kl seconds; do
    case ,$header, in *",$col,"*) ok ;; *) fail "zero: metrics.csv has no column $col" ;; esac
done
[ "${header##*,}" = seconds ]
check $? "zero: metrics.csv's last column is not seconds"
rows=$(sed 1d "$Z/metrics.csv" | wc -l); rows=$((rows + 0))
[ "$rows" -ge 2 ]; check $? "zero --steps 2: metrics.csv has $rows data rows"
awk -F, 'NR == 1 { n = NF; next } NF != n { exit 1 }' "$Z/metrics.csv"
check $? "zero: metrics.csv rows have different numbers of columns"
head -c 4 "$Z/curves.svg" | grep -q '^<svg'; check $? "zero: curves.svg does not start with <svg"
tail -c 7 "$Z/curves.svg" | grep -q '</svg>'; check $? "zero: curves.svg does not end with </svg>"
expect_ok "score --model on zero's run folder" "$R1" score --model "$Z" "1+2"

# the same seed gives the same run: metrics.csv identical except for the
# timing, the same sampled completions (samples.txt) and the same weights,
# with one thread or two (each sequence samples from its own random stream)
ncol=0; rest=$header                       # the columns before the last: as many as commas
while case $rest in *,*) ;; *) false ;; esac; do rest=${rest#*,}; ncol=$((ncol + 1)); done
cut -d, -f1-$ncol "$Z/metrics.csv" >"$TMP/m1"
for other in z2 zq zt; do
    cut -d, -f1-$ncol "$TMP/$other/metrics.csv" >"$TMP/m2" 2>/dev/null
    if cmp -s "$TMP/m1" "$TMP/m2"; then ok; else
        fail "zero --seed 11: metrics.csv of z1 and $other differ outside 'seconds': $(diff "$TMP/m1" "$TMP/m2" | grep '^[<>]' | head -n 2 | tr '\n' '|')"
    fi
    cmp -s "$Z/samples.txt" "$TMP/$other/samples.txt"
    check $? "zero --seed 11: samples.txt of z1 and $other differ"
    cmp -s "$Z/model.safetensors" "$TMP/$other/model.safetensors"
    check $? "zero --seed 11: model.safetensors of z1 and $other differ"
done

# pretraining gives the same bytes with one thread or two, or 64, and more
# threads than CPUs cost little; under taskset the default thread count
# follows the CPUs the process may use. The run with one thread is the one
# each is compared with, and its time the one theirs are: it, the run with 64
# threads and the default's are pinned to one CPU, so that their times are
# measured alike (where taskset works; not under the sanitizers, R1_SLOW=1: a
# slowed build on one CPU says nothing of threads).
# timed CMD ARGS...: CMD ARGS (run, expect_ok, ...), and set ms to its wall
# time in milliseconds ("" if date has no %N); returns CMD's status
timed() {
    ta=$(date +%s%N); "$@"; st=$?; tb=$(date +%s%N)
    case "$ta$tb" in *[!0-9]*) ms="" ;; *) ms=$(((tb - ta) / 1000000)) ;; esac
    return $st
}
PIN=""
if [ "${R1_SLOW:-0}" = 0 ] && command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null; then
    PIN="taskset -c 0"
fi
timed expect_ok "pretrain --threads 1" $PIN "$R1" pretrain --steps 3 --threads 1 --out "$TMP/t1" --quiet; ms1=$ms
expect_ok "pretrain --threads 2" $TWO "$R1" pretrain --steps 3 --threads 2 --out "$TMP/t2" --quiet
cmp -s "$TMP/t1/model.safetensors" "$TMP/t2/model.safetensors"
check $? "pretrain --steps 3: model.safetensors differs between --threads 1 and --threads 2"
no_debris "$TMP/t1" "pretrain"
expect_ok "pretrain --threads 1 without --quiet" "$R1" pretrain --steps 3 --threads 1 --out "$TMP/t1v"
cmp -s "$TMP/t1/model.safetensors" "$TMP/t1v/model.safetensors"
check $? "pretrain --steps 3: model.safetensors differs with and without --quiet"

timed run $PIN "$R1" pretrain --steps 3 --threads 64 --out "$TMP/th64" --quiet; ms64=$ms
crash_why
[ -z "$why" ] && [ "$rc" -eq 0 ]; check $? "pretrain --threads 64: ${why:-expected exit 0}"
cmp -s "$TMP/t1/model.safetensors" "$TMP/th64/model.safetensors"
check $? "pretrain --steps 3: model.safetensors differs between --threads 1 and --threads 64"
if [ -n "$ms1" ] && [ "$rc" -eq 0 ]; then
    [ "$ms64" -lt $((5 * ms1 + 200)) ]
    check $? "pretrain --steps 3: --threads 64 took ${ms64} ms, --threads 1 ${ms1} ms (want under 5x)"
fi
if [ -n "$PIN" ]; then
    timed run $PIN "$R1" pretrain --steps 3 --out "$TMP/tsd" --quiet; msd=$ms
    if [ -n "$ms1" ] && [ "$rc" -eq 0 ]; then
        [ "$msd" -lt $((2 * ms1 + 200)) ]
        check $? "pretrain on one CPU (taskset -c 0): the default threads took ${msd} ms, --threads 1 ${ms1} ms (want under 2x)"
    else fail "pretrain under taskset -c 0"; fi
fi

# evaluation, too, depends on the seed only
for t in 1 2; do
    expect_ok "eval --json --threads $t" $TWO "$R1" eval --model "$TMP/base" --data "$DD/add_test.jsonl" \
        --k 2 --json --threads "$t" && cp "$TMP/out" "$TMP/eval$t.json"
done
if cmp -s "$TMP/eval1.json" "$TMP/eval2.json"; then ok; else
    fail "eval --json differs between --threads 1 and 2: $(cat "$TMP/eval1.json" "$TMP/eval2.json" 2>/dev/null | tr '\n' '|')"; fi

# bench: one repetition, machine-readable, every figure a positive number,
# on the tiny model (0.4 s; the student's takes 1 s, the demo's 3 s, and a
# minute under the sanitizers, where R1_SLOW=1 skips it).
if [ "${R1_SLOW:-0}" = 0 ]; then
    if expect_ok "bench --steps 1 --json --threads 2" "$R1" bench --steps 1 --json --threads 2 --model "$TMP/base"; then
        json=""; IFS= read -r json <"$TMP/out"
        for key in train_tokens_per_s train_gflops sample_tokens_per_s grpo_step_s matmul_gflops fma_peak_gflops_one_core; do
            v=${json#*"\"$key\": "}; v=${v%%[!0-9.]*}        # the number after "KEY": ("" if none)
            case $v in ''|0|0.0|0.00|0.000) fail "bench --json: $key missing or zero in $(head -c 300 "$TMP/out")" ;; *) ok ;; esac
        done
        case $json in
            *'"threads": 2,'*) ok ;;
            *) fail "bench --json --threads 2 does not report 2 threads: $(head -c 300 "$TMP/out")" ;;
        esac
    fi
fi

# the checks python makes, queued above (py_check)
py_checks

echo "cli: $pass passed, $nfail failed"
[ "$nfail" -eq 0 ]
