// r1.h -- the types and functions that the tests (and readers) of r1.c see.
//
// r1.c is the DeepSeek-R1 training pipeline on a toy model: a tiny GPT with
// hand-written backprop, GRPO with rule-based rewards, and the paper's stages
// in order. tokenizer.c is its byte-level BPE tokenizer. Everything else is in
// r1.c; this header only names what more than one file needs.
#ifndef R1_H
#define R1_H

#include <stddef.h>
#include <stdint.h>

// ----------------------------------------------------------------------------
// tokenizer.c: byte-level BPE with special tokens
//
// Token ids: 0..255 are the raw bytes, so every byte string can be encoded;
// then the special tokens (fixed ids, below); then the learned merges, in the
// order they were learned (their rank). Digits are never merged: every digit
// is one token, so "347" is always the three tokens '3' '4' '7'.

enum {
    TOK_END = 256,        // <|end|>   ends a document / a completion
    TOK_THINK,            // <think>
    TOK_THINK_END,        // </think>
    TOK_ANSWER,           // <answer>
    TOK_ANSWER_END,       // </answer>
    TOK_N_SPECIAL_END     // first merge id
};
#define TOK_N_SPECIAL (TOK_N_SPECIAL_END - 256)
#define TOK_MAX_MERGES 2048
#define TOK_MAX_VOCAB (TOK_N_SPECIAL_END + TOK_MAX_MERGES)

extern const char *const tok_special_names[TOK_N_SPECIAL]; // "<|end|>", "<think>", ...

typedef struct {
    int n_merges;                    // learned merges; vocab = TOK_N_SPECIAL_END + n_merges
    int merges[TOK_MAX_MERGES][2];   // merge i: (left, right) -> token TOK_N_SPECIAL_END + i
    int len[TOK_MAX_VOCAB];          // bytes of each token's text (specials: their name)
    int off[TOK_MAX_VOCAB];          // offset of each token's text in text[]
    char *text;                      // all tokens' bytes, back to back (owned)
    int text_cap;
} Tokenizer;

int tok_vocab_size(const Tokenizer *t);
// Learn n_merges merges from a corpus (special tokens in it are cut out first
// and never take part in a merge). 0 on success, -1 on bad arguments/memory.
int tok_train(Tokenizer *t, const char *text, size_t len, int n_merges);
// Encode bytes to ids; special token names are recognised anywhere in text.
// Returns the number of ids (may exceed max_out: then only max_out were
// written and the caller should treat it as "too long"), or -1 on error.
int tok_encode(const Tokenizer *t, const char *text, size_t len, int *out, int max_out);
// Decode ids to bytes; writes at most cap-1 bytes plus a NUL. Returns the full
// length the text would have (like snprintf). Ids out of range decode to "".
size_t tok_decode(const Tokenizer *t, const int *ids, int n, char *out, size_t cap);
// The text of one token (not NUL-terminated) and its length.
const char *tok_piece(const Tokenizer *t, int id, int *len);
// Save / load as a small text file with a version line. 0 on success; on
// failure -1 and a one-line reason in err.
int tok_save(const Tokenizer *t, const char *path, char *err, size_t errcap);
int tok_load(Tokenizer *t, const char *path, char *err, size_t errcap);
void tok_free(Tokenizer *t);

#endif
