#!/bin/sh
# tests/test_docs.sh -- README, TUTORIAL and the class material name only code that exists.
#
# Every `name_with_an_underscore` in backticks in README.md, TUTORIAL.md and
# docs/HANDOUT.md (a function, a type, a constant, a metrics column) must
# occur as a whole word in r1.c, r1.h or tokenizer.c, so a renamed function
# cannot leave the guide or the handout pointing at nothing. The few names
# that are not ours (TRL's options and logs, a symbol of an equation, the
# metrics columns r1 builds from a reward's name: accuracy_reward,
# format_reward) are listed below.
#
# docs/stages.svg, the stage picture drawn by hand, must be well-formed XML
# (checked with python3 where there is one, like every docs/*.svg), and must
# match the pipeline's table PIPE_STAGES in r1.h: each stage's command
# (./r1 CMD) is in it; a stage that gathers a set from one model (--model)
# and fine-tunes another (--base) has a "BASE KEY start" and a "MODEL KEY
# samples" arrow (data-edge attributes); any other stage with a parent has a
# "MODEL KEY start" arrow; and every "start" arrow into a stage is one of
# these. (The probe, one GRPO step that measures the RL student's FLOPs, is
# not drawn.)
#
# Run from the repository root:   sh tests/test_docs.sh
# Prints "FAIL: ..." per problem, then "docs: N passed, M failed".
LC_ALL=C; export LC_ALL
NOT_OURS=" learning_rate gradient_accumulation_steps frac_reward_zero_std h_last _dev accuracy_reward format_reward "
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

for f in README.md TUTORIAL.md docs/HANDOUT.md; do
    for id in $(grep -o '`[A-Za-z_][A-Za-z0-9_]*`' "$f" | tr -d '`' | grep '_' | sort -u); do
        case "$NOT_OURS" in *" $id "*) continue ;; esac
        if grep -qw -- "$id" r1.c r1.h tokenizer.c; then ok
        else bad "$f names \`$id\`, which is in none of r1.c, r1.h, tokenizer.c"; fi
    done
done

# A name said to be in one file ("r1.h's `CLAIMS`") is in that file: in the
# docs, and in r1.h's own strings (RESULTS.md's text)
for f in README.md TUTORIAL.md docs/HANDOUT.md data/README.md r1.h; do
    for ref in $(grep -oE "(r1\.c|r1\.h|tokenizer\.c)'s \`[A-Za-z_][A-Za-z0-9_]*\`" "$f" | sed "s/'s \`/:/; s/\`//" | sort -u); do
        file=${ref%%:*}; id=${ref#*:}
        if grep -qw -- "$id" "$file"; then ok
        else bad "$f says \`$id\` is $file's, but $file does not name it"; fi
    done
done

# docs/*.svg parse as XML (a browser shows nothing at all for one that does
# not): one python3 for all of them, a line "ok FILE" or "bad FILE: why" each
if command -v python3 >/dev/null 2>&1; then
    svg=$(python3 -c '
import sys, xml.dom.minidom
for f in sys.argv[1:]:
    try: xml.dom.minidom.parse(f); print("ok", f)
    except Exception as e: print("bad", f + ":", str(e).splitlines()[-1] if str(e) else type(e).__name__)
'  docs/*.svg 2>&1)
    for f in docs/*.svg; do
        if printf '%s\n' "$svg" | grep -qxF "ok $f"; then ok
        else bad "$f is not well-formed XML: $(printf '%s\n' "$svg" | grep -F " $f" | tail -n 1)"; fi
    done
else
    echo "docs: no python3 here, so the XML check of docs/*.svg is skipped"
fi

# PIPE_STAGES as "KEY CMD MODEL BASE" lines (- for NULL): in each entry the
# quoted strings and NULLs are, in order, key, name, command, model, base.
SVG=docs/stages.svg
stages=$(awk '
    /^static const PipeStage PIPE_STAGES/ { on = 1; next }
    on && /^};/ { on = 0 }
    on { buf = buf " " $0 }
    END {
        n = split(buf, entry, /\[P_[A-Z_]+\][ ]*=[ ]*\{/)
        for (i = 2; i <= n; i++) {
            s = entry[i]; k = 0
            while (k < 5 && match(s, /"[^"]*"|NULL/)) {
                t = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
                gsub(/"/, "", t); f[++k] = t == "NULL" ? "-" : t
            }
            print f[1], f[3], f[4], f[5]
        }
    }' r1.h)
[ "$(printf '%s\n' "$stages" | grep -c .)" -ge 7 ] && ok || bad "r1.h: PIPE_STAGES not found or not read (got: $stages)"
edge() {   # edge FROM TO KIND: the picture has that arrow
    if grep -qF "data-edge=\"$1 $2 $3\"" "$SVG"; then ok
    else bad "$SVG has no \"$3\" arrow from $1 to $2, which PIPE_STAGES in r1.h has"; fi
}
printf '%s\n' "$stages" | {
    while read -r key cmd model base; do
        case $key in *_probe) continue ;; esac
        if grep -qE "\./r1 $cmd([^a-z0-9_-]|\$)" "$SVG"; then ok; else bad "$SVG does not name ./r1 $cmd (stage $key)"; fi
        if [ "$base" != - ]; then edge "$base" "$key" start; edge "$model" "$key" samples
        elif [ "$model" != - ]; then edge "$model" "$key" start; fi
    done
    # every "start" arrow into a stage of the table is its parent there
    for e in $(grep -o 'data-edge="[a-z_]* [a-z_]* start"' "$SVG" | sed 's/data-edge="//; s/ start"//; s/ /:/'); do
        from=${e%%:*}; to=${e#*:}
        row=$(printf '%s\n' "$stages" | awk -v k="$to" '$1 == k')
        [ -n "$row" ] || continue                          # not a stage of the table (the reward model)
        set -- $row
        if [ "$4" = "$from" ] || { [ "$4" = - ] && [ "$3" = "$from" ]; }; then ok
        else bad "$SVG draws $to starting from $from, but PIPE_STAGES has --model $3, --base $4"; fi
    done
    # make class copies every stage but the probe to the folder the tutorial
    # reads it from: each pair names a stage of the table and a runs/ folder
    # that TUTORIAL.md or the handout uses
    class=$(sed -n '/^CLASS_RUNS *=/,/[^\\]$/p' Makefile | sed 's/^CLASS_RUNS *=//; s/\\$//' | tr -s ' \n' '  ')
    keys=$(printf '%s\n' "$stages" | awk '$1 !~ /_probe$/ { print $1 }')
    for k in $keys; do
        case " $class " in *" $k:"*) ok ;; *) bad "Makefile: CLASS_RUNS does not copy stage $k" ;; esac
    done
    for p in $class; do
        k=${p%%:*}; d=${p#*:}
        case " $(echo $keys) " in *" $k "*) ok ;; *) bad "Makefile: CLASS_RUNS names $k, which is not a stage of PIPE_STAGES" ;; esac
        if grep -qE "runs/$d([^a-z0-9_-]|\$)" TUTORIAL.md docs/HANDOUT.md; then ok
        else bad "Makefile: CLASS_RUNS writes runs/$d, which neither TUTORIAL.md nor docs/HANDOUT.md reads"; fi
    done
    echo "docs: $pass passed, $fail failed"
    [ $fail -eq 0 ]
}
