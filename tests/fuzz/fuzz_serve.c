// tests/fuzz/fuzz_serve.c -- ./r1 serve's readers of what a client sends, on
// arbitrary bytes, without sockets: when the first byte is even, the rest is
// a request head (head_end, http_parse_head, http_check_head); when it is
// odd, a chat request body (chat_parse). What is checked, besides "no crash,
// no UB, no leak, no exit()":
//   - a head: http_parse_head gives 0, 400 or 431; on 0 the method is A-Z, the
//     path "" or "/...", Content-Length -1 or at least 0; then
//     http_check_head gives 0 or one of 401, 403, 404, 405, 411, 413, 415, and
//     on 0 a route (a chat with a body of at most 1 MiB, typed JSON);
//   - a body: chat_parse gives 0, 400 or 422; on 0 the model is r1 or
//     deepseek-reasoner, the question is not blank and holds none of the
//     special tokens, at least one message; a refusal leaves nothing to free;
//   - every refusal has a message and, for OpenAI's body, a code that fits it.
#include "fuzz_common.h"

static void fuzz_serve_refusal(const ServeError *e, int status) {
    FUZZ_CHECK(e->status == status, "status %d, e->status %d", status, e->status);
    FUZZ_CHECK(memchr(e->message, '\0', sizeof e->message) && e->message[0], "status %d without a message", status);
    FUZZ_CHECK(memchr(e->param, '\0', sizeof e->param), "param not terminated");
    FUZZ_CHECK((status == 400) == (e->code && (!strcmp(e->code, "invalid_request_error") ||
                                               !strcmp(e->code, "context_length_exceeded"))) &&
               (status == 422) == (e->code && !strcmp(e->code, "invalid_parameter")), "status %d, code %s", status,
               e->code ? e->code : "null");
}

static int fuzz_serve(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t n = size - 1;
    char *buf = malloc(n ? n : 1);                   // exactly the input: an overread is caught
    if (!buf) abort();
    memcpy(buf, data + 1, n);
    ServeError e;
    memset(&e, 0, sizeof e);
    if (data[0] % 2 == 0) {
        size_t len = head_end(buf, 0, n);
        HttpHead h;
        int status = http_parse_head(buf, len ? len : n, &h, &e);
        FUZZ_CHECK(status == 0 || status == 400 || status == 431, "http_parse_head: status %d", status);
        if (status) fuzz_serve_refusal(&e, status);
        else {
            FUZZ_CHECK(h.method[0] && strspn(h.method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == strlen(h.method), "method %s", h.method);
            FUZZ_CHECK(!h.path[0] || h.path[0] == '/', "path %s", h.path);
            FUZZ_CHECK(h.content_length >= -1, "Content-Length %lld", h.content_length);
            int route = ROUTE_NONE;
            const char *model_id = NULL, *allow = NULL;
            status = http_check_head(&h, "127.0.0.1", data[0] & 2, data[0] & 4 ? "k" : NULL, &route, &model_id, &allow, &e);
            static const int refused[] = { 401, 403, 404, 405, 411, 413, 415 };
            int known = status == 0;
            for (size_t k = 0; k < sizeof refused / sizeof *refused; k++) known |= status == refused[k];
            FUZZ_CHECK(known, "http_check_head: status %d", status);
            if (status) fuzz_serve_refusal(&e, status);
            else {
                FUZZ_CHECK(route != ROUTE_NONE && (route != ROUTE_MODEL || (model_id && *model_id)), "route %d", route);
                FUZZ_CHECK(route != ROUTE_CHAT || (h.content_length >= 0 && h.content_length <= SERVE_BODY_MAX && !h.chunked &&
                                                   h.content_type && !strncasecmp(h.content_type, "application/json", 16)),
                           "a chat request without its framing");
            }
            FUZZ_CHECK((status == 405) == (allow != NULL), "status %d, Allow %s", status, allow ? allow : "none");
        }
    } else {
        ChatRequest q;
        int status = chat_parse(buf, n, &q, &e);
        FUZZ_CHECK(status == 0 || status == 400 || status == 422, "chat_parse: status %d", status);
        if (status) {
            fuzz_serve_refusal(&e, status);
            FUZZ_CHECK(!q.model && !q.question, "a refused request left memory to free");
        } else {
            FUZZ_CHECK(!strcmp(q.model, "r1") || !strcmp(q.model, "deepseek-reasoner"), "model %s", q.model);
            FUZZ_CHECK(q.question && q.n_messages >= 1 && q.max_tokens[0] >= 0 && q.max_tokens[1] >= 0, "question or limits");
            size_t len = strlen(q.question);
            FUZZ_CHECK(strspn(q.question, " \t\n\v\f\r") < len, "a blank question");
            for (int k = 0; k < TOK_N_SPECIAL; k++)
                FUZZ_CHECK(!find_first(q.question, len, tok_special_names[k]), "the question holds %s", tok_special_names[k]);
            FUZZ_CHECK(!q.has_temperature || (q.temperature >= 0 && q.temperature <= 2), "temperature %g", q.temperature);
            FUZZ_CHECK(!q.has_top_p || (q.top_p > 0 && q.top_p <= 1), "top_p %g", q.top_p);
            chat_request_free(&q);
        }
    }
    free(buf);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_serve(data, size); }
#endif
