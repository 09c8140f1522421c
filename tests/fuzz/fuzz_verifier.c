// tests/fuzz/fuzz_verifier.c -- the verifier and the rule-based rewards of
// r1.c on arbitrary bytes (NUL bytes included, passed with explicit lengths).
//
// The input is one completion. Byte 0 also picks the target language and the
// expected answer's offset. What is checked, besides "no crash, no UB, no
// read past the end":
//   - extract_answer agrees with a slow, independently written reference
//     (the integer inside the last <answer> up to the next </answer>), and its
//     value has at most 18 digits;
//   - accuracy_reward is 1 exactly for the extracted value;
//   - format_reward is 0 or 1 and agrees with a reference (exactly
//     "<think>T</think><answer>A</answer>" with no '<' or '>' in T or A);
//   - lenient_accuracy is 0 or 1; language_consistency is -1 or in [0, 1],
//     and -1 without a <think>...</think> span;
//   - parse_question (on the input up to its first NUL) accepts only 2-3
//     operands of at most 6 digits; then problem_question -> parse_question
//     gives back the same problem, and the tagged worked solution of that
//     problem earns format reward 1 and accuracy reward 1.
#include "fuzz_common.h"

static int vref_at(const char *t, size_t n, size_t i, const char *pat) {
    size_t k = strlen(pat);
    if (i + k > n) return 0;
    for (size_t j = 0; j < k; j++) if (t[i + j] != pat[j]) return 0;
    return 1;
}

// The integer of s[0..n): spaces, a sign, 1 to 18 digits, spaces.
static int vref_integer(const char *s, size_t n, long long *v) {
    size_t a = 0, b = n;
    while (a < b && s[a] == ' ') a++;
    while (b > a && s[b - 1] == ' ') b--;
    int neg = 0;
    if (a < b && (s[a] == '+' || s[a] == '-')) { neg = s[a] == '-'; a++; }
    if (b <= a || b - a > 18) return 0;
    long long x = 0;
    for (size_t i = a; i < b; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        x = x * 10 + (s[i] - '0');
    }
    *v = neg ? -x : x;
    return 1;
}

static int vref_extract(const char *t, size_t n, long long *v) {
    size_t last = (size_t)-1;
    for (size_t i = 0; i < n; i++) if (vref_at(t, n, i, "<answer>")) last = i;
    if (last == (size_t)-1) return 0;
    for (size_t i = last + 8; i < n; i++)
        if (vref_at(t, n, i, "</answer>")) return vref_integer(t + last + 8, i - last - 8, v);
    return 0;
}

// Exactly four '<' and four '>', the text starts with <think>, ends with
// </answer>, and its second '<' starts "</think><answer>".
static int vref_format(const char *t, size_t n) {
    if (!vref_at(t, n, 0, "<think>") || n < 9 || !vref_at(t, n, n - 9, "</answer>")) return 0;
    int lt = 0, gt = 0;
    size_t second = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '<' && ++lt == 2) second = i;
        if (t[i] == '>') gt++;
    }
    return lt == 4 && gt == 4 && n >= 7 + 16 + 9 && second + 16 <= n - 9 && vref_at(t, n, second, "</think><answer>");
}

static int fuzz_verifier(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    int lang = size ? (data[0] & 1) : LANG_EN;

    long long v = 0x5A5A, rv = 0x5A5A;
    int ok = extract_answer(text, size, &v), rok = vref_extract(text, size, &rv);
    FUZZ_CHECK(ok == rok && (!ok || v == rv), "extract_answer gives %d (%lld), the reference %d (%lld)", ok, v, rok, rv);
    if (ok) {
        FUZZ_CHECK(v > -1000000000000000000LL && v < 1000000000000000000LL, "answer %lld has more than 18 digits", v);
        FUZZ_CHECK(is_right(text, size, v) == 1.0f, "accuracy_reward of the extracted value %lld is not 1", v);
        FUZZ_CHECK(is_right(text, size, v + 1) == 0.0f, "accuracy_reward of %lld + 1 is not 0", v);
    } else {
        FUZZ_CHECK(is_right(text, size, size ? (long long)data[0] - 128 : 0) == 0.0f,
                   "accuracy_reward is not 0 without an answer");
    }

    float f = is_well_formed(text, size);
    FUZZ_CHECK(f == 0.0f || f == 1.0f, "format_reward %g", (double)f);
    FUZZ_CHECK((f == 1.0f) == vref_format(text, size), "format_reward %g disagrees with the reference", (double)f);

    float la = lenient_accuracy(text, size, size ? (long long)(data[size - 1] % 10) : 0);
    FUZZ_CHECK(la == 0.0f || la == 1.0f, "lenient_accuracy %g", (double)la);

    float lc = language_consistency(text, size, lang);
    FUZZ_CHECK(lc == -1.0f || (lc >= 0.0f && lc <= 1.0f), "language_consistency %g", (double)lc);
    const char *span; size_t span_n;
    if (!thinking_span(text, size, &span, &span_n)) {
        FUZZ_CHECK(lc == -1.0f, "language_consistency %g without thinking", (double)lc);
        FUZZ_CHECK(!has_thinking(text, size), "has_thinking without a thinking span");
    } else {
        FUZZ_CHECK(span >= text && span + span_n <= text + size, "thinking span outside the text");
    }

    // The question parser works on C strings: the input up to its first NUL.
    char *q = malloc(size + 1);
    if (!q) return 0;
    memcpy(q, data, size);
    q[size] = '\0';
    Problem p;
    if (parse_question(q, &p)) {
        FUZZ_CHECK(p.n >= 2 && p.n <= MAX_OPERANDS, "%d operands", p.n);
        for (int i = 0; i < p.n; i++) FUZZ_CHECK(p.x[i] >= 0 && p.x[i] <= 999999, "operand %ld", p.x[i]);
        char q2[128], work[1024];
        problem_question(&p, q2, sizeof q2);
        Problem p2;
        FUZZ_CHECK(parse_question(q2, &p2), "problem_question wrote \"%s\", which does not parse", q2);
        FUZZ_CHECK(p2.n == p.n && p2.lang == p.lang && !memcmp(p2.x, p.x, sizeof p.x), "\"%s\" parses to another problem", q2);
        FUZZ_CHECK(question_lang(q2) == p.lang, "question_lang of \"%s\"", q2);
        int switch_at = size > 1 ? data[1] % 9 - 1 : -1, mistake_at = size > 2 ? data[2] % 9 - 1 : -1;
        styled_completion(&p, STYLE_TAGGED_WORK, switch_at, mistake_at, 0, 0, work, sizeof work);
        size_t wn = strlen(work);
        FUZZ_CHECK(is_well_formed(work, wn) == 1.0f, "the worked solution \"%s\" fails the format reward", work);
        FUZZ_CHECK(is_right(work, wn, problem_sum(&p)) == 1.0f, "the worked solution \"%s\" is not accurate", work);
        if (switch_at < 0) FUZZ_CHECK(language_consistency(work, wn, p.lang) == 1.0f, "\"%s\" mixes languages", work);
    }
    char prompt[300];
    render_prompt(q, prompt, sizeof prompt);
    free(q);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_verifier(data, size); }
#endif
