// tests/check.h -- the smallest test harness that fails loudly.
// Each CHECK counts one pass or one failure; a failure prints where and why.
// tests_done() prints "N passed, N failed" and returns the exit status.
#ifndef CHECK_H
#define CHECK_H
#include <stdio.h>

static int tests_passed, tests_failed;

#define CHECK(cond, ...) do {                                              \
    if (cond) tests_passed++;                                              \
    else {                                                                 \
        tests_failed++;                                                    \
        fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
        fprintf(stderr, __VA_ARGS__);                                      \
        fprintf(stderr, "\n");                                             \
    }                                                                      \
} while (0)

static int tests_done(const char *name) {
    printf("%s: %d passed, %d failed\n", name, tests_passed, tests_failed);
    return tests_failed ? 1 : 0;
}
#endif
