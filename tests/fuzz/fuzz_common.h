// tests/fuzz/fuzz_common.h -- what the five harnesses and regress.c share.
//
// r1.c is included here, once, behind an include guard, so that regress.c can
// include all five harnesses into one program. Also here: a per-process
// scratch file for the loaders that take a path, and the check that a loader
// that refuses its input says why in one printable line.
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#define R1_TESTING
// r1.c's static functions that the harnesses do not call would warn under
// -Wall, and so would its `omp simd` pragmas without -fopenmp-simd.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunknown-pragmas"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wpsabi"   // GCC without -mavx, on r1.c's 8-wide vectors
#endif
#include "../../r1.c"
#pragma GCC diagnostic pop

// The helpers below are not used by every program that includes this file.
#define FUZZ_UNUSED __attribute__((unused))

// Report a broken property and abort, so that libFuzzer (or regress.c) stops
// and keeps the input.
#define FUZZ_CHECK(cond, ...) do {                                              \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
            abort();                                                            \
        }                                                                       \
    } while (0)

// The scratch file: one per process, in /dev/shm when it is writable (no
// disk I/O), else in $TMPDIR or /tmp. Removed at exit.
static char fuzz_scratch[512];

FUZZ_UNUSED static void fuzz_remove_scratch(void) {
    if (fuzz_scratch[0]) {
        char tmp[600];
        remove(fuzz_scratch);
        snprintf(tmp, sizeof tmp, "%s.tmp", fuzz_scratch);  // left by an interrupted save
        remove(tmp);
    }
}

// Name of the scratch file (created on first use).
FUZZ_UNUSED static const char *fuzz_scratch_path(void) {
    if (!fuzz_scratch[0]) {
        const char *dir = getenv("TMPDIR");
        if (access("/dev/shm", W_OK) == 0) dir = "/dev/shm";
        else if (!dir || !*dir) dir = "/tmp";
        snprintf(fuzz_scratch, sizeof fuzz_scratch, "%s/r1-fuzz-%ld", dir, (long)getpid());
        atexit(fuzz_remove_scratch);
    }
    return fuzz_scratch;
}

// Write data[0..size) to the scratch file and return its path.
FUZZ_UNUSED static const char *fuzz_write_scratch(const uint8_t *data, size_t size) {
    const char *path = fuzz_scratch_path();
    FILE *f = fopen(path, "wb");
    int ok = f != NULL;
    if (ok && size && fwrite(data, 1, size, f) != size) ok = 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) { fprintf(stderr, "fuzz: cannot write the scratch file %s: %s\n", path, strerror(errno)); abort(); }
    return path;
}

// A loader said no: its message must be there and be one printable line (no
// newline, no terminal escape), however hostile the input was. With the
// environment variable FUZZ_LAX_ERRORS=1 control bytes are let through, to
// keep fuzzing for other bugs while a known instance is not fixed yet.
FUZZ_UNUSED static void fuzz_check_error(const char *who, const char *err, size_t cap) {
    static int lax = -1;
    if (lax < 0) lax = getenv("FUZZ_LAX_ERRORS") && !strcmp(getenv("FUZZ_LAX_ERRORS"), "1");
    size_t n = strnlen(err, cap);
    FUZZ_CHECK(n < cap, "%s: error message is not NUL-terminated", who);
    FUZZ_CHECK(n > 0, "%s failed without an error message", who);
    if (lax) return;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)err[i];
        FUZZ_CHECK(ch >= 0x20 && ch != 0x7f, "%s: error message holds control byte 0x%02x at %zu "
                   "(not one printable line): \"%s\"", who, ch, i, err);
    }
}

#endif
