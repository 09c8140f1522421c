#!/bin/sh
# Run each test binary, echo its output, and sum the "N passed, N failed" lines.
pass=0; fail=0; status=0
for t in "$@"; do
    out=$(./"$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -1)
    p=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/'); f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    [ -n "$p" ] && pass=$((pass + p)); [ -n "$f" ] && fail=$((fail + f))
    if [ $rc -ne 0 ]; then status=1; [ -z "$line" ] && { echo "$t: exited $rc without a summary"; fail=$((fail + 1)); }; fi
done
echo "$pass passed, $fail failed"
[ $status -eq 0 ] && [ $fail -eq 0 ]
