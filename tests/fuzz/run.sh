#!/bin/sh
# tests/fuzz/run.sh -- build the libFuzzer harnesses and run each for a while.
#
#   tests/fuzz/run.sh                  all five harnesses, FUZZ_SECONDS (30) each
#   tests/fuzz/run.sh verifier jsonl   only these (verifier tokenizer safetensors jsonl serve)
#   tests/fuzz/run.sh regress          build and run regress.c (plain cc, no libFuzzer)
#   tests/fuzz/run.sh seeds            rewrite the seed corpora tests/fuzz/corpus/*/
#
# Environment: FUZZ_SECONDS (per harness, default 30), CLANG (default clang),
# CC (for regress/seeds, default cc), FUZZ_FLAGS (extra libFuzzer flags, e.g.
# "-max_len=8192"), FUZZ_LAX_ERRORS=1 (do not fail on control characters in a
# loader's error message: to fuzz on while a known instance is unfixed).
#
# The harnesses run one after another on one core. New inputs that reach new
# code go to tests/fuzz/build/corpus/NAME/ (git-ignored; kept between runs),
# seeds are read from tests/fuzz/corpus/NAME/. A crash, a leak, a timeout
# (> 10 s) or an exit() stops that harness and leaves the input in
# tests/fuzz/build/artifacts/NAME/; copy it to tests/fuzz/crashes/NAME/ and it
# becomes a regression test that regress.c replays. This script installs
# nothing: without clang's libFuzzer runtime it says which package has it and
# exits 0. Exit status 1 if a harness found something.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
build=tests/fuzz/build
seconds=${FUZZ_SECONDS:-30}
clang=${CLANG:-clang}
cc=${CC:-cc}
ALL="verifier tokenizer safetensors jsonl serve"
WARN="-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unknown-pragmas"

case "${1:-}" in
regress)
    mkdir -p "$build"
    $cc $WARN -O1 -o "$build/regress" tests/fuzz/regress.c tokenizer.c -lm -lpthread || exit 1
    exec "$build/regress" tests/fuzz ;;
seeds)
    mkdir -p "$build"
    $cc $WARN -O1 -o "$build/make_seeds" tests/fuzz/make_seeds.c tokenizer.c -lm -lpthread || exit 1
    exec "$build/make_seeds" tests/fuzz/corpus data ;;
esac
targets=${*:-$ALL}
for t in $targets; do
    case " $ALL " in *" $t "*) ;; *) echo "run.sh: unknown harness '$t' (one of: $ALL, regress, seeds)" >&2; exit 2 ;; esac
done
case "$seconds" in ''|*[!0-9]*) echo "run.sh: FUZZ_SECONDS must be a whole number of seconds, not '$seconds'" >&2; exit 2 ;; esac

# Is there a clang with libFuzzer's runtime? Try linking a trivial target.
mkdir -p "$build"
if ! command -v "$clang" >/dev/null 2>&1; then
    echo "fuzz: skipped: '$clang' not found. The harnesses need clang with libFuzzer;"
    echo "fuzz: on Debian/Ubuntu: apt-get install clang libclang-rt-dev (or clang-14 libclang-rt-14-dev), then run again."
    exit 0
fi
major=$("$clang" --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\).*/\1/p' | head -1)
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$build/probe.c"
if ! "$clang" -fsanitize=fuzzer,address,undefined -o "$build/probe" "$build/probe.c" >"$build/probe.log" 2>&1; then
    echo "fuzz: skipped: $clang cannot link -fsanitize=fuzzer,address,undefined (libFuzzer's runtime, libclang_rt.fuzzer, is missing):"
    sed 's/^/fuzz:   /' "$build/probe.log" | head -3
    echo "fuzz: on Debian/Ubuntu it is in the package libclang-rt-${major:-N}-dev (older releases: libclang-common-${major:-N}-dev):"
    echo "fuzz:   sudo apt-get install libclang-rt-${major:-N}-dev"
    echo "fuzz: then run make fuzz again. Nothing was installed."
    exit 0
fi

FLAGS="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g $WARN"
status=0
pid=""
# The fuzzer runs in the background (to know its pid); pass Ctrl-C on to it.
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; exit 130' INT TERM
summary=""
total=0
for t in $targets; do
    bin=$build/fuzz_$t
    echo "fuzz: building $bin"
    if ! "$clang" $FLAGS -o "$bin" "tests/fuzz/fuzz_$t.c" tokenizer.c -lm -lpthread; then
        echo "fuzz: $t: build failed" >&2; exit 1
    fi
    mkdir -p "$build/corpus/$t" "$build/artifacts/$t"
    log=$build/$t.log
    echo "fuzz: running $t for $seconds s (log: $log)"
    # -timeout: an input taking > 10 s is a hang; -rss_limit_mb: no input may
    # make a loader allocate gigabytes; -print_final_stats: the count below.
    "./$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -dict="tests/fuzz/$t.dict" -artifact_prefix="$build/artifacts/$t/" ${FUZZ_FLAGS:-} \
        "$build/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 &
    pid=$!
    wait "$pid"
    rc=$?
    # the harness's scratch file (fuzz_common.h), left behind if it crashed
    rm -f "/dev/shm/r1-fuzz-$pid" "/dev/shm/r1-fuzz-$pid.tmp" "${TMPDIR:-/tmp}/r1-fuzz-$pid" "${TMPDIR:-/tmp}/r1-fuzz-$pid.tmp"
    pid=""
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
    execs=${execs:-0}
    total=$((total + execs))
    if [ $rc -eq 0 ]; then
        result="ok"
    else
        status=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        result="FOUND A PROBLEM (exit $rc): $(grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|fuzz check failed|runtime error|ERROR: libFuzzer' "$log" | cut -c1-160)"
        [ -n "$artifact" ] && result="$result
      input: $artifact  (keep it: cp $artifact tests/fuzz/crashes/$t/)"
    fi
    summary="$summary$(printf '  %-12s %12s executions  %s' "$t" "$execs" "$result")
"
done
echo "fuzz: executions per harness ($seconds s each):"
printf '%s' "$summary"
echo "fuzz: $total executions in total"
exit $status
