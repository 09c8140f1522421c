#!/bin/sh
# Check ./r1 against a textbook GPT-2 in pure Python (tests/gpt2_reference.py):
# train a tiny model for a few steps, score some texts with both, and compare
# the per-token log-probabilities. Run from the repository root:
#
#     sh tests/check_reference.sh
#
# Optional: without python3 it says so and exits 0.
TOL=${TOL:-1e-4}
STEPS=${STEPS:-30}

if ! command -v python3 >/dev/null 2>&1; then
    echo "reference: python3 not found, skipping the textbook GPT-2 comparison"
    exit 0
fi
cd "$(dirname "$0")/.." || exit 1
make -s r1 || { echo "reference: make r1 failed"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/r1-reference.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

start=$(date +%s)
if ! ./r1 pretrain --steps "$STEPS" --out "$TMP/m" >"$TMP/pretrain.log" 2>&1; then
    cat "$TMP/pretrain.log"
    echo "reference: ./r1 pretrain failed"
    exit 1
fi
echo "reference: trained $TMP/m for $STEPS steps in $(($(date +%s) - start))s"

pass=0; fail=0
check() {
    text=$1
    if ! ./r1 score --model "$TMP/m" "$text" >"$TMP/r1.out" 2>"$TMP/r1.err"; then
        echo "FAIL  ./r1 score: $(cat "$TMP/r1.err")  [$text]"; fail=$((fail + 1)); return
    fi
    ids=$(cut -f1 "$TMP/r1.out" | tr '\n' ' ')
    t0=$(date +%s)
    # shellcheck disable=SC2086  # ids is a list of integers, split on purpose
    if ! python3 tests/gpt2_reference.py "$TMP/m" $ids >"$TMP/py.out" 2>"$TMP/py.err"; then
        echo "FAIL  reference: $(cat "$TMP/py.err")  [$text]"; fail=$((fail + 1)); return
    fi
    secs=$(($(date +%s) - t0))
    # Same ids line by line, then the largest |logp_r1 - logp_reference|.
    res=$(paste "$TMP/r1.out" "$TMP/py.out" | awk -F'\t' -v tol="$TOL" '
        function abs(x) { return x < 0 ? -x : x }
        { n++ }
        $1 != $3 { bad = "token " NR ": id " $1 " vs " $3; exit }
        NR == 1 { if ($2 != "-" || $4 != "-") bad = "first line should be id<TAB>-"; next }
        NF != 4 || $2 == "" || $4 == "" { bad = "line " NR ": missing value"; exit }
        { d = abs($2 - $4); if (d > max) max = d }
        END {
            if (bad != "") { print "BAD " bad; exit }
            if (n < 2) { print "BAD nothing to compare"; exit }
            if (max < tol + 0) printf "OK %.3g %d\n", max, n
            else printf "BAD max |diff| %.3g >= %s over %d tokens\n", max, tol, n
        }')
    nr1=$(wc -l <"$TMP/r1.out"); npy=$(wc -l <"$TMP/py.out")
    if [ "$nr1" -ne "$npy" ]; then res="BAD $nr1 lines from ./r1, $npy from the reference"; fi
    set -- $res
    case $1 in
    OK)  echo "ok    $3 tokens, max |diff| $2 (reference ${secs}s)  [$text]"; pass=$((pass + 1)) ;;
    *)   shift; echo "FAIL  $*  [$text]"; fail=$((fail + 1))
         paste "$TMP/r1.out" "$TMP/py.out" | sed 's/^/      /' ;;
    esac
}

check "User: 347+285 Assistant:<think>7 plus 5 is 12</think><answer>632</answer>"
check "用户：102加85 助手：187"
check "hello world"

echo "reference: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
