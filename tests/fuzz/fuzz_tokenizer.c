// tests/fuzz/fuzz_tokenizer.c -- tokenizer.c on arbitrary bytes.
//
// Byte 0 of the input picks the mode and the rest is the text:
//   bit 7 clear: tok_train on the text with (byte 0 % 32) merges, then
//     encode -> decode the text with it; with bit 6 also set, tok_save and
//     tok_load it back and check that the loaded tokenizer is the same.
//   bit 7 set: the text is a tokenizer file: tok_load it (from a scratch
//     file); if it loads, encode -> decode the text with it.
// What is checked, besides "no crash, no UB, no leak, no exit()":
//   - tok_train succeeds on any bytes, learns at most the merges asked for,
//     and every merge joins two earlier tokens that are neither digits nor
//     special tokens;
//   - encode gives at most one id per byte, every id in the vocabulary, no
//     multi-byte token containing a digit, and decode gives back exactly the
//     input bytes (the round trip that makes "any byte string" encodable);
//   - tok_encode with a short max_out returns the same count and a prefix;
//   - tok_decode with a short buffer returns the full length and writes a
//     NUL-terminated prefix, like snprintf;
//   - tok_load either succeeds or fails with a one-line reason and leaves
//     the tokenizer it was given untouched.
#include "fuzz_common.h"

// Every merge is (a, b) with a, b earlier tokens that may merge.
static void tokfz_check_merges(const Tokenizer *t) {
    FUZZ_CHECK(t->n_merges >= 0 && t->n_merges <= TOK_MAX_MERGES, "%d merges", t->n_merges);
    for (int r = 0; r < t->n_merges; r++)
        for (int s = 0; s < 2; s++) {
            int x = t->merges[r][s];
            FUZZ_CHECK(x >= 0 && x < TOK_N_SPECIAL_END + r, "merge %d uses token %d", r, x);
            FUZZ_CHECK(!(x >= '0' && x <= '9') && !(x >= TOK_END && x < TOK_N_SPECIAL_END),
                       "merge %d uses digit or special token %d", r, x);
        }
}

// encode -> decode gives back text[0..len); the properties of the ids.
static void tokfz_round_trip(const Tokenizer *t, const char *text, size_t len, unsigned cut) {
    int *ids = malloc((len + 1) * sizeof *ids);
    char *back = malloc(len + 1);
    if (!ids || !back) { free(ids); free(back); return; }
    int n = tok_encode(t, text, len, ids, (int)len + 1);
    FUZZ_CHECK(n >= 0 && (size_t)n <= len, "tok_encode of %zu bytes gave %d ids", len, n);
    int V = tok_vocab_size(t);
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < V, "id %d out of the vocabulary of %d", ids[i], V);
        int plen;
        const char *piece = tok_piece(t, ids[i], &plen);
        FUZZ_CHECK(plen >= 1, "token %d is empty", ids[i]);
        if (plen > 1 && ids[i] >= TOK_N_SPECIAL_END)
            for (int k = 0; k < plen; k++) FUZZ_CHECK(!(piece[k] >= '0' && piece[k] <= '9'), "merged token %d holds a digit", ids[i]);
    }
    size_t total = tok_decode(t, ids, n, back, len + 1);
    FUZZ_CHECK(total == len, "decode gave %zu bytes for %zu", total, len);
    FUZZ_CHECK(memcmp(back, text, len) == 0 && back[len] == '\0', "decode(encode(text)) != text");

    // A short output buffer: same count, a prefix of the ids.
    int short_n = n ? (int)(cut % (unsigned)n) : 0;
    int *ids2 = malloc(((size_t)short_n + 1) * sizeof *ids2);
    if (ids2) {
        int n2 = tok_encode(t, text, len, ids2, short_n);
        FUZZ_CHECK(n2 == n, "tok_encode with max_out %d returned %d, not %d", short_n, n2, n);
        FUZZ_CHECK(memcmp(ids2, ids, (size_t)short_n * sizeof *ids) == 0, "truncated encode is not a prefix");
        free(ids2);
    }
    // A short text buffer: snprintf-like.
    size_t cap = len ? cut % (len + 1) : 0;
    char *small = malloc(cap + 1);
    if (small) {
        size_t t2 = tok_decode(t, ids, n, cap ? small : NULL, cap);
        FUZZ_CHECK(t2 == len, "tok_decode with cap %zu returned %zu, not %zu", cap, t2, len);
        if (cap) FUZZ_CHECK(memcmp(small, text, cap - 1) == 0 && small[cap - 1] == '\0', "short decode is not a NUL-terminated prefix");
        free(small);
    }
    free(ids);
    free(back);
}

static int fuzz_tokenizer(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    unsigned cut = size > 1 ? data[size - 1] * 31u + data[1] : 0;
    Tokenizer t = { 0 };
    char err[512];
    if (!(data[0] & 0x80)) {
        int want = data[0] % 32;
        FUZZ_CHECK(tok_train(&t, text, len, want) == 0, "tok_train failed on %zu bytes", len);
        FUZZ_CHECK(t.n_merges <= want, "asked for %d merges, got %d", want, t.n_merges);
        tokfz_check_merges(&t);
        tokfz_round_trip(&t, text, len, cut);
        if (data[0] & 0x40) {            // save -> load gives the same tokenizer
            const char *path = fuzz_scratch_path();
            Tokenizer u = { 0 };
            FUZZ_CHECK(tok_save(&t, path, err, sizeof err) == 0, "tok_save: %s", err);
            FUZZ_CHECK(tok_load(&u, path, err, sizeof err) == 0, "tok_load of a saved tokenizer: %s", err);
            FUZZ_CHECK(u.n_merges == t.n_merges && !memcmp(u.merges, t.merges, sizeof(int) * 2 * (size_t)t.n_merges),
                       "save -> load changed the merges");
            int V = tok_vocab_size(&t);
            FUZZ_CHECK(!memcmp(u.len, t.len, sizeof(int) * (size_t)V) &&
                       !memcmp(u.text, t.text, (size_t)t.off[V - 1] + (size_t)t.len[V - 1]),
                       "save -> load changed the tokens' bytes");
            tok_free(&u);
        }
    } else {
        // Load into a tokenizer that already holds something: on failure it
        // must be left as it was.
        FUZZ_CHECK(tok_train(&t, "abab", 4, 1) == 0 && t.n_merges == 1, "tok_train of \"abab\"");
        const char *path = fuzz_write_scratch((const uint8_t *)text, len);
        if (tok_load(&t, path, err, sizeof err) == 0) {
            tokfz_check_merges(&t);
            tokfz_round_trip(&t, text, len, cut);
        } else {
            fuzz_check_error("tok_load", err, sizeof err);
            FUZZ_CHECK(t.n_merges == 1 && t.merges[0][0] == 'a' && t.merges[0][1] == 'b', "a failed tok_load changed the tokenizer");
        }
    }
    tok_free(&t);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_tokenizer(data, size); }
#endif
