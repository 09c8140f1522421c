// tests/fuzz/fuzz_jsonl.c -- load_jsonl (the benchmark reader) on arbitrary
// bytes, which also drives the JSON string and integer readers of r1.c.
//
// The input is written to a scratch file and read as a JSONL benchmark. What
// is checked, besides "no crash, no UB, no leak, no exit()":
//   - on failure: a one-line "path:LINE: reason" message, and no examples;
//   - on success: at least one example, at most one per line; every prompt
//     non-empty, NUL-terminated and valid UTF-8, every answer NUL-terminated
//     and valid UTF-8; is_arith exactly when parse_question accepts the
//     prompt, and then the answer parses to `expected`.
#include "fuzz_common.h"

static int fuzz_jsonl(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_scratch(data, size);
    Dataset ds = { (Example *)&ds, -1 };   // must be overwritten either way
    char err[512] = "";
    if (load_jsonl(path, &ds, err, sizeof err) != 0) {
        fuzz_check_error("load_jsonl", err, sizeof err);
        FUZZ_CHECK(!strncmp(err, path, strlen(path)), "the message does not name the file: %s", err);
        FUZZ_CHECK(ds.n == 0 && ds.ex == NULL, "a failed load left %d examples", ds.n);
        return 0;
    }
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    FUZZ_CHECK(ds.n >= 1 && (size_t)ds.n <= lines, "%d examples from %zu lines", ds.n, lines);
    for (int i = 0; i < ds.n; i++) {
        const Example *e = &ds.ex[i];
        FUZZ_CHECK(memchr(e->prompt, '\0', sizeof e->prompt) && memchr(e->answer, '\0', sizeof e->answer), "example %d not terminated", i);
        FUZZ_CHECK(e->prompt[0], "example %d has an empty prompt", i);
        FUZZ_CHECK(valid_utf8(e->prompt) && valid_utf8(e->answer), "example %d is not valid UTF-8", i);
        Problem p;
        FUZZ_CHECK(e->is_arith == parse_question(e->prompt, &p), "example %d: is_arith %d for \"%s\"", i, e->is_arith, e->prompt);
        long long v;
        if (e->is_arith)
            FUZZ_CHECK(parse_integer(e->answer, strlen(e->answer), &v) && v == e->expected,
                       "example %d: answer \"%s\" but expected %lld", i, e->answer, e->expected);
    }
    free(ds.ex);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_jsonl(data, size); }
#endif
