#!/bin/sh
# tests/test_width.sh -- DESIGN §9 on this machine: the same seed gives the
# same checkpoint bytes and the same metrics whatever the vector width.
#
# Builds r1 into build-width/ with -march=x86-64-v3 (AVX2: 8 floats a vector)
# and, if this CPU has avx512f, with -march=x86-64-v4 (AVX-512: 16 floats),
# otherwise with the Makefile's flags; the Makefile's ./r1 (-march=native,
# whose tuning may differ again) runs too. Each runs the same work:
#   pretrain --steps 5 --batch 8                          (from the seed)
#   zero --steps 1 --prompts 8 --group 8, 8 questions     (from one 60-step
#                                                         base, so the GRPO
#                                                         step is checked on
#                                                         its own)
# and every model.safetensors must equal the v3 build's byte for byte, every
# metrics.csv too but for its wall-clock column, seconds. On a difference it
# says which tensors differ and by how many ulps (tests/safetensors_diff.sh).
# Run from the repository root after `make r1`, or as part of `make test`:
#
#     sh tests/test_width.sh      # KEEP=1: keep the work folder
#     sh tests/test_width.sh --build   # only the builds (make test's first step)
#
# WIDTH_CFLAGS: the flags besides -march (the Makefile passes its own).
# Prints "FAIL: ..." per failure, then "width: N passed, M failed"; exits 1
# if M > 0. Skipped (0 failed) where x86-64-v3 cannot run.

LC_ALL=C; export LC_ALL
R1=${R1:-./r1}
CC=${CC:-cc}
WIDTH_CFLAGS=${WIDTH_CFLAGS:--O3 -ffp-contract=fast -fno-trapping-math -fno-math-errno -fopenmp-simd}
WARN=${WARN:--std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unknown-pragmas}
BUILD=build-width
pass=0; nfail=0
ok() { pass=$((pass + 1)); }
fail() { nfail=$((nfail + 1)); echo "FAIL: $*"; }
done_() { echo "width: $pass passed, $nfail failed"; [ "$nfail" -eq 0 ]; exit; }

if [ "${1:-}" != --build ] && { [ ! -x "$R1" ] || [ ! -f data/tokenizer.txt ]; }; then
    fail "$R1 or data/tokenizer.txt not found (run make r1 from the repository root)"; done_
fi
# x86-64-v3 is AVX2 + FMA (Haswell, Zen 1 and later)
if [ "$(uname -m)" != x86_64 ] || ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo; then
    echo "width: skipped (needs an x86-64 CPU with AVX2 and FMA; make cross-check compares ARM64)"; done_
fi

# ---- the builds: v3, and v4 or the Makefile's flags ------------------------
# (rebuilt only when a source or the flags changed, both at once)
if grep -qw avx512f /proc/cpuinfo; then second="v4"; else second="make"; fi
mkdir -p "$BUILD"
build() {   # build NAME MARCH: $BUILD/r1-NAME, unless it is up to date
    flags="$WIDTH_CFLAGS -march=$2"
    if [ -x "$BUILD/r1-$1" ] && [ "$(cat "$BUILD/flags-$1" 2>/dev/null)" = "$CC $flags" ] &&
       [ -z "$(find r1.c r1.h tokenizer.c -newer "$BUILD/r1-$1")" ]; then return 0; fi
    rm -f "$BUILD/r1-$1" "$BUILD/flags-$1"
    # shellcheck disable=SC2086
    $CC $flags $WARN -o "$BUILD/r1-$1" r1.c tokenizer.c -lm -lpthread 2>"$BUILD/build-$1.log" &&
        echo "$CC $flags" >"$BUILD/flags-$1"
}
build v3 x86-64-v3 & p1=$!
if [ $second = v4 ]; then build v4 x86-64-v4 & p2=$!; fi
wait $p1; rc1=$?; rc2=0
[ $second = v4 ] && { wait "$p2"; rc2=$?; }
[ $rc1 = 0 ] || { cat "$BUILD/build-v3.log"; fail "the -march=x86-64-v3 build failed"; done_; }
[ $rc2 = 0 ] || { cat "$BUILD/build-v4.log"; fail "the -march=x86-64-v4 build failed"; done_; }
[ "${1:-}" = --build ] && exit 0     # make test builds them beside the other binaries
names="v3"; [ $second = v4 ] && names="$names v4"
# ./r1 too, unless it is the sanitizers' -O1 build (R1_SLOW=1), which fuses
# no multiply-adds into FMAs and so computes other (equally valid) numbers
if [ -z "${R1_SLOW:-}" ]; then names="$names make"
elif [ $second = make ]; then echo "width: skipped (no AVX-512 build to compare, and $R1 is a sanitizer build)"; done_
fi
exe() { if [ "$1" = make ]; then echo "$R1"; else echo "$BUILD/r1-$1"; fi; }
echo "width: comparing $(for n in $names; do printf '%s ' "$(exe "$n")"; done)(v3: $(cat "$BUILD/flags-v3"))"

TMP=$(mktemp -d /tmp/r1-width.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
[ -n "${KEEP:-}" ] && trap - EXIT && echo "width: work folder $TMP"
trap 'exit 1' HUP INT TERM
DD=$TMP/dd                                   # 8-question benchmarks, as tests/test_cli.sh
sh tests/small_data.sh "$DD" 8 add_test add_hard add_dev add_hard_dev || exit 1

# run NAME OUT ARGS...: build NAME's r1 with ARGS, into $TMP/NAME/OUT
run() {
    name=$1 out=$2; shift 2
    if ! timeout 120 "$(exe "$name")" "$@" --out "$TMP/$name/$out" --quiet >"$TMP/$name-$out.log" 2>&1; then
        fail "$(exe "$name") $* failed: $(tail -n 3 "$TMP/$name-$out.log" | tr '\n' ' ')"; return 1
    fi
}
# no_seconds FILE: metrics.csv without its wall-clock column
no_seconds() {
    awk -F, -v OFS=, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") c = i } { if (c) $c = "-"; print }' "$1"
}
# same WHAT OUT: every build's OUT run equals v3's, checkpoint and metrics
same() {
    what=$1 out=$2
    for n in $names; do
        [ "$n" = v3 ] && continue
        if report=$(sh tests/safetensors_diff.sh "$TMP/v3/$out/model.safetensors" "$TMP/$n/$out/model.safetensors"); then
            ok; echo "width: $what, v3 and $n: checkpoints $report"
        else
            fail "$what: the v3 and $n checkpoints differ: $report"
        fi
        no_seconds "$TMP/v3/$out/metrics.csv" >"$TMP/m-v3"; no_seconds "$TMP/$n/$out/metrics.csv" >"$TMP/m-$n"
        if cmp -s "$TMP/m-v3" "$TMP/m-$n"; then ok
        else fail "$what: the v3 and $n metrics.csv differ:"; diff "$TMP/m-v3" "$TMP/m-$n" | head -n 6
        fi
    done
}

# ---- pretraining from the seed ------------------------------------------------
all=1
for n in $names; do run "$n" pre pretrain --steps 5 --batch 8 --seed 11 --data-dir "$DD" || all=0; done
[ $all = 1 ] && same "pretrain --steps 5 --batch 8" pre

# ---- one GRPO step, from one base -------------------------------------------
# A 5-step base never earns a reward, and a GRPO step with no reward varying
# in its groups leaves the weights as they were: it would check nothing. So
# the step starts from a 60-step base (made by v3), whose outputs sometimes
# have the format; the seed is the first of 1..5 whose step changes the weights.
run v3 base pretrain --steps 60 --batch 16 --lr 0.005 --seed 11 --data-dir "$DD" || done_
tensor_bytes() { tail -c +$((9 + $(od -An -tu8 -N8 "$1" | tr -d ' '))) "$1"; }
tensor_bytes "$TMP/v3/base/model.safetensors" >"$TMP/before"
seed=
for s in 1 2 3 4 5; do
    rm -rf "$TMP/v3/zero"
    run v3 zero zero --model "$TMP/v3/base" --data-dir "$DD" --steps 1 --prompts 8 --group 8 --seed $s || done_
    tensor_bytes "$TMP/v3/zero/model.safetensors" >"$TMP/after"
    if ! cmp -s "$TMP/before" "$TMP/after"; then seed=$s; break; fi
done
if [ -z "$seed" ]; then
    fail "no GRPO step from the 60-step base (seeds 1..5) changed the weights: no reward varied, nothing checked"
else
    all=1
    for n in $names; do
        [ "$n" = v3 ] && continue
        run "$n" zero zero --model "$TMP/v3/base" --data-dir "$DD" --steps 1 --prompts 8 --group 8 --seed "$seed" || all=0
    done
    [ $all = 1 ] && same "zero --steps 1 --seed $seed (from one base)" zero
fi
done_
