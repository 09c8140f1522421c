# r1.c -- make builds ./r1; make test runs the tests; make demo watches R1-Zero.
CC      ?= cc
CFLAGS  ?= -O3 -march=native -ffp-contract=fast -fno-trapping-math -fopenmp-simd
WARN    = -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unknown-pragmas
LDLIBS  = -lm -lpthread
SRC     = r1.c tokenizer.c
HDR     = r1.h
TESTS   = tests/test_tokenizer tests/test_model tests/test_rewards
SAN     = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all test sanitize demo clean

all: r1

r1: $(SRC) $(HDR)
	$(CC) $(CFLAGS) $(WARN) -o $@ $(SRC) $(LDLIBS)

tests/test_tokenizer: tests/test_tokenizer.c tokenizer.c $(HDR) tests/check.h
	$(CC) $(CFLAGS) $(WARN) -o $@ tests/test_tokenizer.c tokenizer.c $(LDLIBS)

tests/test_%: tests/test_%.c $(SRC) $(HDR) tests/check.h
	$(CC) $(CFLAGS) $(WARN) -o $@ $< tokenizer.c $(LDLIBS)

# Runs every test binary; the last line is the total "N passed, N failed".
test: r1 $(TESTS)
	@sh tests/run.sh $(TESTS)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
sanitize:
	$(MAKE) clean-tests
	$(MAKE) CFLAGS="$(SAN)" $(TESTS)
	@sh tests/run.sh $(TESTS); rc=$$?; $(MAKE) clean-tests; exit $$rc

clean-tests:
	rm -f $(TESTS)

demo: r1
	./r1 demo

clean:
	rm -f r1 $(TESTS)
