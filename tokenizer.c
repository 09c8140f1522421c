// tokenizer.c -- byte-level BPE with special tokens, for r1.c.
//
// A byte-pair-encoding tokenizer in the spirit of Karpathy's minbpe
// BasicTokenizer: the vocabulary starts as the 256 byte values, and training
// repeatedly gives the most frequent adjacent pair of tokens a new id (a
// "merge"). Encoding replays the merges in the order they were learned.
// Because every byte is a token, any byte string can be encoded: UTF-8 text
// such as "7加5得12", but also NUL bytes and invalid UTF-8.
//
// Three things differ from the textbook version, all for the R1 toy world:
//
//   1. Special tokens. <|end|> <think> </think> <answer> </answer> have fixed
//      ids 256..260, right after the bytes (r1.h). Their names are cut out of
//      the text before anything else, in training and in encoding, so
//      "<think>" is always exactly one token and no merge reaches across one.
//   2. Digits are never merged. Every digit stays its own token, so "347" is
//      always '3' '4' '7': a digit has the same id wherever it appears, which
//      is what lets a tiny model learn column-by-column addition with carries.
//   3. Training updates the pair counts where a merge happens instead of
//      recounting the whole corpus before every merge, so 300 merges on a
//      1 MB corpus take a fraction of a second.
//
// Ids: 0..255 bytes, 256..260 special tokens, then merge i is token 261 + i.
// Non-goals: regex pre-splitting (GPT-2/GPT-4 style), Unicode normalisation,
// and speed beyond "fast enough for a toy". Readability comes first.

#include "r1.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const tok_special_names[TOK_N_SPECIAL] = {
    "<|end|>", "<think>", "</think>", "<answer>", "</answer>",
};

// The bytes of all tokens together may not exceed this (64 MB). Real
// vocabularies need a few KB; the cap stops a hostile tokenizer file (merge
// 261 = "aa", 262 = 261+261, 263 = 262+262, ...: the length doubles every
// line) from asking for 2^2048 bytes. Training stops early before crossing it.
#define TOK_MAX_TEXT (1 << 26)

// A tokenizer file is about 20 KB at most; refuse to read anything larger.
#define TOK_MAX_FILE (1 << 20)

// ----------------------------------------------------------------------------
// the three kinds of token

static int is_digit_id(int id) { return id >= '0' && id <= '9'; }
static int is_special_id(int id) { return id >= TOK_END && id < TOK_N_SPECIAL_END; }

// May this token be one side of a merge? Bytes and merged tokens may; digits
// and special tokens never are. By induction, no merged token contains a digit.
static int can_merge(int id) { return id >= 0 && !is_digit_id(id) && !is_special_id(id); }

// If the name of a special token starts at s (n bytes available), return that
// token's id and the name's length in *mlen; otherwise -1. If several names
// match, the longest wins.
static int special_at(const char *s, size_t n, size_t *mlen) {
    int best = -1;
    size_t best_len = 0;
    for (int i = 0; i < TOK_N_SPECIAL; i++) {
        const char *name = tok_special_names[i];
        size_t len = strlen(name);
        if (s[0] == name[0] && len <= n && len > best_len && memcmp(s, name, len) == 0) {
            best = TOK_END + i;
            best_len = len;
        }
    }
    *mlen = best_len;
    return best;
}

// The starting token sequence of a text: one id per byte, except that each
// special token's name becomes its one special id. ids needs room for len
// entries. Returns how many were written.
static int text_to_ids(const char *text, size_t len, int *ids) {
    int n = 0;
    size_t i = 0;
    while (i < len) {
        size_t mlen;
        int special = special_at(text + i, len - i, &mlen);
        if (special >= 0) {
            ids[n++] = special;
            i += mlen;
        } else {
            ids[n++] = (unsigned char)text[i];
            i++;
        }
    }
    return n;
}

// Room for the token sequence of a len-byte text (at most one id per byte).
// NULL if out of memory or if len is too large for an int count.
static int *alloc_ids(size_t len) {
    if (len > INT_MAX || len > SIZE_MAX / sizeof(int)) return NULL;
    return malloc((len > 0 ? len : 1) * sizeof(int));
}

// ----------------------------------------------------------------------------
// the vocabulary: every token's bytes, back to back in t->text

int tok_vocab_size(const Tokenizer *t) {
    return t ? TOK_N_SPECIAL_END + t->n_merges : 0;
}

void tok_free(Tokenizer *t) {
    if (!t) return;
    free(t->text);
    memset(t, 0, sizeof *t);  // a zeroed Tokenizer is ready for tok_train/tok_load
}

// Bytes of t->text in use: everything up to the end of the last token.
static size_t text_used(const Tokenizer *t) {
    int last = tok_vocab_size(t) - 1;
    return (size_t)t->off[last] + (size_t)t->len[last];
}

// Reset t to the base vocabulary: the 256 bytes and the special tokens, and no
// merges. 0 on success, -1 if out of memory (then t is zeroed).
static int tok_begin(Tokenizer *t) {
    tok_free(t);
    t->text_cap = 1024;  // room for the base (295 bytes) and the first merges
    t->text = malloc((size_t)t->text_cap);
    if (!t->text) {
        t->text_cap = 0;
        return -1;
    }
    int pos = 0;
    for (int i = 0; i < 256; i++) {
        t->text[pos] = (char)i;
        t->off[i] = pos;
        t->len[i] = 1;
        pos++;
    }
    for (int i = 0; i < TOK_N_SPECIAL; i++) {
        int len = (int)strlen(tok_special_names[i]);
        memcpy(t->text + pos, tok_special_names[i], (size_t)len);
        t->off[TOK_END + i] = pos;
        t->len[TOK_END + i] = len;
        pos += len;
    }
    return 0;
}

// Would a token made of a's and b's bytes keep the text under TOK_MAX_TEXT?
static int merge_fits(const Tokenizer *t, int a, int b) {
    return text_used(t) + (size_t)t->len[a] + (size_t)t->len[b] <= TOK_MAX_TEXT;
}

// Append the merge (a, b) as the next token; its bytes are a's then b's.
// The caller has checked that a and b are valid ids. 0 on success, -1 if the
// vocabulary is full or out of memory (then t is unchanged).
static int tok_add_merge(Tokenizer *t, int a, int b) {
    if (t->n_merges >= TOK_MAX_MERGES || !merge_fits(t, a, b)) return -1;
    size_t used = text_used(t);
    size_t need = used + (size_t)t->len[a] + (size_t)t->len[b];
    if (need > (size_t)t->text_cap) {
        size_t cap = (size_t)t->text_cap;
        while (cap < need) cap *= 2;  // need <= 64 MB, so cap fits in an int
        char *text = realloc(t->text, cap);
        if (!text) return -1;
        t->text = text;
        t->text_cap = (int)cap;
    }
    int id = TOK_N_SPECIAL_END + t->n_merges;
    memcpy(t->text + used, t->text + t->off[a], (size_t)t->len[a]);
    memcpy(t->text + used + t->len[a], t->text + t->off[b], (size_t)t->len[b]);
    t->off[id] = (int)used;
    t->len[id] = t->len[a] + t->len[b];
    t->merges[t->n_merges][0] = a;
    t->merges[t->n_merges][1] = b;
    t->n_merges++;
    return 0;
}

const char *tok_piece(const Tokenizer *t, int id, int *len) {
    // Before tok_train/tok_load there is no text yet: every piece is empty.
    if (!t || !t->text || id < 0 || id >= tok_vocab_size(t)) {
        if (len) *len = 0;
        return "";
    }
    if (len) *len = t->len[id];
    return t->text + t->off[id];
}

// ----------------------------------------------------------------------------
// pair counts: how often each pair of ids stands next to each other
//
// An open-addressing hash map (linear probing) from a pair (a, b) to its count.
// The key packs the pair as a << 16 | b (ids are below 4096), so comparing keys
// compares pairs by a, then b: that gives the deterministic tie-break. Only
// pairs that may merge are stored; counts can drop to 0, and such entries are
// dropped when the table grows.

#define EMPTY_KEY UINT32_MAX

typedef struct {
    uint32_t *keys;  // EMPTY_KEY or a << 16 | b
    int *counts;
    int cap;         // number of slots, a power of two
    int used;        // slots holding a key (some with count 0)
    int failed;      // set if an allocation failed: counts are no longer exact
} PairCounts;

static uint32_t pair_key(int a, int b) { return (uint32_t)a << 16 | (uint32_t)b; }

// murmur3's 32-bit finaliser: spreads every bit of the key over the hash.
static uint32_t pair_hash(uint32_t x) {
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

static int pc_init(PairCounts *pc, int cap) {
    memset(pc, 0, sizeof *pc);
    pc->keys = malloc((size_t)cap * sizeof *pc->keys);
    pc->counts = calloc((size_t)cap, sizeof *pc->counts);
    if (!pc->keys || !pc->counts) {
        free(pc->keys);
        free(pc->counts);
        return -1;
    }
    memset(pc->keys, 0xff, (size_t)cap * sizeof *pc->keys);  // all EMPTY_KEY
    pc->cap = cap;
    return 0;
}

static void pc_free(PairCounts *pc) {
    free(pc->keys);
    free(pc->counts);
    memset(pc, 0, sizeof *pc);
}

// The slot holding key, or the empty slot where it would go.
static int pc_find(const PairCounts *pc, uint32_t key) {
    int i = (int)(pair_hash(key) & (uint32_t)(pc->cap - 1));
    while (pc->keys[i] != EMPTY_KEY && pc->keys[i] != key) i = (i + 1) & (pc->cap - 1);
    return i;
}

// Move everything to a table with twice the slots, leaving out zero counts.
static int pc_grow(PairCounts *pc) {
    PairCounts bigger;
    if (pc->cap > INT_MAX / 2 || pc_init(&bigger, 2 * pc->cap) != 0) return -1;
    for (int i = 0; i < pc->cap; i++) {
        if (pc->keys[i] == EMPTY_KEY || pc->counts[i] == 0) continue;
        int j = pc_find(&bigger, pc->keys[i]);
        bigger.keys[j] = pc->keys[i];
        bigger.counts[j] = pc->counts[i];
        bigger.used++;
    }
    pc_free(pc);
    *pc = bigger;
    return 0;
}

// counts[(a, b)] += delta, for pairs that may merge; other pairs are ignored.
static void pc_add(PairCounts *pc, int a, int b, int delta) {
    if (!can_merge(a) || !can_merge(b)) return;
    if (2 * pc->used >= pc->cap && pc_grow(pc) != 0) {
        pc->failed = 1;  // keep going while a slot is free; the caller gives up
        if (pc->used + 1 >= pc->cap) return;
    }
    uint32_t key = pair_key(a, b);
    int i = pc_find(pc, key);
    if (pc->keys[i] == EMPTY_KEY) {
        pc->keys[i] = key;
        pc->used++;
    }
    pc->counts[i] += delta;
}

// The most frequent pair, as its key in *best_key, and its count (0 if none).
// Ties go to the smallest pair (a, b), so training is reproducible.
static int pc_best(const PairCounts *pc, uint32_t *best_key) {
    int best = 0;
    *best_key = EMPTY_KEY;
    for (int i = 0; i < pc->cap; i++) {
        int c = pc->counts[i];
        if (pc->keys[i] == EMPTY_KEY || c == 0) continue;
        if (c > best || (c == best && pc->keys[i] < *best_key)) {
            best = c;
            *best_key = pc->keys[i];
        }
    }
    return best;
}

// ----------------------------------------------------------------------------
// one merge: replace a pair by its new token everywhere in a sequence

// Replace every occurrence of the pair (a, b) in ids[0..n) by z, scanning left
// to right (so with a == b, "a a a" becomes "z a", as in minbpe). Returns the
// new length. If pc is not NULL it is kept equal to the pair counts of the
// sequence: each replacement x a b y -> x z y takes away the pairs (x,a),
// (a,b), (b,y) and adds (x,z), (z,y). x is read back from what was already
// written, so it is z itself when two replacements touch ("a b a b" -> "z z").
static int merge_pair(int *ids, int n, int a, int b, int z, PairCounts *pc) {
    // Up to the first occurrence nothing moves: find it with reads alone.
    int i = 0;
    while (i + 1 < n && !(ids[i] == a && ids[i + 1] == b)) i++;
    int w = i;  // write position; ids[0..w) is the new sequence so far
    for (; i < n; i++) {
        if (i + 1 < n && ids[i] == a && ids[i + 1] == b) {
            if (pc) {
                int x = w > 0 ? ids[w - 1] : -1;      // -1: no neighbour
                int y = i + 2 < n ? ids[i + 2] : -1;
                pc_add(pc, x, a, -1);
                pc_add(pc, a, b, -1);
                pc_add(pc, b, y, -1);
                pc_add(pc, x, z, +1);
                pc_add(pc, z, y, +1);
            }
            ids[w++] = z;
            i++;  // b is used up too
        } else {
            ids[w++] = ids[i];
        }
    }
    return w;
}

// ----------------------------------------------------------------------------
// training
//
// minbpe's loop -- find the most frequent pair, give it a new id, replace it
// everywhere -- except that the pair counts are counted once and then kept up
// to date by merge_pair. Bad arguments leave t untouched; running out of
// memory midway leaves t a valid tokenizer with the merges learned so far.

int tok_train(Tokenizer *t, const char *text, size_t len, int n_merges) {
    if (!t || (!text && len > 0) || len > INT_MAX || n_merges < 0 || n_merges > TOK_MAX_MERGES)
        return -1;
    if (tok_begin(t) != 0) return -1;

    // The corpus as a token sequence. Special tokens stay in it as their ids;
    // since they never merge, they split the text into separate chunks.
    int *ids = alloc_ids(len);
    PairCounts pc;
    if (!ids || pc_init(&pc, 1024) != 0) {
        free(ids);
        return -1;
    }
    int n = text_to_ids(text, len, ids);
    for (int i = 0; i + 1 < n; i++) pc_add(&pc, ids[i], ids[i + 1], +1);

    while (t->n_merges < n_merges && !pc.failed) {
        uint32_t key;
        if (pc_best(&pc, &key) < 2) break;  // a pair seen once is not worth a token
        int a = (int)(key >> 16), b = (int)(key & 0xffff);
        if (!merge_fits(t, a, b)) break;    // only a pathological corpus gets here
        if (tok_add_merge(t, a, b) != 0) break;
        n = merge_pair(ids, n, a, b, tok_vocab_size(t) - 1, &pc);
    }
    int failed = pc.failed;
    pc_free(&pc);
    free(ids);
    return failed ? -1 : 0;
}

// ----------------------------------------------------------------------------
// encoding and decoding

// Applying merge 0 everywhere, then merge 1, and so on, gives the same result
// as minbpe's loop (always apply the lowest-ranked pair present): merge r
// makes token 261+r, and every merge that could use it has a higher rank, so
// a merge never creates work for an earlier one.
int tok_encode(const Tokenizer *t, const char *text, size_t len, int *out, int max_out) {
    if (!t || (!text && len > 0) || len > INT_MAX || max_out < 0 || (!out && max_out > 0))
        return -1;
    int *ids = alloc_ids(len);
    if (!ids) return -1;
    int n = text_to_ids(text, len, ids);

    // How many of each token the sequence holds, to skip at once the merges
    // that cannot apply: with a short text that is nearly all of them.
    int count[TOK_MAX_VOCAB] = {0};
    for (int i = 0; i < n; i++) count[ids[i]]++;
    for (int r = 0; r < t->n_merges; r++) {
        int a = t->merges[r][0], b = t->merges[r][1], z = TOK_N_SPECIAL_END + r;
        if (count[a] == 0 || count[b] == 0 || (a == b && count[a] < 2)) continue;
        int before = n;
        n = merge_pair(ids, n, a, b, z, NULL);
        int replaced = before - n;
        count[a] -= replaced;
        count[b] -= replaced;
        count[z] += replaced;
    }

    if (max_out > 0) memcpy(out, ids, (size_t)(n < max_out ? n : max_out) * sizeof *ids);
    free(ids);
    return n;
}

size_t tok_decode(const Tokenizer *t, const int *ids, int n, char *out, size_t cap) {
    if (!out) cap = 0;
    size_t total = 0;
    for (int i = 0; ids && i < n; i++) {
        int len;
        const char *piece = tok_piece(t, ids[i], &len);
        if (cap > 0 && total < cap - 1) {  // copy what still fits before the NUL
            size_t room = cap - 1 - total;
            memcpy(out + total, piece, (size_t)len < room ? (size_t)len : room);
        }
        total += (size_t)len;
    }
    if (cap > 0) out[total < cap - 1 ? total : cap - 1] = '\0';
    return total;
}

// ----------------------------------------------------------------------------
// saving and loading
//
// The file is text, one item a line, every line ending in '\n':
//
//     r1-bpe 1            format and version
//     specials 5          then the names, one a line, in id order from 256
//     <|end|>
//     ...
//     merges N            then N lines "LEFT RIGHT": merge i makes id 261 + i
//     97 98
//     ...
//
// A token's bytes follow from the merges, so they are not stored.

// Write a message into the caller's err buffer (if any), printf-style.
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))  // lets the compiler check every call
#endif
static void set_err(char *err, size_t errcap, const char *fmt, ...) {
    if (!err || errcap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

int tok_save(const Tokenizer *t, const char *path, char *err, size_t errcap) {
    set_err(err, errcap, "%s", "");
    if (!t || !path) {
        set_err(err, errcap, "tok_save: no tokenizer or no path");
        return -1;
    }
    // Write PATH.tmp.PID (a name of its own: two processes never share it,
    // and no other file is written through) and rename it over PATH only when
    // it is complete, so a crash or a full disk never leaves a half-written
    // tokenizer behind.
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        set_err(err, errcap, "%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);   // never through a link planted there
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        set_err(err, errcap, "%s: cannot open for writing: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    fprintf(f, "r1-bpe 1\nspecials %d\n", TOK_N_SPECIAL);
    for (int i = 0; i < TOK_N_SPECIAL; i++) fprintf(f, "%s\n", tok_special_names[i]);
    fprintf(f, "merges %d\n", t->n_merges);
    for (int i = 0; i < t->n_merges; i++) fprintf(f, "%d %d\n", t->merges[i][0], t->merges[i][1]);
    int bad = ferror(f) != 0;
    if (fflush(f) != 0) bad = 1;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        set_err(err, errcap, "%s: write failed (disk full?): %s", tmp, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        set_err(err, errcap, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

// The one reader of whole files (r1.h says what it promises).
char *read_file(const char *path, size_t max, size_t *len, char *err, size_t errcap) {
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        set_err(err, errcap, "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        if (S_ISDIR(st.st_mode)) set_err(err, errcap, "%s is a directory, not a file", path);
        else if (!S_ISREG(st.st_mode)) set_err(err, errcap, "%s is not a regular file (a FIFO, a device or a socket)", path);
        else set_err(err, errcap, "%s is larger than %zu bytes", path, max);
        close(fd);
        return NULL;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);    // reads of a regular file never block anyway
    size_t cap = (size_t)st.st_size, n = 0;
    char *data = malloc(cap + 1);
    ssize_t k = 0;
    while (data && n < cap && (k = read(fd, data + n, cap - n)) > 0) n += (size_t)k;
    int read_errno = errno;
    close(fd);
    if (!data) { set_err(err, errcap, "out of memory reading %s", path); return NULL; }
    if (k < 0) { set_err(err, errcap, "cannot read %s: %s", path, strerror(read_errno)); free(data); return NULL; }
    *len = n;
    return data;
}

// A cursor over the file's bytes that hands out one line at a time and counts
// lines for the error messages. Lines carry their length, so a NUL byte in the
// file is just a byte that matches nothing.
typedef struct {
    const char *buf;
    size_t n, pos;
    int line;  // number of the line last handed out, from 1
} Lines;

// The next line, without its '\n', in *s and *len. -1 if the file has ended,
// or if its last line has no '\n' (a file cut short).
static int next_line(Lines *L, const char **s, size_t *len) {
    L->line++;
    if (L->pos >= L->n) return -1;
    const char *start = L->buf + L->pos;
    const char *nl = memchr(start, '\n', L->n - L->pos);
    if (!nl) return -1;
    *s = start;
    *len = (size_t)(nl - start);
    L->pos += *len + 1;
    return 0;
}

static int line_is(const char *s, size_t len, const char *want) {
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

// Parse a plain decimal number: 1 to 9 digits, no sign, no spaces.
static int parse_uint(const char *s, size_t len, int *v) {
    if (len == 0 || len > 9) return -1;
    *v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

// Parse "WORD N" where prefix is "WORD ".
static int parse_count_line(const char *s, size_t len, const char *prefix, int *v) {
    size_t plen = strlen(prefix);
    return len > plen && memcmp(s, prefix, plen) == 0 ? parse_uint(s + plen, len - plen, v) : -1;
}

// Parse "LEFT RIGHT": two numbers and one space between them.
static int parse_merge_line(const char *s, size_t len, int *a, int *b) {
    const char *space = memchr(s, ' ', len);
    if (!space) return -1;
    size_t alen = (size_t)(space - s);
    return parse_uint(s, alen, a) == 0 && parse_uint(space + 1, len - alen - 1, b) == 0 ? 0 : -1;
}

// Check the merge (a, b) before it becomes the next token of t. 0 if it is
// good, else -1 with the reason (without the "path:line: " prefix) in why.
static int check_merge(const Tokenizer *t, int a, int b, char *why, size_t cap) {
    int id = TOK_N_SPECIAL_END + t->n_merges;
    int side[2] = {a, b};
    for (int s = 0; s < 2; s++) {
        int x = side[s];
        if (x >= id) {
            set_err(why, cap, "merge for token %d uses token %d, which is not defined before it", id, x);
            return -1;
        }
        if (is_special_id(x)) {
            set_err(why, cap, "merge uses special token %d %s, and special tokens never merge",
                    x, tok_special_names[x - TOK_END]);
            return -1;
        }
        if (is_digit_id(x)) {
            set_err(why, cap, "merge uses digit token %d ('%c'), and digits never merge", x, x);
            return -1;
        }
    }
    for (int r = 0; r < t->n_merges; r++) {
        if (t->merges[r][0] == a && t->merges[r][1] == b) {
            set_err(why, cap, "merge %d %d repeats merge %d", a, b, r);
            return -1;
        }
    }
    if (!merge_fits(t, a, b)) {
        set_err(why, cap, "token %d makes the vocabulary longer than %d bytes", id, TOK_MAX_TEXT);
        return -1;
    }
    return 0;
}

int tok_load(Tokenizer *t, const char *path, char *err, size_t errcap) {
    set_err(err, errcap, "%s", "");
    if (!t || !path) {
        set_err(err, errcap, "tok_load: no tokenizer or no path");
        return -1;
    }
    size_t n;
    char *buf = read_file(path, TOK_MAX_FILE, &n, err, errcap);
    if (!buf) return -1;

    // Build into a new Tokenizer, so that t is untouched if the file is bad.
    Tokenizer *nt = calloc(1, sizeof *nt);
    if (!nt || tok_begin(nt) != 0) {
        set_err(err, errcap, "%s: out of memory", path);
        free(nt);
        free(buf);
        return -1;
    }
    Lines L = {buf, n, 0, 0};
    const char *s;
    size_t len;
    int count;
    char why[160];

    if (next_line(&L, &s, &len) != 0 || !line_is(s, len, "r1-bpe 1")) {
        set_err(err, errcap, "%s:%d: expected the first line 'r1-bpe 1' (not a tokenizer file, "
                "or another version)", path, L.line);
        goto fail;
    }
    if (next_line(&L, &s, &len) != 0 || parse_count_line(s, len, "specials ", &count) != 0 ||
        count != TOK_N_SPECIAL) {
        set_err(err, errcap, "%s:%d: expected 'specials %d'", path, L.line, TOK_N_SPECIAL);
        goto fail;
    }
    for (int i = 0; i < TOK_N_SPECIAL; i++) {
        if (next_line(&L, &s, &len) != 0 || !line_is(s, len, tok_special_names[i])) {
            set_err(err, errcap, "%s:%d: expected special token %d to be '%s'",
                    path, L.line, TOK_END + i, tok_special_names[i]);
            goto fail;
        }
    }
    if (next_line(&L, &s, &len) != 0 || parse_count_line(s, len, "merges ", &count) != 0 ||
        count > TOK_MAX_MERGES) {
        set_err(err, errcap, "%s:%d: expected 'merges N' with N from 0 to %d",
                path, L.line, TOK_MAX_MERGES);
        goto fail;
    }
    for (int i = 0; i < count; i++) {
        int a, b;
        if (next_line(&L, &s, &len) != 0) {
            set_err(err, errcap, "%s:%d: file ends after %d of %d merges (truncated?)",
                    path, L.line, i, count);
            goto fail;
        }
        if (parse_merge_line(s, len, &a, &b) != 0) {
            set_err(err, errcap, "%s:%d: expected a merge 'LEFT RIGHT' (two non-negative ids)",
                    path, L.line);
            goto fail;
        }
        if (check_merge(nt, a, b, why, sizeof why) != 0) {
            set_err(err, errcap, "%s:%d: %s", path, L.line, why);
            goto fail;
        }
        if (tok_add_merge(nt, a, b) != 0) {
            set_err(err, errcap, "%s:%d: out of memory", path, L.line);
            goto fail;
        }
    }
    if (L.pos != L.n) {
        set_err(err, errcap, "%s:%d: unexpected text after the last merge", path, L.line + 1);
        goto fail;
    }

    free(buf);
    tok_free(t);
    *t = *nt;  // t takes over nt's text
    free(nt);
    return 0;

fail:
    tok_free(nt);
    free(nt);
    free(buf);
    return -1;
}
