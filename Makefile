# r1.c -- `make` builds ./r1; `make test` runs the tests; `make demo` runs R1-Zero live;
# `make tutorial-check` runs every command of TUTORIAL.md in short mode.
#
# Flags: -ffp-contract=fast lets the compiler fuse a*b+c into one FMA (an
# IEEE-754 operation with one rounding). Which products it fuses is its
# choice, and the same for any vector width on a CPU with FMA (x86-64-v3 and
# later, ARM64), except in a sum: there it may round a product first (in a
# vectorised in-order sum, or because -mtune=znver* splits FMA chains), so
# r1.c's sums write fmaf (dot_fixed). make width (tests/test_width.sh) and
# make cross-check check that AVX2, AVX-512 and ARM64 builds agree bit for bit.
# -fno-trapping-math only promises that we never read floating-point
# exception flags, which lets loops with comparisons vectorise; -fno-math-errno
# lets sqrtf be the vector square-root instruction (we never read errno after
# math calls). None changes what a float operation computes, unlike
# -ffast-math, which we do not use.
CC      ?= cc
CFLAGS  ?= -O3 -march=native -ffp-contract=fast -fno-trapping-math -fno-math-errno -fopenmp-simd
WARN    = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unknown-pragmas
LDLIBS  = -lm -lpthread
SRC     = r1.c tokenizer.c
HDR     = r1.h
UNIT    = test_grpo test_fuzz_regress test_rewards test_tokenizer test_model test_stages
SCRIPTS = tests/test_pipeline.sh tests/stress_resume.sh tests/test_cli.sh tests/test_tutorial_check.sh tests/test_serve.sh tests/test_paths.sh tests/test_docs.sh tests/test_runs.sh
SHIM    = tests/kill_shim.so
STRESS_KILLS ?= 200
STRESS_STAGES ?= pretrain zero zero_sparse coldstart reason rsft align distill pipeline
# The unit tests build at -O2 (the last -O wins): about half -O3's compile
# time, and the same numbers, as GCC fuses multiply-adds from -O2 on (a
# pretraining run of r1 built at -O2 writes the same bytes as ./r1). ./r1
# itself, at -O3, is what the scripts test.
TEST_OPT ?= -O2
# The tests of the tokenizer, the rewards, GRPO and the stages, and the fuzz
# replay, check parsers and behaviour, each against its own build, never bits
# against ./r1: -O1 builds them in half -O2's time (one core-second a test
# program more to run, 6 less to build). test_model stays at -O2: it checks
# the kernel bit for bit against the plain loop, with the multiply-adds fused
# as ./r1 fuses them.
tests/test_tokenizer tests/test_fuzz_regress tests/test_rewards tests/test_grpo tests/test_stages: TEST_OPT = -O1
SAN     = -O1 -g -march=native -ffp-contract=fast -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all test test-build width stress sanitize variants cross-check fuzz serve-openai demo pipeline class seeds readme-results tutorial-check clean

all: r1

r1: $(SRC) $(HDR)
	$(CC) $(CFLAGS) $(WARN) -o $@ $(SRC) $(LDLIBS)

tests/test_%: tests/test_%.c $(SRC) $(HDR) tests/check.h
	$(CC) $(CFLAGS) $(TEST_OPT) $(WARN) -o $@ $< tokenizer.c $(LDLIBS)

# Replays every input the fuzzers ever broke (tests/fuzz/crashes) and the
# fuzz corpora, with plain cc: no fuzzer needed.
tests/test_fuzz_regress: tests/fuzz/regress.c tests/fuzz/*.h tests/fuzz/fuzz_*.c $(SRC) $(HDR)
	$(CC) $(CFLAGS) $(TEST_OPT) $(WARN) -o $@ tests/fuzz/regress.c tokenizer.c $(LDLIBS)

# An LD_PRELOAD shim that SIGKILLs r1 just before or after its n-th rename,
# for tests/stress_resume.sh (R1_KILL_AT_RENAME=n, R1_KILL_AFTER_RENAME=n).
$(SHIM): tests/kill_shim.c
	$(CC) -O2 $(WARN) -shared -fPIC -o $@ $< -ldl

# Every test program and script; the last line is the total "N passed, N failed".
# (tests/stress_resume.sh runs a kill/resume case of every stage here, 8;
# make stress adds the pipeline's, 200 in all.)
# tests/run.sh runs the tests in two lanes, a CPU each. One lane builds ./r1
# first (R1_TEST_FIRST) while the other builds and runs the two largest test
# programs, which need no ./r1; then the scripts, the longest first, and the
# other test programs, each built in its lane just before it runs.
test: $(SHIM)
	@R1_TEST_FIRST="$(MAKE) --no-print-directory -s r1" R1_TEST_BUILD="$(MAKE) --no-print-directory -s" \
	  sh tests/run.sh tests/test_model tests/test_stages $(SCRIPTS) $(addprefix tests/,$(filter-out test_model test_stages,$(UNIT)))

# Every binary make test needs (CI checks this build prints no warning).
test-build:
	@$(MAKE) --no-print-directory -j2 r1 $(addprefix tests/,$(UNIT)) $(SHIM)

# AVX2 against AVX-512 (DESIGN §9): tests/test_width.sh builds r1 for both
# into build-width/, with these flags but -march (each only if a source or
# its flags changed), and compares their checkpoints and metrics with each
# other's and ./r1's byte for byte. Two more builds of r1, so CI runs it
# rather than make test.
WIDTH_ENV = WIDTH_CFLAGS="$(filter-out -march=%,$(CFLAGS))" WARN="$(WARN)"
width: r1
	@$(WIDTH_ENV) sh tests/test_width.sh --build
	@$(WIDTH_ENV) sh tests/run.sh tests/test_width.sh

# The resume promise under STRESS_KILLS (200) random kills, the stages and
# the pipeline in turn (the pipeline's cases take most of the time; make
# test runs one case a stage, the pipeline's left out); STRESS_SEED=N for
# another sequence of kill points (default 1), STRESS_STAGES="pretrain zero"
# for some stages only.
stress: r1 $(SHIM)
	@STRESS_KILLS=$(STRESS_KILLS) STRESS_STAGES="$(STRESS_STAGES)" sh tests/run.sh tests/stress_resume.sh

# The same tests with AddressSanitizer and UndefinedBehaviorSanitizer, built
# in build-san/ so that the normal ./r1 is left alone.
sanitize: $(SHIM)
	@mkdir -p build-san/tests
	$(CC) $(SAN) $(WARN) -o build-san/r1 $(SRC) $(LDLIBS)
	for t in $(filter-out test_fuzz_regress,$(UNIT)); do $(CC) $(SAN) $(WARN) -o build-san/tests/$$t tests/$$t.c tokenizer.c $(LDLIBS) || exit 1; done
	$(CC) $(SAN) $(WARN) -o build-san/tests/test_fuzz_regress tests/fuzz/regress.c tokenizer.c $(LDLIBS)
	@R1=build-san/r1 R1_SLOW=1 sh tests/run.sh $(SCRIPTS) $(addprefix build-san/tests/,$(UNIT))

# Optional: libFuzzer on the verifier, tokenizer, checkpoint loader, JSONL
# reader and serve's request readers, FUZZ_SECONDS (30) each. Needs clang's
# libFuzzer runtime (Debian: libclang-rt-14-dev); installs nothing and says
# so if it is missing.
fuzz:
	sh tests/fuzz/run.sh

# Optional: DeepSeek's API samples with the official OpenAI clients against
# ./r1 serve (tests/serve_openai.mjs: openai-node, found through NODE_PATH;
# tests/serve_openai.py: openai-python), each skipped when its client is
# missing. Installs nothing: `npm install --prefix DIR openai@6.49.0` (7.x
# needs Node 22), then NODE_PATH=DIR/node_modules make serve-openai.
serve-openai: r1
	@sh tests/test_serve.sh --openai

# The other builds the code promises: single-threaded without pthreads
# (-DR1_NO_THREADS) and with only the plain matmul loop (-DR1_PLAIN_MATMUL).
# Built with warnings as errors, in build-var/, and checked by the model tests.
variants:
	@mkdir -p build-var
	$(CC) $(CFLAGS) $(WARN) -Werror -DR1_NO_THREADS -DR1_PLAIN_MATMUL -o build-var/r1 $(SRC) -lm
	$(CC) $(CFLAGS) $(WARN) -Werror -DR1_NO_THREADS -DR1_PLAIN_MATMUL -o build-var/test_model tests/test_model.c tokenizer.c -lm
	@sh tests/run.sh build-var/test_model
	$(CC) $(CFLAGS) $(WARN) -Werror -o build-var/make_seeds tests/fuzz/make_seeds.c tokenizer.c $(LDLIBS)   # the fuzz seeds' writer builds

# Optional: the same seed gives the same checkpoint bytes on ARM64 (DESIGN §9).
# Builds r1 with aarch64-linux-gnu-gcc into build-arm64/ (these flags, but
# -march=armv8-a), runs pretrain and a GRPO step under qemu-aarch64 and here,
# and compares the checkpoints byte for byte, and the metrics. Installs
# nothing: says "skipped" without the tools (Debian: gcc-aarch64-linux-gnu
# qemu-user).
# CROSS_CHECK_STRICT=0 reports a difference without failing.
cross-check: r1
	@CROSS_CFLAGS="$(filter-out -march=%,$(CFLAGS)) -march=armv8-a" WARN="$(WARN)" sh tests/cross_check.sh

demo: r1
	./r1 demo

# Stages 0-6 and both distillation students end to end, then every model on
# every benchmark: runs/pipeline/RESULTS.md, results.json, results.svg
# (timings.txt apart). A finished stage is reused while its inputs are unchanged.
pipeline: r1
	./r1 pipeline

# The claims over several training seeds (SEEDS, default 1337 2 3): a whole
# pipeline per seed in runs/seed-N (about 7 minutes each), then one line per
# claim with its verdict and effect ± margin at each seed. A claim whose
# verdict changes with the seed rests on the seed, not only on the method.
SEEDS ?= 1337 2 3
seeds: r1
	@for s in $(SEEDS); do ./r1 pipeline --seed $$s --out runs/seed-$$s --quiet || exit 1; done
	@printf '%-32s' claim; for s in $(SEEDS); do printf ' | %-30s' "seed $$s"; done; echo
	@for s in $(SEEDS); do sed -n '/^  "claims": {/,/^  },/p' runs/seed-$$s/results.json | \
	    sed -n 's/^    "\([a-z0-9_]*\)": {"verdict": "\([a-z ]*\)", "effect": \([-0-9.]*\), "margin": \([0-9.]*\).*/\1 \2 \3 \4/p' | \
	    awk -v s=$$s '{ m = $$NF; e = $$(NF-1); v = $$2; for (i = 3; i < NF - 1; i++) v = v " " $$i; printf "%s %s %s (%+.3f ± %.3f)\n", s, $$1, v, e, m }'; done | \
	    awk '{ k = $$2; if (!(k in row)) order[n++] = k; $$1 = ""; $$2 = ""; sub(/^  /, ""); row[k] = row[k] sprintf(" | %-30s", $$0) } \
	         END { for (i = 0; i < n; i++) printf "%-32s%s\n", order[i], row[order[i]] }'

# The full-size checkpoints a class needs, under the names TUTORIAL.md and
# docs/HANDOUT.md use: ./r1 pipeline makes them (reusing the stages it has
# already made), then each stage's folder is copied to its command's folder
# (runs/pipeline/r1_zero to runs/zero, ...), replacing it. At the default
# seed each is what the tutorial's own command writes, byte for byte.
CLASS_RUNS = base:base r1_zero:zero cold_start:coldstart reasoning_rl:reason rsft:rsft \
             all_scenarios:align student_base:student_base student_distilled:distill student_rl:student_rl
class: r1
	./r1 pipeline
	@for p in $(CLASS_RUNS); do s=runs/pipeline/$${p%%:*}; d=runs/$${p#*:}; \
	    rm -rf $$d.class && cp -R $$s $$d.class && rm -f $$d.class/pipeline.stamp && rm -rf $$d && mv $$d.class $$d && \
	    echo "$$s -> $$d" || exit 1; done

# docs/RESULTS.md and docs/pipeline-results.svg are the default seed's
# runs/pipeline/RESULTS.md and results.svg, which README links: after
# `make pipeline`, this copies both in.
readme-results:
	@test -s runs/pipeline/RESULTS.md || { echo "no runs/pipeline/RESULTS.md: make pipeline first"; exit 1; }
	cp runs/pipeline/RESULTS.md docs/RESULTS.md
	cp runs/pipeline/results.svg docs/pipeline-results.svg

# Every command of TUTORIAL.md's ```sh blocks, in file order, in short mode
# (--steps 2 and small sets) in a fresh scratch folder; fails on any
# non-zero exit or a line it cannot run, and prints how many ran.
tutorial-check: r1
	@bash tests/tutorial_check.sh TUTORIAL.md

clean:
	rm -rf r1 build-san build-var build-arm64 build-width $(addprefix tests/,$(UNIT)) $(SHIM)
