#!/bin/sh
# tests/test_docs.sh -- README and TUTORIAL name only code that exists.
#
# Every `name_with_an_underscore` in backticks in README.md and TUTORIAL.md
# (a function, a type, a constant, a metrics column) must occur as a whole
# word in r1.c, r1.h or tokenizer.c, so a renamed function cannot leave the
# guide pointing at nothing. The few names that are not ours (TRL's options
# and logs, a symbol of an equation, the metrics columns r1 builds from a
# reward's name: accuracy_reward, format_reward) are listed below.
# Run from the repository root:   sh tests/test_docs.sh
# Prints "FAIL: ..." per missing name, then "docs: N passed, M failed".
LC_ALL=C; export LC_ALL
NOT_OURS=" learning_rate gradient_accumulation_steps frac_reward_zero_std h_last _dev accuracy_reward format_reward "
pass=0; fail=0
for f in README.md TUTORIAL.md; do
    for id in $(grep -o '`[A-Za-z_][A-Za-z0-9_]*`' "$f" | tr -d '`' | grep '_' | sort -u); do
        case "$NOT_OURS" in *" $id "*) continue ;; esac
        if grep -qw -- "$id" r1.c r1.h tokenizer.c; then pass=$((pass + 1))
        else fail=$((fail + 1)); echo "FAIL: $f names \`$id\`, which is in none of r1.c, r1.h, tokenizer.c"; fi
    done
done
echo "docs: $pass passed, $fail failed"
[ $fail -eq 0 ]
