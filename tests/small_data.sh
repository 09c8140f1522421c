#!/bin/sh
# tests/small_data.sh DIR N SET... -- a data folder for short runs: DIR
# (made if missing) gets data/tokenizer.txt and the first N lines of
# data/SET.jsonl for each SET. A stage watches its development sets as it
# trains, and an untrained model samples every question to its length
# limit, so a few questions a set keep a test's runs short. The sets a
# folder leaves out: general and safety are optional; the others must be
# there for the commands that read them. Run from the repository root.
dir=$1; n=$2; shift 2
mkdir -p "$dir" && cp data/tokenizer.txt "$dir/" || exit 1
for set in "$@"; do head -n "$n" "data/$set.jsonl" >"$dir/$set.jsonl" || exit 1; done
