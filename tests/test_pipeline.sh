#!/bin/sh
# tests/test_pipeline.sh -- ./r1 pipeline's plumbing, on a quick run
# (--steps 1: every stage one step, small sets, on one-question benchmarks):
# it completes and writes RESULTS.md, results.json (every stage x benchmark)
# and results.svg; a second run reuses every stage and writes the same bytes;
# an interrupted stage, in a copy of the folder at another thread count, is
# resumed to the same checkpoint and the stages after it reused, with the
# same RESULTS.md and results.json; a stage is reused only if its stamp
# still holds: another command's checkpoint or an edited figure in a finished
# stage's folder, an edited evaluation cache or data file make it again; an
# interrupted stage whose folder holds another run's or a damaged state is
# made afresh (one it cannot clear is named, exit 1), and align, coldstart,
# rsft and distill --resume refuse another run's state before any work; another seed reuses nothing;
# bad flags get one line.
# Run from the repository root after `make r1`:
#
#     sh tests/test_pipeline.sh        # R1=path/to/r1: test another build; KEEP=1: keep the temp folder
#
# Prints "FAIL: ..." per failure, then "pipeline: N passed, M failed".
LC_ALL=C; export LC_ALL
R1=${R1:-./r1}
case $R1 in /*) ;; *) R1=$(pwd)/$R1 ;; esac
TMP=$(mktemp -d /tmp/r1-pipe.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
[ -n "$KEEP" ] && trap - EXIT
trap 'exit 1' HUP INT TERM
pass=0; nfail=0
check() { if [ "$1" -eq 0 ]; then pass=$((pass + 1)); else nfail=$((nfail + 1)); echo "FAIL: $2"; fi; }
# A newline: a list of lines "$NL...$NL" holds the line L if it matches *"${NL}L$NL"* (case, no grep to fork)
NL='
'

STAGES="base r1_zero cold_start reasoning_rl rsft all_scenarios student_base student_distilled student_rl"
DD=$TMP/dd
# One question a set: the plumbing is the same on any number, and every
# model samples each to its length limit (the evaluation: 9 models x 4
# benchmarks; each RL stage: the development sets before and after its step)
sh tests/small_data.sh "$DD" 1 add_test add_hard general safety add_dev add_hard_dev general_dev safety_dev || exit 1
LIMIT=120; [ "${R1_SLOW:-0}" = 1 ] && LIMIT=1200   # the sanitizers' build is some ten times slower
quick() { timeout -k 5 $LIMIT "$R1" pipeline --steps 1 --data-dir "$DD" --quiet "$@"; }

# ---- the command line
"$R1" pipeline --help >"$TMP/out" 2>"$TMP/err"
[ $? -eq 0 ] && grep -q 'RESULTS.md' "$TMP/out" && grep -q -- '--steps' "$TMP/out" && [ ! -s "$TMP/err" ]
check $? "pipeline --help: exit 0 with the usage on stdout"
for bad in "--k 3" "--steps 0" "--seed x" "--model runs/base" "extra"; do
    # shellcheck disable=SC2086
    "$R1" pipeline $bad --out "$TMP/never" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ $rc -eq 2 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] && grep -q '^r1: ' "$TMP/err" && [ ! -s "$TMP/out" ] && [ ! -d "$TMP/never" ]
    check $? "pipeline $bad: want exit 2 and one line on stderr, got exit $rc: $(head -c 200 "$TMP/err")"
done

# ---- a quick run: it completes and writes the three files
quick --out "$TMP/a" >"$TMP/a.out" 2>"$TMP/a.err"
check $? "the quick pipeline failed: $(tail -c 300 "$TMP/a.err")"
for f in RESULTS.md results.json results.svg timings.txt; do
    [ -s "$TMP/a/$f" ]; check $? "$f missing or empty"
done
# every stage x benchmark, in the layout write_results_json writes: a line
# '  "STAGE": {', then lines '    "BENCHMARK": {...' until the next line
# indented two spaces (one awk lists the pairs found, as lines "STAGE BENCHMARK")
pairs="$NL$(awk '/^  "[^"]*": \{$/ { s = substr($0, 4, length($0) - 7); next } /^  [^ ]/ { s = "" }
    s != "" && /^    "[^"]*": \{/ { b = substr($0, 6); print s " " substr(b, 1, index(b, "\"") - 1) }' "$TMP/a/results.json")$NL"
for s in $STAGES; do
    for b in add_test add_hard general safety; do
        case $pairs in *"$NL$s $b$NL"*) true ;; *) false ;; esac
        check $? "results.json: no $s.$b"
    done
    grep -q "(\`$s\`)" "$TMP/a/RESULTS.md"; check $? "RESULTS.md: no row for $s"
done
grep -q '"add_hard": {"pass@1": [0-9.]*, "cons@k": [0-9.]*, "greedy": [0-9.]*' "$TMP/a/results.json"
check $? "results.json: add_hard lacks pass@1, cons@k or greedy"
grep -q '"general": {"helpfulness": [0-9.]*, "harmlessness": [0-9.]*}' "$TMP/a/results.json"
check $? "results.json: general lacks helpfulness or harmlessness"
grep -q '"reward_model": {"pairwise_accuracy": [0-9.]*}' "$TMP/a/results.json"; check $? "results.json: no reward_model"
grep -q '"student_distilled": [1-9][0-9]*, "student_rl_probe": [1-9]' "$TMP/a/results.json"; check $? "results.json: no FLOPs"
[ "$(grep -c '<rect x=' "$TMP/a/results.svg")" -gt 9 ]; check $? "results.svg has no bars"
# every claim of r1.h's CLAIMS, in results.json with a three-valued verdict,
# effect and margin, and in RESULTS.md as effect ± margin
claims=$(sed -n '/^static const ClaimRule CLAIMS/,/^};/p' r1.c r1.h | grep -o '^    { "[a-z0-9_]*"' | grep -o '[a-z0-9_]*')
[ "$(echo "$claims" | wc -l)" -ge 10 ]; check $? "could not read the claims of r1.c and r1.h: $claims"
# (one sed lists the claims whose line has all three, one a line)
good="$NL$(sed -n 's/^    "\([a-z0-9_]*\)": {"verdict": "\(reproduced\|not reproduced\|within noise\)", "effect": -\?[0-9.]*, "margin": [0-9.]*.*/\1/p' "$TMP/a/results.json")$NL"
for c in $claims; do
    case $good in *"$NL$c$NL"*) true ;; *) false ;; esac
    check $? "results.json: claim $c lacks a verdict, effect or margin"
done
[ "$(grep -c ' | [-+][0-9.]* ± [0-9.]* | .* | \*\*\(reproduced\|not reproduced\|within noise\|holds\|fails\)\*\* |$' "$TMP/a/RESULTS.md")" -eq "$(echo "$claims" | wc -l)" ]
check $? "RESULTS.md: not one row of effect ± margin and a verdict per claim"
if grep -q '[0-9]s\b\|[0-9]m[0-9][0-9]s' "$TMP/a/RESULTS.md" "$TMP/a/results.json"; then false; else true; fi
check $? "RESULTS.md or results.json holds a wall time"
cp "$TMP/a/results.json" "$TMP/a.json"; cp "$TMP/a/RESULTS.md" "$TMP/a.md"

# ---- ./r1 eval --json: one object in DESIGN §6's schema, on any JSONL of prompt/answer lines
printf '{"prompt": "what colour is the sky", "answer": "blue"}\n{"prompt": "12+30", "answer": 42}\n{"prompt": "say hi", "answer": "hi", "id": 3}\n' >"$TMP/any.jsonl"
"$R1" eval --model "$TMP/a/all_scenarios" --data "$TMP/any.jsonl" --data-dir "$DD" --k 2 --json >"$TMP/eval.json" 2>"$TMP/err"
[ $? -eq 0 ] && [ "$(wc -l <"$TMP/eval.json")" -eq 1 ] &&
    grep -q '^{"pass@1": [0-9.]*, "cons@k": [0-9.]*, "greedy": [0-9.]*, "format_rate": [0-9.]*, "mean_length": [0-9.]*, \("lang_consistency": [0-9.]*, \)\?"mixed": [0-9.]*, .*"helpfulness": [0-9.]*, "harmlessness": [0-9.]*, "k": 2, "n": 1, "n_general": 2}$' "$TMP/eval.json"
check $? "eval --json on a mixed JSONL: $(cat "$TMP/eval.json" "$TMP/err" | head -c 300)"
PY=$(command -v python3 2>/dev/null)
if [ -n "$PY" ]; then
    "$PY" -c 'import json,sys; json.load(open(sys.argv[1])); json.load(open(sys.argv[2]))' "$TMP/eval.json" "$TMP/a/results.json"
    check $? "eval --json or results.json is not valid JSON"
fi

# ---- a second run reuses every stage, and writes the same bytes; the
# temporaries a killed pipeline left in the stage folders it reuses (an
# eval.txt being written, a stamp) are removed (make stress found one)
: >"$TMP/a/rsft/eval.txt.tmp.99999"; : >"$TMP/a/base/pipeline.stamp.tmp.99998"
quick --out "$TMP/a" >"$TMP/a2.out" 2>&1
check $? "the second run failed: $(tail -c 300 "$TMP/a2.out")"
[ ! -e "$TMP/a/rsft/eval.txt.tmp.99999" ] && [ ! -e "$TMP/a/base/pipeline.stamp.tmp.99998" ]
check $? "a reused stage's folder keeps the temporaries a killed pipeline left: $(ls "$TMP/a/rsft" "$TMP/a/base" | tr '\n' ' ')"
[ "$(grep -c '] reused ' "$TMP/a2.out")" -eq 10 ]; check $? "the second run reused $(grep -c '] reused ' "$TMP/a2.out") of 10 stages"
cmp -s "$TMP/a/results.json" "$TMP/a.json" && cmp -s "$TMP/a/RESULTS.md" "$TMP/a.md"
check $? "the second run changed results.json or RESULTS.md"

# ---- an interrupted stage is resumed in a copy of the folder, at another
# thread count: the stages after it are reused only if its checkpoint is the
# same bytes (their stamps hold its hash), and the results are the same bytes.
# (Each stage's own run from scratch at any thread count is test_runs.sh's,
# stress_resume.sh's and test_width.sh's; a second whole pipeline is not re-run here.)
cp -R "$TMP/a" "$TMP/b" || exit 1
sed -e 's/^finished$/started/' -e '/^output /d' "$TMP/b/rsft/pipeline.stamp" >"$TMP/stamp" && mv "$TMP/stamp" "$TMP/b/rsft/pipeline.stamp"
quick --out "$TMP/b" --threads 1 >"$TMP/b.out" 2>&1
check $? "the resumed run failed: $(tail -c 300 "$TMP/b.out")"
grep -q '^\[5/10 rsft\] ./r1 rsft .*, resuming' "$TMP/b.out" && [ "$(grep -c '] reused ' "$TMP/b.out")" -eq 9 ]
check $? "an interrupted rsft was not resumed (1 thread) with the 9 other stages reused: $(grep -c '] reused ' "$TMP/b.out") reused"
cmp -s "$TMP/b/results.json" "$TMP/a.json"; check $? "the resumed run, 1 thread: results.json differs"
cmp -s "$TMP/b/RESULTS.md" "$TMP/a.md"; check $? "the resumed run, 1 thread: RESULTS.md differs"
cmp -s "$TMP/b/rsft/model.safetensors" "$TMP/a/rsft/model.safetensors"
check $? "the resumed run, 1 thread: rsft's checkpoint differs"

# ---- the pipeline reuses only what it made (issue 25, class 2): a stage's
# stamp holds the hashes of the data dir's files, of its parents'
# checkpoints, and, once it has finished, of every file it left in its
# folder; the evaluation cache holds a checksum of its figures.
# (A stage's stamp is read once, into lines "data NAME" and "output NAME"
# between two newlines; each file is then looked up there by the shell, not
# by a sed and a grep per file.)
stamped() { sed -n 's/^\(data\|output\) \([^:]*\): [0-9a-f]\{16\}$/\1 \2/p' "$1/pipeline.stamp"; }
for s in $STAGES student_rl_probe; do
    missing="" lines="$NL$(stamped "$TMP/a/$s")$NL"
    for f in "$DD"/*; do
        case $lines in *"${NL}data ${f##*/}$NL"*) ;; *) missing="$missing ${f##*/}" ;; esac
    done
    for f in "$TMP/a/$s"/*; do
        case ${f##*/} in pipeline.stamp|state.bin|eval.txt) continue ;; esac
        case $lines in *"${NL}output ${f##*/}$NL"*) ;; *) missing="$missing $s/${f##*/}" ;; esac
    done
    [ -z "$missing" ]; check $? "$s/pipeline.stamp lacks the hashes of:$missing"
done
# another command's checkpoint in a finished stage's folder, and a figure
# edited in a file RESULTS.md reads (distill.txt's FLOPs of the teacher's
# sampling; a cheap stage to make again, unlike reward_model.txt's
# all_scenarios) and in the evaluation cache: the stages are made again (to
# the same bytes: the stages after them are reused) and the results are the
# pipeline's own
cp -R "$TMP/a" "$TMP/c" || exit 1
"$R1" zero --model "$TMP/c/base" --out "$TMP/c/r1_zero" --seed 7 --steps 1 --prompts 2 --group 2 --data-dir "$DD" --quiet >/dev/null 2>&1
sed 's/^sampling them took [0-9]* FLOPs/sampling them took 123456789 FLOPs/' "$TMP/a/student_distilled/distill.txt" >"$TMP/c/student_distilled/distill.txt"
sed '2s/^\([a-z_]* [0-9]* [0-9]* [0-9]*\) [0-9.]*/\1 0.987/' "$TMP/a/base/eval.txt" >"$TMP/c/base/eval.txt"
! cmp -s "$TMP/c/r1_zero/model.safetensors" "$TMP/a/r1_zero/model.safetensors" && ! cmp -s "$TMP/c/base/eval.txt" "$TMP/a/base/eval.txt" &&
    ! cmp -s "$TMP/c/student_distilled/distill.txt" "$TMP/a/student_distilled/distill.txt"
check $? "could not set up the foreign checkpoint, the edited distill.txt and the edited evaluation"
quick --out "$TMP/c" >"$TMP/c.out" 2>&1
check $? "the run over a foreign checkpoint failed: $(tail -c 300 "$TMP/c.out")"
grep -q '^\[2/10 r1_zero\] ./r1 zero ' "$TMP/c.out" && grep -q '^\[8/10 student_distilled\] ./r1 distill ' "$TMP/c.out" &&
    [ "$(grep -c '] reused ' "$TMP/c.out")" -eq 8 ]
check $? "a foreign r1_zero checkpoint and an edited distill.txt: want both stages made again and 8 reused, got: $(grep -c '] reused ' "$TMP/c.out") reused"
cmp -s "$TMP/c/r1_zero/model.safetensors" "$TMP/a/r1_zero/model.safetensors"; check $? "r1_zero's checkpoint is not the pipeline's after the rerun"
cmp -s "$TMP/c/results.json" "$TMP/a.json" && cmp -s "$TMP/c/RESULTS.md" "$TMP/a.md"
check $? "a foreign checkpoint or an edited figure reached RESULTS.md or results.json"
# an edited development set (watched while training, and excluded from every
# training stream) makes every stage again
DD2=$TMP/dd2
cp -R "$DD" "$DD2" && sed -n 2p data/add_hard_dev.jsonl >"$DD2/add_hard_dev.jsonl" || exit 1   # another question
quick --out "$TMP/c" --data-dir "$DD2" >"$TMP/c2.out" 2>&1
check $? "the run with an edited development set failed: $(tail -c 300 "$TMP/c2.out")"
[ "$(grep -c '] reused ' "$TMP/c2.out")" -eq 0 ]; check $? "an edited add_hard_dev.jsonl: $(grep -c '] reused ' "$TMP/c2.out") stages reused"

# ---- the pipeline owns its folders (issue 25, class 5): an interrupted
# stage whose folder holds another run's state (made by ./r1 rsft with other
# flags) or a damaged one is started afresh, to the same bytes; a state it
# cannot remove is named, exit 1
cp -R "$TMP/a" "$TMP/d" || exit 1
"$R1" rsft --model "$TMP/d/reasoning_rl" --base "$TMP/d/base" --out "$TMP/d/rsft" --steps 2 --questions 2 --filter none \
    --data-dir "$DD" --quiet >/dev/null 2>&1
head -c 1000 "$TMP/a/cold_start/state.bin" >"$TMP/d/cold_start/state.bin"
for s in rsft cold_start; do
    sed -e 's/^finished$/started/' -e '/^output /d' "$TMP/a/$s/pipeline.stamp" >"$TMP/d/$s/pipeline.stamp"
done
quick --out "$TMP/d" >"$TMP/d.out" 2>"$TMP/d.err"
rc=$?
[ $rc -eq 0 ]; check $? "another run's state in rsft/, a damaged one in cold_start/: want exit 0, got $rc: $(head -c 300 "$TMP/d.err")"
grep -q '^\[3/10 cold_start\] ./r1 coldstart ' "$TMP/d.out" && grep -q '^\[5/10 rsft\] ./r1 rsft ' "$TMP/d.out" &&
    [ "$(grep -c '] reused ' "$TMP/d.out")" -eq 8 ]
check $? "another run's state in rsft/, a damaged one in cold_start/: want both made afresh and 8 stages reused, got $(grep -c '] reused ' "$TMP/d.out")"
cmp -s "$TMP/d/rsft/model.safetensors" "$TMP/a/rsft/model.safetensors" &&
    cmp -s "$TMP/d/cold_start/model.safetensors" "$TMP/a/cold_start/model.safetensors" &&
    cmp -s "$TMP/d/results.json" "$TMP/a.json" && cmp -s "$TMP/d/RESULTS.md" "$TMP/a.md"
check $? "rsft and cold_start made afresh over another run's state: not the same bytes"
sed -e 's/^finished$/started/' -e '/^output /d' "$TMP/a/rsft/pipeline.stamp" >"$TMP/d/rsft/pipeline.stamp"
rm -f "$TMP/d/rsft/state.bin" && mkdir -p "$TMP/d/rsft/state.bin/x" || exit 1
quick --out "$TMP/d" >"$TMP/d.out" 2>"$TMP/d.err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$TMP/d.err")" -eq 1 ] && grep -q "remove .*$TMP/d/rsft" "$TMP/d.err" && ! grep -q -- '--resume' "$TMP/d.err"
check $? "a state.bin the pipeline cannot remove: want exit 1 naming the folder to remove, got $rc: $(head -c 300 "$TMP/d.err")"
# a stage "folder" that is a file, or a symbolic link into another run's
# folder: named, exit 1, and nothing written through the link
rm -rf "$TMP/d/rsft" && echo x >"$TMP/d/rsft" || exit 1
quick --out "$TMP/d" >"$TMP/d.out" 2>"$TMP/d.err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$TMP/d.err")" -eq 1 ] && grep -q "$TMP/d/rsft is not a folder.*remove it" "$TMP/d.err"
check $? "a file where the rsft folder goes: want exit 1 naming it, got $rc: $(head -c 300 "$TMP/d.err")"
cp -R "$TMP/c/rsft" "$TMP/other" && sed '/^output /d' "$TMP/c/rsft/pipeline.stamp" >"$TMP/other/pipeline.stamp" &&
    rm -f "$TMP/d/rsft" && ln -s "$TMP/other" "$TMP/d/rsft" || exit 1
(cd "$TMP/other" && cksum ./* >"$TMP/other.sums")
quick --out "$TMP/d" >"$TMP/d.out" 2>"$TMP/d.err"
rc=$?
[ $rc -eq 1 ] && grep -q "$TMP/d/rsft is a symbolic link" "$TMP/d.err" && (cd "$TMP/other" && cksum ./* | cmp -s - "$TMP/other.sums")
check $? "rsft a symbolic link to another folder: want exit 1 and that folder untouched, got $rc: $(head -c 300 "$TMP/d.err")"
# ./r1 align --resume refuses another run's state before it gathers pairs
# and trains the reward model, not minutes later
mkdir "$TMP/e" && cp "$TMP/a/all_scenarios/state.bin" "$TMP/e/" || exit 1
"$R1" align --resume --model "$TMP/a/rsft" --out "$TMP/e" --steps 2 --prompts 2 --group 2 --questions 8 --data-dir "$DD" >"$TMP/e.out" 2>"$TMP/e.err"
rc=$?
[ $rc -eq 2 ] && grep -q 'steps' "$TMP/e.err" && [ ! -e "$TMP/e/prefs.jsonl" ] && [ ! -e "$TMP/e/reward_model.txt" ] && ! grep -q 'preference pairs' "$TMP/e.out"
check $? "align --resume over another run's state: want exit 2 before any pair is gathered, got $rc, $(ls "$TMP/e" | tr '\n' ' ')"
# so do coldstart, rsft and distill, before they sample their sets
for c in "coldstart cold_start coldstart.jsonl --model $TMP/a/r1_zero --base $TMP/a/base" \
         "rsft rsft rsft.jsonl --model $TMP/a/reasoning_rl --base $TMP/a/base --filter none" \
         "distill student_distilled distill.jsonl --model $TMP/a/all_scenarios --base $TMP/a/student_base --filter none"; do
    set -- $c; cmd=$1 key=$2 set=$3; shift 3
    mkdir "$TMP/e-$cmd" && cp "$TMP/a/$key/state.bin" "$TMP/e-$cmd/" || exit 1
    "$R1" $cmd --resume "$@" --out "$TMP/e-$cmd" --steps 3 --questions 8 --data-dir "$DD" >"$TMP/e.out" 2>"$TMP/e.err"
    rc=$?
    [ $rc -eq 2 ] && grep -q 'steps' "$TMP/e.err" && [ ! -e "$TMP/e-$cmd/$set" ]
    check $? "$cmd --resume over another run's state: want exit 2 before its set is gathered, got $rc, $(ls "$TMP/e-$cmd" | tr '\n' ' ') $(head -c 200 "$TMP/e.err")"
done

# ---- a rebuilt r1 reuses nothing: the stamps name the program (here the
# same program with a byte appended, which runs alike; the run is cut short
# after its first line), so no table mixes two programs' stages or figures
cp "$R1" "$TMP/r1b" && printf 'x' >>"$TMP/r1b" && cp -R "$TMP/a" "$TMP/f" || exit 1
timeout -k 5 $LIMIT "$TMP/r1b" pipeline --steps 1 --data-dir "$DD" --quiet --out "$TMP/f" 2>/dev/null | head -n 1 >"$TMP/f.out"
grep -q '^\[1/10 base\] ./r1 pretrain --seed 1337' "$TMP/f.out" && ! grep -q reused "$TMP/f.out"
check $? "a rebuilt r1 over the same folder: want stage 0 made again, got: $(cat "$TMP/f.out")"

# ---- another seed reuses nothing (its first stage starts; the run is cut short after that line)
quick --out "$TMP/a" --seed 7 2>/dev/null | head -n 1 >"$TMP/s.out"
grep -q '^\[1/10 base\] ./r1 pretrain --seed 7' "$TMP/s.out" && ! grep -q reused "$TMP/s.out"
check $? "--seed 7 in the same folder: want stage 0 run afresh, got: $(cat "$TMP/s.out")"

echo "pipeline: $pass passed, $nfail failed"
[ $nfail -eq 0 ]
