// tests/fuzz/make_seeds.c -- writes the small, valid seed inputs of the five
// fuzzers into tests/fuzz/corpus/NAME/ (committed; run.sh regenerates them
// with `tests/fuzz/run.sh seeds`). Run from the repository root:
//
//   cc -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -o /tmp/make_seeds tests/fuzz/make_seeds.c tokenizer.c -lm -lpthread
//   /tmp/make_seeds tests/fuzz/corpus data
//
// Seeds: for the verifier, completions and questions of every style; for the
// tokenizer, worked solutions to train on (mode byte first) and tokenizer
// files to load; for the safetensors loader, two tiny checkpoints written by
// save_safetensors, as files and as '{' inputs (see fuzz_safetensors.c); for
// the JSONL reader, lines of data/add_test.jsonl and a few variants; for
// ./r1 serve, request heads and chat request bodies.
#include "fuzz_common.h"

static const char *corpus_dir;

static void put(const char *name, const char *file, const void *data, size_t n) {
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", corpus_dir, name);
    make_dir(path);
    snprintf(path, sizeof path, "%s/%s/%s", corpus_dir, name, file);
    Chunk c = { data, n };
    if (write_file_atomic(path, &c, 1, err, sizeof err) != 0) die(EXIT_DATA, "%s", err);
}
static void put_str(const char *name, const char *file, const char *s) { put(name, file, s, strlen(s)); }

// A mode byte followed by text.
static void put_tok(const char *file, unsigned char mode, const char *s, size_t n) {
    char *buf = xmalloc(n + 1, "seed");
    buf[0] = (char)mode;
    memcpy(buf + 1, s, n);
    put("tokenizer", file, buf, n + 1);
    free(buf);
}

int main(int argc, char **argv) {
    if (argc != 3) die(EXIT_USAGE, "usage: make_seeds CORPUS_DIR DATA_DIR");
    corpus_dir = argv[1];
    const char *data_dir = argv[2];
    make_dir(corpus_dir);
    char path[1024], err[512];

    // verifier: completions of every style, in both languages, and hacks
    Rng rng = rng_seed(7);
    Problem en = { 2, { 347, 285, 0 }, LANG_EN }, zh = { 3, { 7, 15, 90 }, LANG_ZH };
    char buf[1024], doc[4096] = "";
    styled_completion(&en, STYLE_TAGGED_WORK, -1, 1, 0, 0, buf, sizeof buf); put_str("verifier", "tagged_en", buf);
    styled_completion(&zh, STYLE_TAGGED_WORK, 1, -1, 0, 0, buf, sizeof buf); put_str("verifier", "tagged_zh_switch", buf);
    styled_completion(&en, STYLE_WORK, -1, -1, 0, 0, buf, sizeof buf); put_str("verifier", "work_only", buf);
    styled_completion(&zh, STYLE_TAGGED_EMPTY, -1, -1, 0, 0, buf, sizeof buf); put_str("verifier", "empty_thinking", buf);
    put_str("verifier", "hack", "<think></think></think><answer><answer> -12 </answer></answer>");
    put_str("verifier", "question_en", "347+285");
    put_str("verifier", "question_zh", "102加85加7");

    // tokenizer: documents of the pretraining mixture to train on
    size_t n = 0;
    for (int i = 0; i < 6; i++) {
        char prompt[512], completion[512];
        corpus_document(&rng, &PRETRAIN_MIX, NULL, prompt, sizeof prompt, completion, sizeof completion);
        n += (size_t)snprintf(doc + n, sizeof doc - n, "%s%s<|end|>", prompt, completion);
    }
    put_tok("train_16", 16, doc, n);
    put_tok("train_31_saveload", 0x40 | 31, doc, n);
    put_tok("train_bytes", 5, "\0\xff\xfe<think\x80<|end|>aaaa\0\0", 20);
    // ... and tokenizer files to load: one trained here, and data/tokenizer.txt
    Tokenizer t = { 0 };
    if (tok_train(&t, doc, n, 24) != 0) die(EXIT_DATA, "tok_train failed");
    snprintf(path, sizeof path, "%s/tokenizer/.tmp_tok", corpus_dir);
    if (tok_save(&t, path, err, sizeof err) != 0) die(EXIT_DATA, "%s", err);
    tok_free(&t);
    size_t len;
    char *file = read_file(path, 1 << 20, &len, err, sizeof err);
    if (!file) die(EXIT_DATA, "%s", err);
    remove(path);
    put_tok("load_24", 0x80, file, len);
    free(file);
    snprintf(path, sizeof path, "%s/tokenizer.txt", data_dir);
    if (!(file = read_file(path, 1 << 20, &len, err, sizeof err))) die(EXIT_DATA, "%s", err);
    put_tok("load_data_tokenizer", 0x80, file, len);
    free(file);

    // safetensors: two tiny checkpoints
    Config cs[2] = { { TOK_N_SPECIAL_END, 2, 1, 1, 1 }, { TOK_N_SPECIAL_END, 4, 2, 2, 2 } };
    const char *meta[] = { "stage", "zero", "note", "a \"quoted\" \\ value, 加", NULL };
    for (int i = 0; i < 2; i++) {
        Model m;
        model_alloc(&m, &cs[i]);
        model_init(&m, &rng);
        snprintf(path, sizeof path, "%s/safetensors", corpus_dir);
        make_dir(path);
        snprintf(path, sizeof path, "%s/safetensors/tiny_%d.safetensors", corpus_dir, i);
        if (save_safetensors(path, &m.config, &m.params, i ? meta : NULL, err, sizeof err) != 0) die(EXIT_DATA, "%s", err);
        model_free(&m);
        // the same checkpoint as a '{' input: HEADER NUL LEN4 DATA
        if (!(file = read_file(path, 1 << 20, &len, err, sizeof err))) die(EXIT_DATA, "%s", err);
        size_t hlen = 0;
        for (int k = 7; k >= 0; k--) hlen = hlen << 8 | (unsigned char)file[k];
        size_t dlen = len - 8 - hlen;
        char *seed = xmalloc(hlen + 5 + dlen, "seed");
        memcpy(seed, file + 8, hlen);
        seed[hlen] = '\0';
        for (int k = 0; k < 4; k++) seed[hlen + 1 + k] = (char)(dlen >> (8 * k));
        memcpy(seed + hlen + 5, file + 8 + hlen, dlen);
        snprintf(path, sizeof path, "header_%d", i);
        put("safetensors", path, seed, hlen + 5 + dlen);
        free(seed);
        free(file);
    }

    // jsonl: the first lines of the benchmark, and variants
    snprintf(path, sizeof path, "%s/add_test.jsonl", data_dir);
    if (!(file = read_file(path, 1 << 20, &len, err, sizeof err))) die(EXIT_DATA, "%s", err);
    size_t cut = 0;
    for (int lines = 0; cut < len && lines < 4; cut++) lines += file[cut] == '\n';
    put("jsonl", "add_test_head", file, cut);
    free(file);
    put_str("jsonl", "variants",
            "{\"prompt\": \"12加3\", \"answer\": 15}\n"
            "\n"
            "  {\"answer\": \"-4\" , \"prompt\":\"1+2+3\"}  \n"
            "{\"prompt\": \"say \\u4e03 in English \\u00e9\\\"\\/\", \"answer\": \"seven\"}\n");
    put_str("jsonl", "non_arith", "{\"prompt\": \"who are you\", \"answer\": \"I am R1\"}");

    // serve: request heads (first byte even) and chat request bodies (odd)
    put_str("serve", "head_chat", "\x00POST /v1/chat/completions HTTP/1.1\r\nHost: localhost:8000\r\n"
            "Content-Type: application/json; charset=utf-8\r\nContent-Length: 74\r\nAuthorization: Bearer k\r\n"
            "Expect: 100-continue\r\nx-stainless-lang: python\r\n\r\n");
    put_str("serve", "head_models", "\x06GET /v1/models/deepseek-reasoner?x=1 HTTP/1.0\n\n");
    put_str("serve", "head_refused", "\x02GET /chat/completions HTTP/1.1\r\nHost: evil.example\r\nTransfer-Encoding: chunked\r\n\r\n");
    put_str("serve", "body_two_turns", "\x01{\"model\": \"deepseek-reasoner\", \"messages\": [{\"role\": \"system\", \"content\": "
            "\"be brief\"}, {\"role\": \"user\", \"content\": \"9.11 and 9.8, which is greater?\"}, {\"role\": \"assistant\", "
            "\"content\": \"9.8\", \"reasoning_content\": null}, {\"role\": \"user\", \"content\": [{\"type\": \"text\", "
            "\"text\": \"347+285\"}]}], \"stream\": true, \"stream_options\": {\"include_usage\": true}}");
    put_str("serve", "body_parameters", "\x03{\"model\": \"r1\", \"messages\": [{\"role\": \"user\", \"content\": "
            "\"12\\u52a03 \\ud83d\\ude00\"}], \"max_tokens\": 5, \"max_completion_tokens\": null, \"temperature\": 0.6, "
            "\"top_p\": 0.95, \"seed\": -7, \"n\": 1, \"stop\": null, \"logprobs\": false, \"tools\": [], \"tool_choice\": "
            "\"none\", \"response_format\": {\"type\": \"text\"}, \"user\": {\"x\": [1, 2.5e3, true]}}");
    put_str("serve", "body_refused", "\x05{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"tool\", \"content\": \"<think>\"}], "
            "\"n\": 2}");
    return 0;
}
