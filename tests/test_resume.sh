#!/bin/sh
# A run killed with SIGKILL at an arbitrary moment and resumed with --resume
# ends with the same checkpoint, byte for byte, as a run never interrupted.
# Covers stage 0 (pretrain) and stage 1 (R1-Zero).
set -u
R1=${R1:-./r1}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# kill "$@" after a delay (seconds), then resume it with --resume until it finishes
kill_and_resume() {
    delay=$1; shift
    "$@" --quiet >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    "$@" --quiet --resume >/dev/null 2>"$tmp/err" || bad "resume of $* failed: $(cat "$tmp/err")"
}

"$R1" pretrain --steps 40 --save-every 5 --seed 3 --out "$tmp/a" --quiet >/dev/null || bad "pretrain failed"
for delay in 0.7 1.6; do
    rm -rf "$tmp/b"
    kill_and_resume "$delay" "$R1" pretrain --steps 40 --save-every 5 --seed 3 --out "$tmp/b"
    if cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"; then ok; else bad "pretrain killed after ${delay}s and resumed: checkpoint differs"; fi
    if [ "$(cut -d, -f1-4 "$tmp/a/metrics.csv")" = "$(cut -d, -f1-4 "$tmp/b/metrics.csv")" ]; then ok; else bad "pretrain resumed: metrics.csv differs"; fi
done

"$R1" zero --model "$tmp/a" --steps 4 --prompts 4 --save-every 1 --seed 5 --out "$tmp/za" --quiet >/dev/null || bad "zero failed"
rm -rf "$tmp/zb"
kill_and_resume 1.2 "$R1" zero --model "$tmp/a" --steps 4 --prompts 4 --save-every 1 --seed 5 --out "$tmp/zb"
if cmp -s "$tmp/za/model.safetensors" "$tmp/zb/model.safetensors"; then ok; else bad "zero killed and resumed: checkpoint differs"; fi
if [ "$(cut -d, -f1-19 "$tmp/za/metrics.csv")" = "$(cut -d, -f1-19 "$tmp/zb/metrics.csv")" ]; then ok; else bad "zero resumed: metrics.csv differs"; fi
# no temporary files (NAME.tmp, NAME.tmp.PID) left behind
if ls "$tmp"/*/*.tmp* >/dev/null 2>&1; then bad "a .tmp file was left behind"; else ok; fi

echo "resume: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
