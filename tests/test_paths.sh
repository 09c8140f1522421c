#!/bin/sh
# tests/test_paths.sh -- a file on disk is what it claims to be (issue 25):
# 1. no output path of a command replaces one of its inputs: eval --samples
#    is never the --data set, the --model checkpoint or a data-dir file, and
#    a stage's --out is never the folder of its --model, its --base or its
#    data (the same file by inode: ./x, x/, a symlink and a hard link too);
#    every output goes through a temporary of its own (NAME.tmp.PID), so a
#    file that happens to be called NAME.tmp is left alone;
# 3. --resume continues only the same run: every flag and input that
#    changes its results (the checkpoints it starts from, the data dir's
#    files, --questions, --filter, the reward weights, ...) is in the state's
#    identity, always, and a difference either way is refused, naming it.
# Each check failed before its fix. Run after `make r1`.
set -u
LC_ALL=C; export LC_ALL
R1=${R1:-./r1}
case $R1 in /*) ;; *) R1=$(pwd)/$R1 ;; esac
T=$(mktemp -d /tmp/r1-paths.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# expect CODE TEXT WHAT CMD...: CMD exits CODE with one "r1:" line on stderr matching TEXT
expect() {
    code=$1; text=$2; what=$3; shift 3
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    if [ "$rc" -eq "$code" ] && grep -q "^r1: .*$text" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ]; then ok
    else bad "$what: exit $rc, stderr: $(head -c 300 "$T/err" | tr '\n' '|')"; fi
}
# same A B WHAT: the files A and B hold the same bytes
same() { if cmp -s "$1" "$2"; then ok; else bad "$3: $1 was changed"; fi; }
# indir DIR CMD...: run CMD in DIR
indir() { d=$1; shift; (cd "$d" && exec "$@"); }

# a small data dir (4-question benchmarks: a stage's held-out watch samples
# every one of them) and a tiny model keep every run short
DD=$T/dd
sh tests/small_data.sh "$DD" 4 add_test add_hard add_dev add_hard_dev general_dev safety_dev || exit 1
Q="--quiet --data-dir $DD"
TINY="--d-model 16 --layers 1 --heads 2"
RL="--steps 2 --prompts 2 --group 2 --save-every 1"
"$R1" pretrain --steps 2 --batch 4 $TINY --out "$T/p" $Q >/dev/null || bad "pretrain"
"$R1" pretrain --steps 2 --batch 4 $TINY --seed 2 --out "$T/p2" $Q >/dev/null || bad "pretrain --seed 2"
"$R1" zero --model "$T/p" $RL --out "$T/z" $Q >/dev/null || bad "zero"
printf '{"prompt": "1+2", "answer": "3"}\n{"prompt": "20+22", "answer": "42"}\n' >"$T/two.jsonl"
C="--questions 2 --steps 2 --save-every 1"
"$R1" coldstart --model "$T/z" --base "$T/p" $C --out "$T/cs" $Q >/dev/null 2>"$T/err" || bad "coldstart: $(cat "$T/err")"
ln -s cs "$T/cslink"
mkdir -p "$T/pipe/r1_zero" && cp "$DD"/* "$T/pipe/r1_zero/"
mkdir "$T/keep" && cp -r "$T/p" "$T/z" "$T/cs" "$DD" "$T/two.jsonl" "$T/keep/"
# now/: the fixtures as they are, linked side by side as keep/ holds them
# as they were, so that one diff -r compares them all
mkdir "$T/now" && for f in p z cs dd two.jsonl; do ln -s "../$f" "$T/now/$f"; done
# restore: the fixtures as they were (a check that fails must not fail the next ones)
restore() {
    rm -rf "$T/p" "$T/z" "$T/cs" "$DD" "$T/two.jsonl" && cp -r "$T/keep/p" "$T/keep/z" "$T/keep/cs" "$T/keep/dd" "$T/keep/two.jsonl" "$T/"
    ln -f "$T/p/model.safetensors" "$T/hard.safetensors" 2>/dev/null
}
E="--k 1 --data-dir $DD"

# ---- 1. an output path that is an input -----------------------------------

# refused CODE TEXT WHAT CMD...: expect, then every input is as it was, one
# check each: all compared at once through now/, and only when one differs,
# each on its own (to name it), then the fixtures restored
refused() {
    expect "$@"
    if diff -r "$T/keep" "$T/now" >/dev/null 2>&1; then
        for f in p z cs dd two.jsonl; do ok; done
        return
    fi
    for f in p z cs dd two.jsonl; do
        if diff -r "$T/keep/$f" "$T/$f" >/dev/null 2>&1; then ok; else bad "$3: $f was changed"; fi
    done
    restore
}
refused 2 "\-\-samples .*two.jsonl.*\-\-data .*two.jsonl" "eval --samples the --data set" \
    "$R1" eval --model "$T/p" --data "$T/two.jsonl" --samples "$T/two.jsonl" $E
refused 2 "\-\-samples .*\-\-data " "eval --samples ./two.jsonl --data two.jsonl" \
    indir "$T" "$R1" eval --model p --data two.jsonl --samples ./two.jsonl $E
ln -s two.jsonl "$T/link.jsonl"
refused 2 "\-\-samples .*link.jsonl.*\-\-data " "eval --samples a symlink to the --data set" \
    "$R1" eval --model "$T/p" --data "$T/two.jsonl" --samples "$T/link.jsonl" $E
refused 2 "\-\-samples .*\-\-model .*model.safetensors" "eval --samples the --model checkpoint (--model a folder)" \
    "$R1" eval --model "$T/p" --data "$T/two.jsonl" --samples "$T/p/model.safetensors" $E
ln -f "$T/p/model.safetensors" "$T/hard.safetensors"
refused 2 "\-\-samples .*\-\-model " "eval --samples a hard link of the --model checkpoint" \
    "$R1" eval --model "$T/hard.safetensors" --data "$T/two.jsonl" --samples "$T/p/model.safetensors" $E
refused 2 "\-\-samples .*tokenizer.txt.*\-\-data-dir " "eval --samples the data dir's tokenizer" \
    "$R1" eval --model "$T/p" --data "$T/two.jsonl" --samples "$DD/tokenizer.txt" $E

# a stage's --out: the folder of its --model, its --base, its data
refused 2 "\-\-out .*\-\-model " "zero --out its --model folder" "$R1" zero --model "$T/p" $RL --out "$T/p" $Q
refused 2 "\-\-out .*\-\-model " "zero --out p/ --model p/model.safetensors" \
    "$R1" zero --model "$T/p/model.safetensors" $RL --out "$T/p/" $Q
ln -s p "$T/plink"
refused 2 "\-\-out .*\-\-model " "zero --model a symlink to the --out folder" "$R1" zero --model "$T/plink" $RL --out "$T/p" $Q
refused 2 "\-\-out .*\-\-model " "zero --out a folder holding a hard link of --model" \
    "$R1" zero --model "$T/hard.safetensors" $RL --out "$T/p" $Q
refused 2 "\-\-out .*\-\-model " "reason --out its --model folder (a symlink)" \
    "$R1" reason --model "$T/cs" $RL --out "$T/cslink" $Q
refused 2 "\-\-out .*\-\-base " "coldstart --out its --base folder" \
    "$R1" coldstart --model "$T/z" --base "$T/p" --questions 2 --steps 1 --out "$T/p" $Q
refused 2 "\-\-out .*\-\-model " "coldstart --out its --model folder" \
    "$R1" coldstart --model "$T/z" --base "$T/p" --questions 2 --steps 1 --out "$T/z" $Q
refused 2 "\-\-out .*\-\-data-dir " "pretrain --out its --data-dir" "$R1" pretrain --steps 1 --batch 2 --out "$DD" $Q
refused 2 "\-\-out .*\-\-data-dir " "pipeline --out its --data-dir" "$R1" pipeline --steps 1 --out "$DD" $Q
refused 2 "\-\-out .*\-\-data-dir " "pipeline with a stage folder that is the --data-dir" \
    "$R1" pipeline --steps 1 --out "$T/pipe" --quiet --data-dir "$T/pipe/r1_zero"

# an output path that is no file: a pipe (or /dev/null, /dev/stdout) would be
# replaced by the renamed temporary, a plain file in its place; a folder
if mkfifo "$T/fifo" 2>/dev/null; then
    expect 2 "\-\-samples .*fifo is a pipe" "eval --samples a pipe" "$R1" eval --model "$T/p" --data "$T/two.jsonl" --samples "$T/fifo" $E
    [ -p "$T/fifo" ] && ok || bad "eval --samples a pipe: the pipe was replaced"
fi
expect 2 "\-\-samples .*is a folder" "eval --samples a folder" "$R1" eval --model "$T/p" --data "$T/two.jsonl" --samples "$T/cs" $E
# the run folder's own files (its lock, the probe that it can be written)
# are never written through a link planted there, into another file
for f in .lock .write-test; do
    mkdir -p "$T/lk" && printf 'precious\n' >"$T/precious.txt" && rm -f "$T/lk/$f" && ln -s ../precious.txt "$T/lk/$f"
    "$R1" pretrain --steps 1 --batch 2 $TINY --out "$T/lk" $Q >/dev/null 2>&1
    [ "$(cat "$T/precious.txt")" = precious ] && ok || bad "pretrain --out a folder with $f a link: wrote through it"
    rm -rf "$T/lk"
done

# every output through a temporary of its own: a NAME.tmp of someone else's stays
printf 'not ours\n' >"$T/s.txt.tmp"
"$R1" eval --model "$T/p" --data "$T/two.jsonl" --samples "$T/s.txt" $E >/dev/null 2>"$T/err" || bad "eval --samples: $(cat "$T/err")"
[ -s "$T/s.txt" ] && [ "$(cat "$T/s.txt.tmp" 2>&1)" = "not ours" ] && ok || bad "eval --samples wrote through s.txt.tmp, another file"
[ -z "$(ls "$T" | grep 's\.txt\.tmp\.')" ] && ok || bad "eval --samples left a temporary"
mkdir "$T/md" && printf 'not ours\n' >"$T/md/tokenizer.txt.tmp"
"$R1" make-data --data-dir "$T/md" >/dev/null 2>"$T/err" || bad "make-data: $(cat "$T/err")"
[ "$(cat "$T/md/tokenizer.txt.tmp" 2>&1)" = "not ours" ] && ok || bad "make-data wrote through tokenizer.txt.tmp, another file"

# ---- 3. --resume continues only the same run --------------------------------

# the checkpoints a run starts from: --model (align's example), --base
sed 's/"stage":"base"/"stage":"rsft"/' "$T/p/model.safetensors" >"$T/rsft1.safetensors"
sed 's/"stage":"base"/"stage":"rsft"/' "$T/p2/model.safetensors" >"$T/rsft2.safetensors"
A="--questions 2 --steps 2 --prompts 2 --group 2 --save-every 1 --rm-from 0"
"$R1" align --model "$T/rsft1.safetensors" $A --out "$T/al" $Q >/dev/null 2>"$T/err" || bad "align: $(cat "$T/err")"
expect 2 "\-\-model " "align --resume --model another checkpoint" "$R1" align --model "$T/rsft2.safetensors" $A --out "$T/al" --resume $Q
expect 2 "\-\-model " "zero --resume --model another checkpoint" "$R1" zero --model "$T/p2" $RL --out "$T/z" --resume $Q
expect 2 "\-\-base " "coldstart --resume --base another checkpoint" "$R1" coldstart --model "$T/z" --base "$T/p2" $C --out "$T/cs" --resume $Q
# what shapes a gathered set: --questions, --filter (recorded also at its default)
expect 2 "\-\-questions 2; this command has \-\-questions 3" "coldstart --resume with another --questions" \
    "$R1" coldstart --model "$T/z" --base "$T/p" --questions 3 --steps 2 --save-every 1 --out "$T/cs" --resume $Q
"$R1" reason --model "$T/cs" $RL --out "$T/rr" $Q >/dev/null 2>"$T/err" || bad "reason: $(cat "$T/err")"
S="--model $T/rr --base $T/p --steps 2 --save-every 1"
"$R1" rsft $S --questions 2 --filter none --out "$T/rs" $Q >/dev/null 2>"$T/err" || bad "rsft: $(cat "$T/err")"
expect 2 "\-\-questions " "rsft --resume with another --questions" "$R1" rsft $S --questions 3 --filter none --out "$T/rs" --resume $Q
expect 2 "\-\-filter none; this command has \-\-filter strict" "rsft --resume without the --filter it saved with" \
    "$R1" rsft $S --questions 2 --out "$T/rs" --resume $Q
"$R1" rsft $S --questions 2 --filter none --out "$T/rs" --resume $Q >/dev/null 2>"$T/err" && ok || bad "rsft --resume, same flags: $(cat "$T/err")"
# a flag at another value than its default is recorded, and so is its default: both ways are refused
"$R1" zero --model "$T/p" $RL --format-reward 0 --out "$T/zf" $Q >/dev/null 2>"$T/err" || bad "zero --format-reward 0: $(cat "$T/err")"
expect 2 "\-\-format-reward 0; this command has \-\-format-reward 1" "zero --resume without the --format-reward it saved with" \
    "$R1" zero --model "$T/p" $RL --out "$T/zf" --resume $Q
expect 2 "\-\-minibatches 1; this command has \-\-minibatches 2" "zero --resume with --minibatches (saved at its default)" \
    "$R1" zero --model "$T/p" $RL --format-reward 0 --minibatches 2 --out "$T/zf" --resume $Q
"$R1" zero --model "$T/p" $RL --format-reward 0 --process-reward 0 --out "$T/zf" --resume $Q >/dev/null 2>"$T/err" &&
    ok || bad "zero --resume naming a default it saved with: $(cat "$T/err")"
"$R1" zero --model "$T/p" $RL --format-reward -0 --lang-reward 0.0 --out "$T/zf" --resume $Q >/dev/null 2>"$T/err" &&
    ok || bad "zero --resume with --format-reward -0, the 0 it saved with: $(cat "$T/err")"
expect 2 "\-\-eval-every " "zero --resume with another --eval-every" "$R1" zero --model "$T/p" $RL --eval-every 2 --out "$T/z" --resume $Q
# the data dir: its development sets are watched, its test problems never drawn
cp -r "$DD" "$T/dd2" && sed -i '1d' "$T/dd2/add_dev.jsonl"
expect 2 "\-\-data-dir " "zero --resume with another add_dev.jsonl" \
    "$R1" zero --model "$T/p" $RL --out "$T/z" --resume --quiet --data-dir "$T/dd2"
# a shape flag: the state names it
expect 2 "\-\-d-model 16; this command has \-\-d-model 48" "pretrain --resume with another --d-model" \
    "$R1" pretrain --steps 2 --batch 4 --d-model 48 --layers 1 --heads 2 --out "$T/p" --resume $Q
# the same command resumes, whatever --threads, --quiet and --save-every say
"$R1" zero --model "$T/p" $RL --out "$T/z" --resume --threads 1 --save-every 3 --data-dir "$DD" >/dev/null 2>"$T/err" &&
    ok || bad "zero --resume with the same flags: $(cat "$T/err")"
# a state of another format version is refused, not misread
cp -r "$T/z" "$T/zold"
printf 'r1-state 3\n' | dd of="$T/zold/state.bin" bs=1 conv=notrunc 2>/dev/null
expect 1 "version" "zero --resume with a state of another format" "$R1" zero --model "$T/p" $RL --out "$T/zold" --resume $Q

echo "paths: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
