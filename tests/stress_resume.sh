#!/bin/sh
# tests/stress_resume.sh -- the resume promise, under many kills.
#
# A run killed at any moment and continued with --resume (as many times as it
# takes) must end with the same files as a run never interrupted: the same
# model.safetensors, state.bin, samples.txt and curves.svg byte for byte, the
# same metrics.csv except its last column (seconds, the wall clock), no other
# file (no PATH.tmp or PATH.tmp.PID left behind), and exit status 0.
#
# Every stage, and in make stress the pipeline: pretrain (12 steps, a save
# every 3), zero from a tiny base (4 steps, a save every step), zero_sparse
# (6 steps, saves at 0 and 6 only, so samples.txt reaches the disk part-way
# between saves); coldstart, reason, rsft, align and distill, each from a
# tiny parent made by the stage before (a chain made once with the stages'
# own commands, a step or two each), a save every step; and ./r1 pipeline --steps 1 on 8-question sets, killed at any of its
# renames across its ten stages and its evaluation, then run again (the
# pipeline has no --resume: it resumes its own stages), every file of every
# stage folder compared (a stamp but for its metrics.csv hash, which holds
# the clock; timings.txt is the clock). For each, a reference check first:
# two uninterrupted runs must give the same files, state.bin included (the
# second run goes through the shim, which counts the renames). Then
# STRESS_KILLS cases, which take the stages in turn. Each case
# kills the run one to three times -- the first run, and in about a third of
# the cases the resumes too -- each time in one of three ways:
#   before:N  tests/kill_shim.so raises SIGKILL just before the N-th rename of
#             the process, so a save is cut between writing PATH.tmp and
#             publishing it;
#   after:N   SIGKILL just after the N-th rename (a save half published);
#   delay:MS  kill -9 from outside after MS milliseconds (0 to the length of
#             the reference run);
# then resumes once more with --resume, uninterrupted, and compares. The kill
# points come from a seeded generator, a stream per case: every failure
# prints its seed, case and kill points, and how to replay that case alone
# (exactly for before/after kills; a delay kill lands where the clock says).
#
#     sh tests/stress_resume.sh              # from the repository root, after make r1 tests/kill_shim.so
#     STRESS_KILLS=200 sh tests/stress_resume.sh   # make stress, but for the pipeline's cases
#     STRESS_SEED=7 STRESS_ONLY=5 KEEP=1 sh tests/stress_resume.sh   # replay case 5 of seed 7, keep its files
#
# Environment: R1 (./r1); STRESS_KILLS, the number of cases (one per stage,
# 8; 2 with R1_SLOW=1); STRESS_SEED (1); STRESS_ONLY, one case number;
# STRESS_STAGES ("pretrain zero zero_sparse coldstart reason rsft align
# distill", make test's; make stress adds "pipeline", whose reference runs
# and cases take the most time; "pretrain" with R1_SLOW=1, where a zero run
# takes ~25 s); STRESS_THREADS (1: on a shared 2-core host two spinning
# threads are 3x slower, and the outputs do not depend on it); KILL_SHIM
# (tests/kill_shim.so; built into the temp folder if missing; without it only
# delay kills are made); KEEP=1 keeps the temp folder.
#
# Prints "FAIL: ..." per failing case, a count per kind of failure, then
# "stress: N passed, M failed" (one per case, plus one per stage for its
# reference check); exits 1 if M > 0.

# shellcheck disable=SC2086,SC2154   # $args, $STAGES split on purpose; eval sets the per-stage variables
set -u
LC_ALL=C; export LC_ALL
R1=${R1:-./r1}
case $R1 in /*) ;; ./*) R1=$(pwd)/${R1#./} ;; *) R1=$(pwd)/$R1 ;; esac
if [ "${R1_SLOW:-0}" = 1 ]; then
    KILLS=${STRESS_KILLS:-2}; STAGES=${STRESS_STAGES:-pretrain}
else
    STAGES=${STRESS_STAGES:-pretrain zero zero_sparse coldstart reason rsft align distill}
    KILLS=${STRESS_KILLS:-$(echo $STAGES | wc -w)}
fi
SEED=${STRESS_SEED:-1}
ONLY=${STRESS_ONLY:-}
THREADS=${STRESS_THREADS:-1}
if [ ! -x "$R1" ] || [ ! -f data/tokenizer.txt ]; then
    echo "FAIL: $R1 or data/tokenizer.txt not found (run make r1 from the repository root)"
    echo "stress: 0 passed, 1 failed"
    exit 1
fi
TMP=$(mktemp -d /tmp/r1-stress.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
trap 'exit 1' HUP INT TERM
pass=0; nfail=0

# every run is stopped if it hangs (not for delay kills: kill -9 must reach r1 itself)
TO=
command -v timeout >/dev/null 2>&1 && TO="timeout -k 5 600"

# the shim: the given one, else tests/kill_shim.so, else built here
SHIM=${KILL_SHIM:-tests/kill_shim.so}
case $SHIM in /*) ;; *) SHIM=$(pwd)/$SHIM ;; esac
if [ ! -f "$SHIM" ] && [ -f tests/kill_shim.c ]; then
    SHIM=$TMP/kill_shim.so
    ${CC:-cc} -O2 -shared -fPIC -o "$SHIM" tests/kill_shim.c -ldl 2>"$TMP/cc.err" || SHIM=
fi
[ -f "${SHIM:-/nonexistent}" ] || SHIM=
# an ASan build refuses to start when another library is preloaded before its runtime
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"; export ASAN_OPTIONS

# ---- a seeded generator: rnd N sets r to 0..N-1 ---------------------------
# (31-bit LCG; its products fit in the shell's 64-bit arithmetic; the high
# bits are used, the low ones of a power-of-two LCG are poor)
rs=1
rnd() {
    rs=$(( (rs * 1103515245 + 12345) % 2147483648 ))
    r=$(( (rs / 65536) % $1 ))
}
seed_case() {   # a stream of its own for case $1, so one case replays alone
    rs=$(( (SEED * 7919 + $1 * 104729 + 17) % 2147483648 ))
    rnd 2; rnd 2; rnd 2
}

now_ms() { t=$(date +%s%N); echo $((t / 1000000)); }

# ---- the stages --------------------------------------------------------
# A small data folder for zero: its held-out evaluation (every step) samples
# the first 8 questions of add_dev and of add_hard_dev instead of 128 each,
# 16x less work; the test sets, which no stage reads, cut alike.
sh tests/small_data.sh "$TMP/data" 8 add_test add_hard add_dev add_hard_dev
# the later stages' and the pipeline's: every file of data/, 8 lines each
sh tests/small_data.sh "$TMP/data8" 8 add_test add_hard general safety add_dev add_hard_dev general_dev safety_dev

# The model: d=16, one layer. What a kill can break is the run folder's
# plumbing, whatever the shape, and the demo's costs each step some 6 times more.
TINY="--d-model 16 --layers 1 --heads 2"

# stage_args STAGE: set args to the flags of the stage (without --out)
stage_args() {
    case $1 in
        pretrain) args="pretrain --steps 12 --save-every 3 --batch 2 $TINY --seed 3 --threads $THREADS --quiet" ;;
        zero)     args="zero --model $TMP/base --data-dir $TMP/data --steps 4 --prompts 2 --save-every 1 --seed 5 --threads $THREADS --quiet" ;;
        # saves at steps 0 and 6 only: in between, samples.txt outgrows its
        # 4 KiB stdio buffer, so part of it reaches the disk before the save
        zero_sparse) args="zero --model $TMP/base --data-dir $TMP/data --steps 6 --prompts 2 --save-every 6 --seed 5 --threads $THREADS --quiet" ;;
        # the later stages, each from its tiny parent (make_chain), a save every step
        coldstart) args="coldstart --model $P/r1_zero --base $P/base --questions 8 --steps 4 --batch 2 $L" ;;
        reason)    args="reason --model $P/cold_start --steps 3 --prompts 2 --group 2 $L" ;;
        rsft)      args="rsft --model $P/reasoning_rl --base $P/base --questions 8 --filter none --steps 4 --batch 2 $L" ;;
        align)     args="align --model $P/rsft --questions 8 --steps 3 --prompts 2 --group 2 --rm-from 0 $L" ;;
        distill)   args="distill --model $P/all_scenarios --base $P/student_base --questions 8 --filter none --steps 4 --batch 2 $L" ;;
        # the whole pipeline; it has no --resume: run again, it resumes its stages
        pipeline)  args="pipeline --steps 1 --data-dir $TMP/data8 --threads $THREADS --quiet" ;;
    esac
    resume=--resume; [ "$1" = pipeline ] && resume=
}
L="--data-dir $TMP/data8 --save-every 1 --threads $THREADS --quiet"
P=$TMP/chain

# the tiny base of zero: two steps of pretraining
base_ready=0
make_base() {
    [ $base_ready = 1 ] && return 0
    base_ready=1
    $TO "$R1" pretrain --steps 2 --batch 2 $TINY --seed 11 --threads "$THREADS" --quiet --out "$TMP/base" >/dev/null 2>"$TMP/err" && return 0
    echo "FAIL: the base for zero: $R1 pretrain exited $?: $(head -c 300 "$TMP/err")"
    base_ready=2
    return 1
}

# the chain the later stages start from: one tiny model per stage (d=16, a
# step or two each, 8-question sets), made once with the stages' own commands
chain_ready=0
make_chain() {
    stage=$1
    [ $chain_ready = 1 ] && return 0
    [ $chain_ready = 2 ] && { echo "FAIL: $1: no chain of parents"; return 1; }
    chain_ready=2
    C="--data-dir $TMP/data8"
    for step in "pretrain --steps 2 --batch 2 $TINY --seed 13 --out $P/base" \
                "zero --model $P/base --steps 1 --prompts 2 --group 2 $C --out $P/r1_zero" \
                "coldstart --model $P/r1_zero --base $P/base --questions 8 --steps 1 --batch 2 $C --out $P/cold_start" \
                "reason --model $P/cold_start --steps 1 --prompts 2 --group 2 $C --out $P/reasoning_rl" \
                "rsft --model $P/reasoning_rl --base $P/base --questions 8 --filter none --steps 1 --batch 2 $C --out $P/rsft" \
                "align --model $P/rsft --questions 8 --steps 1 --prompts 2 --group 2 $C --out $P/all_scenarios" \
                "pretrain --steps 2 --batch 2 $TINY --seed 17 --out $P/student_base"; do
        # shellcheck disable=SC2086
        if ! $TO "$R1" $step --threads "$THREADS" --quiet >/dev/null 2>"$TMP/err"; then
            echo "FAIL: $1: no chain of parents: $R1 $step exited: $(head -c 300 "$TMP/err")"
            return 1
        fi
    done
    chain_ready=1
}

# metrics.csv without its last column
strip_seconds() { sed 's/,[^,]*$//' "$1"; }

# state_cmp REF GOT: 0 if the two state.bin files are identical, 1 if they
# differ only in the wall clock that state.bin ends with (one double per
# metrics row), 2 otherwise.
state_cmp() {
    cmp -s "$1/state.bin" "$2/state.bin" && return 0
    len=$(wc -c <"$1/state.bin")
    [ "$len" -eq "$(wc -c <"$2/state.bin")" ] || return 2
    nrow=$(( $(wc -l <"$1/metrics.csv") - 1 ))
    keep=$((len - nrow * 8))
    [ "$(head -c "$keep" "$1/state.bin" | cksum)" = "$(head -c "$keep" "$2/state.bin" | cksum)" ] && return 1
    return 2
}

# compare REF GOT: sets problems ("" when GOT matches REF) and adds one line
# per kind of problem to $TMP/classes (prefixed by $stage)
compare() {
    problems=
    (cd "$1" && find . -type f | sort) >"$TMP/files1"
    (cd "$2" && find . -type f | sort) >"$TMP/files2"
    while read -r p; do
        p=${p#./}; f=${p##*/}; d=${p%"$f"}      # d: the stage folder within a pipeline's, with its /
        case $f in .lock|timings.txt) continue ;; esac   # a pid, wall times: not results
        if [ ! -f "$2/$p" ]; then note "missing $p"; continue; fi
        case $f in
            metrics.csv)
                strip_seconds "$1/$p" >"$TMP/m1"; strip_seconds "$2/$p" >"$TMP/m2"
                cmp -s "$TMP/m1" "$TMP/m2" || note "${d}metrics.csv differs ($(wc -l <"$2/$p") rows, expected $(wc -l <"$1/$p"))" "metrics.csv differs" ;;
            samples.txt)
                if ! cmp -s "$1/$p" "$2/$p"; then
                    dup=$(grep '^== step' "$2/$p" | sort | uniq -d | sed 's/== step \(.*\) ==/\1/' | tr '\n' ' ')
                    size="$(wc -c <"$2/$p") bytes, expected $(wc -c <"$1/$p")"
                    # a line the reference does not have: one cut short by the kill
                    half=$(grep -acvxFf "$1/$p" "$2/$p")
                    [ -n "$dup" ] && note "${d}samples.txt repeats step ${dup% } ($size)" "samples.txt repeats a step"
                    [ "$half" -gt 0 ] && note "${d}samples.txt has $half line(s) the reference has not, cut short ($size)" "samples.txt has a half-written line"
                    [ -z "$dup" ] && [ "$half" -eq 0 ] && note "${d}samples.txt differs ($size)" "samples.txt differs"
                fi ;;
            state.bin)                       # all but the wall clock it ends with
                state_cmp "$1/$d" "$2/$d"
                [ $? -eq 2 ] && note "${d}state.bin differs" "state.bin differs" ;;
            pipeline.stamp)                  # all but its metrics.csv's hash (the file holds the clock)
                grep -v '^output metrics.csv: ' "$1/$p" >"$TMP/m1"; grep -v '^output metrics.csv: ' "$2/$p" >"$TMP/m2"
                cmp -s "$TMP/m1" "$TMP/m2" || note "$p differs" "pipeline.stamp differs" ;;
            *) cmp -s "$1/$p" "$2/$p" || note "$p differs" "$f differs" ;;
        esac
    done <"$TMP/files1"
    while read -r p; do
        p=${p#./}; f=${p##*/}
        [ -e "$1/$p" ] && continue
        case $f in
            .lock) ;;
            *.tmp*) note "left $p behind" "temporary file left behind" ;;
            *) note "extra file $p" "extra file" ;;
        esac
    done <"$TMP/files2"
}
# note TEXT [CLASS]
note() {
    problems="${problems:+$problems; }$1"
    echo "$stage: ${2:-$1}" >>"$TMP/classes"
}

# The references: one uninterrupted run per stage, and a second one (through
# the shim, which logs and counts the renames) that must give the same files,
# state.bin included: one check per stage, before the cases.
ref_ready() {
    eval "st=\${ref_$1:-}"
    [ "$st" = ok ] && return 0
    [ -n "$st" ] && return 1
    stage=$1
    eval "ref_$1=bad"
    case $1 in zero*) make_base || return 1 ;; coldstart|reason|rsft|align|distill) make_chain "$1" || return 1 ;; esac
    stage_args "$1"
    t0=$(now_ms)
    # shellcheck disable=SC2086
    $TO "$R1" $args --out "$TMP/ref-$1" >/dev/null 2>"$TMP/err"; rc=$?
    eval "ms_$1=$(( $(now_ms) - t0 ))"
    if [ $rc -ne 0 ]; then
        echo "FAIL: $1 reference run exited $rc: $(head -c 300 "$TMP/err")"
        return 1
    fi
    rm -f "$TMP/log-$1"; : >"$TMP/log-$1"
    # shellcheck disable=SC2086
    R1_RENAME_LOG=$TMP/log-$1 LD_PRELOAD=$SHIM $TO "$R1" $args --out "$TMP/count-$1" >/dev/null 2>"$TMP/err"; rc=$?
    eval "renames_$1=$(wc -l <"$TMP/log-$1")"
    problems=
    if [ $rc -ne 0 ]; then problems="exited $rc: $(head -c 300 "$TMP/err")"; else compare "$TMP/ref-$1" "$TMP/count-$1"; fi
    if [ -n "$problems" ]; then
        echo "FAIL: $1: two uninterrupted runs with the same flags differ: $problems"
        return 1
    fi
    eval "ref_$1=ok"
    echo "stress: $1: the reference run takes $(eval "echo \$ms_$1") ms and makes $(eval "echo \$renames_$1") renames"
    # state.bin: everything but the wall clock it ends with must agree (the pipeline's: compare's)
    [ -f "$TMP/ref-$1/state.bin" ] && state_cmp "$TMP/ref-$1" "$TMP/count-$1"
    if [ $? -eq 2 ]; then
        echo "FAIL: $1: two uninterrupted runs with the same flags write state.bin files that differ before their clock"
        echo "$1: state.bin differs (reference check)" >>"$TMP/classes"
        return 2
    fi
    return 0
}

# ---- one case --------------------------------------------------------------

# attempt KILL [FLAGS [AGAIN]]: one run of $args FLAGS (--resume, or none for the
# pipeline) into $out, killed as KILL says; AGAIN: it is not the first run
# (none: not killed); sets rc and what (how it ended, for the report)
attempt() {
    kind=${1%%:*}; n=${1#*:}
    # shellcheck disable=SC2086
    case $kind in
        before) R1_KILL_AT_RENAME=$n LD_PRELOAD=$SHIM $TO "$R1" $args --out "$out" $2 >/dev/null 2>"$TMP/err"; rc=$? ;;
        after)  R1_KILL_AFTER_RENAME=$n LD_PRELOAD=$SHIM $TO "$R1" $args --out "$out" $2 >/dev/null 2>"$TMP/err"; rc=$? ;;
        delay)  "$R1" $args --out "$out" $2 >/dev/null 2>"$TMP/err" &
                pid=$!
                sleep "$((n / 1000)).$(printf '%03d' $((n % 1000)))"
                kill -9 "$pid" 2>/dev/null
                { wait "$pid"; } 2>/dev/null; rc=$? ;;       # (no "Killed" from the shell)
        *)      $TO "$R1" $args --out "$out" $2 >/dev/null 2>"$TMP/err"; rc=$? ;;
    esac
    case $kind in
        before) w="killed before rename $n" ;;
        after)  w="killed after rename $n" ;;
        delay)  w="kill -9 after ${n} ms" ;;
        *)      w="uninterrupted" ;;
    esac
    # the file a rename kill hit, from the reference's log of renames
    case $kind in
        before|after) f=$(sed -n "${n}p" "$TMP/log-$stage" | sed 's/.* //; s,.*/,,')
                      w="$w${f:+ ($f)}" ;;
    esac
    case $rc in
        0)   [ "$kind" = none ] || w="finished before the kill ($w)" ;;
        137) [ "$kind" = none ] && w="$w: killed by someone else" ;;
        *)   w="$w: exited $rc ($(head -c 300 "$TMP/err" | tr '\n' ' '))" ;;
    esac
    what="${what:+$what, then }${3:+resumed, }$w"
}

run_case() {
    i=$1; seed_case "$i"
    set -- $STAGES
    k=$(( (i - 1) % $# + 1 )); eval "stage=\${$k}"
    eval "st=\${ref_$stage:-}"
    [ "$st" = ok ] || { nfail=$((nfail + 1)); echo "FAIL: [seed $SEED case $i] $stage: no reference run"; return; }
    stage_args "$stage"
    eval "total=\$renames_$stage ms=\$ms_$stage"
    [ "$ms" -gt 0 ] || ms=1
    # the plan: one to three kills
    nk=1; rnd 3; [ $r = 0 ] && { nk=2; rnd 3; [ $r = 0 ] && nk=3; }
    plan=
    while [ $nk -gt 0 ]; do
        if [ -n "$SHIM" ] && [ "$total" -gt 0 ]; then rnd 3; else r=2; fi
        case $r in
            0) rnd "$total"; plan="$plan before:$((r + 1))" ;;
            1) rnd "$total"; plan="$plan after:$((r + 1))" ;;
            2) rnd "$ms"; plan="$plan delay:$r" ;;
        esac
        nk=$((nk - 1))
    done
    out=$TMP/case; rm -rf "$out"
    what=; problems=
    again=
    for kill in $plan; do
        attempt "$kill" "$again" "$again"
        again=$resume; [ -n "$again" ] || again=" "   # the pipeline's resumption: the same command
        case $rc in 0) break ;; 137) ;; *) problems="exit status $rc"; echo "$stage: a run exited $rc" >>"$TMP/classes"; break ;; esac
    done
    if [ "$rc" -eq 137 ]; then             # then resume until done
        attempt none "$resume" resumed
        if [ $rc -ne 0 ]; then problems="exit status $rc"; echo "$stage: a run exited $rc" >>"$TMP/classes"; fi
    fi
    [ -z "$problems" ] && compare "$TMP/ref-$stage" "$out"
    if [ -z "$problems" ]; then pass=$((pass + 1)); return; fi
    nfail=$((nfail + 1))
    echo "FAIL: [seed $SEED case $i] $stage:$what: $problems"
    # the state says the run is done, yet a file from an earlier save is left
    state_cmp "$TMP/ref-$stage" "$out"; sc=$?
    case $sc:$problems in
        [01]:*model.safetensors*|[01]:*metrics.csv*|[01]:*curves.svg*|[01]:*.tmp*)
            echo "    (state.bin is the final one: the kill fell in the last save, after state.bin was published, and --resume had no step left to save again)" ;;
    esac
    echo "    replay: STRESS_SEED=$SEED STRESS_ONLY=$i STRESS_STAGES='$STAGES' KEEP=1 R1=$R1 sh tests/stress_resume.sh   (plan:$plan)"
    [ -n "${KEEP:-}" ] && cp -r "$out" "$TMP/fail-$i" && echo "    files: $TMP/fail-$i, reference $TMP/ref-$stage"
}

: >"$TMP/classes"
echo "stress: seed $SEED, $(if [ -n "$ONLY" ]; then echo "case $ONLY"; else echo "$KILLS cases"; fi), stages: $STAGES, threads $THREADS, shim: ${SHIM:-none (delay kills only)}"
for s in $STAGES; do
    if [ -n "$ONLY" ]; then                 # only the stage of that case
        set -- $STAGES; k=$(( (ONLY - 1) % $# + 1 )); eval "o=\${$k}"
        [ "$o" = "$s" ] || continue
    fi
    ref_ready "$s"
    case $? in 0) pass=$((pass + 1)) ;; *) nfail=$((nfail + 1)) ;; esac
done
if [ -n "$ONLY" ]; then
    run_case "$ONLY"
else
    i=1
    while [ $i -le "$KILLS" ]; do run_case $i; i=$((i + 1)); done
fi
if [ -s "$TMP/classes" ]; then
    echo "stress: kinds of failure (cases):"
    sort "$TMP/classes" | uniq -c | sort -rn | sed 's/^ */    /'
fi
echo "stress: $pass passed, $nfail failed"
[ "$nfail" -eq 0 ]
