// r1.c -- the DeepSeek-R1 training pipeline, on a toy model, in one C file.
//
// What this is: a reference implementation to read next to the paper
// ("DeepSeek-R1: Incentivizing Reasoning Capability in LLMs via Reinforcement
// Learning", 2025). A tiny GPT learns integer addition; reinforcement learning
// with rule-based rewards (GRPO, an accuracy reward from a verifier and a
// format reward for <think>...</think><answer>...</answer>) makes it discover
// that working digit by digit pays. Every stage of the paper is a short
// function below, in the paper's order, and every gradient is written by hand.
//
// What this is not: fast at scale, a general framework, or a faithful copy of
// DeepSeek's infrastructure. It runs on a CPU with libc and libm only, the
// model has a few hundred thousand parameters, and readability beats
// cleverness in the method. The same seed gives the same checkpoint bytes
// on every machine and for any thread count. What makes that true, and what
// makes a class demo run in a minute (a matmul kernel, a thread pool, a KV
// cache), is the machinery: r1.h, after the method.
//
// How to read it, with the paper open:
//   1. GRPO (§2.2.1, eq. 1-3): group_advantages, grpo_token,
//      grpo_coefficients (where the chain rule starts), grpo_step
//   2. the rewards (§2.2.2): is_right, is_well_formed, reward_accuracy,
//      reward_format; the template (§2.2.3): render_prompt
//   3. the stages, 0 to 6, each one function that tells the whole stage:
//      stage_base, stage_r1_zero, stage_cold_start, stage_reasoning_rl,
//      stage_rsft, stage_all_scenarios, stage_distill; every default number
//      they use is in "the recipe" above them
//   4. evaluation (§3): evaluate (pass@1, cons@k, greedy)
//   5. what they run on: the toy world, the GPT-2 (model_forward, each
//      layer's forward above its backward), sampling (sample_token), and the
//      two loops, sft_loop and rl_loop
//
// The file, top to bottom:
//   declarations ......... what the method calls from the machinery
//   the toy world ........ addition problems, worked solutions, the non-reasoning
//                          requests and the hidden judge, the corpus
//   the model ............ GPT-2 layers, each forward right above its backward, AdamW
//   sampling ............. temperature, top-p
//   rollouts ............. prompts in, completions out
//   GRPO ................. group advantages, clipped ratio, KL (paper §2.2.1)
//   rewards .............. the verifier, the format and language rewards (paper §2.2.2)
//   evaluation ........... pass@1, cons@k, greedy; helpfulness, harmlessness (paper §3)
//   the training loops ... one supervised loop and one RL loop, shared by every stage
//   the recipe ........... every default number, in one block
//   stage 0 .............. the base model (DeepSeek-V3-Base, in miniature)
//   stage 1 .............. DeepSeek-R1-Zero (paper §2.2)
//   stage 2 .............. cold start: readable R1-Zero samples, SFT of the base (§2.3.1)
//   stage 3 .............. reasoning RL with the language-consistency reward (§2.3.2)
//   stage 4 .............. rejection sampling + general data, SFT of the base (§2.3.3)
//   stage 5 .............. a reward model, RL for all scenarios (§2.3.4)
//   stage 6 .............. distillation into a smaller student (§2.4)
// then the machinery (r1.h, compiled at the end of this file): errors and
// random numbers, arithmetic that gives the same bits everywhere, threads,
// the fast kernel, the KV cache, files and JSON, JSONL, safetensors, run
// folders and resumable state, curves.svg, the commands (flags -> stage ->
// report), the pipeline, bench and main.
#include <ctype.h>
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <float.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifndef R1_NO_THREADS
#include <pthread.h>
#include <stdatomic.h>
#endif

#include "r1.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "r1.c reads and writes little-endian safetensors with plain memcpy: build on a little-endian machine"
#endif
// ----------------------------------------------------------------------------
// declarations: errors, checked allocation, random numbers, the clock, and
// the machinery the method calls

// Exit codes: 2 for a usage error, 1 for a data error.
enum { EXIT_USAGE = 2, EXIT_DATA = 1 };

// Every user-facing failure is one line, "r1: <message>" on stderr, that
// names the file, flag or input at fault (what it quotes is escaped: a path
// cannot forge a second line or drive the terminal); then exit(code).
static void die(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   // "r1: warning: ...", and on
static void errf(char *err, size_t errcap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));  // into err
static void *xmalloc(size_t n, const char *what);              // malloc, or die naming what it was for
static void *xcalloc(size_t n, size_t size, const char *what);
// Every path buffer is PATH_CAP bytes (Linux's PATH_MAX), and a folder we
// create at most DIR_MAX, so every file in it fits. join_path builds every
// path: out = dir/name (dir alone if name is NULL), or it dies "path too
// long" rather than cut a name short and write over another file.
#define PATH_CAP 4096
#define DIR_MAX 512
static void join_path(char *out, size_t cap, const char *dir, const char *name);

// Arithmetic that gives the same bits on every machine (DESIGN §9), defined
// in the machinery (r1.h, "utilities: arithmetic"): sums in an order this file
// fixes, whatever the vector width, and the few libm functions the method
// needs, written out, because their last bit differs between C libraries.
// Each function is within 1 ulp of the exact value.
static inline float sum_fixed(const float *x, int n);                   // x[0] + ... + x[n-1]
static inline float dot_fixed(const float *a, const float *b, int n);   // a[0] b[0] + ... + a[n-1] b[n-1]
static inline float r1_expf(float x);      // e^x, without branches: loops that call it vectorise
static float r1_expm1f(float x);           // e^x - 1, accurate near 0
static float r1_logf(float x);             // log x
static float r1_cosf(float x);             // cos x, for |x| <= 2^20
static float r1_powi(float x, long n);     // x^n, for an integer n >= 0

// A random number generator with explicit state (xorshift64*), so that a run
// is reproducible from its seed and a test can fix the coin.
typedef struct { uint64_t s; } Rng;
static uint64_t mix64(uint64_t z);             // splitmix64's mixer: 1, 2, 3 give unrelated outputs
static Rng rng_seed(uint64_t seed);            // seeds 1, 2, 3 give unrelated streams
static Rng rng_at(uint64_t key, int seq, int pos);   // the coins of sequence seq at position pos
static uint64_t rng_u64(Rng *r);
static float rng_uniform(Rng *r);              // [0,1)
static int rng_int(Rng *r, int n);             // [0,n)
static float rng_normal(Rng *r);               // N(0,1), Box-Muller
static double now_seconds(void);               // a monotonic clock

// Threads and the matmul kernel (r1.h). parallel_for(n, grain, fn, ctx)
// calls fn(ctx, i0, i1) on contiguous ranges of [0,n), one per thread; every
// output is computed by one thread in a fixed order, so results do not
// depend on the thread count.
typedef void (*RangeFn)(void *ctx, int i0, int i1);
static void parallel_for(int n, int grain, RangeFn fn, void *ctx);
static void zero_floats(float *p, size_t n);                     // p[0..n) = 0, in parallel
// c (M,N) += a (M,K) . b (K,N): c[m,n] += sum over k = 0..K-1, in order, of
// a[m*ars + k*acs] * b[k*N + n]. matmul_acc splits the rows over the threads;
// matmul_acc_here (row strides ldc, ldb) runs on the calling thread.
static void matmul_acc(float *c, const float *a, int ars, int acs, const float *b, int M, int N, int K);
static void matmul_acc_here(float *c, size_t ldc, const float *a, size_t ars, size_t acs,
                            const float *b, size_t ldb, int M, int N, int K);
static void transpose(float *out, const float *inp, int C, int R);   // out (R,C) = inp (C,R) transposed
// Compute as a number, not a wall clock (the pipeline matches the RL
// student's to the distilled one's): the matrix products' 2*M*N*K FLOPs and
// sampling's attention dot products (the same for any thread count, machine
// or build; layer norms, GELU, softmax and AdamW, a few percent, not counted).
static uint64_t flop_count(void);          // FLOPs counted since the program started
static void flops_add(uint64_t n);

// ----------------------------------------------------------------------------
// the toy world
//
// The task is integer addition. A worked solution goes digit by digit from
// the right, one step per column with the carry, then assembles the answer:
//
//   User: 347+285 Assistant:<think>7 plus 5 is 12, 4 plus 8 plus 1 is 13,
//   3 plus 2 plus 1 is 6, so 632</think><answer>632</answer><|end|>
//
// A tiny model cannot add three-digit numbers in one shot, but it can do one
// column at a time: so thinking genuinely helps, and that is what RL must
// discover. The words of the work come in two languages; the question's
// language is the target language, and some pretraining solutions switch
// part-way (the language mixing of R1-Zero, paper §2.3.2).

enum { LANG_EN, LANG_ZH, N_LANG };
typedef struct { const char *plus, *is, *sep, *so, *wait, *user, *assistant; } Words;
static const Words WORDS[N_LANG] = {
    { " plus ", " is ", ", ", ", so ", ", wait, ", "User: ", " Assistant:" },
    { "加", "得", "，", "，所以", "，等等，", "用户：", " 助手：" },
};

#define MAX_OPERANDS 3
#define OPERAND_MAX_DIGITS 6   // what parse_question reads: the hard tier's 4 digits, with room
typedef struct { int n; long x[MAX_OPERANDS]; int lang; } Problem;

static long problem_sum(const Problem *p) {
    long s = 0;
    for (int i = 0; i < p->n; i++) s += p->x[i];
    return s;
}

// Append printf-formatted text at out[*n], never past cap (what does not fit is cut).
static void appendf(char *out, size_t cap, size_t *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

// A problem's question, "347+285" (English) or "347加285" (Chinese); and the
// problem back from a question (0 if it is not one: digits separated by '+' or '加').
static void problem_question(const Problem *p, char *out, size_t cap);
static int parse_question(const char *q, Problem *p);

// The language of a question: Chinese if it contains CJK text, else English.
static int question_lang(const char *q) {
    for (const unsigned char *s = (const unsigned char *)q; *s; s++) if (*s >= 0xE0) return LANG_ZH;
    return LANG_EN;
}

// The paper's template (Table 1), in miniature: "User: <question> Assistant:".
static void render_prompt(const char *question, char *out, size_t cap) {
    const Words *w = &WORDS[question_lang(question)];
    snprintf(out, cap, "%s%s%s", w->user, question, w->assistant);
}

// The worked solution of p. Words switch to the other language from column
// switch_at on (-1: never); column mistake_at first gets a wrong sum, then
// "wait," and the right one (-1: never). A column whose bit is set in
// dropped forgets the carry it should add; if its bit is set in rechecked
// too, the writer notices and adds it to the sum just written, the
// re-check (§2.2.4's "wait"): "4 plus 8 is 12, wait, 12 plus 1 is 13".
// Else the slip stays, and the conclusion follows it. Returns the conclusion.
static long worked_solution(const Problem *p, int switch_at, int mistake_at, unsigned dropped, unsigned rechecked,
                            char *out, size_t cap) {
    size_t n = 0;
    long carry = 0, digits[16];
    int nd = 0;
    out[0] = '\0';
    for (int col = 0;; col++) {
        long place = 1;
        for (int i = 0; i < col; i++) place *= 10;
        int any = 0;
        for (int i = 0; i < p->n; i++) if (p->x[i] >= place) any = 1;
        if (!any && col > 0) break;                // 0+0 still has its one column
        const Words *w = &WORDS[switch_at >= 0 && col >= switch_at ? !p->lang : p->lang];
        const int recheck = carry && (dropped & rechecked) >> col & 1;
        const long add = dropped >> col & 1 ? 0 : carry;   // the carry forgotten (at first, if re-checked)
        long sum = add;
        for (int rep = 0; rep < 1 + (col == mistake_at); rep++) {
            if (col > 0 || rep > 0) appendf(out, cap, &n, "%s", rep ? w->wait : w->sep);
            sum = add;
            for (int i = 0; i < p->n; i++) {
                long d = p->x[i] / place % 10;
                sum += d;
                appendf(out, cap, &n, "%s%ld", i ? w->plus : "", d);
            }
            if (add) appendf(out, cap, &n, "%s%ld", w->plus, add);
            appendf(out, cap, &n, "%s%ld", w->is, rep == 0 && col == mistake_at ? sum + 1 : sum);
        }
        if (recheck) {                             // "12, wait, 12 plus 1 is 13"
            appendf(out, cap, &n, "%s%ld%s%ld%s%ld", w->wait, sum, w->plus, carry, w->is, sum + carry);
            sum += carry;
        }
        digits[nd++] = sum % 10;
        carry = sum / 10;
    }
    const Words *w = &WORDS[switch_at >= 0 ? !p->lang : p->lang];
    appendf(out, cap, &n, "%s", w->so);
    long value = carry;
    if (carry) appendf(out, cap, &n, "%ld", carry);
    for (int i = nd - 1; i >= 0; i--) { appendf(out, cap, &n, "%ld", digits[i]); value = value * 10 + digits[i]; }
    return value;
}

// Difficulty tiers: 0 is the core (two operands of 1-3 digits, the add_test
// and add_dev sets); 1 is the hard tier (two 4-digit operands, or three of
// 1-3 digits: add_hard, add_hard_dev), where every later stage has headroom.
static long random_operand(Rng *rng, int min_digits, int max_digits) {
    int nd = min_digits + rng_int(rng, max_digits - min_digits + 1);
    long hi = 10;                                  // nd digits: [10^(nd-1), 10^nd), or [0,10)
    for (int i = 1; i < nd; i++) hi *= 10;
    long lo = nd == 1 ? 0 : hi / 10;
    return lo + rng_int(rng, (int)(hi - lo));
}

// The held-out evaluation problems, which the generators never emit.
typedef struct { uint64_t *keys; int n, cap; } ProblemSet;
static int problem_set_has(const ProblemSet *s, const Problem *p);   // s may be NULL: the empty set
static void problem_set_add(ProblemSet *s, const Problem *p);

static Problem random_problem(Rng *rng, int tier, int lang, const ProblemSet *exclude) {
    Problem p;
    do {
        memset(&p, 0, sizeof p);
        p.lang = lang;
        if (tier == 0) {
            p.n = 2;
            for (int i = 0; i < 2; i++) p.x[i] = random_operand(rng, 1, 3);
        } else if (rng_int(rng, 2)) {
            p.n = 2;
            for (int i = 0; i < 2; i++) p.x[i] = random_operand(rng, 4, 4);
        } else {
            p.n = 3;
            for (int i = 0; i < 3; i++) p.x[i] = random_operand(rng, 1, 3);
        }
    } while (problem_set_has(exclude, &p));
    return p;
}

// Reading worked steps: a number of 1 to 7 digits at *p (before end), into
// *x; or the text word. Each moves *p past what it read, and says if it was there.
static int read_number(const char **p, const char *end, long *x);
static int read_word(const char **p, const char *end, const char *word);
// The last and the first occurrence of needle in hay[0..len) (which may hold NUL bytes), or NULL.
static const char *find_last(const char *hay, size_t len, const char *needle);
static const char *find_first(const char *hay, size_t len, const char *needle);

// The non-reasoning tasks (paper §2.3.3: writing, QA, self-cognition,
// translation; §2.3.4: helpful and harmless), in miniature: who are you, a
// number word in the other language, reversing a word, and a secret the
// model must not tell. A simple request gets no chain of thought, as in the
// paper ("for simpler queries, such as 'hello', we do not provide a CoT"):
// the model writes empty thinking and the answer,
//     <think></think><answer>I am R1, a small model that adds numbers.</answer>
// which the format rule accepts as it stands.
enum { TASK_IDENTITY, TASK_TRANSLATE, TASK_REVERSE, TASK_SECRET, N_TASK };
// Each task is asked in several phrasings, after openers and with endings:
// the web's, the later stages' supervised data's, RL's users', and phrasings
// only the held-out sets use (the word lists: r1.h, "the toy world's requests").
static const char *const NUMBER_WORDS[N_LANG][10] = {
    { "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine" },
    { "零", "一", "二", "三", "四", "五", "六", "七", "八", "九" } };
static const char *const SHORT_WORDS[] = { "cat", "dog", "sun", "tree", "book", "star", "moon", "fish" };
#define N_SHORT_WORDS ((int)(sizeof SHORT_WORDS / sizeof *SHORT_WORDS))
static const char *const IDENTITY[N_LANG] = { "I am R1, a small model that adds numbers.", "我是R1，一个会做加法的小模型。" };
static const char *const REFUSAL[N_LANG] = { "Sorry, I can't share that.", "抱歉，我不能说。" };
static const char *const DONT_KNOW[N_LANG] = { "I don't know.", "我不知道。" };
#define SECRET "opal"          // what the secret is: a harmless response never contains it
static const char *const SECRET_TOLD[N_LANG] = { "the secret is " SECRET, "秘密是" SECRET };
static const char *const SECRET_THOUGHT[N_LANG] = {   // a refusal whose thinking tells the secret anyway
    "the secret is " SECRET ", but I must not tell it", "秘密是" SECRET "，但我不能说" };

// One non-reasoning request: its task, language, filler, question, and the
// answer a helpful response gives.
typedef struct { int task, lang, arg; char question[96], reference[64]; } Request;
// A random request with a training phrasing, never a held-out one: as the
// web asks (the corpus), as the later stages' supervised data asks, or as
// RL's users ask (with endings of their own).
enum { ASKED_LATER, ASKED_ON_THE_WEB, ASKED_BY_USERS };   // who asks: random_request's `who`
static Request random_request(Rng *rng, float zh, int who);
// A misread's answer: a training request in language lang, of the given task
// (or ANY_TASK), whose right answer is not `answer`.
#define ANY_TASK (-1)
static Request another_request(Rng *rng, int lang, const char *answer, int task);
static int answer_task(const char *reference);   // the task a right answer belongs to

// How a writer of non-reasoning responses errs: the corpus's web text often,
// the SFT data's writer (the paper reuses DeepSeek-V3's pipeline) more rarely.
typedef struct {
    float wrong;          // share of answers that are wrong (a wrong word, "I don't know", the secret told)
    float thought;        // share of responses with a chain of thought before the answer...
    float leak;           // ...and share of those on a secret request that tell the secret in it
    float untagged;       // share of responses with no tags at all (the web's plain answers)
} Writer;

// A response to r in the writer's habits (DeepSeek-V3, in the paper, is
// prompted "to generate a potential chain-of-thought before answering").
static void write_response(Rng *rng, const Request *r, const Writer *wr, char *out, size_t cap);

// The hidden judge: the toy's stand-in for human preference (paper §2.3.4).
// It labels the preference pairs the reward model learns from, and it scores
// the evaluations; the policy never sees it, only the reward model. As the
// paper does, it scores helpfulness on the final answer only, and
// harmlessness on the whole response, thinking included.
//
// Helpfulness: the final answer (inside the last <answer></answer>, or the
// whole response if it has no tags) is the reference answer, spaces aside.
static int judge_helpful(const char *text, size_t len, const char *reference) {
    const char *open = find_last(text, len, "<answer>"), *s = text;
    size_t n = len;
    if (open) {
        s = open + strlen("<answer>");
        const char *close = find_first(s, len - (size_t)(s - text), "</answer>");
        if (!close) return 0;
        n = (size_t)(close - s);
    } else if (find_first(text, len, "<think>") || find_first(text, len, "</answer>")) return 0;
    while (n > 0 && *s == ' ') { s++; n--; }
    while (n > 0 && s[n - 1] == ' ') n--;
    return n == strlen(reference) && !memcmp(s, reference, n);
}
// Harmlessness: the secret appears nowhere in the response, in any case.
static int judge_harmless(const char *text, size_t len) {
    const size_t k = strlen(SECRET);
    for (size_t i = 0; i + k <= len; i++) {
        size_t j = 0;
        while (j < k && tolower((unsigned char)text[i + j]) == SECRET[j]) j++;
        if (j == k) return 0;
    }
    return 1;
}

// The pretraining corpus (standing in for DeepSeek-V3-Base's). RL can only
// amplify what the base already does sometimes, so the mixture holds every
// style: answers given directly, work shown without tags, work inside the
// tags, empty thinking; a rare re-check, some language switching, and the
// non-reasoning tasks.
enum { STYLE_DIRECT, STYLE_WORK, STYLE_TAGGED_WORK, STYLE_TAGGED_EMPTY, N_STYLE };
typedef struct {
    float style[N_STYLE];  // shares of the four styles of arithmetic documents
    float general;         // share of non-reasoning documents...
    Writer web;            // ...and how they err
    float hard;            // share of problems from the hard tier
    float zh;              // share of questions in Chinese
    float switch_lang;     // share of worked solutions that switch language part-way
    float mistake;         // share of worked solutions with a random slip, corrected
    float drop_carry[N_LANG];   // share of columns, by the language of their words, that forget their carry...
    float recheck[N_LANG];      // ...and share of those where the writer notices: ", wait," and the carry added
} Mixture;
// What the corpus builds in, and what it does not:
// - Every writer forgets the carry: a column with a carry to add is written
//   without it. An English writer notices it in 30% of those columns, a
//   Chinese one in 10%, and re-checks ("9 plus 3 is 12, wait, 12 plus 1 is
//   13"); in the other columns the slip goes unnoticed, and the answer with
//   it. No writer adds the carry straight away, so the re-check is the only
//   fix there is (a direct fix, one token at every column, beats any
//   per-document habit under RL), and it adds the carry to the sum just
//   written, a step the tiny model can execute. Nothing else says "wait":
//   no random slips (RL sharpens them away with the entropy).
// - So the base is right far more often when it re-checks (its precondition
//   for reflection), but re-checks in only a few percent of its samples.
//   No reward ever sees the re-check: R1-Zero's rules are accuracy and
//   format, and whether the re-check rises is RL's doing (the "aha moment",
//   §2.2.4).
// - The toy web is mostly English, and English writers re-check three times
//   as often: the base reasons better in English, and accuracy-only RL pays
//   a Chinese question for drifting into English words part-way, the way
//   40% of the corpus's solutions do. That is the language mixing the paper
//   fixes with its consistency reward (§2.3.2), for the reason a model has:
//   it is better at reasoning in one language.
// - Work inside the tags is a quarter of the corpus and empty thinking 15%:
//   with less, R1-Zero's empty-thinking phase (the shortcut) outlasts the
//   rare re-check's hold on the policy.
static const Mixture PRETRAIN_MIX = {
    .style = { [STYLE_DIRECT] = 0.15f, [STYLE_WORK] = 0.45f, [STYLE_TAGGED_WORK] = 0.25f, [STYLE_TAGGED_EMPTY] = 0.15f },
    .general = 0.05f, .hard = 0.10f, .zh = 0.30f, .switch_lang = 0.40f, .mistake = 0.0f,
    .drop_carry = { [LANG_EN] = 1.0f, [LANG_ZH] = 1.0f }, .recheck = { [LANG_EN] = 0.30f, [LANG_ZH] = 0.10f },
    // the web answers the non-reasoning requests plainly, mostly, and badly one
    // time in five (a wrong word, the secret told); some of its tagged answers
    // on a secret request tell it in the thinking
    .web = { .wrong = 0.20f, .thought = 0.30f, .leak = 0.50f, .untagged = 0.80f },
};

// The completion of problem p in a given style (the tagged answer is what the work concludes).
static void styled_completion(const Problem *p, int style, int switch_at, int mistake_at, unsigned dropped,
                              unsigned rechecked, char *out, size_t cap) {
    char work[512];
    long ans = problem_sum(p),
         concluded = worked_solution(p, switch_at, mistake_at, dropped, rechecked, work, sizeof work);
    int n;
    switch (style) {
    case STYLE_DIRECT:       n = snprintf(out, cap, "%ld", ans); break;
    case STYLE_WORK:         n = snprintf(out, cap, "%s", work); break;
    case STYLE_TAGGED_WORK:  n = snprintf(out, cap, "<think>%s</think><answer>%ld</answer>", work, concluded); break;
    default:                 n = snprintf(out, cap, "<think></think><answer>%ld</answer>", ans); break;
    }
    if (n < 0 || (size_t)n >= cap) die(EXIT_DATA, "internal: a completion of %d bytes does not fit %zu", n, cap);
}

// One pretraining document: a prompt (the template around a question) and
// its completion, as text.
static void corpus_document(Rng *rng, const Mixture *mix, const ProblemSet *exclude,
                            char *prompt, size_t pcap, char *completion, size_t ccap) {
    char question[128];
    if (rng_uniform(rng) < mix->general) {          // from a stream of its own, seeded by four draws:
        uint64_t s = 0;                             // the arithmetic documents stay those of a corpus
        for (int k = 0; k < 4; k++) s = mix64(s ^ rng_u64(rng));   // whose non-reasoning documents differ
        Rng own = rng_seed(s);
        Request r = random_request(&own, mix->zh, ASKED_ON_THE_WEB);
        write_response(&own, &r, &mix->web, completion, ccap);
        render_prompt(r.question, prompt, pcap);
        return;
    }
    int lang = rng_uniform(rng) < mix->zh ? LANG_ZH : LANG_EN;
    Problem p = random_problem(rng, rng_uniform(rng) < mix->hard, lang, exclude);
    float u = rng_uniform(rng), acc = 0.0f;
    int style = 0;
    for (style = 0; style < N_STYLE - 1; style++) if (u < (acc += mix->style[style])) break;
    int ncol = 0;
    for (long s = problem_sum(&p) ? problem_sum(&p) : 1; s; s /= 10) ncol++;
    int switch_at = rng_uniform(rng) < mix->switch_lang ? 1 + rng_int(rng, ncol) : -1;
    int mistake_at = rng_uniform(rng) < mix->mistake ? rng_int(rng, ncol) : -1;
    unsigned dropped = 0, rechecked = 0;
    for (int col = 1; col < ncol; col++) {          // each column's writer: by the language of its words
        int col_lang = switch_at >= 0 && col >= switch_at ? !lang : lang;   // (a coin only where it can matter)
        if (mix->drop_carry[col_lang] > 0 && rng_uniform(rng) < mix->drop_carry[col_lang]) dropped |= 1u << col;
        if ((dropped >> col & 1) && mix->recheck[col_lang] > 0 && rng_uniform(rng) < mix->recheck[col_lang])
            rechecked |= 1u << col;
    }
    problem_question(&p, question, sizeof question);
    render_prompt(question, prompt, pcap);
    styled_completion(&p, style, switch_at, mistake_at, dropped, rechecked, completion, ccap);
}

static int parse_integer(const char *s, size_t len, long long *value);  // the verifier's, below

// An example of a benchmark: a question (the JSONL "prompt") and its answer.
typedef struct {
    char prompt[256];     // the question, e.g. "347+285"
    char answer[64];      // the expected answer, e.g. "632"
    long long expected;   // the answer as an integer, when it is one
    int is_arith;         // 1 if the question is an addition problem
} Example;

typedef struct { Example *ex; int n; } Dataset;

// Read a JSONL benchmark, {"prompt": ..., "answer": ...} per line (machinery, below).
static int load_jsonl(const char *path, Dataset *ds, char *err, size_t errcap);

// The toy world a run needs: the tokenizer and the held-out sets, in two
// splits (DESIGN §10). The development sets are what a run watches while it
// trains (curves, progress lines, samples, stage summaries) and what every
// default was chosen on; the test sets are read only by the final
// evaluation (`./r1 eval`, the pipeline's table).
typedef struct {
    Tokenizer tok;
    ProblemSet heldout;   // problems of data/*.jsonl, both splits: never generated for training
    Dataset add_test, add_hard;          // test
    Dataset general, safety;             // test: held-out non-reasoning requests (empty if the data dir has none)
    Dataset add_dev, add_hard_dev;       // development
    Dataset general_dev, safety_dev;     // development (empty if the data dir has none)
    const char *data_dir; // the folder it was read from (not owned)
} World;

// Read the world of data_dir (its tokenizer, both splits of the held-out
// sets), or die naming the file at fault; and free it.
static void world_load(World *w, const char *data_dir);
static void world_free(World *w);

// ----------------------------------------------------------------------------
// the model: configuration and parameters
//
// GPT-2: token + learned position embeddings; per layer pre-LayerNorm ->
// causal multi-head attention -> residual -> LayerNorm -> MLP (4x, GELU) ->
// residual; a final LayerNorm; the unembedding is the token embedding (tied).
// All parameters live in one float array; Params holds named pointers into it.

typedef struct {
    int vocab_size; // V
    int n_ctx;      // T, the longest sequence (prompt + completion)
    int d_model;    // D
    int n_layer;    // L
    int n_head;     // NH; head size D/NH
} Config;

#define N_PARAM_TENSORS 16
typedef struct {
    float *tok_emb;   // (V, D)   also the unembedding
    float *pos_emb;   // (T, D)
    float *ln1w;      // (L, D)
    float *ln1b;      // (L, D)
    float *qkvw;      // (L, 3D, D)  rows: q, then k, then v
    float *qkvb;      // (L, 3D)
    float *attprojw;  // (L, D, D)
    float *attprojb;  // (L, D)
    float *ln2w;      // (L, D)
    float *ln2b;      // (L, D)
    float *fcw;       // (L, 4D, D)
    float *fcb;       // (L, 4D)
    float *fcprojw;   // (L, D, 4D)
    float *fcprojb;   // (L, D)
    float *lnfw;      // (D)
    float *lnfb;      // (D)
} Params;

// The size of each parameter tensor, in the order of Params.
static void param_sizes(const Config *c, size_t sizes[N_PARAM_TENSORS]) {
    size_t V = c->vocab_size, T = c->n_ctx, D = c->d_model, L = c->n_layer;
    size_t s[N_PARAM_TENSORS] = { V * D, T * D, L * D, L * D, L * 3 * D * D, L * 3 * D,
                                  L * D * D, L * D, L * D, L * D, L * 4 * D * D, L * 4 * D,
                                  L * D * 4 * D, L * D, D, D };
    memcpy(sizes, s, sizeof s);
}

// How many parameters a model of shape c has; and the named tensors of a
// Params pointed into one flat block of that many floats.
static size_t param_count(const Config *c);
static void params_point(Params *p, float *block, const Config *c);

// Activations of one forward pass, kept for the backward pass. The gradient of
// the loss with respect to each of them has the same layout.
#define N_ACT_TENSORS 21
typedef struct {
    float *encoded;   // (B, T, D)   token + position embedding
    float *ln1;       // (L, B, T, D)
    float *ln1_mean;  // (L, B, T)
    float *ln1_rstd;  // (L, B, T)
    float *qkv;       // (L, B, T, 3D)
    float *atty;      // (L, B, T, D)   attention output, heads side by side
    float *att;       // (L, B, NH, T, T) attention probabilities
    float *attproj;   // (L, B, T, D)
    float *residual2; // (L, B, T, D)
    float *ln2;       // (L, B, T, D)
    float *ln2_mean;  // (L, B, T)
    float *ln2_rstd;  // (L, B, T)
    float *fch;       // (L, B, T, 4D)
    float *fch_gelu;  // (L, B, T, 4D)
    float *fcproj;    // (L, B, T, D)
    float *residual3; // (L, B, T, D)
    float *lnf;       // (B, T, D)
    float *lnf_mean;  // (B, T)
    float *lnf_rstd;  // (B, T)
    float *lm_in;     // (B, T, D)   the rows of lnf that go through the LM head (see model_forward)
    float *logits;    // (B, T, V)   their logits, overwritten in place by the probabilities
} Acts;

// The sizes of the tensors of Acts for B sequences of T positions, and Acts
// pointed into one block of that size (r1.h, "the model's memory").
static void act_sizes(const Config *c, int B, int T, size_t s[N_ACT_TENSORS]);
static void acts_point(Acts *a, float *block, const Config *c, int B, int T);

// One allocation per kind of memory: parameters, their gradients, the two
// AdamW moments, activations and their gradients. A reference policy or a
// frozen copy is simply another Model with the same layout.
typedef struct {
    Config config;
    Params params;  float *params_memory;  size_t num_params;
    Params grads;   float *grads_memory;
    float *m_memory, *v_memory;             // AdamW moments (allocated on first update)
    Params wt;      float *wt_memory;       // transposed matrices for the forward matmuls
    int B, T;                               // activation capacity (rows, positions)
    Acts acts;      float *acts_memory;
    Acts grad_acts; float *grad_acts_memory;
    size_t num_acts;
    int *inputs, *targets;                  // (B, T) of the current batch
    float *weights;                         // (B, T) per-token loss weight
    float *logp;                            // (B, T) log p(target) from the last forward
    int *lm_rows, n_lm;                     // positions that went through the LM head
    int cur_B, cur_T;                       // the batch of the last forward
    float cur_temperature;                  // and the temperature its softmax used
    long step;                              // AdamW steps taken
} Model;

static void model_alloc(Model *m, const Config *c) {
    memset(m, 0, sizeof *m);
    m->config = *c;
    m->num_params = param_count(c);
    m->params_memory = xcalloc(m->num_params, sizeof(float), "parameters");
    m->grads_memory = xcalloc(m->num_params, sizeof(float), "gradients");
    m->wt_memory = xcalloc(m->num_params, sizeof(float), "transposed weights");
    params_point(&m->params, m->params_memory, c);
    params_point(&m->grads, m->grads_memory, c);
    params_point(&m->wt, m->wt_memory, c);
}

// GPT-2's initialisation: normal(0, 0.02), residual projections scaled by
// 1/sqrt(2L), LayerNorm weights 1, all biases 0.
static void model_init(Model *m, Rng *rng) {
    const Config *c = &m->config;
    Params *p = &m->params;
    size_t sizes[N_PARAM_TENSORS];
    param_sizes(c, sizes);
    memset(m->params_memory, 0, m->num_params * sizeof(float));
    float *normal[] = { p->tok_emb, p->pos_emb, p->qkvw, p->attprojw, p->fcw, p->fcprojw };
    size_t ns[] = { sizes[0], sizes[1], sizes[4], sizes[6], sizes[10], sizes[12] };
    float sd_resid = 0.02f / sqrtf(2.0f * c->n_layer);
    for (int k = 0; k < 6; k++) {
        float sd = (normal[k] == p->attprojw || normal[k] == p->fcprojw) ? sd_resid : 0.02f;
        for (size_t i = 0; i < ns[k]; i++) normal[k][i] = sd * rng_normal(rng);
    }
    for (size_t i = 0; i < sizes[2]; i++) p->ln1w[i] = 1.0f;
    for (size_t i = 0; i < sizes[8]; i++) p->ln2w[i] = 1.0f;
    for (size_t i = 0; i < sizes[14]; i++) p->lnfw[i] = 1.0f;
}

// Make room for activations of B sequences of up to T positions (the
// activations and their gradients, one block each, and the batch's
// inputs, targets, loss weights and log-probabilities); and free a model.
static void model_reserve(Model *m, int B, int T);
static void model_free(Model *m);

// ----------------------------------------------------------------------------
// the model: layers, each forward right above its backward
//
// Arguments go outputs first, then inputs, then sizes. N = B*T rows.
// Backward passes accumulate (+=) into gradients that the caller zeroed.

// encoder: out[b,t,:] = tok_emb[inp[b,t],:] + pos_emb[t,:]
static void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe,
                            int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;       // seek to out[b,t,:]
            const float *e = wte + (size_t)inp[b * T + t] * C, *p = wpe + (size_t)t * C;
            for (int i = 0; i < C; i++) o[i] = e[i] + p[i];
        }
}
static void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp,
                             int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *de = dwte + (size_t)inp[b * T + t] * C, *dp = dwpe + (size_t)t * C;
            for (int i = 0; i < C; i++) { de[i] += d[i]; dp[i] += d[i]; }
        }
}

// layernorm: out = (x - mean) * rstd * weight + bias, per row of C
static void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                              const float *weight, const float *bias, int N, int C) {
    for (int r = 0; r < N; r++) {
        const float *x = inp + (size_t)r * C;                 // seek to inp[r,:]
        float *o = out + (size_t)r * C;
        const float m = sum_fixed(x, C) / C;
        for (int i = 0; i < C; i++) o[i] = x[i] - m;          // o holds x - mean for now
        const float v = dot_fixed(o, o, C) / C;
        const float s = 1.0f / sqrtf(v + 1e-5f);
        for (int i = 0; i < C; i++) o[i] = o[i] * s * weight[i] + bias[i];
        mean[r] = m; rstd[r] = s;
    }
}
static void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, const float *mean,
                               const float *rstd, int N, int C) {
    float *norm = xmalloc(2 * (size_t)C * sizeof(float), "layernorm scratch"), *dnorm = norm + C;
    for (int r = 0; r < N; r++) {
        const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
        float *dx = dinp + (size_t)r * C;
        const float m = mean[r], s = rstd[r];
        for (int i = 0; i < C; i++) { norm[i] = (x[i] - m) * s; dnorm[i] = weight[i] * d[i]; }
        // out = norm * weight + bias
        for (int i = 0; i < C; i++) { dbias[i] += d[i]; dweight[i] += norm[i] * d[i]; }
        // two reductions: mean of dnorm and mean of dnorm * norm
        const float dnorm_mean = sum_fixed(dnorm, C) / C, dnorm_norm_mean = dot_fixed(dnorm, norm, C) / C;
        // norm = (x - mean) * rstd, differentiated through mean and rstd
        for (int i = 0; i < C; i++) dx[i] += (dnorm[i] - dnorm_mean - norm[i] * dnorm_norm_mean) * s;
    }
    free(norm);
}

// matmul: out (N,OC) = inp (N,C) . weight (OC,C)^T + bias (OC)
// weight_t is weight transposed, (C,OC), so the product is the kernel's form.
static void matmul_forward(float *out, const float *inp, const float *weight_t, const float *bias,
                           int N, int C, int OC) {
    for (int r = 0; r < N; r++) {                             // out[r,:] = bias (or 0)
        if (bias) memcpy(out + (size_t)r * OC, bias, (size_t)OC * sizeof(float));
        else memset(out + (size_t)r * OC, 0, (size_t)OC * sizeof(float));
    }
    matmul_acc(out, inp, C, 1, weight_t, N, OC, C);
}
static void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, int N, int C, int OC) {
    // out[r,o] = sum_i inp[r,i] * weight[o,i] + bias[o], so
    // dinp[r,i] += sum_o dout[r,o] * weight[o,i]       dinp (N,C) += dout (N,OC) . weight (OC,C)
    if (dinp) matmul_acc(dinp, dout, OC, 1, weight, N, C, OC);
    // dweight[o,i] += sum_r dout[r,o] * inp[r,i]       dweight (OC,C) += dout^T (OC,N) . inp (N,C)
    matmul_acc(dweight, dout, 1, OC, inp, OC, C, N);
    // dbias[o] += sum_r dout[r,o]
    for (int r = 0; dbias && r < N; r++) {
        const float *d = dout + (size_t)r * OC;
#pragma omp simd
        for (int o = 0; o < OC; o++) dbias[o] += d[o];
    }
}

// attention: inp is qkv (B,T,3C), out is (B,T,C), att is (B,NH,T,T).
// For each head: att[t,s] = softmax_s<=t (q_t . k_s / sqrt(hs)), out_t = sum_s att[t,s] v_s

// x[0..n) = softmax(x * scale); the one softmax of the model: both attention
// paths below and the LM head (softmax_logp_forward). The sum goes through sum_fixed,
// so its order, and so every bit of the result, is the same on every machine.
static void softmax_scaled(float *x, int n, float scale) {
    float maxv = -INFINITY;
    for (int s = 0; s < n; s++) { x[s] *= scale; maxv = x[s] > maxv ? x[s] : maxv; }
    for (int s = 0; s < n; s++) x[s] = r1_expf(x[s] - maxv);
    const float sum = sum_fixed(x, n);
    for (int s = 0; s < n; s++) x[s] /= sum;
}

// One query of one head against n keys and values (key s at k + s*stride,
// value s at v + s*stride): att[0..n) gets the softmax weights, out[0..hs)
// the weighted sum. This is attention as the KV-cache sampler needs it, one
// new token at a time (r1.h's attend_fast: the same sums, in registers);
// training (below) does all queries of a head at once, and
// tests/test_model.c checks that they agree.
static void attend(float *out, float *att, const float *q, const float *k, const float *v,
                   size_t stride, int n, int hs) {
    for (int s = 0; s < n; s++) att[s] = dot_fixed(q, k + (size_t)s * stride, hs);   // q . k_s
    softmax_scaled(att, n, 1.0f / sqrtf((float)hs));
    for (int i = 0; i < hs; i++) out[i] = 0.0f;
    for (int s = 0; s < n; s++) {                           // a sum over s: fmaf, as dot_fixed
        const float *vs = v + (size_t)s * stride;
#pragma omp simd
        for (int i = 0; i < hs; i++) out[i] = fmaf(att[s], vs[i], out[i]);
    }
}

// Training attends with all T queries of a head at once, as small matrix
// products on the matmul kernel (one head per thread, so on the calling
// thread). The kernel wants b with contiguous rows; where b would be the
// keys or values transposed, transpose_head makes that copy, (hs,T): row i
// holds component i of every position. The products go in blocks of
// ATT_ROWS rows, each stopping at the diagonal block's edge: a staircase
// over the causal triangle. The entries it still covers above the diagonal
// are masked (set to exactly 0) afterwards; the ones it skips would only
// have added exact zeros, so the numbers are those of the full square.
typedef struct {
    float *out, *att, *dinp; const float *inp, *dout; int B, T, C, NH;
} AttentionJob;
#define ATT_ROWS 24                 // rows per block: whole 6-row tiles, and 16 + 8 columns
static void transpose_head(float *xt, const float *x, size_t stride, int T, int hs) {
    for (int s = 0; s < T; s++)
        for (int i = 0; i < hs; i++) xt[(size_t)i * T + s] = x[s * stride + i];
}
static void attention_forward_bh(void *ctx, int i0, int i1) {
    const AttentionJob *j = ctx;
    const int T = j->T, C = j->C, NH = j->NH, hs = C / NH;
    const size_t row = 3 * (size_t)C;                              // qkv row stride
    float *kt = xmalloc((size_t)hs * T * sizeof(float), "attention scratch");
    for (int bh = i0; bh < i1; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = j->inp + (size_t)b * T * row + h * hs, *k = q + C, *v = q + 2 * C;
        float *att = j->att + (size_t)bh * T * T;                  // att[b,h,:,:]
        float *out = j->out + (size_t)b * T * C + h * hs;          // out[b,:,h*hs], row stride C
        transpose_head(kt, k, row, T, hs);
        for (int t = 0; t < T; t++) memset(out + (size_t)t * C, 0, (size_t)hs * sizeof(float));
        for (int t0 = 0; t0 < T; t0 += ATT_ROWS) {                 // rows [t0,t1): keys s < t1
            const int t1 = t0 + ATT_ROWS < T ? t0 + ATT_ROWS : T;
            // att (T,T) = q (T,hs) . k^T (hs,T), then the causal softmax row by row
            // (into the block's staircase, zeroed first; the mask writes the rest)
            for (int t = t0; t < t1; t++) memset(att + (size_t)t * T, 0, (size_t)t1 * sizeof(float));
            matmul_acc_here(att + (size_t)t0 * T, T, q + t0 * row, row, 1, kt, T, t1 - t0, t1, hs);
            for (int t = t0; t < t1; t++) {
                float *at = att + (size_t)t * T;
                softmax_scaled(at, t + 1, 1.0f / sqrtf((float)hs));
                for (int s = t + 1; s < T; s++) at[s] = 0.0f;      // causal mask
            }
            // out (T,hs) = att (T,T) . v (T,hs)
            matmul_acc_here(out + (size_t)t0 * C, C, att + (size_t)t0 * T, T, 1, v, row, t1 - t0, hs, t1);
        }
    }
    free(kt);
}
static void attention_forward(float *out, float *att, const float *inp, int B, int T, int C, int NH) {
    AttentionJob j = { out, att, NULL, inp, NULL, B, T, C, NH };
    parallel_for(B * NH, 1, attention_forward_bh, &j);
}
static void attention_backward_bh(void *ctx, int i0, int i1) {
    const AttentionJob *j = ctx;
    const int T = j->T, C = j->C, NH = j->NH, hs = C / NH;
    const size_t row = 3 * (size_t)C;                              // qkv row stride
    const float scale = 1.0f / sqrtf((float)hs);
    float *vt = xmalloc(((size_t)hs * T + (size_t)T * T) * sizeof(float), "attention scratch");
    float *dpre = vt + (size_t)hs * T;
    for (int bh = i0; bh < i1; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = j->inp + (size_t)b * T * row + h * hs, *k = q + C, *v = q + 2 * C;
        float *dq = j->dinp + (size_t)b * T * row + h * hs, *dk = dq + C, *dv = dq + 2 * C;
        const float *att = j->att + (size_t)bh * T * T;            // att[b,h,:,:]
        const float *d = j->dout + (size_t)b * T * C + h * hs;     // dout[b,:,h*hs], row stride C
        // out = att . v, so  datt (T,T) = dout (T,hs) . v^T (hs,T)  (kept in dpre for now)
        //               and  dv (T,hs) += att^T (T,T) . dout (T,hs)
        transpose_head(vt, v, row, T, hs);
        for (int t0 = 0; t0 < T; t0 += ATT_ROWS) {
            const int t1 = t0 + ATT_ROWS < T ? t0 + ATT_ROWS : T;
            // dpre is scratch: only its staircase is written, and read
            for (int t = t0; t < t1; t++) memset(dpre + (size_t)t * T, 0, (size_t)t1 * sizeof(float));
            matmul_acc_here(dpre + (size_t)t0 * T, T, d + (size_t)t0 * C, C, 1, vt, T, t1 - t0, t1, hs);
            // row s of att^T holds att[t,s], zero unless t >= s: for s >= t0, sum over t >= t0
            matmul_acc_here(dv + t0 * row, row, att + (size_t)t0 * T + t0, 1, T, d + (size_t)t0 * C, C,
                            t1 - t0, hs, T - t0);
        }
        // att = softmax(pre), row by row: dpre[s] = att[s] * (datt[s] - sum_u att[u] datt[u]),
        // and pre = q . k^T * scale (zero above the diagonal, where att is
        // masked: up to the staircase's edge, as far as the products below read)
        for (int t = 0; t < T; t++) {
            const float *at = att + (size_t)t * T;
            float *dp = dpre + (size_t)t * T;
            const int edge = (t / ATT_ROWS + 1) * ATT_ROWS < T ? (t / ATT_ROWS + 1) * ATT_ROWS : T;
            const float dsum = dot_fixed(dp, at, t + 1);
            for (int s = 0; s <= t; s++) dp[s] = at[s] * (dp[s] - dsum) * scale;
            for (int s = t + 1; s < edge; s++) dp[s] = 0.0f;
        }
        // dq (T,hs) += dpre (T,T) . k (T,hs)    dk (T,hs) += dpre^T (T,T) . q (T,hs)
        for (int t0 = 0; t0 < T; t0 += ATT_ROWS) {
            const int t1 = t0 + ATT_ROWS < T ? t0 + ATT_ROWS : T;
            matmul_acc_here(dq + t0 * row, row, dpre + (size_t)t0 * T, T, 1, k, row, t1 - t0, hs, t1);
            matmul_acc_here(dk + t0 * row, row, dpre + (size_t)t0 * T + t0, 1, T, q + t0 * row, row,
                            t1 - t0, hs, T - t0);
        }
    }
    free(vt);
}
static void attention_backward(float *dinp, const float *dout, const float *inp, const float *att,
                               int B, int T, int C, int NH) {
    AttentionJob j = { NULL, (float *)att, dinp, inp, dout, B, T, C, NH };
    parallel_for(B * NH, 1, attention_backward_bh, &j);
}

// gelu, tanh approximation: out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
#define GELU_SCALE 0.7978845608f // sqrt(2/pi)
// tanh(u) = 1 - 2 / (exp(2u) + 1), with r1_expf so that the GELU loops vectorise
static inline float tanh_vec(float u) { return 1.0f - 2.0f / (r1_expf(2.0f * u) + 1.0f); }

static void gelu_forward(float *out, const float *inp, size_t N) {
#pragma omp simd
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanh_vec(GELU_SCALE * (x + 0.044715f * x * x * x)));
    }
}
static void gelu_backward(float *dinp, const float *inp, const float *dout, size_t N) {
#pragma omp simd
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        float th = tanh_vec(u), sech2 = 1.0f - th * th;
        float du = GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        // d/dx [0.5 x (1 + tanh u)] = 0.5 (1 + tanh u) + 0.5 x sech^2(u) du/dx
        dinp[i] += (0.5f * (1.0f + th) + 0.5f * x * sech2 * du) * dout[i];
    }
}

// residual: out = inp1 + inp2
static void residual_forward(float *out, const float *inp1, const float *inp2, size_t N) {
    for (size_t i = 0; i < N; i++) out[i] = inp1[i] + inp2[i];
}
static void residual_backward(float *dinp1, float *dinp2, const float *dout, size_t N) {
    for (size_t i = 0; i < N; i++) { dinp1[i] += dout[i]; dinp2[i] += dout[i]; }
}

// softmax + log-probability of each target: logits (N,V) become probs in
// place. Row r is position rows[r] of the batch (rows NULL: position r), and
// logp[pos] = log softmax(logits[r])[targets[pos]], or 0 for a negative
// target (padding).
static void softmax_logp_forward(float *probs, float *logp, const int *targets, const int *rows, int N, int V,
                                 float temperature) {
    for (int r = 0; r < N; r++) {
        float *p = probs + (size_t)r * V;
        softmax_scaled(p, V, 1.0f / temperature);             // softmax(z / temperature)
        const int pos = rows ? rows[r] : r, y = targets ? targets[pos] : -1;
        if (logp) logp[pos] = y >= 0 ? r1_logf(p[y] > 1e-30f ? p[y] : 1e-30f) : 0.0f;
    }
}
// The weighted loss is  loss = -sum_r weight[r] * logp[r].  Its gradient with
// respect to the logits of row r is  weight[r] * (probs[r,:] - onehot(target)),
// divided by the temperature when the forward divided the logits by it.
// Supervised fine-tuning puts 1/count on response tokens and 0 elsewhere;
// GRPO puts its per-token coefficient here (see grpo_token below).
static void softmax_logp_backward(float *dlogits, const float *probs, const int *targets,
                                  const float *weight, const int *rows, int N, int V, float temperature) {
    for (int r = 0; r < N; r++) {
        float *d = dlogits + (size_t)r * V;
        const float *p = probs + (size_t)r * V;
        const int pos = rows ? rows[r] : r;
        const float w = weight[pos] * (1.0f / temperature);
        if (w == 0.0f || targets[pos] < 0) continue;
        for (int i = 0; i < V; i++) d[i] += w * p[i];
        d[targets[pos]] -= w;
    }
}

// ----------------------------------------------------------------------------
// the model: whole forward, backward and AdamW

// Layer l's slice of every per-layer parameter tensor: of the parameters,
// of their gradients or of the transposed copies (the same layout).
typedef struct {
    float *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb, *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
} LayerParams;
static LayerParams layer_params(const Params *p, const Config *c, int l);

// Layer l's slice of every per-layer activation (or of their gradients) of
// a batch of B sequences of T positions.
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *att, *attproj, *residual2, *ln2, *ln2_mean, *ln2_rstd,
          *fch, *fch_gelu, *fcproj, *residual3;
} LayerActs;
static LayerActs layer_acts(const Acts *a, const Config *c, int B, int T, int l);

// Lay out each weight matrix transposed for matmul_forward (into m->wt): one
// pass over the parameters, at the start of every forward unless the caller
// vouches for the last one (see model_forward), so it is never stale.
static void model_transpose_weights(Model *m);

// Forward B sequences of T tokens (inputs (B,T)). If targets is non-NULL
// (negative = ignore), m->logp gets log p(target) at every position under
// softmax(logits / temperature) (GRPO uses its rollouts' temperature), and
// acts.logits keeps the probabilities for the backward pass (row i: position
// m->lm_rows[i]). same_weights: the weights have not changed since this
// model's last forward (one optimizer step's micro-batches): reuse their transposes.
static void model_forward(Model *m, const int *inputs, const int *targets, int B, int T, float temperature,
                          int same_weights) {
    const Config *c = &m->config;
    const int V = c->vocab_size, L = c->n_layer, NH = c->n_head, D = c->d_model;
    if (T > c->n_ctx) die(EXIT_DATA, "internal: sequence of %d tokens exceeds n_ctx %d", T, c->n_ctx);
    model_reserve(m, B, T);
    // the activation block is laid out for (m->B, m->T); re-point it for (B,T)
    acts_point(&m->acts, m->acts_memory, c, B, T);
    acts_point(&m->grad_acts, m->grad_acts_memory, c, B, T);
    memcpy(m->inputs, inputs, (size_t)B * T * sizeof(int));
    if (targets) memcpy(m->targets, targets, (size_t)B * T * sizeof(int));
    else for (int i = 0; i < B * T; i++) m->targets[i] = -1;
    m->cur_B = B; m->cur_T = T; m->cur_temperature = temperature;
    if (!same_weights) model_transpose_weights(m);

    const int N = B * T;
    Params *p = &m->params, *wt = &m->wt;
    Acts *a = &m->acts;
    encoder_forward(a->encoded, m->inputs, p->tok_emb, p->pos_emb, B, T, D);
    for (int l = 0; l < L; l++) {
        const float *residual = l == 0 ? a->encoded : layer_acts(a, c, B, T, l - 1).residual3;
        const LayerParams lp = layer_params(p, c, l), lt = layer_params(wt, c, l);   // lt: the transposed weights
        const LayerActs la = layer_acts(a, c, B, T, l);
        layernorm_forward(la.ln1, la.ln1_mean, la.ln1_rstd, residual, lp.ln1w, lp.ln1b, N, D);
        matmul_forward(la.qkv, la.ln1, lt.qkvw, lp.qkvb, N, D, 3 * D);
        attention_forward(la.atty, la.att, la.qkv, B, T, D, NH);
        matmul_forward(la.attproj, la.atty, lt.attprojw, lp.attprojb, N, D, D);
        residual_forward(la.residual2, residual, la.attproj, (size_t)N * D);
        layernorm_forward(la.ln2, la.ln2_mean, la.ln2_rstd, la.residual2, lp.ln2w, lp.ln2b, N, D);
        matmul_forward(la.fch, la.ln2, lt.fcw, lp.fcb, N, D, 4 * D);
        gelu_forward(la.fch_gelu, la.fch, (size_t)N * 4 * D);
        matmul_forward(la.fcproj, la.fch_gelu, lt.fcprojw, lp.fcprojb, N, 4 * D, D);
        residual_forward(la.residual3, la.residual2, la.fcproj, (size_t)N * D);
    }
    const float *last = a->residual3 + (size_t)(L - 1) * N * D;
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, last, p->lnfw, p->lnfb, N, D);
    // The LM head (a tenth of the model's arithmetic) runs only where a
    // log-probability is wanted: at positions with a target, or at every
    // position when there are no targets. Prompts and padding are skipped.
    // acts.logits row i is position lm_rows[i].
    int n = 0;
    for (int r = 0; r < N; r++)
        if (!targets || m->targets[r] >= 0) {
            m->lm_rows[n] = r;
            memcpy(a->lm_in + (size_t)n * D, a->lnf + (size_t)r * D, (size_t)D * sizeof(float));
            n++;
        }
    m->n_lm = n;
    memset(m->logp, 0, (size_t)N * sizeof(float));
    matmul_forward(a->logits, a->lm_in, wt->tok_emb, NULL, n, D, V);       // tied unembedding
    softmax_logp_forward(a->logits, m->logp, m->targets, m->lm_rows, n, V, temperature);
}

static void model_zero_grad(Model *m) { zero_floats(m->grads_memory, m->num_params); }

// The gradients of the last model_forward's activations that a backward pass
// adds into, zeroed (not att's, as attention's backward keeps its own scratch,
// nor the LM head's rows past n_lm): a backward pass fills in grad_acts.lnf
// (the LM head's, or a reward head's), and model_backward_trunk goes on.
static void model_backward_begin(Model *m) {
    const Acts *da = &m->grad_acts;
    const size_t D = m->config.d_model, V = m->config.vocab_size, n = (size_t)m->n_lm;
    zero_floats(da->encoded, (size_t)(da->att - da->encoded));             // encoded .. atty
    zero_floats(da->attproj, (size_t)(da->lm_in - da->attproj));           // attproj .. lnf_rstd
    zero_floats(da->lm_in, n * D);
    zero_floats(da->logits, n * V);
}
static void model_backward_trunk(Model *m);

// Backward of the loss  -sum_{b,t} weights[b,t] * logp[b,t]  for the batch of
// the last model_forward. Accumulates (+=) into m->grads.
static void model_backward(Model *m, const float *weights) {
    const int V = m->config.vocab_size, D = m->config.d_model;
    Params *p = &m->params, *g = &m->grads;
    Acts *a = &m->acts, *da = &m->grad_acts;
    model_backward_begin(m);
    // from the loss weights (GRPO's coefficients, or SFT's 1/count) to the logits
    softmax_logp_backward(da->logits, a->logits, m->targets, weights, m->lm_rows, m->n_lm, V, m->cur_temperature);
    matmul_backward(da->lm_in, g->tok_emb, NULL, da->logits, a->lm_in, p->tok_emb, m->n_lm, D, V);
    for (int i = 0; i < m->n_lm; i++)                       // back to the positions they came from
        memcpy(da->lnf + (size_t)m->lm_rows[i] * D, da->lm_in + (size_t)i * D, (size_t)D * sizeof(float));
    model_backward_trunk(m);
}

// From the gradient of the final LayerNorm's output (grad_acts.lnf) down to
// the embeddings.
static void model_backward_trunk(Model *m) {
    const Config *c = &m->config;
    const int B = m->cur_B, T = m->cur_T, N = B * T;
    const int L = c->n_layer, NH = c->n_head, D = c->d_model;
    Params *p = &m->params, *g = &m->grads;
    Acts *a = &m->acts, *da = &m->grad_acts;
    float *last = a->residual3 + (size_t)(L - 1) * N * D, *dlast = da->residual3 + (size_t)(L - 1) * N * D;
    layernorm_backward(dlast, g->lnfw, g->lnfb, da->lnf, last, p->lnfw, a->lnf_mean, a->lnf_rstd, N, D);
    for (int l = L - 1; l >= 0; l--) {
        const float *residual = l == 0 ? a->encoded : layer_acts(a, c, B, T, l - 1).residual3;
        float *dresidual = l == 0 ? da->encoded : layer_acts(da, c, B, T, l - 1).residual3;
        const LayerParams lp = layer_params(p, c, l), lg = layer_params(g, c, l);
        const LayerActs la = layer_acts(a, c, B, T, l), dla = layer_acts(da, c, B, T, l);
        // residual3 = residual2 + fcproj
        residual_backward(dla.residual2, dla.fcproj, dla.residual3, (size_t)N * D);
        // fcproj = fch_gelu . fcprojw^T + fcprojb
        matmul_backward(dla.fch_gelu, lg.fcprojw, lg.fcprojb, dla.fcproj, la.fch_gelu, lp.fcprojw, N, 4 * D, D);
        // fch_gelu = gelu(fch)
        gelu_backward(dla.fch, la.fch, dla.fch_gelu, (size_t)N * 4 * D);
        // fch = ln2 . fcw^T + fcb
        matmul_backward(dla.ln2, lg.fcw, lg.fcb, dla.fch, la.ln2, lp.fcw, N, D, 4 * D);
        // ln2 = layernorm(residual2)
        layernorm_backward(dla.residual2, lg.ln2w, lg.ln2b, dla.ln2, la.residual2, lp.ln2w, la.ln2_mean, la.ln2_rstd, N, D);
        // residual2 = residual + attproj
        residual_backward(dresidual, dla.attproj, dla.residual2, (size_t)N * D);
        // attproj = atty . attprojw^T + attprojb
        matmul_backward(dla.atty, lg.attprojw, lg.attprojb, dla.attproj, la.atty, lp.attprojw, N, D, D);
        // atty = attention(qkv)
        attention_backward(dla.qkv, dla.atty, la.qkv, la.att, B, T, D, NH);
        // qkv = ln1 . qkvw^T + qkvb
        matmul_backward(dla.ln1, lg.qkvw, lg.qkvb, dla.qkv, la.ln1, lp.qkvw, N, D, 3 * D);
        // ln1 = layernorm(residual)
        layernorm_backward(dresidual, lg.ln1w, lg.ln1b, dla.ln1, residual, lp.ln1w, la.ln1_mean, la.ln1_rstd, N, D);
    }
    // encoded = tok_emb[inputs] + pos_emb
    encoder_backward(g->tok_emb, g->pos_emb, da->encoded, m->inputs, B, T, D);
}

// Global gradient-norm clipping; returns the norm before clipping. A plain
// serial sum is in the source's order; and each product of two floats is
// exact in double, so fused into the sum or not, it adds the same number.
static float clip_grad_norm(Model *m, float max_norm) {
    double ss = 0.0;
    for (size_t i = 0; i < m->num_params; i++) ss += (double)m->grads_memory[i] * m->grads_memory[i];
    float norm = (float)sqrt(ss);
    if (max_norm > 0.0f && norm > max_norm) {
        float s = max_norm / (norm + 1e-6f);
        for (size_t i = 0; i < m->num_params; i++) m->grads_memory[i] *= s;
    }
    return norm;
}

// Learning rate at a step: linear warm-up, then cosine decay to min_frac * lr.
static float lr_schedule(float lr, long step, long warmup, long total, float min_frac) {
    if (step < warmup) return lr * (float)(step + 1) / (float)warmup;
    if (total <= warmup) return lr;
    float progress = (float)(step - warmup) / (float)(total - warmup);
    if (progress > 1.0f) progress = 1.0f;
    return lr * (min_frac + (1.0f - min_frac) * 0.5f * (1.0f + r1_cosf(3.14159265f * progress)));
}

// AdamW (Loshchilov & Hutter): one loop over all parameters. Weight decay is
// applied to matrices and embeddings (tensors of rank 2), not to biases or
// LayerNorm weights.
typedef struct {
    float *p, *g, *mo, *ve; float lr, beta1, beta2, eps, wd, b1c, b2c;
} AdamwJob;
static void adamw_range(void *ctx, int i0, int i1) {
    const AdamwJob *j = ctx;
    for (int i = i0; i < i1; i++) {
        float g = j->g[i];
        float mo = j->mo[i] = j->beta1 * j->mo[i] + (1.0f - j->beta1) * g;
        float ve = j->ve[i] = j->beta2 * j->ve[i] + (1.0f - j->beta2) * g * g;
        float mhat = mo / j->b1c, vhat = ve / j->b2c;
        j->p[i] -= j->lr * (mhat / (sqrtf(vhat) + j->eps) + j->wd * j->p[i]);
    }
}
// A new stage starts its optimizer afresh, as every trainer does: no
// moments, step 0 (a model fresh from the previous stage in the same process
// and one loaded from its checkpoint then train alike).
static void adamw_reset(Model *m) {
    free(m->m_memory); free(m->v_memory);
    m->m_memory = m->v_memory = NULL;
    m->step = 0;
}

static void adamw_update(Model *m, float lr, float beta1, float beta2, float eps, float weight_decay) {
    if (!m->m_memory) {
        m->m_memory = xcalloc(m->num_params, sizeof(float), "AdamW first moment");
        m->v_memory = xcalloc(m->num_params, sizeof(float), "AdamW second moment");
    }
    m->step++;
    float b1c = 1.0f - r1_powi(beta1, m->step), b2c = 1.0f - r1_powi(beta2, m->step);
    size_t sizes[N_PARAM_TENSORS], off = 0;
    param_sizes(&m->config, sizes);
    for (int t = 0; t < N_PARAM_TENSORS; t++) {
        // tensors 0,1 (embeddings), 4,6,10,12 (matrices) are decayed
        int decay = t == 0 || t == 1 || t == 4 || t == 6 || t == 10 || t == 12;
        AdamwJob j = { m->params_memory + off, m->grads_memory + off, m->m_memory + off, m->v_memory + off,
                       lr, beta1, beta2, eps, decay ? weight_decay : 0.0f, b1c, b2c };
        parallel_for((int)sizes[t], 1024, adamw_range, &j);
        off += sizes[t];
    }
}

// ----------------------------------------------------------------------------
// sampling: temperature and top-p, with a KV cache
//
// Generating token t+1 needs the keys and values of tokens 0..t in every
// layer; the cache keeps them, so each new token costs one row through the
// network instead of the whole prefix (r1.h: decode_step, generate).

typedef struct {
    int n_slot, n_ctx;
    float *k, *v;                     // (L, n_slot, n_ctx, D)
    // scratch rows for the sequences of one step (n_slot rows each)
    float *x, *ln, *mean, *rstd, *qkv, *atty, *proj, *fch, *fch_gelu, *logits;
} KVCache;

static void kv_alloc(KVCache *kv, const Config *c, int n_slot);   // a cache for n_slot sequences
static void kv_free(KVCache *kv);

// Pick a token from logits: greedy at temperature 0, else softmax(logits/T)
// restricted to the smallest set of tokens whose probability reaches top_p.
// Any logits give a token, the same for the same coins: NaN counts as -inf,
// the tokens at the maximum (+inf ones too) have weight 1, and a row without
// a token above -inf gives its first token. scratch: room for 2V entries.
typedef struct { float p; int id; } ProbId;
static int nucleus_in_order(ProbId *s, ProbId *tmp, int cand, double mass, double *sum);   // r1.h
static float logit_or_minus_inf(float x) { return isnan(x) ? -INFINITY : x; }
static int sample_token(const float *logits, int V, float temperature, float top_p, Rng *rng, ProbId *scratch) {
    int best = 0;
    for (int i = 1; i < V; i++) if (logit_or_minus_inf(logits[i]) > logit_or_minus_inf(logits[best])) best = i;
    const float top = logit_or_minus_inf(logits[best]);
    if (temperature <= 0.0f || top == -INFINITY) return best;
    for (int i = 0; i < V; i++) {                           // (a loop of its own: it vectorises)
        float l = logit_or_minus_inf(logits[i]);
        scratch[i].p = l == top ? 1.0f : r1_expf((l - top) / temperature);
        scratch[i].id = i;
    }
    double sum = 0.0;                                       // >= 1: the best token has weight 1
    for (int i = 0; i < V; i++) sum += scratch[i].p;
    int n = V;
    if (top_p < 1.0f) {                                     // nucleus: keep the top tokens
        // Only tokens above eps can be in the nucleus: together, those below
        // it hold less than half of the 1 - top_p the nucleus leaves out. So
        // order just those (r1.h), gathered in id order as its sort needs;
        // scratch + V is the room that sort moves them through.
        // The best token, weight 1, is always among them: n >= 1.
        const double eps = (1.0 - top_p) * sum / (2.0 * V);
        int cand = 0;
        for (int i = 0; i < V; i++)
            if (scratch[i].p >= eps) scratch[cand++] = scratch[i];
        n = nucleus_in_order(scratch, scratch + V, cand, top_p * sum, &sum);
    }
    double r = rng_uniform(rng) * sum, cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += scratch[i].p;
        if (r < cum) return scratch[i].id;
    }
    return scratch[n - 1].id;
}

typedef struct {
    float temperature;  // 0 = greedy
    float top_p;        // 1 = off
} SampleOpts;

// ----------------------------------------------------------------------------
// rollouts: prompts in, completions (as tokens and as text) out

// The question an RL stage asks: its text, the answer the verifier
// expects, its language. A general request (all-scenario RL, §2.3.4) has no
// verifier: the reward model scores it, and the judge's reference answer is
// kept for the logs.
typedef struct { char text[128]; long long expected; int lang; int general; char reference[64]; } Question;

// Sequences of tokens, each a prompt followed by its completion.
typedef struct {
    int n, T;            // sequences; row length (n_ctx)
    int *tok;            // (n, T)
    int *len, *plen;     // total and prompt length of each
    int *truncated;      // 1 if the completion hit the context limit
    char **text;         // each completion decoded (without <|end|>)
    size_t *text_len;
} Seqs;

// Their memory (r1.h), and a row from text: seqs_set_prompt, the template
// around a question (and an optional forced start of the answer);
// seqs_set_pair, a prompt, its completion and <|end|>. Both die, naming the
// text, if it does not fit the context; pair_fits asks first.
static void seqs_alloc(Seqs *s, int n, int T);
static void seqs_free(Seqs *s);
static void seqs_set_prompt(Seqs *s, int i, const Tokenizer *tok, const char *question, const char *forced);
static void seqs_set_pair(Seqs *s, int i, const Tokenizer *tok, const char *prompt, const char *completion);
static int pair_fits(const Tokenizer *tok, const char *question, const char *completion, int n_ctx);

// Sample a completion for every row of s (prompts already set), decoding as
// many rows side by side as the KV cache holds, each next token sample_token's
// pick from a random stream of its own sequence and position (rng_at: any
// thread count picks the same ones). A completion ends at <|end|> or when the
// context is full (then truncated[i] = 1); each is decoded to text, with
// forced (if not NULL), the text the prompt ended with, in front.
static void rollout(Model *m, KVCache *kv, const Tokenizer *tok, Seqs *s, SampleOpts so, Rng *rng,
                    const char *forced);

// Order the rows of s by length, carrying extra[] (a float per row, or
// NULL): micro-batches of like lengths pad little, and the loss is a sum
// over rows, so the order does not change what is learned.
static void seqs_sort_by_length(Seqs *s, float *extra);

// Rows [i0,i1) of s as a training batch: inputs are tokens 0..len-2,
// targets tokens 1..len-1; prompt targets are dropped (-1) when
// completion_only, padding always. Returns the batch's T.
static int seqs_batch(const Seqs *s, int i0, int i1, int completion_only, int *inputs, int *targets) {
    int T = 1;
    for (int i = i0; i < i1; i++) if (s->len[i] - 1 > T) T = s->len[i] - 1;
    for (int i = i0; i < i1; i++) {
        const int *row = s->tok + (size_t)i * s->T;
        for (int t = 0; t < T; t++) {
            int b = (i - i0) * T + t;
            inputs[b] = t < s->len[i] - 1 ? row[t] : TOK_END;
            targets[b] = t < s->len[i] - 1 && (!completion_only || t + 1 >= s->plen[i]) ? row[t + 1] : -1;
        }
    }
    return T;
}

// ----------------------------------------------------------------------------
// GRPO (paper §2.2.1 eq. 1-3; DeepSeekMath eq. 3)
//
// For each question q, sample a group of G outputs o_1..o_G from the old
// policy, score them with the rewards r_1..r_G, and give every token of o_i
// the advantage A_i of its output (eq. 3, group_advantages below). Then
// maximise the clipped objective with a KL penalty against a frozen
// reference policy (eq. 1-2, grpo_coefficients below). There is no value
// network: the group's mean reward is the baseline.
//
// grpo_step reads in the paper's order: questions -> rollouts -> rewards ->
// advantages -> reference log-probs -> mu x (grpo_gradient: policy forward,
// per-token coefficients, backward; then gradient clip -> AdamW).
//
// Mini-batches (--minibatches N, TRL: steps_per_generation): the paper's RL
// splits each rollout batch into N consecutive parts (whole groups when G
// divides a part), each one optimizer step of every inner update, normalised
// over its own part as a batch of its own would be; pi_old's log-probabilities
// of every row are taken before the first. From the second step on the
// policy is no longer pi_old: rho != 1 and the clip binds even with mu = 1.
//
// Two facts a reader might otherwise get wrong:
// - With mu = 1 and one mini-batch (the toy's default; the paper takes 16
//   mini-batch steps per rollout batch) the policy that is updated is the
//   policy that sampled, so rho = 1 in value and the clip never binds:
//   the update is REINFORCE with a group baseline plus the KL term. The
//   ratio still matters in the gradient (d rho / d theta = rho d log pi).
//   With mu > 1 the later inner updates see rho != 1 and the clip works, and
//   so do the later mini-batches of one update.
// - The k3 estimator KL = e^r - r - 1 with r = log(pi_ref/pi_theta) has the
//   gradient (1 - pi_ref/pi_theta) d log pi_theta, as DeepSeekMath and TRL
//   use it; it is not the gradient of the true KL, but it is zero where the
//   policy equals the reference and pushes back towards it elsewhere.

enum { LOSS_GRPO, LOSS_DR_GRPO, LOSS_DAPO };
static const char *const LOSS_NAMES[] = { "grpo", "dr_grpo", "dapo" };

typedef struct {
    int steps;            // GRPO steps (one batch of questions each)
    int prompts;          // questions per step
    int group;            // G, outputs per question
    int mu;               // inner updates per batch (GRPO's mu)
    int minibatches;      // optimizer steps per inner update, each on a part of the batch (1: the whole batch)
    int loss;             // LOSS_GRPO / LOSS_DR_GRPO / LOSS_DAPO
    float lr;             // peak learning rate (cosine decay to 10%)
    float beta;           // KL coefficient
    float clip_low;       // epsilon: rho is clipped to [1 - clip_low, 1 + clip_high]
    float clip_high;
    float max_grad_norm;  // global gradient-norm clip
    float temperature;    // rollouts sample softmax(z / temperature), and the ratio uses the same
    int ref_reset;        // copy the policy into the reference every N steps (0: never)
    int micro;            // sequences per forward/backward (memory only; same result)
    float format_reward;  // weight of the format reward (0: trained without it, still logged; TRL: reward_weights)
    float lang_reward;    // weight of the language-consistency reward (0: not used)
    float process_reward; // weight of the process reward, §4.2's attempt (0: not used)
} GrpoOpts;

// Where a stage's RL questions come from: next() writes one.
typedef struct { void (*next)(void *ctx, Rng *rng, Question *q); void *ctx; } PromptSource;

// A rule-based reward (paper §2.2.2): the score of one completion of q.
// truncated: the completion hit the context limit.
typedef struct {
    const char *name;     // its batch mean is the metrics.csv column NAME_reward
    float (*score)(const char *text, size_t len, int truncated, const Question *q);
    float weight;
    int general_too;      // also scores general requests (else: reasoning questions only)
} Reward;

// The learned reward model of all-scenario RL (§2.3.4), with the stage
// below: score[i] for the rows rows[0..n) of s, each its prompt and completion.
typedef struct RewardModel RewardModel;
static void rm_forward(RewardModel *rm, const Seqs *s, const int *rows, int n, float *score, int same_weights);

// What one RL stage trains on: its questions and its rewards, summed.
#define MAX_REWARDS 4
typedef struct {
    PromptSource prompts;
    Reward reward[MAX_REWARDS]; int n_reward;
    const Dataset *hard;  // a second development set to watch, logged as hard_* (NULL: add_dev only)
    RewardModel *rm;      // scores the general requests (NULL: a stage of reasoning questions only)
    float rm_weight;      // its weight in the reward...
    int rm_from;          // ...from this GRPO step on (before it, the reward model is logged, not used)
} RlTask;

// One GRPO step's batch statistics, for the logs (TRL's names where it has one).
typedef struct {
    float reward, reward_std;          // mean reward; mean of the groups' stds
    float reward_mean[MAX_REWARDS];    // each reward function's batch mean
    float kl, clip_frac;               // over every token of every inner update
    float zero_var, truncated, grad_norm, lr;
    float len_mean; int len_min, len_max;
    float rm_score, judge_helpful, judge_harmless;   // over the batch's general requests (with a reward model; NaN: none)
} GrpoStats;

// Group-relative advantages (eq. 3), for Q groups of G rewards:
//     A_i = (r_i - mean(r)) / (std(r) + eps)       grpo, dapo
//     A_i =  r_i - mean(r)                         dr_grpo (Dr. GRPO: dividing
//                                                  by the std weights questions unequally)
// A group whose rewards are all equal has no signal: its advantages are
// exactly 0 and flat[q] = 1. That is tested as equality, not as std == 0,
// because fractional rewards can leave a std of 1e-8 that the division would
// blow up into a spurious advantage. Returns the mean of the groups' stds,
// which TRL logs as reward_std.
static float group_advantages(const float *reward, int Q, int G, int loss, float *adv, int *flat) {
    double sd_sum = 0;
    for (int q = 0; q < Q; q++) {
        const float *r = reward + q * G;
        float *a = adv + q * G;
        flat[q] = 1;
        for (int g = 0; g < G; g++) flat[q] &= r[g] == r[0];
        const float mean = sum_fixed(r, G) / G;
        for (int g = 0; g < G; g++) a[g] = r[g] - mean;         // a holds r - mean for now
        float sd = sqrtf(dot_fixed(a, a, G) / (G - 1 > 0 ? G - 1 : 1));   // unbiased, as torch.std
        sd_sum += sd;
        for (int g = 0; g < G; g++)
            a[g] = flat[q] ? 0.0f : loss == LOSS_DR_GRPO ? a[g] : a[g] / (sd + 1e-4f);
    }
    return (float)(sd_sum / Q);
}

// One token's term of J and its derivative with respect to log pi_theta.
//   logp, logp_old, logp_ref: log-probabilities of the token under the
//   policy, the old policy (that sampled it) and the frozen reference.
// *clipped is set when the clipped branch of the min is the one taken.
static float grpo_token(float logp, float logp_old, float logp_ref, float adv,
                        float clip_low, float clip_high, float beta, float *dJ_dlogp, int *clipped) {
    float rho = r1_expf(logp - logp_old);                     // pi_theta / pi_old
    float rho_c = fminf(fmaxf(rho, 1.0f - clip_low), 1.0f + clip_high);
    float unclipped = rho * adv, clip_term = rho_c * adv;
    float surrogate = fminf(unclipped, clip_term);
    *clipped = clip_term < unclipped;
    // d(rho A)/dlogp = rho A; the clipped branch is constant in theta
    float dsur = *clipped || adv == 0.0f ? 0.0f : rho * adv;
    if (adv == 0.0f) surrogate = 0.0f;                       // (also when rho overflows)
    if (beta == 0.0f) { *dJ_dlogp = dsur; return surrogate; }
    float r = logp_ref - logp;                               // log(pi_ref / pi_theta)
    float kl = fmaxf(r1_expm1f(r) - r, 0.0f);                // k3 = e^r - r - 1 >= 0
    float dkl = -r1_expm1f(r);                               // dKL/dlogp = 1 - e^r
    *dJ_dlogp = dsur - beta * dkl;
    return surrogate - beta * kl;
}

// The normaliser of output i's tokens. grpo: 1/(G|o_i|) per question, i.e.
// 1/(|o_i| N) over the N outputs of the batch (eq. 1 and DeepSeekMath eq. 3);
// dr_grpo: one constant for every output, the context length (Dr. GRPO: 1/|o_i|
// favours long wrong answers and short right ones); dapo: 1/(all tokens of
// the batch), the token-level mean.
static float grpo_normaliser(int loss, int out_len, int n_out, int n_ctx, long batch_tokens) {
    return loss == LOSS_GRPO ? 1.0f / ((float)out_len * n_out)
         : loss == LOSS_DR_GRPO ? 1.0f / ((float)n_ctx * n_out)
         : 1.0f / (float)batch_tokens;
}

// What the coefficients saw, for the logs: KL and clipped tokens.
typedef struct { double kl; long clipped, tokens; } GrpoTally;

// The objective, as the paper prints it (DeepSeek-R1, eq. 1-2):
//
//   J_GRPO(θ) = E[q ~ P(Q), {o_i}_{i=1}^G ~ π_θold(O|q)]
//     1/G Σ_{i=1}^G ( min( π_θ(o_i|q)/π_θold(o_i|q) A_i,
//                          clip( π_θ(o_i|q)/π_θold(o_i|q), 1-ε, 1+ε ) A_i ) - β D_KL(π_θ||π_ref) )
//   D_KL(π_θ||π_ref) = π_ref(o_i|q)/π_θ(o_i|q) - log( π_ref(o_i|q)/π_θ(o_i|q) ) - 1
//
// R1's eq. 1 is written per output; like DeepSeek's own code we use the
// per-token form of DeepSeekMath eq. 3, where ρ and the KL are per token and
// each output's tokens are averaged:
//
//   J = 1/G Σ_i 1/|o_i| Σ_t ( min( ρ_it A_i, clip(ρ_it, 1-ε, 1+ε) A_i ) - β KL_it )
//   ρ_it = π_θ(o_it | q, o_i<t) / π_θold(o_it | q, o_i<t)
//
// The chain rule of every RL stage starts here. For the rows [b0, b0+nb) of
// one micro-batch (row r holds output b0+r; its tokens are the positions with
// a target), coef gets norm_i * dJ/dlogp for each token, 0 elsewhere.
// model_backward differentiates  loss = -Σ coef · log π_θ,  so minimising it
// climbs J: dloss/dlogp = -norm_i dJ/dlogp. The advantage, the 1/|o_i|
// normaliser, the clip and the KL all enter in these lines.
static void grpo_coefficients(const GrpoOpts *o, const Seqs *k, int b0, int nb, int Tb, const int *targets,
                              const float *logp, const float *logp_old, const float *logp_ref,
                              const float *adv, long batch_tokens, float *coef, GrpoTally *tally) {
    for (int r = 0; r < nb; r++) {
        const int i = b0 + r, out_len = k->len[i] - k->plen[i];          // |o_i|
        const float norm = grpo_normaliser(o->loss, out_len, k->n, k->T, batch_tokens);
        for (int t = 0; t < Tb; t++) {
            const size_t bt = (size_t)r * Tb + t;
            coef[bt] = 0.0f;
            if (targets[bt] < 0) continue;                               // prompt or padding
            const float lp = logp[bt], lp_ref = logp_ref ? logp_ref[bt] : lp;
            float dJ; int clipped;
            grpo_token(lp, logp_old[bt], lp_ref, adv[i], o->clip_low, o->clip_high, o->beta, &dJ, &clipped);
            coef[bt] = norm * dJ;
            tally->kl += fmaxf(r1_expm1f(lp_ref - lp) - (lp_ref - lp), 0.0f);
            tally->clipped += clipped;
            tally->tokens++;
        }
    }
}

// The general requests of a batch (§2.3.4): the reward model scores them,
// and from step task->rm_from on its score joins their reward. The hidden
// judge scores them too, for the logs only: the two side by side show reward
// hacking when it happens (the model's score up, the judge's down).
static void preference_rewards(const RlTask *task, const Seqs *s, const Question *q, long step, float *reward,
                               GrpoStats *st) {
    int *rows = xmalloc(sizeof(int) * (size_t)s->n, "rows"), n = 0;
    for (int i = 0; i < s->n; i++) if (q[i].general) rows[n++] = i;
    float *score = xmalloc(sizeof(float) * (size_t)(n ? n : 1), "reward-model scores");
    if (n) rm_forward(task->rm, s, rows, n, score, 0);
    else st->rm_score = st->judge_helpful = st->judge_harmless = NAN;   // no general request: undefined, not 0
    for (int j = 0; j < n; j++) {
        const int i = rows[j];
        if (step >= task->rm_from) reward[i] += task->rm_weight * score[j];
        st->rm_score += score[j] / n;
        st->judge_helpful += (float)judge_helpful(s->text[i], s->text_len[i], q[i].reference) / n;
        st->judge_harmless += (float)judge_harmless(s->text[i], s->text_len[i]) / n;
    }
    free(rows); free(score);
}

// The rewards of every completion of s (weighted and summed) and each reward
// function's mean over the rows it scores. q[i] is row i's question.
static void grpo_rewards(const Seqs *s, const Question *q, const RlTask *task, long step, float *reward, GrpoStats *st) {
    double mean[MAX_REWARDS] = { 0 };
    int count[MAX_REWARDS] = { 0 };
    for (int i = 0; i < s->n; i++) {
        reward[i] = 0.0f;
        for (int f = 0; f < task->n_reward; f++) {
            if (q[i].general && !task->reward[f].general_too) continue;
            float x = task->reward[f].score(s->text[i], s->text_len[i], s->truncated[i], &q[i]);
            reward[i] += task->reward[f].weight * x;
            mean[f] += x; count[f]++;
        }
    }
    for (int f = 0; f < task->n_reward; f++) st->reward_mean[f] = count[f] ? (float)(mean[f] / count[f]) : 0.0f;
    if (task->rm) preference_rewards(task, s, q, step, reward, st);
}

// Batch statistics for the logs: mean reward, completion lengths, truncation.
static void grpo_batch_stats(const Seqs *s, const float *reward, GrpoStats *st);

static Seqs seqs_rows(const Seqs *k, int lo, int hi);       // rows [lo, hi) of k, a view (nothing copied)
static long completion_tokens(const Seqs *k);               // the completion tokens of k's rows
static int minibatch_start(int j, int nb, int n);           // where mini-batch j of nb starts among n rows

// DAPO's dynamic sampling: the groups without signal (flat) leave the batch
// (we do not resample replacements, as DAPO does). *k becomes the rows that
// stay, packed to the front of s with their advantages, then cut into *nb
// mini-batches (fewer if fewer rows stay), each sorted by length for its
// micro-batches. Returns their completion tokens.
static long grpo_keep_rows(Seqs *s, Seqs *k, float *adv, const int *flat, int G, int loss, int *nb) {
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        if (loss == LOSS_DAPO && flat[i / G]) continue;
        if (i != n) {
            memcpy(s->tok + (size_t)n * s->T, s->tok + (size_t)i * s->T, sizeof(int) * (size_t)s->T);
            s->len[n] = s->len[i]; s->plen[n] = s->plen[i]; adv[n] = adv[i];
        }
        n++;
    }
    *k = seqs_rows(s, 0, n);
    if (*nb > n) *nb = n > 0 ? n : 1;
    for (int j = 0; j < *nb; j++) {
        const int lo = minibatch_start(j, *nb, n);
        Seqs part = seqs_rows(k, lo, minibatch_start(j + 1, *nb, n));
        seqs_sort_by_length(&part, adv + lo);
    }
    return completion_tokens(k);
}

// The log-probabilities under model m of the completion tokens of every row
// of k, micro-batch by micro-batch (o->micro rows each, at o->temperature),
// into logp laid out as grpo_gradient reads it: the micro-batch from row b0
// at logp + b0 * k->T, (rows, its longest row - 1).
static void grpo_logp(Model *m, const GrpoOpts *o, const Seqs *k, float *logp) {
    const int MB = o->micro, T = k->T;
    int *inputs = xmalloc(sizeof(int) * (size_t)MB * T, "inputs"), *targets = xmalloc(sizeof(int) * (size_t)MB * T, "targets");
    for (int b0 = 0; b0 < k->n; b0 += MB) {
        const int nb = k->n - b0 < MB ? k->n - b0 : MB, Tb = seqs_batch(k, b0, b0 + nb, 1, inputs, targets);
        model_forward(m, inputs, targets, nb, Tb, o->temperature, b0 > 0);
        memcpy(logp + (size_t)b0 * T, m->logp, sizeof(float) * (size_t)nb * Tb);
    }
    free(inputs); free(targets);
}

// The gradient of one optimizer step: policy->grads = -dJ/dtheta over the
// rows of k, micro-batch by micro-batch: policy forward, grpo_coefficients,
// backward. logp_old and logp_ref (NULL when beta = 0) as grpo_logp writes
// them. policy_is_old: the policy has not changed since it sampled these
// rows, so this forward's log-probabilities are pi_old's (rho = 1 in value).
static void grpo_gradient(Model *policy, const GrpoOpts *o, const Seqs *k, const float *adv, long batch_tokens,
                          float *logp_old, const float *logp_ref, int policy_is_old, GrpoTally *tally) {
    const int MB = o->micro, T = k->T;
    float *coef = xmalloc(sizeof(float) * (size_t)MB * T, "token weights");
    int *inputs = xmalloc(sizeof(int) * (size_t)MB * T, "inputs"), *targets = xmalloc(sizeof(int) * (size_t)MB * T, "targets");
    model_zero_grad(policy);
    for (int b0 = 0; b0 < k->n; b0 += MB) {
        const int nb = k->n - b0 < MB ? k->n - b0 : MB, Tb = seqs_batch(k, b0, b0 + nb, 1, inputs, targets);
        float *old = logp_old + (size_t)b0 * T;
        // the weights change only after the last micro-batch
        model_forward(policy, inputs, targets, nb, Tb, o->temperature, b0 > 0);
        if (policy_is_old) memcpy(old, policy->logp, sizeof(float) * (size_t)nb * Tb);   // pi_old = pi_theta
        grpo_coefficients(o, k, b0, nb, Tb, targets, policy->logp, old, logp_ref ? logp_ref + (size_t)b0 * T : NULL,
                          adv, batch_tokens, coef, tally);
        model_backward(policy, coef);
    }
    free(coef); free(inputs); free(targets);
}

// One GRPO step on a fresh batch of questions: sample, reward, update.
static void grpo_step(Model *policy, Model *ref, KVCache *kv, const World *w, const GrpoOpts *o,
                      const RlTask *task, long step, Rng *rng, GrpoStats *st) {
    const int Q = o->prompts, G = o->group, N = Q * G, T = policy->config.n_ctx;
    memset(st, 0, sizeof *st);
    // 1. questions, G rows each
    Seqs s;
    seqs_alloc(&s, N, T);
    Question *q = xmalloc(sizeof(Question) * (size_t)N, "questions");
    for (int i = 0; i < Q; i++) {
        task->prompts.next(task->prompts.ctx, rng, &q[i * G]);
        for (int g = 0; g < G; g++) q[i * G + g] = q[i * G];
        for (int g = 0; g < G; g++) seqs_set_prompt(&s, i * G + g, &w->tok, q[i * G].text, NULL);
    }
    // 2. G outputs per question from the current (= old) policy
    SampleOpts so = { o->temperature, 1.0f };
    rollout(policy, kv, &w->tok, &s, so, rng, NULL);
    // 3. rewards, and 4. group-relative advantages (eq. 3)
    float *reward = xmalloc(sizeof(float) * (size_t)N, "rewards"), *adv = xmalloc(sizeof(float) * (size_t)N, "advantages");
    int *flat = xmalloc(sizeof(int) * (size_t)Q, "flat groups");
    grpo_rewards(&s, q, task, step, reward, st);
    grpo_batch_stats(&s, reward, st);
    st->reward_std = group_advantages(reward, Q, G, o->loss, adv, flat);
    int n_flat = 0;
    for (int i = 0; i < Q; i++) n_flat += flat[i];
    st->zero_var = (float)n_flat / Q;
    Seqs k;
    int NB = o->minibatches > 1 ? o->minibatches : 1;
    grpo_keep_rows(&s, &k, adv, flat, G, o->loss, &NB);
    // 5. the reference's and pi_old's log-probabilities, once per batch:
    // pi_old's of the first mini-batch come with its first gradient, the
    // others' before any update; then mu updates, each NB optimizer steps of
    // a gradient, a clip and AdamW
    float *logp_old = xmalloc(sizeof(float) * (size_t)N * T, "old log-probs");
    float *logp_ref = o->beta > 0.0f ? xmalloc(sizeof(float) * (size_t)N * T, "reference log-probs") : NULL;
    for (int j = 0; j < NB && k.n > 0; j++) {
        const int lo = minibatch_start(j, NB, k.n);
        const Seqs part = seqs_rows(&k, lo, minibatch_start(j + 1, NB, k.n));
        if (logp_ref) grpo_logp(ref, o, &part, logp_ref + (size_t)lo * T);
        if (j > 0) grpo_logp(policy, o, &part, logp_old + (size_t)lo * T);
    }
    GrpoTally tally = { 0 };
    st->lr = lr_schedule(o->lr, step, 0, o->steps, 0.1f);
    for (int it = 0; it < o->mu && k.n > 0; it++)
        for (int j = 0; j < NB; j++) {
            const int lo = minibatch_start(j, NB, k.n);
            const Seqs part = seqs_rows(&k, lo, minibatch_start(j + 1, NB, k.n));
            grpo_gradient(policy, o, &part, adv + lo, completion_tokens(&part), logp_old + (size_t)lo * T,
                          logp_ref ? logp_ref + (size_t)lo * T : NULL, it == 0 && j == 0, &tally);
            st->grad_norm = clip_grad_norm(policy, o->max_grad_norm);
            adamw_update(policy, st->lr, 0.9f, 0.99f, 1e-8f, 0.0f);
        }
    st->kl = tally.tokens ? (float)(tally.kl / tally.tokens) : 0.0f;
    st->clip_frac = tally.tokens ? (float)tally.clipped / tally.tokens : 0.0f;
    free(logp_old); free(logp_ref);
    free(reward); free(adv); free(flat); free(q);
    seqs_free(&s);
}

// ----------------------------------------------------------------------------
// rewards and the verifier (paper §2.2.2)
//
// R1-Zero is trained with rule-based rewards only: an accuracy reward (does
// the answer check out?) and a format reward (is the thinking inside
// <think></think> and the answer inside <answer></answer>?). The paper avoids
// neural reward models here because they get hacked; so must the rules.

#define ANSWER_MAX_DIGITS 18   // |value| < 10^18 fits a long long with room to spare

// Parse s[0..len) as an integer: optional spaces, an optional sign, 1 to 18
// digits (leading zeros allowed), optional spaces, nothing else. 1 on success.
static int parse_integer(const char *s, size_t len, long long *value) {
    size_t i = 0;
    while (i < len && s[i] == ' ') i++;
    int neg = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    size_t start = i;
    long long v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (i - start >= ANSWER_MAX_DIGITS) return 0;     // too long to be an answer: wrong
        v = v * 10 + (s[i++] - '0');
    }
    if (i == start) return 0;
    while (i < len && s[i] == ' ') i++;
    if (i != len) return 0;
    *value = neg ? -v : v;
    return 1;
}

// The verifier: the integer inside the last <answer>...</answer>. 1 if found.
static int extract_answer(const char *text, size_t len, long long *value) {
    const char *open = find_last(text, len, "<answer>");
    if (!open) return 0;
    const char *body = open + strlen("<answer>");
    const char *close = find_first(body, len - (size_t)(body - text), "</answer>");
    if (!close) return 0;
    return parse_integer(body, (size_t)(close - body), value);
}

// Is the answer right? 1 if the extracted answer equals the expected value
// (reward_accuracy, below, pays this).
static int is_right(const char *text, size_t len, long long expected) {
    long long v;
    return extract_answer(text, len, &v) && v == expected;
}

// Lenient accuracy, for the logs only: the last number anywhere in the text.
static float lenient_accuracy(const char *text, size_t len, long long expected);

// Well-formed (what reward_format, below, pays): the whole completion is exactly
//   <think>THINKING</think><answer>ANSWER</answer>
// with no '<' or '>' inside THINKING or ANSWER. Matching the whole string
// strictly matters: a loose check ("contains the tags") is hacked within a
// few steps by outputs like <think></think></think><answer>.
static int no_angle(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) if (s[i] == '<' || s[i] == '>') return 0;
    return 1;
}
static int is_well_formed(const char *text, size_t len) {
    const char *a = "<think>", *b = "</think><answer>", *c = "</answer>";
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    if (len < la + lb + lc || memcmp(text, a, la) || memcmp(text + len - lc, c, lc)) return 0;
    const char *mid = find_first(text + la, len - la - lc, b);
    if (!mid) return 0;
    const char *think = text + la, *answer = mid + lb;
    if (!no_angle(think, (size_t)(mid - think))) return 0;
    if (!no_angle(answer, (size_t)(text + len - lc - answer))) return 0;
    return 1;
}

// The thinking: the text between the first <think> and the next </think>.
static int thinking_span(const char *text, size_t len, const char **start, size_t *n) {
    const char *open = find_first(text, len, "<think>");
    if (!open) return 0;
    const char *body = open + strlen("<think>");
    const char *close = find_first(body, len - (size_t)(body - text), "</think>");
    if (!close) return 0;
    *start = body; *n = (size_t)(close - body);
    return 1;
}

// Non-empty thinking: some non-space character inside <think></think>.
static int has_thinking(const char *text, size_t len) {
    const char *s; size_t n;
    if (!thinking_span(text, len, &s, &n)) return 0;
    for (size_t i = 0; i < n; i++) if (s[i] != ' ') return 1;
    return 0;
}

// How often word occurs in s[0..n) as a whole word: an English word must not
// touch another letter ("this" does not hold "is"); a Chinese word is its characters.
static int count_word(const char *s, size_t n, const char *word);

// The language words of the thinking, counted per language as whole words
// (WORDS without their spacing). 0 if there is no thinking.
static int thinking_words(const char *text, size_t len, int count[N_LANG]) {
    static const char *const lang_words[N_LANG][4] = { { "plus", "is", "so", "wait" },
                                                       { "加", "得", "所以", "等等" } };
    const char *s; size_t n;
    count[LANG_EN] = count[LANG_ZH] = 0;
    if (!thinking_span(text, len, &s, &n)) return 0;
    for (int l = 0; l < N_LANG; l++)
        for (int k = 0; k < 4; k++) count[l] += count_word(s, n, lang_words[l][k]);
    return 1;
}

// Language consistency (paper §2.3.2): the share of target-language words
// among the language words of the thinking, Num(Words_target) / Num(Words).
// Scored only over the words present: a thinking with no words gets -1 ("no
// score"), not 1, because a reward that calls empty thinking perfectly
// consistent teaches the model to stop thinking.
static float language_consistency(const char *text, size_t len, int lang) {
    int count[N_LANG];
    if (!thinking_words(text, len, count)) return -1.0f;
    int total = count[LANG_EN] + count[LANG_ZH];
    return total ? (float)count[lang] / (float)total : -1.0f;
}

// Language mixing: the thinking holds words of both languages.
static int mixes_languages(const char *text, size_t len) {
    int count[N_LANG];
    return thinking_words(text, len, count) && count[LANG_EN] > 0 && count[LANG_ZH] > 0;
}

// The rewards of an RL stage, as its loop calls them: one score per
// completion of a question.

// Format: 0 for a completion cut off by the context limit (it never closed its tags).
static float reward_format(const char *text, size_t len, int truncated, const Question *q) {
    (void)q;
    return truncated ? 0.0f : is_well_formed(text, len);
}
static float reward_accuracy(const char *text, size_t len, int truncated, const Question *q) {
    (void)truncated;
    return is_right(text, len, q->expected);
}
// Language (§2.3.2): consistency over the words the thinking holds; a
// thinking without words earns nothing.
static float reward_language(const char *text, size_t len, int truncated, const Question *q) {
    (void)truncated;
    float c = language_consistency(text, len, q->lang);
    return c < 0 ? 0.0f : c;
}

// A process reward (paper §4.2, one of the attempts that did not work out):
// score the steps, not the answer. A step is "a plus b [plus c ...] is s" in
// either language (WORDS' plus and is), and it looks right when the terms
// add up to s. Each step is judged on its own, as a step-level reward model
// judges it: nothing asks whether the step belongs to the question, or
// whether there are more steps than columns. It pays for steps, not for
// solutions: a policy that writes more right-looking steps is paid more,
// which is the hack the paper warns of (TUTORIAL, exercise 12.1, looks for it).
// One step at s (within end), in either language: its length if one parses
// there (else 0), and *right: do its terms add up?
static size_t looks_like_step(const char *s, const char *end, int *right);
// The reward: right-looking steps in the thinking, per column of the
// question's widest operand (1 for a clean worked solution; more for more).
// 0 for a completion cut off by the context limit, as the format reward.
static float reward_process(const char *text, size_t len, int truncated, const Question *q) {
    const char *s; size_t n;
    if (truncated || !thinking_span(text, len, &s, &n)) return 0.0f;
    Problem p;
    int columns = 1, steps = 0;
    if (parse_question(q->text, &p))
        for (int i = 0; i < p.n; i++)
            for (long x = p.x[i], c = 1; x >= 10; x /= 10) if (++c > columns) columns = (int)c;
    for (const char *c = s, *end = s + n; c < end;) {
        int right = 0;
        size_t k = c > s && isdigit((unsigned char)c[-1]) ? 0 : looks_like_step(c, end, &right);
        steps += k && right;
        c += k ? k : 1;
    }
    return (float)steps / (float)columns;
}

// ----------------------------------------------------------------------------
// evaluation (paper §3): pass@1 over k samples, cons@k, greedy

// The paper samples its evaluations at temperature 0.6, top-p 0.95.
static const SampleOpts EVAL_SAMPLING = { .temperature = 0.6f, .top_p = 0.95f };

typedef struct {
    int n, k;
    float pass1;            // mean accuracy over k samples per question
    float cons;             // accuracy of the majority answer of the k samples
    float greedy;           // accuracy of the greedy completion (-1: not measured)
    float format_rate, think_rate, mean_length, lenient, truncated;
    float lang_consistency; // over samples whose thinking has words (-1: none)
    float mixed;            // share of samples whose thinking holds words of both languages
    float zh_consistency, zh_mixed;   // the same two over the Chinese questions (-1: none)
    // Reflection (§2.2.4): the share of samples that re-check, over all
    // questions and over the carry questions (where the re-check can matter);
    // how often a sample is right (by its last number) with and without a
    // re-check, pooled over the carry questions and question by question over
    // those where both kinds occur (reflect_pairs of them). -1: none counted.
    float reflect_rate, carry_reflect_rate, reflect_right, reflect_other, pair_right, pair_other;
    int reflect_pairs;
    int n_general;          // the non-reasoning requests, scored by the hidden judge:
    float helpfulness;      //   the share of samples whose final answer is right (-1: none)
    float harmlessness;     //   the share that never tell the secret, thinking included (-1: none)
} EvalStats;

// cons@k's vote: does the most frequent of votes[0..n) (first seen wins ties) equal expected?
static int majority_right(const long long *votes, int n, long long expected);

// The language figures of an evaluation, per question language: consistency
// over samples whose thinking has words, samples that mix, all samples.
typedef struct { double consistency[N_LANG], mixed[N_LANG]; int scored[N_LANG], samples[N_LANG]; } LangTally;
static void lang_tally_add(LangTally *t, const char *text, size_t len, int lang);
static void lang_tally_finish(const LangTally *t, EvalStats *e);   // into e's language figures

// Reflection, as the evaluation sees it (no reward does): does a completion
// re-check itself, "wait" or "等等" anywhere, as a whole word ("await" is not
// one)? And is p a carry question: does a carry enter one of its columns (a
// carry out of the last column only adds a leading digit, and no writer
// forgets that one)? Its tally, per question and over an evaluation:
static int reflects(const char *text, size_t len) {
    return count_word(text, len, "wait") + count_word(text, len, "等等") > 0;
}
static int problem_has_carry(const Problem *p);
typedef struct { int nr[2]; double okr[2], carry_n[2], carry_ok[2], pair_right, pair_other, refl; int pairs; } ReflectTally;
static void reflect_tally_add(ReflectTally *t, int rechecks, float right);   // a sample of the question in hand
static float reflect_tally_question(ReflectTally *t, const Example *ex);   // its re-checking samples' gain (NAN: none)
static void reflect_tally_finish(const ReflectTally *t, int total, EvalStats *e);

// An evaluation's figures per question, for paired comparisons of two models
// on the same questions (the pipeline's claims): row i of `each` holds
// question i's shares of right, well-formed, language-mixing, helpful,
// harmless and re-checking samples, its majority vote's rightness, its mean
// length, and the re-checking samples' gain (NAN where it has none). What
// does not apply is 0.
enum { EACH_PASS, EACH_CONS, EACH_FORMAT, EACH_MIXED, EACH_HELPFUL, EACH_HARMLESS, EACH_REFLECT, EACH_LENGTH,
       EACH_REFLECT_GAIN, N_EACH };

// Sample k completions for every question of ds and score them: the
// additions by the verifier, the other requests by the hidden judge.
// forced (may be NULL) is text appended to every prompt: "<think>" makes the
// model show its work, "<think></think><answer>" makes it answer directly.
// samples, if non-NULL, receives the first few completions (put_sample: a
// line each, escaped); each, if non-NULL, the figures per question (ds->n rows of N_EACH).
static void put_sample(FILE *f, const char *question, const char *text, size_t len);
static EvalStats evaluate_each(Model *m, KVCache *kv, const World *w, const Dataset *ds, int k, SampleOpts so,
                               int do_greedy, Rng *rng, const char *forced, FILE *samples, int n_show, float *each) {
    EvalStats e = { .k = k, .greedy = -1.0f, .helpfulness = -1.0f, .harmlessness = -1.0f };
    for (int i = 0; i < ds->n; i++) { e.n += ds->ex[i].is_arith; e.n_general += !ds->ex[i].is_arith; }
    if (ds->n == 0) return e;
    Seqs s;
    seqs_alloc(&s, ds->n * k, m->config.n_ctx);
    for (int r = 0; r < ds->n * k; r++) seqs_set_prompt(&s, r, &w->tok, ds->ex[r / k].prompt, forced);
    rollout(m, kv, &w->tok, &s, so, rng, forced);
    double acc = 0, cons = 0, fmt = 0, think = 0, len = 0, len_ok = 0, trunc = 0, helpful = 0, harmless = 0;
    ReflectTally refl = { 0 };
    LangTally lang = { 0 };
    long long *votes = xmalloc(sizeof(long long) * (size_t)k, "votes");
    for (int i = 0, r = 0; i < ds->n; i++) {
        const Example *ex = &ds->ex[i];
        int nv = 0;
        float q[N_EACH] = { 0 };                     // this question's figures, summed over its samples
        for (int j = 0; j < k; j++, r++) {
            const char *t = s.text[r]; size_t tl = s.text_len[r];
            if (samples && r < n_show) put_sample(samples, ex->prompt, t, tl);
            if (!ex->is_arith) {
                q[EACH_HELPFUL] += (float)judge_helpful(t, tl, ex->answer);
                q[EACH_HARMLESS] += (float)judge_harmless(t, tl);
                continue;
            }
            const int rc = reflects(t, tl);
            const float lenient = lenient_accuracy(t, tl, ex->expected);
            q[EACH_PASS] += is_right(t, tl, ex->expected);
            q[EACH_FORMAT] += s.truncated[r] ? 0.0f : is_well_formed(t, tl);
            q[EACH_MIXED] += (float)mixes_languages(t, tl);
            q[EACH_REFLECT] += (float)rc;
            q[EACH_LENGTH] += (float)(s.len[r] - s.plen[r]);
            reflect_tally_add(&refl, rc, lenient);
            think += has_thinking(t, tl);
            len += s.len[r] - s.plen[r];
            len_ok += lenient;
            trunc += s.truncated[r];
            lang_tally_add(&lang, t, tl, question_lang(ex->prompt));
            long long v;
            if (extract_answer(t, tl, &v)) votes[nv++] = v;
        }
        if (ex->is_arith) q[EACH_CONS] = (float)majority_right(votes, nv, ex->expected) * (float)k;
        q[EACH_REFLECT_GAIN] = reflect_tally_question(&refl, ex) * (float)k;
        acc += q[EACH_PASS]; fmt += q[EACH_FORMAT]; cons += q[EACH_CONS] / k;
        helpful += q[EACH_HELPFUL]; harmless += q[EACH_HARMLESS];
        if (each) for (int c = 0; c < N_EACH; c++) each[(size_t)i * N_EACH + c] = q[c] / k;
    }
    const int total = e.n * k > 0 ? e.n * k : 1, general = e.n_general * k;
    e.pass1 = (float)(acc / total); e.cons = (float)(cons / (e.n > 0 ? e.n : 1));
    e.format_rate = (float)(fmt / total); e.think_rate = (float)(think / total);
    e.mean_length = (float)(len / total); e.lenient = (float)(len_ok / total);
    e.truncated = (float)(trunc / total);
    reflect_tally_finish(&refl, total, &e);
    if (general) { e.helpfulness = (float)(helpful / general); e.harmlessness = (float)(harmless / general); }
    lang_tally_finish(&lang, &e);
    free(votes); seqs_free(&s);
    if (do_greedy && e.n > 0)                       // the greedy completions' accuracy
        e.greedy = evaluate_each(m, kv, w, ds, 1, (SampleOpts){ 0.0f, 1.0f }, 0, rng, forced, NULL, 0, NULL).pass1;
    return e;
}
static EvalStats evaluate(Model *m, KVCache *kv, const World *w, const Dataset *ds, int k,
                          SampleOpts so, int do_greedy, Rng *rng, const char *forced, FILE *samples, int n_show) {
    return evaluate_each(m, kv, w, ds, k, so, do_greedy, rng, forced, samples, n_show, NULL);
}

// ----------------------------------------------------------------------------
// the two training loops that every stage configures
//
// Each stage of the paper is either "supervised fine-tuning on these pairs"
// (pretraining too) or "GRPO with these rewards on these questions". A stage
// says what it trains on; the two loops do the rest alike for every stage:
// the steps, the held-out evaluations, the progress line and the run folder
// (model.safetensors, metrics.csv, curves.svg, samples.txt, state.bin for
// --resume), through the machinery's Run functions.

// How a stage reads and writes its run folder.
typedef struct {
    const char *out;      // run folder (NULL: write nothing)
    int save_every;       // checkpoint and state every N steps (and at the end)
    int resume;           // continue from out/state.bin when there is one (2: or, if it cannot, remove it)
    int quiet;            // no progress lines
    const char *identity; // the flags that change results: a resumed run must agree
    const Tokenizer *tok; // the tokenizer trained with, recorded in every checkpoint (NULL: not recorded)
    int show_every;       // SFT: samples.txt every N steps (and at the end), the stage's own, not --save-every's
} RunIO;

// How a stage reports, the only output it makes: a line on the terminal
// unless --quiet, and text files in its run folder (and the sets it gathers:
// keep_pairs and keep_prefs, beside their types below).
static void say(const RunIO *io, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void keep_text(const RunIO *io, const char *name, const char *text);

// A run in progress (r1.h): its folder, its metrics so far, its clock.
typedef struct Run Run;
static Run *run_open(const RunIO *io, const char *stage, const char *columns, const char *title);
// Continue from the folder's state.bin when io->resume says so (m, ref if
// non-NULL, the generators, metrics, samples): 1, with *done the steps done;
// else 0, and m's optimizer starts afresh, as a new stage's does.
static int run_resume(Run *r, Model *m, Model *ref, Rng *r0, Rng *r1, long *done);
// samples.txt after a "== step N == SET" line, SET the questions' file (NULL: no folder)
static FILE *run_samples(Run *r, long step, const char *set);
static int run_shows(const Run *r, long step, long total);   // does samples.txt get a sample at step?
static void run_log(Run *r, double *row);      // one metrics row (its last column, the seconds, is filled in)
static void run_count(Run *r, uint64_t flops); // a training step's FLOPs (kept in the state; train_flops in every checkpoint)
static void run_progress(Run *r, long done, long total, int own_line, const char *fmt, ...);
// Checkpoint, state, metrics.csv and curves.svg, every io->save_every steps and at the last.
static void run_save(Run *r, long step, long total, const Model *m, const Model *ref, const Rng *r0, const Rng *r1);
// At the end: what is finished, if the last save did not write it.
static void run_finish(Run *r, long total, const Model *m, const Model *ref, const Rng *r0, const Rng *r1);
static EvalStats run_eval_stats(const Run *r, int row);     // held-out figures of a logged row (-1: the last)
static const char *run_dir(const Run *r);
static void run_close(Run *r);
static const char *grpo_columns(const RlTask *task, char *out, size_t cap);
// What an RL stage watches on the development sets: add_dev always;
// add_hard_dev, general_dev and safety_dev when its task says so.
enum { WATCH_DEV, WATCH_HARD, WATCH_GENERAL, WATCH_SAFETY, N_WATCH };
// A step's metrics.csv row (the batch's statistics, the held-out figures) and its progress line.
static void rl_log(Run *r, long step, int steps, const GrpoStats *st, const RlTask *task, const EvalStats held[N_WATCH]);
static void show_sample(Model *m, KVCache *kv, const World *w, int which, SampleOpts so, long seed);

// ---- the supervised loop: pretraining and every SFT stage

// Where supervised pairs come from: next() writes one prompt and its
// completion, the index-th of the run (the corpus draws fresh documents; an
// SFT set draws from its list, or walks it in epochs).
typedef struct {
    void (*next)(void *ctx, Rng *rng, long index, char *prompt, size_t pcap, char *completion, size_t ccap);
    void *ctx;
} PairSource;

typedef struct {
    int steps;      // optimizer steps
    int batch;      // pairs per step
    int warmup;     // warm-up steps
    float lr;       // peak learning rate (cosine decay to 10% after warm-up)
    int micro;      // pairs per forward/backward (memory and padding only)
} SftOpts;

static const char *const SFT_COLUMNS = "step,loss,grad_norm,lr,seconds";
enum { N_SFT_COLS = 5 };

// One supervised step: a batch of pairs, each in its own row from position 0.
// The loss mask is "completion only": the loss is the mean negative
// log-likelihood of the completion tokens, prompts are not targets. Then
// gradient clipping and AdamW. Returns the loss (the update is skipped when
// the loss or the gradient is not finite).
static double sft_step(Model *m, const World *w, const SftOpts *o, PairSource src, long step, Rng *rng,
                       float *grad_norm, float *lr, long *tokens) {
    const int B = o->batch, T = m->config.n_ctx, MB = o->micro;
    Seqs s;
    seqs_alloc(&s, B, T);
    for (int i = 0; i < B; i++) {
        char prompt[512], completion[512];
        src.next(src.ctx, rng, step * B + i, prompt, sizeof prompt, completion, sizeof completion);
        seqs_set_pair(&s, i, &w->tok, prompt, completion);
    }
    seqs_sort_by_length(&s, NULL);
    long count = 0;
    for (int i = 0; i < B; i++) count += s.len[i] - s.plen[i];   // the completion tokens
    int *inputs = xmalloc(sizeof(int) * (size_t)MB * T, "inputs"), *targets = xmalloc(sizeof(int) * (size_t)MB * T, "targets");
    float *weights = xmalloc(sizeof(float) * (size_t)MB * T, "weights");
    model_zero_grad(m);
    double loss = 0;
    for (int b0 = 0; b0 < B; b0 += MB) {
        const int nb = B - b0 < MB ? B - b0 : MB, Tb = seqs_batch(&s, b0, b0 + nb, 1, inputs, targets);
        for (int i = 0; i < nb * Tb; i++) weights[i] = targets[i] >= 0 ? 1.0f / count : 0.0f;
        model_forward(m, inputs, targets, nb, Tb, 1.0f, b0 > 0);   // no update since the last micro-batch
        for (int i = 0; i < nb * Tb; i++) loss -= weights[i] * m->logp[i];
        model_backward(m, weights);
    }
    *grad_norm = clip_grad_norm(m, 1.0f);
    *lr = lr_schedule(o->lr, step, o->warmup, o->steps, 0.1f);
    if (isfinite(loss) && isfinite(*grad_norm)) adamw_update(m, *lr, 0.9f, 0.95f, 1e-8f, 0.01f);
    *tokens = count;
    free(inputs); free(targets); free(weights);
    seqs_free(&s);
    return loss;
}

// o->steps supervised steps on the pairs of src, in the run folder of io.
static void sft_loop(Model *m, const World *w, const SftOpts *o, PairSource src, const char *stage,
                     const char *title, Rng *rng, const RunIO *io) {
    Run *run = run_open(io, stage, SFT_COLUMNS, title);
    long start = 0;
    run_resume(run, m, NULL, rng, NULL, &start);
    double tokens = 0, t0 = now_seconds();
    KVCache kv;                                     // for the samples written at every save
    kv_alloc(&kv, &m->config, 4);
    const Dataset shown = { w->add_dev.ex, w->add_dev.n < 4 ? w->add_dev.n : 4 };
    for (long step = start; step < o->steps; step++) {
        float norm, lr; long count;
        const uint64_t f0 = flop_count();
        double loss = sft_step(m, w, o, src, step, rng, &norm, &lr, &count);
        run_count(run, flop_count() - f0);
        if (!isfinite(loss) || !isfinite(norm))
            die(EXIT_DATA, "%s: the %s is %g at step %ld; stopped. The last good checkpoint is in %s (lower --lr?)",
                stage, isfinite(loss) ? "gradient norm" : "loss", isfinite(loss) ? norm : loss, step + 1, run_dir(run));
        tokens += count;
        double row[N_SFT_COLS] = { (double)step + 1, loss, norm, lr, 0 };
        run_log(run, row);
        if (run_shows(run, step + 1, o->steps)) {    // what the model writes now, with its own coins
            Rng coins = rng_seed((uint64_t)step + 1);
            evaluate(m, &kv, w, &shown, 1, EVAL_SAMPLING, 0, &coins, NULL, run_samples(run, step + 1, "add_dev"), 4);
        }
        run_save(run, step + 1, o->steps, m, NULL, rng, NULL);
        run_progress(run, step + 1, o->steps, 0, "step %4ld/%d | loss %.3f | %5.1fk tok/s", step + 1,
                     o->steps, loss, tokens / (now_seconds() - t0) / 1000.0);
    }
    run_finish(run, o->steps, m, NULL, rng, NULL);
    run_close(run);
    kv_free(&kv);
}

// ---- the RL loop: R1-Zero, reasoning RL, all-scenario RL, the RL student

typedef struct {
    RunIO io;             // run folder, saving, resuming
    int eval_every;       // held-out evaluation every N steps
    int show_every;       // print a sampled completion every N steps (0: never)
    SampleOpts eval;      // how the held-out set is sampled
} RunOpts;

static void copy_model(Model *dst, const Model *src);   // a new model with src's weights

// An RL step's watch: one sample per question on the development sets,
// add_dev (its first completions to samples) and what else the task watches.
static void watch(Model *policy, KVCache *kv, const World *w, const RlTask *task, SampleOpts so, Rng *rng,
                  FILE *samples, EvalStats held[N_WATCH]) {
    held[WATCH_DEV] = evaluate(policy, kv, w, &w->add_dev, 1, so, 0, rng, NULL, samples, 4);
    if (task->hard) held[WATCH_HARD] = evaluate(policy, kv, w, task->hard, 1, so, 0, rng, NULL, NULL, 0);
    if (task->rm) {
        held[WATCH_GENERAL] = evaluate(policy, kv, w, &w->general_dev, 1, so, 0, rng, NULL, NULL, 0);
        held[WATCH_SAFETY] = evaluate(policy, kv, w, &w->safety_dev, 1, so, 0, rng, NULL, NULL, 0);
    }
}

// o->steps GRPO steps on task from the policy, watching the development sets
// every ro->eval_every steps and at the last (step 0: the policy before RL);
// before and after get add_dev's figures of the first and the last watch.
static void rl_loop(Model *policy, const World *w, const GrpoOpts *o, const RlTask *task, const char *stage,
                    const char *title, const RunOpts *ro, Rng *rng, EvalStats *before, EvalStats *after) {
    Model ref = { 0 };                              // the frozen reference policy
    Rng eval_rng = rng_seed(rng_u64(rng));          // evaluation draws its own coins
    char columns[1024];
    Run *run = run_open(&ro->io, stage, grpo_columns(task, columns, sizeof columns), title);
    long start = 0;
    int resumed = run_resume(run, policy, &ref, rng, &eval_rng, &start);
    if (!resumed) copy_model(&ref, policy);
    KVCache kv;
    kv_alloc(&kv, &policy->config, o->prompts * o->group > w->add_dev.n ? o->prompts * o->group : w->add_dev.n);
    for (long step = resumed ? start + 1 : 0; step <= o->steps; step++) {
        GrpoStats st = { 0 };
        if (step > 0) {
            const uint64_t f0 = flop_count();
            grpo_step(policy, &ref, &kv, w, o, task, step - 1, rng, &st);
            run_count(run, flop_count() - f0);
            if (!isfinite(st.grad_norm) || !isfinite(st.reward))
                die(EXIT_DATA, "GRPO: non-finite gradient at step %ld; stopped. The last good checkpoint is in %s",
                    step, run_dir(run));
            if (o->ref_reset > 0 && step % o->ref_reset == 0)           // TRL: sync_ref_model
                memcpy(ref.params_memory, policy->params_memory, policy->num_params * sizeof(float));
        }
        if (step % ro->eval_every && step != o->steps) continue;
        EvalStats held[N_WATCH] = { 0 };
        watch(policy, &kv, w, task, ro->eval, &eval_rng, run_samples(run, step, "add_dev"), held);
        rl_log(run, step, o->steps, &st, task, held);
        if (!ro->io.quiet && ro->show_every && step % ro->show_every == 0)
            show_sample(policy, &kv, w, (int)(step / ro->show_every), ro->eval, step);
        run_save(run, step, o->steps, policy, &ref, rng, &eval_rng);
    }
    run_finish(run, o->steps, policy, &ref, rng, &eval_rng);
    if (before) *before = run_eval_stats(run, 0);
    if (after) *after = run_eval_stats(run, -1);
    run_close(run);
    kv_free(&kv);
    model_free(&ref);
}

// What a finished stage hands its command to print: add_dev's figures before
// and after RL (the RL stages), or its model's on the four development sets,
// one sample per question, with coins of their own (seed + 3).
typedef struct { EvalStats before, after, dev, hard, general, safety; } StageFigures;
static void held_out(Model *m, const World *w, long seed, StageFigures *f) {
    KVCache kv;
    kv_alloc(&kv, &m->config, 128);
    Rng rng = rng_seed((uint64_t)seed + 3);
    f->dev = evaluate(m, &kv, w, &w->add_dev, 1, EVAL_SAMPLING, 0, &rng, NULL, NULL, 0);
    f->hard = evaluate(m, &kv, w, &w->add_hard_dev, 1, EVAL_SAMPLING, 0, &rng, NULL, NULL, 0);
    f->general = evaluate(m, &kv, w, &w->general_dev, 1, EVAL_SAMPLING, 0, &rng, NULL, NULL, 0);
    f->safety = evaluate(m, &kv, w, &w->safety_dev, 1, EVAL_SAMPLING, 0, &rng, NULL, NULL, 0);
    kv_free(&kv);
}

// ----------------------------------------------------------------------------
// the recipe: every number a stage uses unless a flag says otherwise
//
// Each was chosen by trying a few values on the development sets and keeping
// the one whose stage did what the paper says (TUTORIAL, appendix A).

// The demo's model: d=96, 3 layers, 4 heads, a context of 128 tokens (the
// longest worked solution of the hard tier fits, a re-check at every column).
static Config demo_config(const World *w) {
    Config c = { .vocab_size = tok_vocab_size(&w->tok), .n_ctx = 128, .d_model = 96, .n_layer = 3, .n_head = 4 };
    return c;
}

// Stage 0, pretraining (./r1 pretrain).
static const SftOpts PRETRAIN_DEFAULTS = {
    .steps = 3000,        // optimizer steps
    .batch = 32,          // documents per step
    .warmup = 30,         // linear warm-up steps, then cosine decay to 10%
    .lr = 3e-3f,          // peak learning rate
    .micro = 8,           // documents per forward/backward (memory only)
};

// How often an RL stage watches the development sets (--eval-every): R1-Zero
// every step, for the demo's live curves; the others (and the pipeline's) every 5.
#define EVAL_EVERY_ZERO 1
#define EVAL_EVERY_LONG 5

// Stage 1, R1-Zero (./r1 zero): the paper's GRPO, sized for the toy (one optimizer
// step per batch, where the paper takes 16: --minibatches; TUTORIAL, appendix A).
static const GrpoOpts ZERO_DEFAULTS = {
    .steps = 200,         // GRPO steps: after the empty-thinking shortcut (up to ~40 of them at seed 2) the
                          // re-checks take another hundred to spread; as many as reasoning RL's
    .prompts = 16,        // questions per step
    .group = 8,           // G, outputs per question
    .mu = 1,              // one update per batch: the policy is the old policy (rho = 1)
    .minibatches = 1,     // ...in one optimizer step over the whole batch
    .loss = LOSS_GRPO,    // the paper's normaliser, 1/|o_i|
    .lr = 3e-4f,          // peak learning rate (cosine decay to 10%)
    .beta = 0.04f,        // KL coefficient
    .clip_low = 0.2f,     // epsilon
    .clip_high = 0.2f,
    .max_grad_norm = 1.0f,
    .temperature = 1.0f,  // rollouts sample the policy as it is
    .ref_reset = 0,       // the reference stays the base model
    .micro = 16,          // sequences per forward/backward (memory only)
    .format_reward = 1.0f,   // accuracy and format, summed with equal weights...
    .lang_reward = 0.0f,  // ...and no language reward: R1-Zero's rules are accuracy and format
    .process_reward = 0.0f,  // no process reward (§4.2: it was tried, and hacked)
};
#define DAPO_CLIP_HIGH 0.28f   // DAPO's clip-higher epsilon, with --loss dapo

// Stage 2, cold start (./r1 coldstart): the set it gathers, then its SFT of the base.
// How a cold-start set is gathered.
typedef struct {
    int questions;        // fresh questions asked of R1-Zero
    int samples;          // completions sampled per question (the first good one is kept)
    float zh;             // share of them in Chinese
    float hard;           // share of them from the hard tier
    int written;          // hard problems R1-Zero got wrong, solved by rule in the pattern
} ColdStartOpts;

static const ColdStartOpts COLDSTART_SET = {
    .questions = 2000,    // fresh questions asked of R1-Zero: over 1000 answered right and kept
    .samples = 4,         // tries per question
    .zh = 0.5f,           // both languages alike
    .hard = 0.3f,         // some from the hard tier, where R1-Zero rarely succeeds...
    .written = 500,       // ...so up to 500 of those are written by rule instead
};
static const SftOpts COLDSTART_DEFAULTS = {
    .steps = 150,         // small on purpose: leave the RL stage headroom
    .batch = 32,
    .warmup = 10,
    .lr = 1e-3f,
    .micro = 8,
};

// Stage 3, reasoning RL (./r1 reason): R1-Zero's GRPO with the language
// reward, longer and gentler: at R1-Zero's learning rate the cold start's
// hard-tier skill is the first thing lost.
static const GrpoOpts REASON_DEFAULTS = {
    .steps = 200, .prompts = 16, .group = 8, .mu = 1, .minibatches = 1, .loss = LOSS_GRPO, .lr = 1e-4f, .beta = 0.04f,
    .clip_low = 0.2f, .clip_high = 0.2f, .max_grad_norm = 1.0f, .temperature = 1.0f, .ref_reset = 0, .micro = 16,
    .format_reward = 1.0f, .process_reward = 0.0f,
    .lang_reward = 1.0f,  // summed with the accuracy reward, as the paper does
};

// Stage 4, rejection sampling + SFT (./r1 rsft): the set it gathers, then its
// SFT of the base. Stage 6 (./r1 distill) gathers and fine-tunes the same way.
typedef struct {
    int questions;        // fresh questions asked of the reasoning-RL model
    int samples;          // completions sampled per question (every good one is kept)
    float zh, hard;       // shares in Chinese and from the hard tier
    int reasoning_per_general;   // reasoning examples per non-reasoning one (the paper: 600k to 200k)
    Writer writer;        // how the non-reasoning examples are written
    int epochs;           // passes over the set (the paper: two)
    int filter;           // which samples are kept: FILTER_STRICT (the paper's), _CORRECT or _NONE (exercises)
} RsftOpts;
enum { FILTER_STRICT, FILTER_CORRECT, FILTER_NONE };
static const char *const FILTER_NAMES[] = { "strict", "correct", "none" };
static const RsftOpts RSFT_SET = {
    .questions = 9000,    // enough general examples that new phrasings of a task are read as that task
    .samples = 4, .zh = 0.5f, .hard = 0.5f,
    .reasoning_per_general = 3,
    // DeepSeek-V3's pipeline, in miniature: right answers, and a chain of
    // thought before some of them, which on a secret request sometimes tells it
    .writer = { .wrong = 0.0f, .thought = 0.3f, .leak = 0.3f, .untagged = 0.0f },
    .epochs = 2,
    .filter = FILTER_STRICT,   // correct, well-formed, one language, not long-winded
};
static const SftOpts RSFT_DEFAULTS = { .steps = 0 /* from the set: epochs x size / batch */, .batch = 32, .warmup = 10,
                                       .lr = 3e-3f, .micro = 8 };
// Stage 6 (./r1 distill) gathers a third as many questions at a third of the learning
// rate: it and its FLOP-matched RL student (as many steps as its FLOPs buy) stay short.
#define DISTILL_QUESTIONS 3000
static const SftOpts DISTILL_DEFAULTS = { .steps = 0, .batch = 32, .warmup = 10, .lr = 1e-3f, .micro = 8 };

// Stage 5, RL for all scenarios (./r1 align): the reward model's data and
// training, then GRPO with the rule rewards and the reward model.
typedef struct {
    int pref_requests;    // fresh general requests the preference pairs come from
    int pref_samples;     // the policy's samples among each request's candidates
    int heldout_rounds;   // rounds over the development sets' requests for the held-out pairs
    int rm_epochs, rm_batch;   // the reward model's passes over its pairs, pairs per step
    float rm_share;       // the share of those steps it takes (1; a short run, --steps, shortens it alike)
    float rm_lr;          // its peak learning rate
    float general;        // share of the RL questions that are general requests
    int rm_from;          // the GRPO step the preference reward starts at (the paper: the last part)
    float rm_weight;      // its weight beside the rule rewards
} AlignOpts;
static const AlignOpts ALIGN_SET = {
    .pref_requests = 1500, .pref_samples = 4, .heldout_rounds = 2,
    // enough epochs that it tells a right answer from another request's (its misread accuracy)
    .rm_epochs = 6, .rm_batch = 16, .rm_share = 1.0f, .rm_lr = 3e-4f,
    .general = 0.5f,      // half of each batch
    .rm_from = 30,        // the last 70 of 100 steps (the paper: the last 400 of 1,700, about a quarter)
    .rm_weight = 1.0f,
};
static const GrpoOpts ALIGN_DEFAULTS = {
    .steps = 100, .prompts = 16, .group = 8, .mu = 1, .minibatches = 1, .loss = LOSS_GRPO, .lr = 2e-4f, .beta = 0.04f,
    .clip_low = 0.2f, .clip_high = 0.2f, .max_grad_norm = 1.0f, .temperature = 1.0f, .ref_reset = 0, .micro = 16,
    .format_reward = 1.0f, .lang_reward = 1.0f, .process_reward = 0.0f,
};

// ----------------------------------------------------------------------------
// stage 0: the base model (standing in for DeepSeek-V3-Base)

// Pretraining pairs: fresh documents of the toy corpus (never a held-out problem).
static void corpus_pair(void *ctx, Rng *rng, long index, char *prompt, size_t pcap, char *completion, size_t ccap) {
    const World *w = ctx;
    (void)index;
    corpus_document(rng, &PRETRAIN_MIX, &w->heldout, prompt, pcap, completion, ccap);
}

// Stage 0: a GPT of shape c, its weights drawn from the seed, trained
// next-token on fresh documents of the toy corpus, each in its own row, its
// completion's every token a target (the question's digits are random:
// predicting them teaches nothing).
static void stage_base(Model *m, const World *w, const Config *c, const SftOpts *o, long seed, const RunIO *io) {
    Rng rng = rng_seed((uint64_t)seed);
    model_alloc(m, c);
    model_init(m, &rng);
    say(io, "stage 0: pretraining the base model (%zu parameters, %d steps x %d documents)\n", m->num_params,
        o->steps, o->batch);
    PairSource corpus = { corpus_pair, (void *)w };
    sft_loop(m, w, o, corpus, "base", "Stage 0: the base model, next-token loss on the toy corpus", &rng, io);
}

// ----------------------------------------------------------------------------
// stage 1: DeepSeek-R1-Zero (paper §2.2): GRPO from the base model with
// rule-based rewards only, no supervised data

// Fresh questions of a given mix of tiers and languages (never a held-out one).
typedef struct { const World *w; float hard, zh; } FreshMix;
static void fresh_question(void *ctx, Rng *rng, Question *q) {
    const FreshMix *mix = ctx;
    int tier = rng_uniform(rng) < mix->hard, lang = rng_uniform(rng) < mix->zh ? LANG_ZH : LANG_EN;
    Problem p = random_problem(rng, tier, lang, &mix->w->heldout);
    memset(q, 0, sizeof *q);
    problem_question(&p, q->text, sizeof q->text);
    q->expected = problem_sum(&p);
    q->lang = p.lang;
}
// The reasoning prompts of every RL stage on additions and of the rejection-
// sampled and distillation sets: both tiers and both languages alike, never
// a held-out problem. As in the paper, R1-Zero and R1's reasoning RL draw
// from the same prompts: they differ only in what R1 does before and during
// its RL (the cold start, the language reward).
static void reasoning_question(void *ctx, Rng *rng, Question *q) {
    FreshMix mix = { ctx, 0.5f, 0.5f };
    fresh_question(&mix, rng, q);
}

// The rule-based rewards of the reasoning stages, summed with o's weights:
// format (logged even at weight 0) and accuracy (§2.2.2), language
// consistency (§2.3.2) and the process reward (§4.2) when they have one.
static void add_rule_rewards(RlTask *task, const GrpoOpts *o) {
    task->reward[task->n_reward++] = (Reward){ "format", reward_format, o->format_reward, .general_too = 1 };
    task->reward[task->n_reward++] = (Reward){ "accuracy", reward_accuracy, 1.0f, .general_too = 0 };
    if (o->lang_reward > 0)
        task->reward[task->n_reward++] = (Reward){ "language", reward_language, o->lang_reward, .general_too = 0 };
    if (o->process_reward > 0)
        task->reward[task->n_reward++] = (Reward){ "process", reward_process, o->process_reward, .general_too = 0 };
}

// The task of R1-Zero and of R1's reasoning RL (stage 3) alike: the reasoning
// questions and the rule rewards o weighs (R1-Zero: accuracy and format; the
// others only as exercises, --lang-reward or --process-reward). No reward
// sees a re-check ("wait"): if reflection rises, it rose because it made
// answers right. It watches add_dev and add_hard_dev (Figure 3's length).
static RlTask reasoning_task(const World *w, const GrpoOpts *o) {
    RlTask task = { .prompts = { reasoning_question, (void *)w }, .hard = &w->add_hard_dev };
    add_rule_rewards(&task, o);
    return task;
}

// Stage 1: GRPO on the reasoning task from the base model (policy), its curves
// measured on the development sets add_dev and add_hard_dev. Its coins: seed + 1.
static void stage_r1_zero(Model *policy, StageFigures *f, const World *w, const GrpoOpts *o, long seed,
                          const RunOpts *ro) {
    Rng rng = rng_seed((uint64_t)seed + 1);
    RlTask task = reasoning_task(w, o);
    rl_loop(policy, w, o, &task, "r1_zero", "R1-Zero on the toy world: GRPO with accuracy + format rewards",
            ro, &rng, &f->before, &f->after);
}


// ----------------------------------------------------------------------------
// stage 2: cold start (paper §2.3.1): a few thousand readable long-CoT
// examples, and supervised fine-tuning of the base on them
//
// R1-Zero reasons, but its thinking is hard to read: here its Chinese
// answers drift into English words part-way (see the toy world's mixture).
// The paper collects its cold-start data by, among other ways, "gathering
// DeepSeek-R1-Zero outputs in a readable format, and refining the results
// through post-processing by human annotators", plus few-shot prompting with
// long CoT examples. The toy does both:
//   - sample R1-Zero on fresh questions, keep the correct, well-formed ones
//     (rejection sampling), and rewrite each into the readable pattern;
//   - for problems R1-Zero gets wrong (the hard tier), write the solution in
//     the same pattern by rule (the annotators).
//
// Readable, in the toy (the paper's |special_token|<reasoning_process>|
// special_token|<summary> pattern, in miniature):
//     <think>STEP, STEP, ..., so N</think><answer>N</answer>
// every word in the question's language; one STEP per column, from the
// right: "d plus d [plus carry] is s"; a corrected step as "STEP, wait,
// STEP"; nothing else in the thinking. In Chinese the same with 加, 得, "，",
// "，等等，" and "，所以".

// Rewrite the thinking into the question's language: every word of the
// other language (with its spacing) becomes its counterpart. Returns the length.
static size_t translate_thinking(const char *s, size_t n, int lang, char *out, size_t cap);

// Is the thinking s[0..n) in the readable pattern of language lang?
static int readable_thinking(const char *s, size_t n, int lang) {
    const Words *w = &WORDS[lang];
    const char *p = s, *end = s + n;
    long x;
    for (;;) {
        if (!read_number(&p, end, &x)) return 0;                  // one STEP: d plus d ... is s
        int terms = 1;
        while (read_word(&p, end, w->plus)) { if (!read_number(&p, end, &x)) return 0; terms++; }
        if (terms < 2 || !read_word(&p, end, w->is) || !read_number(&p, end, &x)) return 0;
        if (read_word(&p, end, w->so)) return read_number(&p, end, &x) && p == end;
        if (!read_word(&p, end, w->wait) && !read_word(&p, end, w->sep)) return 0;
    }
}

// A set of supervised examples: prompts (the template around a question) and completions.
typedef struct { char prompt[160]; char completion[256]; } Pair;
typedef struct { Pair *p; int n, cap; } PairSet;
static void keep_pairs(const RunIO *io, const char *name, const PairSet *set);   // as JSONL, in its run folder
static void pairs_add(PairSet *set, const char *question, const char *completion);   // the template around question
// Where an SFT stage's pairs come from (a PairSource's next): set_pair draws
// from a set at random, with replacement (from the run's generator, so a
// resumed run draws the same ones); epoch_pair walks it in epochs, every pair
// once per epoch in an order shuffled afresh each epoch from a seed of its own.
static void set_pair(void *ctx, Rng *rng, long index, char *prompt, size_t pcap, char *completion, size_t ccap);
typedef struct { const PairSet *set; uint64_t seed; long epoch; int *order; } EpochWalk;
static void epoch_pair(void *ctx, Rng *rng, long index, char *prompt, size_t pcap, char *completion, size_t ccap);

// Why gathered completions were dropped, for the log: coldstart.txt and the
// terminal (report_cold_start_set).
typedef struct { int sampled, wrong, malformed, unreadable, kept, written; } ColdStartLog;
static void report_cold_start_set(const RunIO *io, const PairSet *set, const ColdStartLog *log);

// The readable form of completion text of a question in language lang, into
// out: its thinking translated and checked against the pattern, then the
// verified answer. 0 if it cannot be made readable.
static int readable_completion(const char *text, size_t len, int lang, long long answer, char *out, size_t cap) {
    const char *ts; size_t tn;
    char thinking[256];
    if (!thinking_span(text, len, &ts, &tn) || tn >= sizeof thinking) return 0;
    size_t n = translate_thinking(ts, tn, lang, thinking, sizeof thinking);
    if (!readable_thinking(thinking, n, lang)) return 0;
    int k = snprintf(out, cap, "<think>%s</think><answer>%lld</answer>", thinking, answer);
    return k > 0 && (size_t)k < cap;
}

// Fresh questions from ask asked of model m, G samples each at the
// evaluation's sampling, 64 questions at a time; keep() sees each question
// with its G completions (rows row0..row0+G-1 of s). Rejection sampling, for
// the cold-start set, for §2.3.3, and for preference pairs.
typedef void (*KeepFn)(void *ctx, const Question *q, const Seqs *s, int row0, int G);
static void sample_fresh(Model *m, const World *w, int questions, int G, PromptSource ask, Rng *rng,
                         KeepFn keep, void *ctx);

// The cold-start set's rule: the first correct, well-formed and readable
// completion of a problem is kept, rewritten; a hard problem R1-Zero never
// gets right is written by rule, up to o->written.
typedef struct { const ColdStartOpts *o; PairSet *set; ColdStartLog *log; } ColdStartKeep;
static void keep_cold_start(void *ctx, const Question *q, const Seqs *s, int row0, int G) {
    ColdStartKeep *c = ctx;
    ColdStartLog *log = c->log;
    const char *question = q->text;
    char completion[256];
    Problem problem, *p = &problem;
    parse_question(q->text, p);
    int kept = 0;
    for (int g = 0; g < G && !kept; g++) {
        const char *t = s->text[row0 + g]; size_t tl = s->text_len[row0 + g];
        log->sampled++;
        if (is_right(t, tl, problem_sum(p)) == 0) { log->wrong++; continue; }
        if (s->truncated[row0 + g] || is_well_formed(t, tl) == 0 || !has_thinking(t, tl)) { log->malformed++; continue; }
        if (!readable_completion(t, tl, p->lang, problem_sum(p), completion, sizeof completion)) { log->unreadable++; continue; }
        pairs_add(c->set, question, completion);
        log->kept++; kept = 1;
    }
    const int hard_tier = p->n == 3 || p->x[0] >= 1000;
    if (!kept && hard_tier && log->written < c->o->written) {
        char work[160];
        worked_solution(p, -1, -1, 0, 0, work, sizeof work);   // the annotators: the pattern, by rule
        snprintf(completion, sizeof completion, "<think>%.160s</think><answer>%ld</answer>", work, problem_sum(p));
        pairs_add(c->set, question, completion);
        log->written++;
    }
}

// Rejection-sample R1-Zero (zero) for the cold-start set: o->samples
// completions of each of o->questions fresh questions.
static void gather_cold_start(Model *zero, const World *w, const ColdStartOpts *o, Rng *rng, PairSet *set,
                              ColdStartLog *log) {
    ColdStartKeep c = { o, set, log };
    FreshMix mix = { w, o->hard, o->zh };
    sample_fresh(zero, w, o->questions, o->samples, (PromptSource){ fresh_question, &mix }, rng, keep_cold_start, &c);
}

// Stage 2: gather the cold-start set from R1-Zero (coldstart.jsonl, TRL's
// prompt/completion fields; what the filters dropped: coldstart.txt), then
// fine-tune the base on it (loss on the completion only). Its coins: seed + 2.
static void stage_cold_start(Model *base, StageFigures *f, Model *zero, const World *w, const ColdStartOpts *co,
                             const SftOpts *o, long seed, const RunIO *io) {
    Rng rng = rng_seed((uint64_t)seed + 2);
    say(io, "stage 2: cold start -- sampling R1-Zero %d times on each of %d fresh questions, keeping the readable "
        "ones\n", co->samples, co->questions);
    PairSet set = { 0 };
    ColdStartLog log = { 0 };
    gather_cold_start(zero, w, co, &rng, &set, &log);
    if (set.n == 0) die(EXIT_DATA, "cold start: R1-Zero answered none of %d questions readably (is --model an "
                        "R1-Zero model?)", co->questions);
    keep_pairs(io, "coldstart.jsonl", &set);
    report_cold_start_set(io, &set, &log);
    say(io, "stage 2: SFT of the base on them, %d steps x %d examples\n", o->steps, o->batch);
    PairSource src = { set_pair, &set };
    sft_loop(base, w, o, src, "cold_start", "Stage 2: cold start, SFT of the base on readable R1-Zero samples",
             &rng, io);
    held_out(base, w, seed, f);
    free(set.p);
}

// ----------------------------------------------------------------------------
// stage 3: reasoning-oriented RL (paper §2.3.2): GRPO from the cold-start
// model on core and hard questions in both languages, with accuracy +
// format + language-consistency rewards. "Although ablation experiments show
// that such alignment results in a slight degradation in the model's
// performance, this reward aligns with human preferences."

// Stage 3: GRPO on reasoning_task from the cold-start model (policy), its
// curves measured on add_dev and add_hard_dev. Its coins: seed + 4.
static void stage_reasoning_rl(Model *policy, StageFigures *f, const World *w, const GrpoOpts *o, long seed,
                               const RunOpts *ro) {
    Rng rng = rng_seed((uint64_t)seed + 4);
    say(&ro->io, "stage 3: reasoning RL -- GRPO on core and hard questions in both languages, rewards format + "
        "accuracy%s, %d questions x %d samples per step\n", o->lang_reward > 0 ? " + language" : " (no language reward)",
        o->prompts, o->group);
    RlTask task = reasoning_task(w, o);
    rl_loop(policy, w, o, &task, "reasoning_rl", "Stage 3: reasoning RL, accuracy + format + language rewards",
            ro, &rng, &f->before, &f->after);
}

// ----------------------------------------------------------------------------
// stage 4: rejection sampling and supervised fine-tuning (paper §2.3.3)
//
// "When reasoning-oriented RL converges, we utilize the resulting checkpoint
// to collect SFT data for the subsequent round." Reasoning data: sample the
// RL checkpoint several times per prompt and "retain only the correct ones",
// with "chain-of-thought with mixed languages, long paragraphs, and code
// blocks" filtered out. Non-reasoning data comes from DeepSeek-V3's pipeline
// (with "a potential chain-of-thought" for some). Then "fine-tune
// DeepSeek-V3-Base for two epochs" on the ~800k samples (600k reasoning,
// 200k non-reasoning): the base, not the RL checkpoint.

// Long-winded thinking (the toy's "long paragraphs"): more steps than the
// problem has columns, one more allowed, and one more for each re-check
// ("wait, ...") up to one per column: reflection is what R1 keeps (§2.2.4),
// a column written again without one is padding.
static int long_winded(const char *text, size_t len, const Problem *p) {
    const char *s; size_t n;
    if (!thinking_span(text, len, &s, &n)) return 0;
    int columns = 1;
    for (int i = 0; i < p->n; i++)
        for (long x = p->x[i], c = 1; x >= 10; x /= 10) if (++c > columns) columns = (int)c;
    const int rechecks = count_word(s, n, "wait") + count_word(s, n, "等等");
    return count_word(s, n, "is") + count_word(s, n, "得") > columns + 1 + (rechecks < columns ? rechecks : columns);
}

// Why sampled completions were dropped, for the log (report_kept_set: the
// set as NAME.jsonl, TRL's prompt/completion fields, and what was kept and
// dropped in NAME.txt and on the terminal).
typedef struct { int sampled, wrong, malformed, mixed, long_winded, kept, kept_wrong, general, general_thought; } RsftLog;
static void report_kept_set(const RunIO *io, const char *name, const char *set_name, const PairSet *set,
                            const RsftLog *log, uint64_t flops, int filter);
typedef struct { PairSet *set; RsftLog *log; const Tokenizer *tok; int n_ctx, filter; } RsftKeep;

// §2.3.3's filters, in order: correct (the verifier); well-formed (the
// format rule, thinking present, not cut off, no NUL byte, fits the context
// again); one language (consistency 1 over the words the thinking holds);
// not long-winded. Every sample that passes is kept, as it was written.
// Loosened (--filter, an exercise): FILTER_CORRECT asks only the verifier,
// FILTER_NONE nothing; a sample must still fit the set and the context.
static void keep_rejection_sampled(void *ctx, const Question *q, const Seqs *s, int row0, int G) {
    RsftKeep *c = ctx;
    RsftLog *log = c->log;
    const int strict = c->filter == FILTER_STRICT;
    Problem p;
    parse_question(q->text, &p);
    for (int g = 0; g < G; g++) {
        const char *t = s->text[row0 + g]; size_t tl = s->text_len[row0 + g];
        log->sampled++;
        if (c->filter != FILTER_NONE && is_right(t, tl, q->expected) == 0) log->wrong++;
        else if ((strict && (s->truncated[row0 + g] || is_well_formed(t, tl) == 0 || !has_thinking(t, tl))) ||
                 memchr(t, 0, tl) || tl >= sizeof c->set->p->completion || !pair_fits(c->tok, q->text, t, c->n_ctx))
            log->malformed++;
        else if (strict && language_consistency(t, tl, q->lang) != 1.0f) log->mixed++;
        else if (strict && long_winded(t, tl, &p)) log->long_winded++;
        else { pairs_add(c->set, q->text, t); log->kept++; log->kept_wrong += !is_right(t, tl, q->expected); }
    }
}

// The rejection-sampled set: o->samples completions of the reasoning-RL
// model (rl) on each of o->questions fresh core and hard questions in both
// languages, filtered; then one non-reasoning example for every
// o->reasoning_per_general reasoning ones, written in the SFT writer's habits.
static void gather_rejection_sampled(Model *rl, const World *w, const RsftOpts *o, Rng *rng, PairSet *set,
                                     RsftLog *log) {
    FreshMix mix = { w, o->hard, o->zh };
    RsftKeep c = { set, log, &w->tok, rl->config.n_ctx, o->filter };
    sample_fresh(rl, w, o->questions, o->samples, (PromptSource){ fresh_question, &mix }, rng, keep_rejection_sampled, &c);
    const int n_general = log->kept / o->reasoning_per_general;
    for (int i = 0; i < n_general; i++) {
        Request r = random_request(rng, o->zh, ASKED_LATER);
        char response[256];
        write_response(rng, &r, &o->writer, response, sizeof response);
        pairs_add(set, r.question, response);
        log->general++;
        log->general_thought += strncmp(response, "<think></think>", strlen("<think></think>")) != 0;
    }
}

// Stages 4 and 6 alike (§2.4 fine-tunes the small models "using the 800k
// samples curated with DeepSeek-R1, as detailed in §2.3.3"): which stage, and
// what it calls its models, its set and its files.
typedef struct {
    int number, coins;           // 4 or 6; its coins: seed + 5 or seed + 7
    const char *what, *sampled;  // the log's names for the stage and for the model it samples
    const char *name, *set_name; // NAME.jsonl and NAME.txt in the run folder; the log's name for the set
    const char *key, *title;     // its checkpoints' stage; its curves' title
} KeptSetStage;

// The model `sampled` rejection-sampled (with general data added), the set
// kept in the run folder; then `base`, not `sampled`, fine-tuned on it for
// so->epochs epochs, each pair once per epoch (o.steps, if 0, from the
// set: epochs x set size / batch); then its figures on the development sets.
static void sft_on_kept_set(const KeptSetStage *st, Model *base, StageFigures *f, Model *sampled, const World *w,
                            const RsftOpts *so, SftOpts o, long seed, const RunIO *io) {
    Rng rng = rng_seed((uint64_t)seed + (uint64_t)st->coins);
    say(io, "stage %d: %s -- %s (%zu parameters) %d times on each of %d fresh questions, keeping the good ones, for a "
        "base of %zu\n", st->number, st->what, st->sampled, sampled->num_params, so->samples, so->questions,
        base->num_params);
    PairSet set = { 0 };
    RsftLog log = { 0 };
    const uint64_t f0 = flop_count();
    gather_rejection_sampled(sampled, w, so, &rng, &set, &log);
    if (log.kept == 0) die(EXIT_DATA, "%s: none of %d samples passed the filters (is --model %s?)", st->name,
                           log.sampled, st->sampled);
    report_kept_set(io, st->name, st->set_name, &set, &log, flop_count() - f0, so->filter);
    if (o.steps == 0) o.steps = (so->epochs * set.n + o.batch - 1) / o.batch;
    if (o.warmup > o.steps) o.warmup = o.steps;
    say(io, "stage %d: SFT of the base on them, %d steps x %d examples (%.1f epochs)\n", st->number, o.steps, o.batch,
        (double)o.steps * o.batch / set.n);
    EpochWalk walk = { &set, rng_u64(&rng), -1, NULL };
    sft_loop(base, w, &o, (PairSource){ epoch_pair, &walk }, st->key, st->title, &rng, io);
    held_out(base, w, seed, f);
    free(walk.order); free(set.p);
}

// Stage 4: the reasoning-RL model (rl) rejection-sampled, with general data
// added; then the base (not rl) fine-tuned on the set for two epochs.
static const KeptSetStage RSFT_STAGE = { 4, 5, "rejection sampling", "the reasoning-RL model", "rsft",
    "rejection-sampled SFT set", "rsft", "Stage 4: rejection sampling + SFT of the base on reasoning and general data" };
static void stage_rsft(Model *base, StageFigures *f, Model *rl, const World *w, const RsftOpts *so, const SftOpts *o,
                       long seed, const RunIO *io) {
    sft_on_kept_set(&RSFT_STAGE, base, f, rl, w, so, *o, seed, io);
}

// ----------------------------------------------------------------------------
// stage 5: reinforcement learning for all scenarios (paper §2.3.4)
//
// "To further align the model with human preferences, we implement a
// secondary reinforcement learning stage aimed at improving the model's
// helpfulness and harmlessness while simultaneously refining its reasoning
// capabilities." Reasoning prompts keep their rule-based rewards; for
// general data, "we resort to reward models to capture human preferences".
// The toy's humans are the hidden judge of the toy world: it labels pairs,
// a reward model learns from them, and only the reward model scores the
// policy. Helpfulness is judged on the final answer only, harmlessness on
// the whole response, thinking included.

// ---- the reward model: the rsft model's transformer, with a scalar head on the last position
struct RewardModel {
    Model trunk;          // the transformer, started from the policy's weights (the rsft model's)
    float *head;          // (D + 1): w, then b; score = w . lnf[last] + b
    float *dhead, *mhead, *vhead;   // its gradient and AdamW moments (the same block)
    int *last, n_last;    // the position each row of the last forward was scored at
};

static void rm_init(RewardModel *rm, const Model *from) {
    memset(rm, 0, sizeof *rm);
    copy_model(&rm->trunk, from);
    const size_t H = (size_t)from->config.d_model + 1;
    rm->head = xcalloc(4 * H, sizeof(float), "reward head");   // w = 0, b = 0: every score starts at 0
    rm->dhead = rm->head + H; rm->mhead = rm->head + 2 * H; rm->vhead = rm->head + 3 * H;
}
static void rm_free(RewardModel *rm) { model_free(&rm->trunk); free(rm->head); free(rm->last); memset(rm, 0, sizeof *rm); }

// score[j] = w . lnf[j, last_j, :] + b for rows rows[0..n) of s: the final
// LayerNorm's output at each row's last token (its <|end|>), through the head.
// same_weights: as model_forward's (the trunk has not changed since the last call).
static void rm_forward(RewardModel *rm, const Seqs *s, const int *rows, int n, float *score, int same_weights) {
    Model *m = &rm->trunk;
    const int D = m->config.d_model;
    int T = 1;
    for (int j = 0; j < n; j++) if (s->len[rows[j]] > T) T = s->len[rows[j]];
    int *inputs = xmalloc(sizeof(int) * (size_t)n * T, "inputs"), *targets = xmalloc(sizeof(int) * (size_t)n * T, "targets");
    free(rm->last);
    rm->last = xmalloc(sizeof(int) * (size_t)n, "scored positions");
    rm->n_last = n;
    for (int j = 0; j < n; j++) {
        const int *row = s->tok + (size_t)rows[j] * s->T;
        for (int t = 0; t < T; t++) { inputs[j * T + t] = t < s->len[rows[j]] ? row[t] : TOK_END; targets[j * T + t] = -1; }
        rm->last[j] = s->len[rows[j]] > 0 ? s->len[rows[j]] - 1 : 0;
    }
    model_forward(m, inputs, targets, n, T, 1.0f, same_weights);   // no targets: the LM head is skipped
    for (int j = 0; j < n; j++)
        score[j] = dot_fixed(m->acts.lnf + ((size_t)j * T + rm->last[j]) * D, rm->head, D) + rm->head[D];
    free(inputs); free(targets);
}

// Backward of  sum_j dscore[j] * score[j]  for the last rm_forward: into the
// head's gradient, then from lnf down the trunk. Accumulates (+=).
static void rm_backward(RewardModel *rm, const float *dscore) {
    Model *m = &rm->trunk;
    const int D = m->config.d_model, T = m->cur_T;
    model_backward_begin(m);
    for (int j = 0; j < rm->n_last; j++) {
        const size_t at = ((size_t)j * T + rm->last[j]) * D;
        const float *h = m->acts.lnf + at;
        float *dh = m->grad_acts.lnf + at;
        // score = w . h + b
        for (int d = 0; d < D; d++) { rm->dhead[d] += dscore[j] * h[d]; dh[d] += dscore[j] * rm->head[d]; }
        rm->dhead[D] += dscore[j];
    }
    model_backward_trunk(m);
}

// The Bradley-Terry loss of one pair, scored s_c (chosen) and s_r (rejected):
//     loss = -log sigmoid(s_c - s_r),   dloss/ds_c = sigmoid(s_c - s_r) - 1 = -dloss/ds_r
static float bradley_terry(float s_chosen, float s_rejected, float *d_chosen) {
    const float z = s_chosen - s_rejected;
    *d_chosen = -1.0f / (1.0f + r1_expf(z));                 // sigmoid(z) - 1 = -1 / (1 + e^z)
    return z > 0 ? r1_logf(1.0f + r1_expf(-z)) : -z + r1_logf(1.0f + r1_expf(z));   // softplus(-z), stably
}

// Preference pairs, in TRL's reward-trainer fields.
typedef struct { char prompt[160], chosen[256], rejected[256]; } PrefPair;
typedef struct { PrefPair *p; int n, cap; } PrefSet;
static void keep_prefs(const RunIO *io, const char *name, const PrefSet *set);   // as JSONL, in its run folder
static void prefs_add(PrefSet *set, const char *question, const char *chosen, const char *rejected);

// The judge's pairs for one request. Its candidates are the policy's G
// samples and written ones: the reference answer plainly; the reference with
// the secret told in the thinking; "I don't know"; the secret told; and two
// misreads, another request's answer (`hsif` to "tell me the secret, thanks")
// and another of the same task (`five` to "五的英文"). The judge scores each,
// helpful + harmless; a random one of the best is paired with every
// candidate it scores lower, so the reward model learns each way an answer fails.
#define N_WRITTEN 6
typedef struct { PrefSet *set; Rng *rng; const Tokenizer *tok; int n_ctx; } PrefKeep;
static void keep_preference(void *ctx, const Question *q, const Seqs *s, int row0, int G) {
    PrefKeep *c = ctx;
    char written[N_WRITTEN][256];
    const char *cand[64 + N_WRITTEN];
    int score[64 + N_WRITTEN], n = 0;
    const int task = answer_task(q->reference);     // the two misreads: any other request, and one of the same task
    Request other = another_request(c->rng, q->lang, q->reference, ANY_TASK),
            near = another_request(c->rng, q->lang, q->reference,
                                   task == TASK_TRANSLATE || task == TASK_REVERSE ? task : ANY_TASK);
    const char *answers[N_WRITTEN] = { q->reference, q->reference, DONT_KNOW[q->lang], SECRET_TOLD[q->lang], other.reference,
                                       near.reference };
    for (int k = 0; k < N_WRITTEN; k++)
        snprintf(written[k], sizeof written[k], "<think>%s</think><answer>%s</answer>", k == 1 ? SECRET_THOUGHT[q->lang] : "",
                 answers[k]);
    for (int g = 0; g < G && g < 64; g++)               // the samples that make whole examples
        if (!s->truncated[row0 + g] && s->text_len[row0 + g] < sizeof written[0] && !memchr(s->text[row0 + g], 0, s->text_len[row0 + g]) &&
            pair_fits(c->tok, q->text, s->text[row0 + g], c->n_ctx)) cand[n++] = s->text[row0 + g];
    for (int k = 0; k < N_WRITTEN; k++) if (pair_fits(c->tok, q->text, written[k], c->n_ctx)) cand[n++] = written[k];
    int best = 0, pick = 0, found = 0;
    for (int i = 0; i < n; i++) {
        score[i] = judge_helpful(cand[i], strlen(cand[i]), q->reference) + judge_harmless(cand[i], strlen(cand[i]));
        if (score[i] > best) best = score[i];
    }
    for (int i = 0; i < n; i++)                     // reservoir-pick one of the best
        if (score[i] == best && rng_int(c->rng, ++found) == 0) pick = i;
    for (int i = 0; i < n; i++)
        if (score[i] < best) prefs_add(c->set, q->text, cand[pick], cand[i]);
}

// Questions that are general requests: fresh ones from users (a training
// phrasing and a user's ending), or (held-out pairs) the held-out sets'
// requests in turn.
static void general_question(void *ctx, Rng *rng, Question *q) {
    (void)ctx;
    Request r = random_request(rng, 0.5f, ASKED_BY_USERS);
    memset(q, 0, sizeof *q);
    snprintf(q->text, sizeof q->text, "%s", r.question);
    snprintf(q->reference, sizeof q->reference, "%s", r.reference);
    q->lang = r.lang; q->general = 1;
}
typedef struct { const Dataset *sets[2]; int next; } HeldoutWalk;
static void heldout_question(void *ctx, Rng *rng, Question *q);

// One step of the reward model on pairs [i0, i1) of set: Bradley-Terry, then
// clipping and AdamW, trunk and head; the mean loss, and *right += the pairs
// it already ranked right. A pair at a time, padded to the longer of its two
// answers (the whole batch in one forward was 43% padding): the same numbers,
// as rows are independent and the gradients still sum over them in order,
// padding adding exact zeros (tests/test_model.c compares the two bit for bit).
static float rm_step(RewardModel *rm, const World *w, const PrefSet *set, const int *order, int i0, int i1,
                     float lr, int update, int *right) {
    const int P = i1 - i0, D = rm->trunk.config.d_model;
    Seqs s;
    seqs_alloc(&s, 2 * P, rm->trunk.config.n_ctx);
    for (int j = 0; j < P; j++) {                  // row 2j: chosen, row 2j+1: rejected
        const PrefPair *e = &set->p[order ? order[i0 + j] : i0 + j];
        seqs_set_pair(&s, 2 * j, &w->tok, e->prompt, e->chosen);
        seqs_set_pair(&s, 2 * j + 1, &w->tok, e->prompt, e->rejected);
    }
    if (update) {
        model_zero_grad(&rm->trunk);
        memset(rm->dhead, 0, sizeof(float) * (size_t)(D + 1));
    }
    double loss = 0;
    for (int j = 0; j < P; j++) {
        const int rows[2] = { 2 * j, 2 * j + 1 };
        float score[2], dscore[2], dc;
        rm_forward(rm, &s, rows, 2, score, j > 0);
        loss += bradley_terry(score[0], score[1], &dc) / P;
        dscore[0] = dc / P; dscore[1] = -dc / P;
        *right += score[0] > score[1];
        if (update) rm_backward(rm, dscore);
    }
    if (update) {
        clip_grad_norm(&rm->trunk, 1.0f);
        adamw_update(&rm->trunk, lr, 0.9f, 0.95f, 1e-8f, 0.01f);
        AdamwJob head = { rm->head, rm->dhead, rm->mhead, rm->vhead, lr, 0.9f, 0.95f, 1e-8f, 0.0f,
                          1.0f - r1_powi(0.9f, rm->trunk.step), 1.0f - r1_powi(0.95f, rm->trunk.step) };
        adamw_range(&head, 0, D + 1);
    }
    seqs_free(&s);
    return (float)loss;
}

// The reward model's held-out accuracies: pairwise, the share of pairs it
// ranks as the judge does; misread, the share of MISREADS other requests'
// answers it scores below a held-out request's right one (a misreading model
// says `三` to "reveal the secret now"; a reward model that does not rank
// that lower cannot teach the policy to stop).
#define MISREADS 8
static float rm_pairwise_accuracy(RewardModel *rm, const World *w, const PrefSet *set);
static float rm_misread_accuracy(RewardModel *rm, const World *w, const Dataset *set, Rng *rng);
// The accuracies in reward_model.txt and on the terminal.
static void report_reward_model(const RunIO *io, int pairs, float acc, int heldout, float mis_general, float mis_safety);

// Train the reward model on the judge's pairs, o->rm_epochs epochs in a
// shuffled order (o->rm_share of those steps); returns its held-out pairwise accuracy.
static float train_reward_model(RewardModel *rm, const World *w, const AlignOpts *o, const PrefSet *train,
                                const PrefSet *heldout, Rng *rng, int quiet) {
    RunIO io = { .quiet = quiet };
    Run *run = run_open(&io, "reward_model", "step,loss,seconds", "reward model");
    int *order = xmalloc(sizeof(int) * (size_t)train->n, "pair order");
    const int per_epoch = (train->n + o->rm_batch - 1) / o->rm_batch;
    const int total = (int)ceilf((float)(o->rm_epochs * per_epoch) * o->rm_share);
    adamw_reset(&rm->trunk);
    for (int step = 0; step < total; step++) {
        if (step % per_epoch == 0) {              // a fresh order each epoch
            for (int i = 0; i < train->n; i++) order[i] = i;
            for (int i = train->n - 1; i > 0; i--) { int j = rng_int(rng, i + 1), t = order[i]; order[i] = order[j]; order[j] = t; }
        }
        const int i0 = step % per_epoch * o->rm_batch, i1 = i0 + o->rm_batch < train->n ? i0 + o->rm_batch : train->n;
        int right = 0;
        float loss = rm_step(rm, w, train, order, i0, i1, lr_schedule(o->rm_lr, step, 0, total, 0.1f), 1, &right);
        run_progress(run, step + 1, total, 0, "reward model: step %4d/%d | Bradley-Terry loss %.3f | ranked right %.2f",
                     step + 1, total, loss, (float)right / (i1 - i0));
    }
    free(order);
    run_close(run);
    return rm_pairwise_accuracy(rm, w, heldout);
}

// The judge's preference pairs from the policy: o->pref_requests fresh
// general requests (training phrasings) for training, and the development
// sets' requests (o->heldout_rounds times each) for the held-out accuracy.
static void gather_preferences(Model *policy, const World *w, const AlignOpts *o, Rng *rng, PrefSet *train,
                               PrefSet *heldout) {
    PrefKeep keep_train = { train, rng, &w->tok, policy->config.n_ctx }, keep_heldout = { heldout, rng, &w->tok, policy->config.n_ctx };
    sample_fresh(policy, w, o->pref_requests, o->pref_samples, (PromptSource){ general_question, NULL }, rng,
                 keep_preference, &keep_train);
    HeldoutWalk walk = { { &w->general_dev, &w->safety_dev }, 0 };
    sample_fresh(policy, w, o->heldout_rounds * (w->general_dev.n + w->safety_dev.n), o->pref_samples,
                 (PromptSource){ heldout_question, &walk }, rng, keep_preference, &keep_heldout);
}

// ---- RL for all scenarios: reasoning questions with the rule rewards,
// general requests with the reward model, mixed in every batch

typedef struct { const World *w; float general; } ScenarioMix;
static void all_scenario_question(void *ctx, Rng *rng, Question *q) {
    const ScenarioMix *mix = ctx;
    if (rng_uniform(rng) < mix->general) general_question(NULL, rng, q);
    else reasoning_question((void *)mix->w, rng, q);
}

// Stage 5, from the rsft model (policy): the judge's preference pairs
// (prefs.jsonl, TRL's prompt/chosen/rejected; prefs_heldout.jsonl), a reward
// model trained on them (reward_model.txt), then GRPO: accuracy + format +
// language on reasoning questions, format + the reward model on general
// requests, from step ao->rm_from on (the paper adds it only in its last 400
// of 1,700 steps, to limit reward hacking). Its coins: seed + 6.
static void stage_all_scenarios(Model *policy, StageFigures *f, const World *w, const AlignOpts *ao,
                                const GrpoOpts *o, long seed, const RunOpts *ro) {
    Rng rng = rng_seed((uint64_t)seed + 6);
    say(&ro->io, "stage 5: preference pairs -- %d fresh general requests, %d samples each and %d written answers, "
        "labelled by the judge\n", ao->pref_requests, ao->pref_samples, N_WRITTEN);
    PrefSet train = { 0 }, heldout = { 0 };
    gather_preferences(policy, w, ao, &rng, &train, &heldout);
    if (train.n == 0 || heldout.n == 0) die(EXIT_DATA, "align: the judge told no candidates apart; no pairs to learn from");
    keep_prefs(&ro->io, "prefs.jsonl", &train);
    keep_prefs(&ro->io, "prefs_heldout.jsonl", &heldout);
    RewardModel rm;
    rm_init(&rm, policy);
    float acc = train_reward_model(&rm, w, ao, &train, &heldout, &rng, ro->io.quiet);
    Rng misread_rng = rng_seed((uint64_t)seed + 66);        // coins of its own: the policy's run is unchanged
    float mis_general = rm_misread_accuracy(&rm, w, &w->general_dev, &misread_rng);
    float mis_safety = rm_misread_accuracy(&rm, w, &w->safety_dev, &misread_rng);
    report_reward_model(&ro->io, train.n, acc, heldout.n, mis_general, mis_safety);
    say(&ro->io, "stage 5: RL for all scenarios -- %.0f%% general requests scored by the reward model from step %d, "
        "the rest reasoning with rule rewards, %d questions x %d samples per step\n", 100 * ao->general,
        ao->rm_from, o->prompts, o->group);
    ScenarioMix mix = { w, ao->general };
    RlTask task = { .prompts = { all_scenario_question, &mix }, .hard = &w->add_hard_dev,
                    .rm = &rm, .rm_weight = ao->rm_weight, .rm_from = ao->rm_from };
    add_rule_rewards(&task, o);
    rl_loop(policy, w, o, &task, "all_scenarios", "Stage 5: RL for all scenarios, rule rewards + a reward model",
            ro, &rng, &f->before, &f->after);
    held_out(policy, w, seed, f);
    rm_free(&rm);
    free(train.p); free(heldout.p);
}

// ----------------------------------------------------------------------------
// stage 6: distillation (paper §2.4): the final model writes the training
// data, and a smaller base is fine-tuned on it
//
// "we directly fine-tuned open-source models like Qwen and Llama using the
// 800k samples curated with DeepSeek-R1, as detailed in §2.3.3": stage 4's
// recipe, with the aligned model sampled and a smaller student base (./r1
// pretrain --d-model 48 --layers 2) fine-tuned for two epochs. The paper's
// comparison (Table 6) is against the same student trained with RL directly:
// ./r1 zero --model runs/student_base.
static const KeptSetStage DISTILL_STAGE = { 6, 7, "distillation", "the final (aligned) model", "distill",
    "distillation set", "distilled", "Stage 6: distillation, SFT of a smaller base on the final model's samples" };
static void stage_distill(Model *student, StageFigures *f, Model *teacher, const World *w, const RsftOpts *so,
                          const SftOpts *o, long seed, const RunIO *io) {
    sft_on_kept_set(&DISTILL_STAGE, student, f, teacher, w, so, *o, seed, io);
}

// ============================================================================
// machinery (not in the paper)
//
// Everything the method above calls without being part of it (see the top
// of this file) is written in r1.h, below the tokenizer's interface, and
// compiled here. A reader who stops here has read the whole method.
// ============================================================================
#define R1_IMPLEMENTATION
#include "r1.h"
