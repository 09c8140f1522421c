#!/bin/sh
# tests/test_tutorial_check.sh -- make tutorial-check can fail: run
# tests/tutorial_check.sh on small made-up tutorials. A good one (commands
# that chain, a continued line, a pipe, a quoted argument, a C block that is
# not run) passes and counts its commands; a failing ./r1 command, an unknown
# program, a line that does not parse, an unclosed block or a file without
# commands each make it exit non-zero. Prints "tutorial-check-test: N passed, M failed".
TMP=$(mktemp -d /tmp/r1-tc.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
pass=0; nfail=0
expect() {   # expect RC WHAT FILE: tutorial_check.sh on FILE exits 0 (RC=0) or non-zero (RC=1)
    bash tests/tutorial_check.sh "$3" >"$TMP/out" 2>&1
    rc=$?
    if { [ "$1" = 0 ] && [ $rc -eq 0 ]; } || { [ "$1" = 1 ] && [ $rc -ne 0 ]; }; then pass=$((pass + 1))
    else nfail=$((nfail + 1)); echo "FAIL: $2 (exit $rc): $(tail -n 3 "$TMP/out" | tr '\n' '|')"; fi
}
fence='```'
good() { printf '%ssh\n./r1 pretrain --steps 3000 --out runs/b\n./r1 zero --model runs/b --steps 70 --group 4 \\\n    --out runs/z\n%s\n' "$fence" "$fence"; }
good >"$TMP/good.md"
printf 'text\n%ssh\n# a comment\n\nawk -F, '"'"'NR > 1 { n++ } END { print n + 0 }'"'"' runs/z/metrics.csv | head -n 1\n./r1 eval --model runs/z --k 2 --data data/add_hard.jsonl\n%s\n%sc\nnot a command\n%s\n' \
    "$fence" "$fence" "$fence" "$fence" >>"$TMP/good.md"
expect 0 "a good tutorial" "$TMP/good.md"
grep -q '^tutorial-check: 4 commands ran, 0 failed' "$TMP/out"
if [ $? -eq 0 ]; then pass=$((pass + 1)); else nfail=$((nfail + 1)); echo "FAIL: the good tutorial's count: $(tail -n 1 "$TMP/out")"; fi
for bad in "./r1 zero --frobnicate" "frobnicate --steps 2" "echo \"unbalanced" "./r1 eval --model runs/none" \
           "./r1 pretrain --out runs/b && ./r1 ask --model runs/b 1+2 | grep -q never-there"; do
    printf '%ssh\necho fine\n%s\n%s\n' "$fence" "$bad" "$fence" >"$TMP/bad.md"
    expect 1 "a tutorial with: $bad" "$TMP/bad.md"
done
printf '%ssh\n./r1 --help\n' "$fence" >"$TMP/unclosed.md"
expect 1 "an unclosed block" "$TMP/unclosed.md"
printf 'no commands\n' >"$TMP/empty.md"
expect 1 "a tutorial without commands" "$TMP/empty.md"
echo "tutorial-check-test: $pass passed, $nfail failed"
[ $nfail -eq 0 ]
