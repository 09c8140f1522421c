#!/usr/bin/env bash
# tests/tutorial_check.sh -- run every command of TUTORIAL.md, in short mode.
#
#     sh tests/tutorial_check.sh [FILE]       # FILE: default TUTORIAL.md; R1=path/to/r1 (default ./r1)
#
# Every line of a fenced ```sh block is a command (a line ending in "\"
# continues on the next; blank lines and "# ..." comments are skipped). The
# commands run in the file's order, because they chain (./r1 zero reads the
# runs/base that ./r1 pretrain wrote), in a fresh scratch folder: a copy of
# r1 as ./r1 and a small data/ (the tokenizer, the first 16 questions of each
# benchmark), so every runs/ path is new and nothing of the repository's
# runs/ is read or written.
#
# Short mode: each ./r1 command gets small sizes, replacing the value a flag
# has or appending the flag:
#     pretrain                        --steps 2
#     zero, reason, align             --steps 2 --prompts 2 (align: --questions 16)
#     coldstart                       --steps 2 --questions 16
#     rsft, distill                   --steps 2 --questions 8 --filter none
#     eval                            --k 2
#     bench                           --steps 1
# (rsft and distill keep every sample, --filter none: a model trained for two
# steps is never right, and their strict filter would leave an empty set.)
#
# Fails (exit 1) when a command exits non-zero, when a line does not parse as
# a shell command, or when it calls a program outside the list below (a
# typo, or something a fresh clone does not have). Prints each command as it
# runs, then "tutorial-check: N commands ran, M failed in S s".
set -u
FILE=${1:-TUTORIAL.md}
R1=${R1:-./r1}
ROOT=$(pwd)
case $R1 in /*) ;; *) R1=$ROOT/$R1 ;; esac
case $FILE in /*) ;; *) FILE=$ROOT/$FILE ;; esac
LIMIT=${TUTORIAL_TIMEOUT:-300}     # seconds per command
# the programs a command may call besides ./r1 (coreutils, grep, awk, sed)
ALLOWED=" awk cat cmp cut diff echo grep head ls paste printf sed sha256sum sort tail tr uniq wc "

if [ ! -x "$R1" ] || [ ! -f "$ROOT/data/tokenizer.txt" ] || [ ! -f "$FILE" ]; then
    echo "tutorial-check: $R1, data/tokenizer.txt or $FILE not found (run make r1 from the repository root)"
    exit 1
fi
TMP=$(mktemp -d /tmp/r1-tutorial.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' HUP INT TERM
cp "$R1" "$TMP/r1"
sh "$ROOT/tests/small_data.sh" "$TMP/data" 16 add_test add_hard general safety add_dev add_hard_dev general_dev safety_dev || exit 1

# The commands: "LINE<TAB>COMMAND", one per line, in file order.
extract() {
    awk '
        /^```sh[ \t]*$/ { inblock = 1; next }
        inblock && /^```[ \t]*$/ { inblock = 0; next }
        !inblock { next }
        {
            line = $0
            if (cmd == "") start = NR
            if (line ~ /\\$/) { cmd = cmd substr(line, 1, length(line) - 1) " "; next }
            cmd = cmd line
            sub(/^[ \t]+/, "", cmd)
            if (cmd != "" && cmd !~ /^#/) print start "\t" cmd
            cmd = ""
        }
        END { if (inblock) { print "unclosed"; exit 1 } }' "$1"
}

# Short mode, and the programs a command calls: reads one command, prints
# "PROGRAMS<TAB>REWRITTEN". Words and separators (| && || ;) are found with
# their quotes, so a quoted argument is passed on exactly as written.
shorten() {
    awk -v sq="'" '
    function flush() { if (word != "") { w[++nw] = word; word = "" } }
    function setflag(flag, value,    i) {
        for (i = first + 1; i <= nw; i++) if (w[i] == flag) { if (i < nw) w[i + 1] = value; return }
        w[++nw] = flag; w[++nw] = value
    }
    function segment(    sub_, out, i) {       # rewrite the words w[first..nw] of one command
        progs = progs " " w[first]
        if (w[first] != "./r1" || first == nw) return
        sub_ = w[first + 1]
        if (sub_ == "pretrain") setflag("--steps", 2)
        else if (sub_ == "zero" || sub_ == "reason" || sub_ == "align") { setflag("--steps", 2); setflag("--prompts", 2) }
        if (sub_ == "align") setflag("--questions", 16)
        if (sub_ == "coldstart") { setflag("--steps", 2); setflag("--questions", 16) }
        if (sub_ == "rsft" || sub_ == "distill") { setflag("--steps", 2); setflag("--questions", 8); setflag("--filter", "none") }
        if (sub_ == "eval") setflag("--k", 2)
        if (sub_ == "bench") setflag("--steps", 1)
    }
    {
        s = $0; nw = 0; word = ""; q = ""; first = 1; progs = ""
        for (i = 1; i <= length(s); i++) {
            c = substr(s, i, 1); two = substr(s, i, 2)
            if (q != "") { word = word c; if (c == q) q = ""; continue }
            if (c == sq || c == "\"") { q = c; word = word c; continue }
            if (c == " " || c == "\t") { flush(); continue }
            if (two == "&&" || two == "||") { flush(); segment(); w[++nw] = two; first = nw + 1; i++; continue }
            if (c == "|" || c == ";") { flush(); segment(); w[++nw] = c; first = nw + 1; continue }
            word = word c
        }
        flush()
        if (q != "") { print "unbalanced-quote\t"; exit }
        segment()
        out = w[1]
        for (i = 2; i <= nw; i++) out = out " " w[i]
        print substr(progs, 2) "\t" out
    }'
}

cmds=$(extract "$FILE") || { echo "tutorial-check: $FILE: a \`\`\`sh block is not closed"; exit 1; }
ran=0; failed=0; t0=$(date +%s)
cd "$TMP" || exit 1
while IFS="$(printf '\t')" read -r lineno cmd; do
    [ -n "$cmd" ] || continue
    ran=$((ran + 1))
    IFS="$(printf '\t')" read -r progs short <<EOF
$(printf '%s\n' "$cmd" | shorten)
EOF
    why=""
    if [ "$progs" = "unbalanced-quote" ] || ! bash -n -c "$short" 2>/dev/null; then why="does not parse"
    else
        for p in $progs; do
            case "$ALLOWED" in *" $p "*) continue ;; esac
            [ "$p" = "./r1" ] || why="calls '$p', which is not ./r1 or one of:$ALLOWED"
        done
    fi
    printf '%s:%s: %s\n' "$(basename "$FILE")" "$lineno" "${short:-$cmd}"
    if [ -z "$why" ]; then
        timeout -k 5 "$LIMIT" bash -o pipefail -c "$short" >"$TMP/.out" 2>&1 </dev/null
        rc=$?
        [ $rc -eq 0 ] || why="exit $rc: $(tail -n 3 "$TMP/.out" | tr '\n' ' ' | cut -c1-300)"
    fi
    if [ -n "$why" ]; then
        failed=$((failed + 1))
        printf '  FAIL (%s:%s): %s\n' "$(basename "$FILE")" "$lineno" "$why"
    fi
done <<EOF
$cmds
EOF
secs=$(( $(date +%s) - t0 ))
echo "tutorial-check: $ran commands ran, $failed failed in $secs s"
[ "$ran" -gt 0 ] && [ "$failed" -eq 0 ]
