#!/bin/sh
# tests/test_serve.sh -- ./r1 serve as a client meets it (SERVE.md §12.2):
# health and the model list; a whole reply and a streamed one, split as
# ask --json splits them, with usage and reasoning_tokens; every bad request
# with its status and OpenAI's error body; a large body, a slow client,
# clients that hang up mid-stream, 8 at once, a storm of malformed requests;
# the API key, the Host check, the command line, SIGTERM. Run from the
# repository root after `make r1`:
#
#     sh tests/test_serve.sh        # R1=path/to/r1: test another build; KEEP=1: keep the temp folder
#     sh tests/test_serve.sh --openai   # instead: the official OpenAI clients (make serve-openai)
#
# The checks are tests/serve_check.py (Python's standard library; curl too
# where there is one). The model: a 2-step pretrained tiny one, whose samples
# are noise, and the same shape forged (serve_check.py --forge) so that its
# greedy completion of 347+285 is a known <think>...</think><answer>...
# </answer>. Prints "FAIL: ..." per failure, then "serve: N passed, M failed".
LC_ALL=C; export LC_ALL
R1=${R1:-./r1}
case $R1 in /*) ;; *) R1=$(pwd)/$R1 ;; esac
if [ ! -x "$R1" ] || [ ! -f data/tokenizer.txt ]; then
    echo "FAIL: $R1 or data/tokenizer.txt not found (run make r1 from the repository root)"
    echo "serve: 0 passed, 1 failed"
    exit 1
fi
PY=$(command -v python3 2>/dev/null)
if [ -z "$PY" ]; then
    echo "serve: skipped: no python3 (the checks are a Python standard-library client)"
    echo "serve: 0 passed, 0 failed"
    exit 0
fi
TMP=$(mktemp -d /tmp/r1-serve.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
[ -n "$KEEP" ] && trap - EXIT
trap 'exit 1' HUP INT TERM

if ! "$R1" pretrain --steps 2 --d-model 32 --layers 1 --heads 1 --out "$TMP/tiny" --threads 1 --quiet >"$TMP/out" 2>&1; then
    echo "FAIL: pretrain of the tiny model: $(head -c 300 "$TMP/out")"
    echo "serve: 0 passed, 1 failed"
    exit 1
fi
# the prompt's tokens: score prints one line per token
n=$("$R1" score --model "$TMP/tiny" "User: 347+285 Assistant:" | wc -l)
"$PY" tests/serve_check.py --forge "$TMP/tiny/model.safetensors" "$TMP/scripted.safetensors" $((n + 0)) || exit 1
if [ "$1" = --openai ]; then       # make serve-openai: the official clients' scripts instead
    "$PY" tests/serve_check.py --openai "$R1" "$TMP/scripted.safetensors"
    exit
fi
"$PY" tests/serve_check.py "$R1" "$TMP/tiny" "$TMP/scripted.safetensors" $((n + 0))
