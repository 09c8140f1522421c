// tests/test_tokenizer.c -- tests for tokenizer.c, the byte-level BPE.
//
//   cc -std=c11 -O2 -Wall -Wextra tests/test_tokenizer.c tokenizer.c -o test_tokenizer
//
// What is checked: small cases worked by hand (minbpe's Wikipedia example),
// the rules (digits never merge, special tokens are one token and split the
// text), agreement with a slow obvious reference trainer and encoder on random
// corpora, encode -> decode giving back any byte string, the snprintf-like
// decode, save -> load, and that every malformed tokenizer file is rejected
// with a reason. Loops count one CHECK each and print their first failure.
#include "../r1.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// ----------------------------------------------------------------------------
// helpers

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng_next(void) {  // xorshift64
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static int rng_int(int n) { return (int)(rng_next() % (uint64_t)n); }

static double seconds_since(clock_t start) { return (double)(clock() - start) / CLOCKS_PER_SEC; }

// Encode into a fresh array (caller frees); the count in *n.
static int *encode_all(const Tokenizer *t, const char *s, size_t len, int *n) {
    int *ids = malloc((len + 1) * sizeof *ids);
    *n = tok_encode(t, s, len, ids, (int)len + 1);
    return ids;
}

// Does decode(encode(s)) give back exactly s?
static int round_trips(const Tokenizer *t, const char *s, size_t len) {
    int n;
    int *ids = encode_all(t, s, len, &n);
    char *back = malloc(len + 1);
    size_t got = n < 0 ? 0 : tok_decode(t, ids, n, back, len + 1);
    int ok = n >= 0 && got == len && memcmp(back, s, len) == 0;
    free(ids);
    free(back);
    return ok;
}

static int encodes_to(const Tokenizer *t, const char *s, const int *want, int n_want) {
    int n;
    int *ids = encode_all(t, s, strlen(s), &n);
    int ok = n == n_want && memcmp(ids, want, (size_t)n * sizeof *ids) == 0;
    free(ids);
    return ok;
}

static int count_id(const int *ids, int n, int id) {
    int c = 0;
    for (int i = 0; i < n; i++) c += ids[i] == id;
    return c;
}

static int piece_has_digit(const Tokenizer *t, int id) {
    int len;
    const char *p = tok_piece(t, id, &len);
    for (int i = 0; i < len; i++) if (p[i] >= '0' && p[i] <= '9') return 1;
    return 0;
}

static int same_merges(const Tokenizer *a, const Tokenizer *b) {
    return a->n_merges == b->n_merges &&
           memcmp(a->merges, b->merges, (size_t)a->n_merges * sizeof a->merges[0]) == 0;
}

static void write_file(const char *path, const char *s, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    fwrite(s, 1, len, f);
    fclose(f);
}

// Text like the toy world's: sums worked digit by digit and small talk, in
// English and in Chinese, inside the R1 tags. Fills buf[0..len); returns len.
static size_t toy_corpus(char *buf, size_t len) {
    static const char *en[] = {
        "the", "sum", "of", "and", "is", "write", "carry", "one", "digit", "ones", "tens",
        "hundreds", "column", "plus", "add", "next", "so", "answer", "who", "are", "you",
        "I", "am", "a", "small", "model", "that", "thinks", "before", "it", "answers",
        "please", "help", "me", "with", "this", "question", "thank", "left", "right",
    };
    static const char *zh[] = {
        "加", "得", "进位", "写", "个位", "十位", "百位", "答案", "你", "是", "谁",
        "我", "一个", "小", "模型", "先", "想", "再", "回答", "谢谢", "问题", "和",
    };
    size_t n = 0;
    while (n < len) {
        char line[512];
        int a = rng_int(1000), b = rng_int(1000), w = 0, zh_line = rng_int(2);
        w += snprintf(line + w, sizeof line - (size_t)w, zh_line ? "问：%d加%d等于几？<think>" :
                      "Q: what is %d+%d? <think>", a, b);
        for (int k = 0, words = 4 + rng_int(12); k < words; k++) {
            const char *word = zh_line ? zh[rng_int(22)] : en[rng_int(40)];
            w += snprintf(line + w, sizeof line - (size_t)w, zh_line ? "%s" : "%s ", word);
            if (rng_int(4) == 0)
                w += snprintf(line + w, sizeof line - (size_t)w, "%d+%d=%d%s", a % 10, b % 10,
                              a % 10 + b % 10, zh_line ? "，" : ", ");
        }
        w += snprintf(line + w, sizeof line - (size_t)w, "</think><answer>%d</answer><|end|>\n", a + b);
        size_t k = (size_t)w < len - n ? (size_t)w : len - n;
        memcpy(buf + n, line, k);
        n += k;
    }
    return n;
}

// ----------------------------------------------------------------------------
// a slow, obvious reference: minbpe's loops with our rules

static int ref_can_merge(int id) {
    return !(id >= '0' && id <= '9') && !(id >= 256 && id <= 260);
}

// Merge (a, b) -> z everywhere, left to right. Returns the new length.
static int ref_replace(int *ids, int n, int a, int b, int z) {
    int w = 0;
    for (int i = 0; i < n; i++) {
        if (i + 1 < n && ids[i] == a && ids[i + 1] == b) { ids[w++] = z; i++; }
        else ids[w++] = ids[i];
    }
    return w;
}

// Recount every pair before every merge in a dense table; take the largest
// count, the smallest (a, b) on ties; stop below a count of 2.
static int ref_train(const Tokenizer *base, const char *text, size_t len, int n_merges,
                     int merges[][2]) {
    int n;
    int *ids = encode_all(base, text, len, &n);
    int V = TOK_N_SPECIAL_END + n_merges;
    int *cnt = calloc((size_t)V * (size_t)V, sizeof *cnt);
    int m;
    for (m = 0; m < n_merges; m++) {
        for (int i = 0; i + 1 < n; i++)
            if (ref_can_merge(ids[i]) && ref_can_merge(ids[i + 1])) cnt[ids[i] * V + ids[i + 1]]++;
        int best = 0, ba = -1, bb = -1;
        for (int i = 0; i + 1 < n; i++) {
            int a = ids[i], b = ids[i + 1], c = cnt[a * V + b];
            if (c > best || (c == best && c > 0 && (a < ba || (a == ba && b < bb)))) {
                best = c; ba = a; bb = b;
            }
        }
        for (int i = 0; i + 1 < n; i++) cnt[ids[i] * V + ids[i + 1]] = 0;
        if (best < 2) break;
        merges[m][0] = ba;
        merges[m][1] = bb;
        n = ref_replace(ids, n, ba, bb, TOK_N_SPECIAL_END + m);
    }
    free(cnt);
    free(ids);
    return m;
}

// minbpe's encode: while some adjacent pair has a merge, apply the one with
// the lowest rank everywhere.
static int ref_encode(const Tokenizer *base, const Tokenizer *t, const char *s, size_t len,
                      int *out) {
    int n = tok_encode(base, s, len, out, (int)len + 1);
    for (;;) {
        int best = -1;
        for (int i = 0; i + 1 < n; i++)
            for (int r = 0; r < t->n_merges && (best < 0 || r < best); r++)
                if (t->merges[r][0] == out[i] && t->merges[r][1] == out[i + 1]) best = r;
        if (best < 0) return n;
        n = ref_replace(out, n, t->merges[best][0], t->merges[best][1], TOK_N_SPECIAL_END + best);
    }
}

// A random corpus from few pieces, so pairs repeat: runs of one letter (the
// overlapping "a a a" case), digits, special names whole and cut, a Chinese
// character, 0xFF and NUL.
static size_t random_corpus(char *buf, size_t max) {
    static const char *pieces[] = {
        "a", "a", "a", "b", "c", "ab", " ", "1", "22", "<think>", "</think>", "<|end|>",
        "<", "think>", "</answer", "\xe5\x8a\xa0", "\xff",
    };
    int npieces = (int)(sizeof pieces / sizeof pieces[0]);
    size_t target = (size_t)rng_int((int)max - 16), n = 0;
    while (n < target) {
        if (rng_int(20) == 0) { buf[n++] = '\0'; continue; }
        const char *p = pieces[rng_int(npieces)];
        size_t k = strlen(p);
        memcpy(buf + n, p, k);
        n += k;
    }
    return n;
}

// ----------------------------------------------------------------------------
// the tests

static void test_base_vocabulary(void) {
    Tokenizer t;
    memset(&t, 0, sizeof t);
    CHECK(tok_train(&t, "", 0, 0) == 0, "training on nothing gives the base vocabulary");
    CHECK(t.n_merges == 0 && tok_vocab_size(&t) == TOK_N_SPECIAL_END, "vocab %d", tok_vocab_size(&t));
    CHECK(TOK_N_SPECIAL == 5 && TOK_N_SPECIAL_END == 261, "r1.h changed: %d", TOK_N_SPECIAL_END);

    int bad = 0;
    for (int i = 0; i < 256; i++) {
        int len;
        const char *p = tok_piece(&t, i, &len);
        if (len != 1 || (unsigned char)p[0] != i) bad++;
    }
    CHECK(bad == 0, "%d byte tokens are not their byte", bad);
    for (int i = 0; i < TOK_N_SPECIAL; i++) {
        int len;
        const char *p = tok_piece(&t, TOK_END + i, &len);
        CHECK(len == (int)strlen(tok_special_names[i]) && memcmp(p, tok_special_names[i], (size_t)len) == 0,
              "special %d", TOK_END + i);
    }
    CHECK(strcmp(tok_special_names[0], "<|end|>") == 0 && strcmp(tok_special_names[1], "<think>") == 0 &&
          strcmp(tok_special_names[2], "</think>") == 0 && strcmp(tok_special_names[3], "<answer>") == 0 &&
          strcmp(tok_special_names[4], "</answer>") == 0, "special names");
    int len = 99;
    tok_piece(&t, -1, &len);
    CHECK(len == 0, "id -1 has no text");
    len = 99;
    tok_piece(&t, TOK_N_SPECIAL_END, &len);
    CHECK(len == 0, "no merges: id %d has no text", TOK_N_SPECIAL_END);

    int want[] = {'h', 'i', TOK_THINK, 0xE5, 0x8A, 0xA0};
    CHECK(encodes_to(&t, "hi<think>\xe5\x8a\xa0", want, 6), "pure bytes and specials");
    CHECK(tok_train(&t, NULL, 0, 5) == 0 && t.n_merges == 0, "NULL text of length 0 is empty");
    tok_free(&t);

    // Before any training, encoding still works (bytes + specials), pieces are empty.
    Tokenizer z;
    memset(&z, 0, sizeof z);
    CHECK(encodes_to(&z, "hi<think>", want, 3), "a zeroed tokenizer encodes bytes");
    CHECK(tok_decode(&z, want, 3, NULL, 0) == 0, "a zeroed tokenizer has no pieces yet");
}

static void test_wikipedia_example(void) {
    // "aaabdaaabac": aa -> Z, then ab -> Y (tie with Za; the smaller pair wins),
    // then ZY -> X, leaving "XdXac"; no pair occurs twice any more.
    Tokenizer t;
    memset(&t, 0, sizeof t);
    CHECK(tok_train(&t, "aaabdaaabac", 11, 10) == 0, "train");
    CHECK(t.n_merges == 3, "stopped early at %d merges, want 3", t.n_merges);
    CHECK(t.merges[0][0] == 'a' && t.merges[0][1] == 'a', "merge 0 %d %d", t.merges[0][0], t.merges[0][1]);
    CHECK(t.merges[1][0] == 'a' && t.merges[1][1] == 'b', "merge 1 %d %d", t.merges[1][0], t.merges[1][1]);
    CHECK(t.merges[2][0] == 261 && t.merges[2][1] == 262, "merge 2 %d %d", t.merges[2][0], t.merges[2][1]);
    int len;
    const char *p = tok_piece(&t, 263, &len);
    CHECK(len == 4 && memcmp(p, "aaab", 4) == 0, "token 263 is 'aaab'");
    CHECK(tok_vocab_size(&t) == 264, "vocab %d", tok_vocab_size(&t));
    int want[] = {263, 'd', 263, 'a', 'c'};
    CHECK(encodes_to(&t, "aaabdaaabac", want, 5), "encode gives XdXac");
    int want2[] = {261, 'a'};
    CHECK(encodes_to(&t, "aaa", want2, 2), "'aaa' is 'aa' 'a', left to right");
    int want3[] = {261, 261};
    CHECK(encodes_to(&t, "aaaa", want3, 2), "'aaaa' is 'aa' 'aa'");

    Tokenizer u;
    memset(&u, 0, sizeof u);
    CHECK(tok_train(&u, "aaabdaaabac", 11, 2) == 0 && u.n_merges == 2, "asked for 2 merges");
    tok_free(&u);
    tok_free(&t);
}

static void test_digits_never_merge(void) {
    static char corpus[60000];
    size_t n = 0;
    while (n + 20 < sizeof corpus) {
        memcpy(corpus + n, "1111 2222 x9 cat ", 17);
        n += 17;
    }
    Tokenizer t;
    memset(&t, 0, sizeof t);
    CHECK(tok_train(&t, corpus, n, 50) == 0, "train");
    CHECK(t.n_merges > 0, "words still merge");
    int bad = 0;
    for (int id = 0; id < tok_vocab_size(&t); id++) {
        if (piece_has_digit(&t, id) && !(id >= '0' && id <= '9')) bad++;
    }
    CHECK(bad == 0, "%d tokens besides the digits contain a digit", bad);
    int want[] = {'1', '1', '1', '1'};
    CHECK(encodes_to(&t, "1111", want, 4), "'1111' is four tokens");
    int nids;
    int *ids = encode_all(&t, "cat 347 x9", 10, &nids);
    int ok = nids >= 4 && count_id(ids, nids, '3') == 1 && count_id(ids, nids, '4') == 1 &&
             count_id(ids, nids, '7') == 1 && count_id(ids, nids, '9') == 1;
    CHECK(ok, "every digit its own token (%d ids)", nids);
    free(ids);

    // Only digits and spaces: there is nothing that may merge at all.
    Tokenizer d;
    memset(&d, 0, sizeof d);
    CHECK(tok_train(&d, "1111 2222 1111 2222 1111 2222 ", 30, 10) == 0 && d.n_merges == 0,
          "digits and spaces learn %d merges, want 0", d.n_merges);
    tok_free(&d);
    tok_free(&t);
}

static void test_special_tokens(void) {
    Tokenizer t;
    memset(&t, 0, sizeof t);
    tok_train(&t, "", 0, 0);
    int want[] = {'x', TOK_THINK, 'y', TOK_THINK_END, TOK_ANSWER, '5', TOK_ANSWER_END};
    CHECK(encodes_to(&t, "x<think>y</think><answer>5</answer>", want, 7), "specials mid-text");
    int want_end[] = {TOK_END, TOK_END};
    CHECK(encodes_to(&t, "<|end|><|end|>", want_end, 2), "two ends");
    int want_wrap[] = {'<', TOK_THINK, '>'};
    CHECK(encodes_to(&t, "<<think>>", want_wrap, 3), "'<<think>>'");
    int want_part[] = {'<', 't', 'h', 'i', 'n'};
    CHECK(encodes_to(&t, "<thin", want_part, 5), "'<thin' is bytes");
    int want_open[] = {'<', '/', 't', 'h', 'i', 'n', 'k'};
    CHECK(encodes_to(&t, "</think", want_open, 7), "'</think' is bytes");
    int want_case[] = {'<', 'T', 'h', 'i', 'n', 'k', '>'};
    CHECK(encodes_to(&t, "<Think>", want_case, 7), "names are case-sensitive");

    // Training: special names split the corpus. "<think>ab</think>" a hundred
    // times has the single mergeable pair "ab", and nothing may reach across a tag.
    char corpus[3000];
    size_t n = 0;
    for (int i = 0; i < 100; i++) { memcpy(corpus + n, "<think>ab</think>", 17); n += 17; }
    CHECK(tok_train(&t, corpus, n, 20) == 0 && t.n_merges == 1 && t.merges[0][0] == 'a' &&
          t.merges[0][1] == 'b', "only 'ab' merges (%d merges)", t.n_merges);

    // "q<think>z" repeated: bytes of the name never end up inside a token.
    n = 0;
    for (int i = 0; i < 150; i++) { memcpy(corpus + n, "q<think>zz<|end|>", 17); n += 17; }
    CHECK(tok_train(&t, corpus, n, 20) == 0, "train");
    int bad = 0;
    for (int id = TOK_N_SPECIAL_END; id < tok_vocab_size(&t); id++) {
        int len;
        const char *p = tok_piece(&t, id, &len);
        if (memchr(p, '<', (size_t)len) || memchr(p, '>', (size_t)len)) bad++;
    }
    CHECK(t.n_merges > 0 && bad == 0, "%d of %d merged tokens hold bytes of a tag", bad, t.n_merges);
    int nids;
    int *ids = encode_all(&t, corpus, n, &nids);
    CHECK(count_id(ids, nids, TOK_THINK) == 150 && count_id(ids, nids, TOK_END) == 150,
          "each tag one token");
    free(ids);

    // A trained tokenizer on toy text keeps every tag one token.
    static char toy[200000];
    size_t tn = toy_corpus(toy, sizeof toy);
    CHECK(tok_train(&t, toy, tn, 200) == 0, "train on toy text");
    const char *s = "x<think>y</think><answer>5</answer>";
    ids = encode_all(&t, s, strlen(s), &nids);
    CHECK(count_id(ids, nids, TOK_THINK) == 1 && count_id(ids, nids, TOK_THINK_END) == 1 &&
          count_id(ids, nids, TOK_ANSWER) == 1 && count_id(ids, nids, TOK_ANSWER_END) == 1 &&
          count_id(ids, nids, '5') == 1, "tags and digit survive training");
    free(ids);
    tok_free(&t);
}

static void test_against_reference(void) {
    Tokenizer base, t;
    memset(&base, 0, sizeof base);
    memset(&t, 0, sizeof t);
    tok_train(&base, "", 0, 0);
    static char corpus[3000];
    int (*merges)[2] = malloc(40 * sizeof *merges);
    int train_bad = 0, encode_bad = 0, seeds = 60;
    for (int seed = 0; seed < seeds; seed++) {
        size_t n = random_corpus(corpus, sizeof corpus);
        int m = ref_train(&base, corpus, n, 40, merges);
        tok_train(&t, corpus, n, 40);
        if (t.n_merges != m || memcmp(t.merges, merges, (size_t)m * sizeof *merges) != 0) {
            if (!train_bad) fprintf(stderr, "seed %d: %d merges, reference %d\n", seed, t.n_merges, m);
            train_bad++;
        }
        // Encode the corpus and pieces of it both ways.
        for (int k = 0; k < 5; k++) {
            size_t from = (size_t)rng_int((int)n + 1), len = (size_t)rng_int((int)(n - from) + 1);
            if (k == 0) from = 0, len = n;
            int *a = malloc((len + 1) * sizeof *a), *b = malloc((len + 1) * sizeof *b);
            int na = tok_encode(&t, corpus + from, len, a, (int)len + 1);
            int nb = ref_encode(&base, &t, corpus + from, len, b);
            if (na != nb || memcmp(a, b, (size_t)na * sizeof *a) != 0) encode_bad++;
            free(a);
            free(b);
        }
    }
    CHECK(train_bad == 0, "%d of %d random corpora train differently from the reference", train_bad, seeds);
    CHECK(encode_bad == 0, "%d random texts encode differently from the reference", encode_bad);

    // Same corpus, same merges: training is reproducible.
    size_t n = random_corpus(corpus, sizeof corpus);
    Tokenizer again;
    memset(&again, 0, sizeof again);
    tok_train(&t, corpus, n, 40);
    tok_train(&again, corpus, n, 40);
    CHECK(same_merges(&t, &again), "training twice gives the same merges");
    free(merges);
    tok_free(&again);
    tok_free(&t);
    tok_free(&base);
}

static void test_round_trips(void) {
    Tokenizer t;
    memset(&t, 0, sizeof t);
    static char toy[300000];
    size_t tn = toy_corpus(toy, sizeof toy);
    tok_train(&t, toy, tn, 300);
    CHECK(t.n_merges == 300, "%d merges", t.n_merges);

    // Random byte strings: any byte, so NUL, 0xFF, invalid UTF-8; often '<'
    // and pieces of tags.
    static const char *bits[] = {"<think>", "</answer>", "<|end|", "<", ">", "think", "\xe8\xbf\x9b"};
    char s[400];
    int bad = 0, trials = 500;
    for (int trial = 0; trial < trials; trial++) {
        size_t len = (size_t)rng_int(300);
        size_t i = 0;
        while (i < len) {
            int r = rng_int(10);
            if (r < 2) {
                const char *b = bits[rng_int(7)];
                size_t k = strlen(b);
                memcpy(s + i, b, k);
                i += k;
            } else if (r < 4) {
                s[i++] = (char)(r == 2 ? 0x00 : 0xFF);
            } else if (r < 6) {
                s[i++] = toy[rng_int((int)tn)];
            } else {
                s[i++] = (char)rng_int(256);
            }
        }
        if (!round_trips(&t, s, i)) {
            if (!bad) fprintf(stderr, "trial %d (%zu bytes) does not round-trip\n", trial, i);
            bad++;
        }
    }
    CHECK(bad == 0, "%d of %d random byte strings do not round-trip", bad, trials);

    const char *zh = "7加5得12，进位1";
    CHECK(round_trips(&t, zh, strlen(zh)), "Chinese");
    int n;
    int *ids = encode_all(&t, zh, strlen(zh), &n);
    int digits = 0, others_with_digits = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] >= '0' && ids[i] <= '9') digits++;
        else if (piece_has_digit(&t, ids[i])) others_with_digits++;
    }
    CHECK(digits == 5 && others_with_digits == 0, "%d digit tokens, want 5", digits);
    CHECK(n < (int)strlen(zh), "merges learned on Chinese text shorten it (%d ids)", n);
    free(ids);
    CHECK(round_trips(&t, "", 0), "empty");
    CHECK(round_trips(&t, "\0\0\0", 3), "NULs");
    CHECK(tok_encode(&t, NULL, 0, NULL, 0) == 0, "NULL empty text");
    tok_free(&t);
}

static void test_encode_limits(void) {
    Tokenizer t;
    memset(&t, 0, sizeof t);
    tok_train(&t, "aaabdaaabac", 11, 10);
    int full[16], part[16];
    int n = tok_encode(&t, "aaabdaaabac", 11, full, 16);
    for (int i = 0; i < 16; i++) part[i] = -7;
    CHECK(tok_encode(&t, "aaabdaaabac", 11, part, 3) == n, "returns the full count");
    CHECK(memcmp(part, full, 3 * sizeof *part) == 0 && part[3] == -7, "wrote only max_out ids");
    CHECK(tok_encode(&t, "aaabdaaabac", 11, NULL, 0) == n, "counting with out NULL");
    CHECK(tok_encode(&t, "abc", 3, NULL, 5) == -1, "out NULL but max_out 5");
    CHECK(tok_encode(&t, NULL, 3, full, 16) == -1, "text NULL but len 3");
    CHECK(tok_encode(&t, "abc", 3, full, -1) == -1, "negative max_out");

    CHECK(tok_train(&t, "abab", 4, -1) == -1 && t.n_merges == 3, "negative n_merges rejected, t kept");
    CHECK(tok_train(&t, "abab", 4, TOK_MAX_MERGES + 1) == -1 && t.n_merges == 3, "too many merges");
    CHECK(tok_train(&t, NULL, 4, 5) == -1, "text NULL but len 4");
    tok_free(&t);
}

static void test_decode(void) {
    Tokenizer t;
    memset(&t, 0, sizeof t);
    tok_train(&t, "aaabdaaabac", 11, 10);
    int ids[] = {263, 'd', -1, TOK_THINK, 99999, 'c'};  // "aaab" "d" "" "<think>" "" "c"
    const char *want = "aaabd<think>c";
    size_t wlen = strlen(want);
    CHECK(tok_decode(&t, ids, 6, NULL, 0) == wlen, "length with no buffer");
    char buf[32];
    memset(buf, 'X', sizeof buf);
    CHECK(tok_decode(&t, ids, 6, buf, sizeof buf) == wlen && strcmp(buf, want) == 0, "'%s'", buf);
    memset(buf, 'X', sizeof buf);
    CHECK(tok_decode(&t, ids, 6, buf, 4) == wlen && strcmp(buf, "aaa") == 0 && buf[4] == 'X',
          "cut to cap-1 bytes: '%s'", buf);
    memset(buf, 'X', sizeof buf);
    CHECK(tok_decode(&t, ids, 6, buf, 1) == wlen && buf[0] == '\0' && buf[1] == 'X', "cap 1");
    CHECK(tok_decode(&t, ids, 6, buf, wlen) == wlen && strlen(buf) == wlen - 1, "one short");
    CHECK(tok_decode(&t, ids, 0, buf, sizeof buf) == 0 && buf[0] == '\0', "no ids");
    tok_free(&t);
}

static void test_megabyte(void) {
    size_t len = 1 << 20;
    char *corpus = malloc(len);
    toy_corpus(corpus, len);
    Tokenizer t;
    memset(&t, 0, sizeof t);
    clock_t start = clock();
    CHECK(tok_train(&t, corpus, len, 300) == 0 && t.n_merges == 300, "train 1 MB");
    double train_s = seconds_since(start);

    int *ids = malloc(len * sizeof *ids);
    start = clock();
    int n = tok_encode(&t, corpus, len, ids, (int)len);
    double encode_s = seconds_since(start);
    char *back = malloc(len + 1);
    CHECK(n > 0 && tok_decode(&t, ids, n, back, len + 1) == len && memcmp(back, corpus, len) == 0,
          "1 MB round trip");
    printf("tokenizer: 1 MB toy text, 300 merges: train %.3f s, encode %.3f s, %.2f bytes/token\n",
           train_s, encode_s, (double)len / n);

    // 1 MB of random bytes: few merges apply, every byte value appears.
    for (size_t i = 0; i < len; i++) corpus[i] = (char)rng_next();
    start = clock();
    n = tok_encode(&t, corpus, len, ids, (int)len);
    double random_s = seconds_since(start);
    CHECK(n > 0 && tok_decode(&t, ids, n, back, len + 1) == len && memcmp(back, corpus, len) == 0,
          "1 MB random bytes round trip");
    // Training on random bytes is the slow case (every merge applies in few
    // places, so nearly every pass over the sequence is wasted): use 256 KB.
    start = clock();
    Tokenizer r;
    memset(&r, 0, sizeof r);
    CHECK(tok_train(&r, corpus, len / 4, 300) == 0 && r.n_merges == 300, "train on random bytes");
    printf("tokenizer: random bytes: encode 1 MB %.3f s, train 256 KB %.3f s\n",
           random_s, seconds_since(start));
    tok_free(&r);
    free(back);
    free(ids);
    free(corpus);
    tok_free(&t);
}

static void test_save_load(const char *dir) {
    char path[256], tmp[300];
    snprintf(path, sizeof path, "%s/r1_tok_%d.txt", dir, (int)getpid());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char err[256];

    Tokenizer t, u;
    memset(&t, 0, sizeof t);
    memset(&u, 0, sizeof u);
    static char toy[100000];
    size_t tn = toy_corpus(toy, sizeof toy);
    tok_train(&t, toy, tn, 150);
    CHECK(tok_save(&t, path, err, sizeof err) == 0, "save: %s", err);
    CHECK(access(tmp, F_OK) != 0, "no %s left behind", tmp);
    CHECK(tok_load(&u, path, err, sizeof err) == 0, "load: %s", err);
    CHECK(same_merges(&t, &u), "same merges after load");
    int bad = 0;
    for (int id = 0; id < tok_vocab_size(&t); id++) {
        int la, lb;
        const char *a = tok_piece(&t, id, &la), *b = tok_piece(&u, id, &lb);
        if (la != lb || memcmp(a, b, (size_t)la) != 0) bad++;
    }
    CHECK(bad == 0, "%d tokens differ after load", bad);
    int na, nb;
    int *a = encode_all(&t, toy, tn, &na), *b = encode_all(&u, toy, tn, &nb);
    CHECK(na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0, "same encoding after load");
    free(a);
    free(b);

    FILE *f = fopen(path, "r");
    char line[64] = "";
    if (f) {
        if (!fgets(line, sizeof line, f)) line[0] = '\0';
        fclose(f);
    }
    CHECK(strcmp(line, "r1-bpe 1\n") == 0, "first line '%s'", line);

    // Loading into a used tokenizer replaces it; so does an empty one.
    Tokenizer e;
    memset(&e, 0, sizeof e);
    CHECK(tok_save(&e, path, err, sizeof err) == 0, "save a zeroed tokenizer: %s", err);
    CHECK(tok_load(&u, path, err, sizeof err) == 0 && u.n_merges == 0, "load 0 merges: %s", err);
    int want[] = {'a', 'b', TOK_END};
    CHECK(encodes_to(&u, "ab<|end|>", want, 3), "0 merges after load");
    tok_free(&u);
    tok_free(&u);  // twice is harmless
    CHECK(tok_load(&u, path, err, sizeof err) == 0, "a freed tokenizer loads again");

    snprintf(tmp, sizeof tmp, "%s/no_such_dir_%d/tok.txt", dir, (int)getpid());
    err[0] = '\0';
    CHECK(tok_save(&t, tmp, err, sizeof err) == -1 && err[0], "save into a missing directory");
    remove(path);
    tok_free(&u);
    tok_free(&t);
}

#define HEADER "r1-bpe 1\nspecials 5\n<|end|>\n<think>\n</think>\n<answer>\n</answer>\n"
#define CASE(what, text) {what, text, sizeof(text) - 1}

static void test_bad_files(const char *dir) {
    static const struct { const char *what, *text; size_t len; } cases[] = {
        CASE("empty file", ""),
        CASE("only a newline", "\n"),
        CASE("version without newline", "r1-bpe 1"),
        CASE("wrong version", "r1-bpe 2\nspecials 5\n<|end|>\n<think>\n</think>\n<answer>\n</answer>\nmerges 0\n"),
        CASE("missing version", "specials 5\n<|end|>\n<think>\n</think>\n<answer>\n</answer>\nmerges 0\n"),
        CASE("CRLF", "r1-bpe 1\r\nspecials 5\r\n<|end|>\r\n<think>\r\n</think>\r\n<answer>\r\n</answer>\r\nmerges 0\r\n"),
        CASE("specials 4", "r1-bpe 1\nspecials 4\n<|end|>\n<think>\n</think>\n<answer>\nmerges 0\n"),
        CASE("specials missing", "r1-bpe 1\n<|end|>\n"),
        CASE("wrong special name", "r1-bpe 1\nspecials 5\n<|END|>\n<think>\n</think>\n<answer>\n</answer>\nmerges 0\n"),
        CASE("specials swapped", "r1-bpe 1\nspecials 5\n<|end|>\n</think>\n<think>\n<answer>\n</answer>\nmerges 0\n"),
        CASE("special cut short", "r1-bpe 1\nspecials 5\n<|end|>\n<think>\n</think>\n<answer>\n"),
        CASE("no merges line", HEADER),
        CASE("merges -1", HEADER "merges -1\n"),
        CASE("merges too many", HEADER "merges 2049\n"),
        CASE("merges huge", HEADER "merges 99999999999999999999\n"),
        CASE("merges word", HEADER "merges x\n"),
        CASE("merges no number", HEADER "merges \n"),
        CASE("merges trailing space", HEADER "merges 1 \n97 98\n"),
        CASE("merge uses its own id", HEADER "merges 1\n261 97\n"),
        CASE("merge uses a later id", HEADER "merges 2\n97 98\n97 263\n"),
        CASE("merge uses a huge id", HEADER "merges 1\n97 999999999\n"),
        CASE("negative id", HEADER "merges 1\n-1 97\n"),
        CASE("negative right id", HEADER "merges 1\n97 -98\n"),
        CASE("digit left", HEADER "merges 1\n48 97\n"),
        CASE("digit right", HEADER "merges 1\n97 57\n"),
        CASE("special left", HEADER "merges 1\n256 97\n"),
        CASE("special right", HEADER "merges 1\n97 260\n"),
        CASE("duplicate merge", HEADER "merges 2\n97 98\n97 98\n"),
        CASE("one number", HEADER "merges 1\n97\n"),
        CASE("three numbers", HEADER "merges 1\n97 98 99\n"),
        CASE("two spaces", HEADER "merges 1\n97  98\n"),
        CASE("tab", HEADER "merges 1\n97\t98\n"),
        CASE("leading space", HEADER "merges 1\n 97 98\n"),
        CASE("number too long", HEADER "merges 1\n97 99999999999999999999\n"),
        CASE("NUL in a merge", HEADER "merges 1\n97\0 98\n"),
        CASE("NUL in a name", "r1-bpe 1\nspecials 5\n<|end|>\0\n<think>\n</think>\n<answer>\n</answer>\nmerges 0\n"),
        CASE("truncated merges", HEADER "merges 3\n97 98\n99 100\n"),
        CASE("last line has no newline", HEADER "merges 1\n97 98"),
        CASE("trailing garbage", HEADER "merges 1\n97 98\nxyz\n"),
        CASE("trailing blank line", HEADER "merges 1\n97 98\n\n"),
        CASE("trailing bytes", HEADER "merges 0\nx"),
        CASE("binary", "\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0>\0"),
    };
    int ncases = (int)(sizeof cases / sizeof cases[0]);
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/r1_badtok_%d.txt", dir, (int)getpid());

    // t holds a trained tokenizer; a failed load must leave it as it was.
    Tokenizer t, before;
    memset(&t, 0, sizeof t);
    tok_train(&t, "aaabdaaabac", 11, 10);
    before = t;
    for (int i = 0; i < ncases; i++) {
        write_file(path, cases[i].text, cases[i].len);
        memset(err, 0, sizeof err);
        int rc = tok_load(&t, path, err, sizeof err);
        CHECK(rc == -1 && err[0] && strstr(err, path) && !strchr(err, '\n'),
              "%s: rc %d, err '%s'", cases[i].what, rc, err);
        CHECK(same_merges(&t, &before) && t.text == before.text, "%s: t changed", cases[i].what);
    }
    // The same header with "merges 0" is fine, so the cases fail for their own reason.
    write_file(path, HEADER "merges 0\n", sizeof(HEADER "merges 0\n") - 1);
    Tokenizer ok;
    memset(&ok, 0, sizeof ok);
    CHECK(tok_load(&ok, path, err, sizeof err) == 0 && ok.n_merges == 0, "valid header: %s", err);
    write_file(path, HEADER "merges 2\n97 98\n261 99\n", sizeof(HEADER "merges 2\n97 98\n261 99\n") - 1);
    CHECK(tok_load(&ok, path, err, sizeof err) == 0 && ok.n_merges == 2, "valid merges: %s", err);
    tok_free(&ok);

    // A merge chain that doubles the token length every line: "aa", "aaaa", ...
    // must be refused when it gets too long, not allocate 2^2048 bytes.
    size_t cap = 64 + 32 * (TOK_MAX_MERGES + 8), n = 0;
    char *chain = malloc(cap);
    n += (size_t)snprintf(chain + n, cap - n, HEADER "merges %d\n97 97\n", TOK_MAX_MERGES);
    for (int i = 1; i < TOK_MAX_MERGES; i++)
        n += (size_t)snprintf(chain + n, cap - n, "%d %d\n", 260 + i, 260 + i);
    write_file(path, chain, n);
    err[0] = '\0';
    CHECK(tok_load(&t, path, err, sizeof err) == -1 && err[0], "doubling chain rejected: %s", err);
    free(chain);

    snprintf(path, sizeof path, "%s/r1_no_such_file_%d.txt", dir, (int)getpid());
    err[0] = '\0';
    CHECK(tok_load(&t, path, err, sizeof err) == -1 && strstr(err, path), "missing file: '%s'", err);
    CHECK(same_merges(&t, &before), "t unchanged after all the bad files");
    tok_free(&t);
}

// Random damage to a good file: flipped bytes, cuts, insertions. A load either
// succeeds (and the tokenizer then works) or fails with a reason; never crashes.
static void test_fuzz_load(const char *dir) {
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/r1_fuzztok_%d.txt", dir, (int)getpid());
    Tokenizer t, u;
    memset(&t, 0, sizeof t);
    memset(&u, 0, sizeof u);
    static char toy[50000];
    size_t tn = toy_corpus(toy, sizeof toy);
    tok_train(&t, toy, tn, 60);
    CHECK(tok_save(&t, path, err, sizeof err) == 0, "save: %s", err);
    FILE *f = fopen(path, "rb");
    static char good[4096], bad[4200];
    size_t glen = f ? fread(good, 1, sizeof good, f) : 0;
    if (f) fclose(f);
    CHECK(glen > 100 && glen < sizeof good, "saved file is %zu bytes", glen);

    int wrong = 0, loaded = 0, trials = 400;
    for (int trial = 0; trial < trials; trial++) {
        memcpy(bad, good, glen);
        size_t n = glen;
        int edits = 1 + rng_int(3);
        for (int e = 0; e < edits; e++) {
            int kind = rng_int(3);
            size_t at = (size_t)rng_int((int)n);
            if (kind == 0) bad[at] = "0123456789 \n-x\0\xff"[rng_int(16)];
            else if (kind == 1) n = at;
            else if (n + 1 < sizeof bad) {
                memmove(bad + at + 1, bad + at, n - at);
                bad[at] = "0123456789 \n"[rng_int(12)];
                n++;
            }
            if (n == 0) break;
        }
        write_file(path, bad, n);
        err[0] = '\0';
        int rc = tok_load(&u, path, err, sizeof err);
        if (rc == 0) {
            loaded++;
            if (err[0] || !round_trips(&u, toy, 2000)) wrong++;
        } else if (rc != -1 || !err[0]) {
            wrong++;
        }
    }
    CHECK(wrong == 0, "%d of %d damaged files gave a wrong result (%d loaded)", wrong, trials, loaded);
    remove(path);
    tok_free(&u);
    tok_free(&t);
}

int main(void) {
    const char *dir = "/tmp";
    test_base_vocabulary();
    test_wikipedia_example();
    test_digits_never_merge();
    test_special_tokens();
    test_against_reference();
    test_round_trips();
    test_encode_limits();
    test_decode();
    test_megabyte();
    test_save_load(dir);
    test_bad_files(dir);
    test_fuzz_load(dir);
    return tests_done("tokenizer");
}
