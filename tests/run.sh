#!/bin/sh
# Run each test program or script, echo its output, and add up their
# "N passed, N failed" lines. Exits non-zero if any test failed or crashed.
pass=0; fail=0; status=0
for t in "$@"; do
    case "$t" in
        *.sh) [ -f "$t" ] || continue; out=$(sh "$t" 2>&1); rc=$? ;;
        *) out=$("$t" 2>&1); rc=$? ;;
    esac
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -1)
    p=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')
    f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    [ -n "$p" ] && pass=$((pass + p))
    [ -n "$f" ] && fail=$((fail + f))
    if [ $rc -ne 0 ]; then
        status=1
        if [ -z "$line" ]; then echo "$t: exited $rc without a summary"; fail=$((fail + 1)); fi
    fi
done
echo "$pass passed, $fail failed"
[ $status -eq 0 ] && [ $fail -eq 0 ]
