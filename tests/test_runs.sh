#!/bin/sh
# tests/test_runs.sh -- a run folder as a hostile user meets it: resuming
# finishes what the state says is finished, rewrites every output from the
# state, refuses a damaged state or one of another run (flags, shape,
# stage), and a new stage starts its optimizer afresh whichever way its
# model arrived. Each check failed before its fix. Run after `make r1`.
set -u
LC_ALL=C; export LC_ALL
R1=${R1:-./r1}
case $R1 in /*) ;; *) R1=$(pwd)/$R1 ;; esac
T=$(mktemp -d /tmp/r1-runs.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# same A B WHAT: the run folders A and B hold the same files, byte for byte
# (metrics.csv without its last column, the wall clock)
same() {
    for f in model.safetensors state.bin samples.txt curves.svg; do
        if cmp -s "$1/$f" "$2/$f"; then ok; else bad "$3: $f differs"; fi
    done
    n=$(head -n 1 "$1/metrics.csv" | tr ',' '\n' | wc -l); n=$((n - 1))
    if [ "$(cut -d, -f1-$n "$1/metrics.csv" 2>&1)" = "$(cut -d, -f1-$n "$2/metrics.csv" 2>&1)" ]; then ok; else bad "$3: metrics.csv differs"; fi
    if ls "$2" | grep -q '\.tmp'; then bad "$3: a temporary file was left in $2"; else ok; fi
}
# expect CODE TEXT WHAT CMD...: CMD exits CODE with one "r1:" line on stderr holding TEXT
expect() {
    code=$1; text=$2; what=$3; shift 3
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    if [ "$rc" -eq "$code" ] && grep -q "^r1: .*$text" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ]; then ok
    else bad "$what: exit $rc, stderr: $(head -c 300 "$T/err" | tr '\n' '|')"; fi
}

P="pretrain --steps 6 --batch 4 --save-every 2 --d-model 16 --layers 1 --heads 2 --seed 3 --quiet"   # a cheap shape: resuming is plumbing
"$R1" $P --out "$T/p" >/dev/null || bad "pretrain"

# 1. the model (or anything else) lost after the last save: --resume rewrites it
cp -r "$T/p" "$T/p1"
rm "$T/p1/model.safetensors" "$T/p1/metrics.csv" "$T/p1/curves.svg" "$T/p1/samples.txt"
"$R1" $P --out "$T/p1" --resume >/dev/null 2>"$T/err" || bad "resume of a finished run: $(cat "$T/err")"
same "$T/p" "$T/p1" "a finished run resumed after its outputs were deleted"

# 2. files a run appends to: samples.txt comes from the state, whatever a
# kill left in it
cp -r "$T/p" "$T/p2"
printf '== step 9 ==\nhalf a li' >>"$T/p2/samples.txt"
"$R1" $P --out "$T/p2" --resume >/dev/null 2>"$T/err" || bad "resume: $(cat "$T/err")"
same "$T/p" "$T/p2" "samples.txt with a torn line, resumed"

# 4. a damaged state is refused, never half-used; one of another stage too
cp -r "$T/p" "$T/p4"
size=$(wc -c <"$T/p4/state.bin")
rows=$(($(wc -l <"$T/p/metrics.csv") - 1)); spl=$(wc -c <"$T/p/samples.txt")
# the last byte of the metrics rows (before the samples and the clock), then one in the weights
printf '\177' | dd of="$T/p4/state.bin" bs=1 seek=$((size - 8 * rows - spl - 1)) conv=notrunc 2>/dev/null
expect 1 "damaged" "a flipped byte in the metrics of state.bin" "$R1" $P --out "$T/p4" --resume
cp "$T/p/state.bin" "$T/p4/state.bin"
printf '\177' | dd of="$T/p4/state.bin" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
expect 1 "damaged" "a flipped byte in the weights of state.bin" "$R1" $P --out "$T/p4" --resume
head -c 100 "$T/p/state.bin" >"$T/p4/state.bin"
expect 1 "truncated" "a truncated state.bin" "$R1" $P --out "$T/p4" --resume
cp -r "$T/p" "$T/p5"    # (not --out "$T/p": the folder of its --model is refused before its state is read)
expect 1 "stage 'base'" "zero --resume on a pretraining folder" \
    "$R1" zero --model "$T/p" --out "$T/p5" --resume --steps 1 --prompts 2 --group 2 --quiet

# 5. --resume with other flags: refused, naming the flag
expect 2 "\-\-steps 6; this command has \-\-steps 7" "resume with another --steps" "$R1" pretrain --steps 7 --batch 4 --save-every 2 --seed 3 --quiet --out "$T/p" --resume
expect 2 "\-\-seed" "resume with another --seed" "$R1" pretrain --steps 6 --batch 4 --save-every 2 --seed 4 --quiet --out "$T/p" --resume
expect 2 "\-\-lr" "resume with another --lr" "$R1" $P --lr 0.01 --out "$T/p" --resume
expect 2 "\-\-batch" "resume with another --batch" "$R1" pretrain --steps 6 --batch 5 --save-every 2 --seed 3 --quiet --out "$T/p" --resume
# --threads and --save-every change no number: they may differ
"$R1" $P --out "$T/p" --resume --threads 1 --save-every 3 >/dev/null 2>"$T/err" && ok || bad "resume with other --threads/--save-every: $(cat "$T/err")"
# ...and no byte of the outputs (issue 25, class 3): samples.txt shows the
# stage's own steps, not the saves, so a run resumed with another
# --save-every writes what a run never interrupted writes
"$R1" pretrain --steps 6 --batch 4 --save-every 1 --d-model 16 --layers 1 --heads 2 --seed 3 --quiet --out "$T/ps1" >/dev/null || bad "pretrain --save-every 1"
for f in model.safetensors samples.txt curves.svg; do
    cmp -s "$T/p/$f" "$T/ps1/$f" && ok || bad "pretrain --save-every 1 against --save-every 2: $f differs"
done
[ "$(sed 's/,[^,]*$//' "$T/p/metrics.csv")" = "$(sed 's/,[^,]*$//' "$T/ps1/metrics.csv")" ] && ok ||
    bad "pretrain --save-every 1 against --save-every 2: metrics.csv differs"

# GRPO: the same for a zero run (a reference policy in its state), on a
# data dir of 4-question benchmarks: its every-step watch samples every
# question of add_dev and add_hard_dev (all 128 of data/ cost seconds)
sh tests/small_data.sh "$T/d4" 4 add_test add_hard add_dev add_hard_dev || bad "d4 fixture"
Z="zero --model $T/p --steps 3 --prompts 2 --group 4 --save-every 1 --seed 5 --quiet --data-dir $T/d4"
"$R1" $Z --out "$T/z" >/dev/null || bad "zero"
cp -r "$T/z" "$T/z1"
rm "$T/z1/model.safetensors" "$T/z1/samples.txt"
"$R1" $Z --out "$T/z1" --resume >/dev/null 2>"$T/err" || bad "zero resume: $(cat "$T/err")"
same "$T/z" "$T/z1" "zero: a finished run resumed after its outputs were deleted"
expect 2 "\-\-beta" "zero resume with another --beta" "$R1" $Z --beta 0.1 --out "$T/z" --resume
expect 2 "\-\-loss" "zero resume with another --loss" "$R1" $Z --loss dr_grpo --out "$T/z" --resume

# 3. one stage, one result: tests/test_stages.c checks that R1-Zero from a
# base pretrained in the same process equals R1-Zero from the base's file
# (a demo would pretrain 3000 steps here)
mkdir -p "$T/demo2/runs/base"
ln -s "$(pwd)/data" "$T/demo2/data"
D="--steps 2 --prompts 2 --group 4 --quiet --seed 9"

# 15. demo --out runs/base would overwrite the base it reuses
expect 2 "base model" "demo --out runs/base" sh -c 'cd "$1" && shift && exec "$@"' sh "$T/demo2" "$R1" demo --out runs/base $D
expect 2 "base model" "demo --out ./runs/base/" sh -c 'cd "$1" && shift && exec "$@"' sh "$T/demo2" "$R1" demo --out ./runs/base/ $D
# pretraining writes curves.svg and samples.txt like every run
for f in curves.svg samples.txt; do [ -s "$T/p/$f" ] && ok || bad "pretrain wrote no $f"; done
# eval scores additions by the verifier and other requests by the judge; zero refuses a development set without additions
printf '{"prompt": "1+2", "answer": "3"}\n{"prompt": "who are you", "answer": "R1"}\n' >"$T/mixed.jsonl"
"$R1" eval --model "$T/p" --data "$T/mixed.jsonl" --k 1 >"$T/out" 2>&1
grep -q "^1 questions, k=1" "$T/out" && grep -q "^1 requests, k=1 .*by the judge: helpfulness 0.000 | harmlessness" "$T/out" && ok || bad "eval of a mixed set: $(cat "$T/out")"
mkdir "$T/dd" && cp data/tokenizer.txt data/add_test.jsonl data/add_hard.jsonl data/add_hard_dev.jsonl "$T/dd/" &&
    cp "$T/mixed.jsonl" "$T/dd/add_dev.jsonl"
sed -i '1d' "$T/dd/add_dev.jsonl"
expect 1 "no addition questions" "zero with a development set of no additions" "$R1" zero --model "$T/p" --data-dir "$T/dd" --out "$T/zz" --steps 1 --quiet
"$R1" score --model "$T/p" --data-dir data "1+2" >/dev/null 2>"$T/err" && ok || bad "score --data-dir: $(cat "$T/err")"

# 8. an undefined figure is "–" on the terminal and an empty field in
# metrics.csv (pandas reads NaN), never -1 (issue 25): the demo's summary and
# its metrics on a development set without Chinese questions, from a base the
# demo takes as its own (a 2-step one, its metadata saying 3000 of 3000)
mkdir -p "$T/demo8/runs/base" && sh tests/small_data.sh "$T/demo8/dd" 4 add_test add_hard add_hard_dev &&
    grep -v '加' data/add_dev.jsonl | head -n 4 >"$T/demo8/dd/add_dev.jsonl" || bad "demo8 fixture"
"$R1" pretrain --steps 2 --batch 2 --quiet --data-dir "$T/demo8/dd" --out "$T/demo8/b2" >/dev/null || bad "pretrain for demo8"
# A checkpoint is 8 bytes, the length of its JSON header (little-endian),
# the header, then the tensors: the header's step and steps 2 become 3000,
# and its length the new one (below 65536: two bytes, six zeros)
f=$T/demo8/b2/model.safetensors
set -- $(od -An -tu1 -N8 "$f")
n=$(($1 + 256 * $2 + 65536 * $3))
head -c $((8 + n)) "$f" | tail -c "$n" | sed 's/"step":"2"/"step":"3000"/; s/"steps":"2"/"steps":"3000"/' | tr -d '\n' >"$T/header"
m=$(wc -c <"$T/header")
{ printf "$(printf '\\%03o\\%03o\\000\\000\\000\\000\\000\\000' $((m % 256)) $((m / 256)))" && cat "$T/header" &&
    tail -c +$((9 + n)) "$f"; } >"$T/demo8/runs/base/model.safetensors"
(cd "$T/demo8" && exec "$R1" demo --steps 2 --prompts 2 --group 2 --data-dir dd) >"$T/out" 2>"$T/err"
grep -q 'reusing the base' "$T/out" && grep -q '^  Chinese q.: mixed  *–  *–  *(not rewarded)$' "$T/out" &&
    ! grep -q -- '-1\.0' "$T/out" && ok || bad "demo without Chinese questions: an undefined figure not shown as –: $(tail -n 3 "$T/out" | tr '\n' '|') $(head -c 200 "$T/err")"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } $c["zh_mixed"] != "" || $c["zh_lang_consistency"] != "" { bad = 1 }
    END { exit bad || NR < 2 }' "$T/demo8/runs/demo/metrics.csv" && ! grep -q -- ',-1\(,\|$\)' "$T/demo8/runs/demo/metrics.csv" &&
    ok || bad "demo without Chinese questions: metrics.csv holds -1 or a figure for them: $(sed -n 2p "$T/demo8/runs/demo/metrics.csv")"
# ...and curves.svg draws no point for them (at 0, it would read "no mixing")
! grep -q 'stroke="#e377c2" stroke-width="2" points="[0-9]' "$T/demo8/runs/demo/curves.svg" && ok ||
    bad "demo without Chinese questions: curves.svg draws their mixing"

echo "runs: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
