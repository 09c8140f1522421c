#!/bin/sh
# Run each test program or script, echo its output, and add up their
# "N passed, N failed" lines. Exits non-zero if any test failed or crashed.
#
# The tests run in R1_TEST_JOBS lanes side by side (default: the number of
# CPUs, at most 2): each lane takes the next test nobody has taken yet, in
# the order given (so give the longest first), and every output is printed
# whole, in that order, once all have finished.
#
# With two lanes, each is pinned to a CPU of its own (taskset, where it
# exists): a test then sees one CPU, so ./r1's default is one thread, and two
# lanes never run four threads on two cores, where r1's workers would wait
# for each other's CPU (the tests' numbers do not depend on the thread
# count). R1_TEST_CPUS, exported, is the CPU list the lanes came from, for a
# test that wants two threads on two CPUs (taskset -c "$R1_TEST_CPUS").
jobs=${R1_TEST_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
[ "$jobs" -le 2 ] || jobs=2
cpus=""
if [ "$jobs" -eq 2 ] && command -v taskset >/dev/null 2>&1; then
    R1_TEST_CPUS=$(taskset -cp $$ 2>/dev/null | sed -n 's/.*: *//p')
    for part in $(echo "$R1_TEST_CPUS" | tr ',' ' '); do     # "0-3,8" -> 0 1 2 3 8
        case $part in
            *-*) c=${part%-*}; while [ "$c" -le "${part#*-}" ]; do cpus="$cpus $c"; c=$((c + 1)); done ;;
            *) cpus="$cpus $part" ;;
        esac
    done
    export R1_TEST_CPUS
fi
OUT=$(mktemp -d /tmp/r1-run.XXXXXX) || exit 1
trap 'rm -rf "$OUT"' EXIT
trap 'exit 1' HUP INT TERM

# R1_TEST_BUILD, if set, is a command that brings a test program up to date
# (make test's: "make tests/test_model"), run by the lane just before the
# program: the programs not built yet compile in the lanes, beside the
# scripts, rather than all before any test starts.
#
# R1_TEST_FIRST, if set, is a command the first lane runs before it takes a
# test (make test's: build ./r1); the scripts, which run ./r1, wait for it,
# while the test programs, which do not, start beside it in the other lane.
wait_first() {
    [ -n "${R1_TEST_FIRST:-}" ] || return 0
    while [ ! -f "$OUT/first.rc" ]; do sleep 0.1; done
    [ "$(cat "$OUT/first.rc")" -eq 0 ] || { echo "$1: not run, the build failed"; return 1; }
}
run_one() {   # run_one K TEST: output in $OUT/K.out, exit status in $OUT/K.rc
    case "$2" in
        *.sh) if [ -f "$2" ]; then wait_first "$2" >"$OUT/$1.out" && $pin sh "$2" >"$OUT/$1.out" 2>&1
              else : >"$OUT/$1.out"; fi ;;
        *) { [ -z "${R1_TEST_BUILD:-}" ] || $pin $R1_TEST_BUILD "$2"; } >"$OUT/$1.out" 2>&1 &&
               $pin "$2" >>"$OUT/$1.out" 2>&1 ;;
    esac
    echo $? >"$OUT/$1.rc"
}

lane=0
while [ $lane -lt "$jobs" ]; do
    (
        pin=""                     # the lane's CPU: the (lane+1)-th of $cpus
        i=0; for c in $cpus; do [ $i -eq $lane ] && pin="taskset -c $c"; i=$((i + 1)); done
        [ $i -ge 2 ] || pin=""
        if [ $lane -eq 0 ] && [ -n "${R1_TEST_FIRST:-}" ]; then
            $pin $R1_TEST_FIRST >"$OUT/first.out" 2>&1; echo $? >"$OUT/first.tmp"; mv "$OUT/first.tmp" "$OUT/first.rc"
        fi
        k=0
        for t in "$@"; do          # mkdir is atomic: the lane that makes $OUT/K.taken runs test K
            mkdir "$OUT/$k.taken" 2>/dev/null && run_one $k "$t"
            k=$((k + 1))
        done
    ) &
    lane=$((lane + 1))
done
wait

pass=0; fail=0; status=0; k=0
if [ -n "${R1_TEST_FIRST:-}" ]; then
    cat "$OUT/first.out"
    [ "$(cat "$OUT/first.rc")" -eq 0 ] || { echo "$R1_TEST_FIRST: failed"; status=1; fail=$((fail + 1)); }
fi
for t in "$@"; do
    cat "$OUT/$k.out"
    rc=$(cat "$OUT/$k.rc" 2>/dev/null || echo 1)
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$OUT/$k.out" | tail -1)
    p=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')
    f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    [ -n "$p" ] && pass=$((pass + p))
    [ -n "$f" ] && fail=$((fail + f))
    if [ "$rc" -ne 0 ]; then
        status=1
        if [ -z "$line" ]; then echo "$t: exited $rc without a summary"; fail=$((fail + 1)); fi
    fi
    k=$((k + 1))
done
echo "$pass passed, $fail failed"
[ $status -eq 0 ] && [ $fail -eq 0 ]
