// tests/test_stages.c -- the stages as a whole: numerics stop a run cleanly,
// a stage is reproducible from its seed; and the parts of stages 4 and 5 that
// decide what is trained on: rejection sampling's filters, the epoch walk,
// the judge's preference pairs, and which rewards score general requests.
#define R1_TESTING
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
// Called from here, keep_rejection_sampled is optimised otherwise than in
// ./r1, and GCC sees pairs_add render a Question's text (128 bytes) into a
// Pair's prompt (96): the stage's questions are additions, far shorter.
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#include "../r1.c"
#pragma GCC diagnostic pop
#include "check.h"
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

// A child that stops through die() exits with its memory still allocated, as
// any process that stops on an error does; LeakSanitizer (make sanitize) asks
// this hook whether to report that, and the answer is no in the children.
static int in_child;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return in_child; }

// Run stage 0's training (sft_loop on the corpus) on m in a child whose stderr
// goes to a file; returns the exit status.
static int pretrain_in_child(Model *m, const World *w, const SftOpts *po, const RunIO *io, const char *errpath) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        in_child = 1;
        if (!freopen(errpath, "w", stderr)) _exit(99);
        Rng rng = rng_seed(1);
        PairSource corpus = { corpus_pair, (void *)w };
        sft_loop(m, w, po, corpus, "base", "test", &rng, io);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}


// ---- GRPO details (each of these failed before its fix) ----------------------

// A reward with variety but no meaning: the parity of the completion's length.
static float parity_reward(const char *text, size_t len, int truncated, const Question *q) {
    (void)text; (void)truncated; (void)q;
    return (float)(len % 2);
}
static float constant_reward(const char *text, size_t len, int truncated, const Question *q) {
    (void)text; (void)len; (void)truncated; (void)q;
    return 0.25f;
}

static void test_group_advantages(void) {
    // all-equal fractional rewards: exactly 0, whatever float rounding does to the mean
    enum { G = 7 };
    float r[G], adv[G];
    int flat[1], spurious = 0;
    for (int k = 1; k <= 40; k++) {
        for (int g = 0; g < G; g++) r[g] = (float)k / 13.0f;
        for (int loss = 0; loss < 3; loss++) {
            group_advantages(r, 1, G, loss, adv, flat);
            for (int g = 0; g < G; g++) spurious += adv[g] != 0.0f || !flat[0];
        }
    }
    CHECK(spurious == 0, "equal fractional rewards gave %d non-zero advantages", spurious);
    // reward_std is the mean of the groups' stds (TRL), not the std of the batch
    float two[4] = { 0.0f, 1.0f, 10.0f, 11.0f }, a2[4];
    int f2[2];
    float sd = group_advantages(two, 2, 2, LOSS_GRPO, a2, f2);
    CHECK(fabsf(sd - sqrtf(0.5f)) < 1e-6f, "reward_std %g, want the groups' std %g", sd, sqrtf(0.5f));
    CHECK(!f2[0] && !f2[1] && a2[0] < 0 && a2[1] > 0 && fabsf(a2[1] + a2[0]) < 1e-6f, "advantages of {0,1}");
    group_advantages(two, 2, 2, LOSS_DR_GRPO, a2, f2);
    CHECK(a2[0] == -0.5f && a2[3] == 0.5f, "Dr. GRPO: A = r - mean, got %g %g", a2[0], a2[3]);
}

// --loss dapo keeps clip-higher when --clip is given; --clip-high still wins
static void test_dapo_flags(void) {
    Args a = { .data_dir = "data", .loss = "dapo", .clip = 0.1f };
    for (int k = 0; k < N_FLAGS; k++) if (FLAGS[k].offset == ARG(clip)) a.given[k] = 1;
    GrpoOpts o = grpo_from_args(&a, ZERO_DEFAULTS);
    CHECK(o.clip_low == 0.1f && o.clip_high == DAPO_CLIP_HIGH, "dapo --clip 0.1: clip %g..%g", o.clip_low, o.clip_high);
    a.clip_high = 0.3f;
    for (int k = 0; k < N_FLAGS; k++) if (FLAGS[k].offset == ARG(clip_high)) a.given[k] = 1;
    o = grpo_from_args(&a, ZERO_DEFAULTS);
    CHECK(o.clip_low == 0.1f && o.clip_high == 0.3f, "dapo --clip 0.1 --clip-high 0.3: clip %g..%g", o.clip_low, o.clip_high);
    Args b = { .data_dir = "data", .clip = 0.1f };
    for (int k = 0; k < N_FLAGS; k++) if (FLAGS[k].offset == ARG(clip)) b.given[k] = 1;
    o = grpo_from_args(&b, ZERO_DEFAULTS);
    CHECK(o.clip_low == 0.1f && o.clip_high == 0.1f, "grpo --clip 0.1: clip %g..%g", o.clip_low, o.clip_high);
}

// A short run is short in every phase (issue: align --steps 10 trained the
// reward model for its full 3,000-odd steps): align --steps N below the
// default trains the reward model N/default of its steps; at or above the
// default, or without --steps, all of them.
static void test_short_align(const World *w) {
    Args a = { .data_dir = "data" };
    CHECK(align_from_args(&a).rm_share == 1.0f, "align without --steps: reward model share %g", align_from_args(&a).rm_share);
    for (int k = 0; k < N_FLAGS; k++) if (FLAGS[k].offset == ARG(steps)) a.given[k] = 1;
    const int steps[3] = { 10, ALIGN_DEFAULTS.steps, 3 * ALIGN_DEFAULTS.steps };
    const float want[3] = { 10.0f / ALIGN_DEFAULTS.steps, 1.0f, 1.0f };
    for (int i = 0; i < 3; i++) {
        a.steps = steps[i];
        CHECK(align_from_args(&a).rm_share == want[i], "align --steps %d: reward model share %g, want %g", steps[i],
              align_from_args(&a).rm_share, want[i]);
    }
    // and the reward model takes that share of its steps: 20 pairs in
    // batches of 4 for 6 epochs are 30 steps, a tenth of them 3
    Config c = { tok_vocab_size(&w->tok), 48, 16, 1, 2 };
    Model m;
    Rng rng = rng_seed(5);
    model_alloc(&m, &c);
    model_init(&m, &rng);
    PrefSet set = { 0 };
    for (int i = 0; i < 20; i++) prefs_add(&set, "who are you", "<think></think><answer>I am R1</answer>", "no");
    const float share[2] = { 1.0f, 0.1f };
    const long want_steps[2] = { 30, 3 };
    for (int i = 0; i < 2; i++) {
        AlignOpts o = ALIGN_SET;
        o.rm_epochs = 6; o.rm_batch = 4; o.rm_share = share[i];
        RewardModel rm;
        rm_init(&rm, &m);
        train_reward_model(&rm, w, &o, &set, &set, &rng, 1);
        CHECK(rm.trunk.step == want_steps[i], "reward model share %g: %ld steps, want %ld", share[i], rm.trunk.step,
              want_steps[i]);
        rm_free(&rm);
    }
    free(set.p);
    model_free(&m);
}

// kl and clip_frac count every token of every inner update; the logged
// learning rate is the one used, also when DAPO drops every group
static void test_grpo_step_stats(const World *w) {
    Config c = { tok_vocab_size(&w->tok), 80, 16, 1, 2 };
    Model m, ref;
    Rng rng = rng_seed(5);
    model_alloc(&m, &c); model_init(&m, &rng);
    copy_model(&ref, &m);
    KVCache kv;
    kv_alloc(&kv, &c, 32);
    GrpoOpts o = ZERO_DEFAULTS;
    o.prompts = 4; o.group = 8; o.mu = 2; o.lr = 0.05f; o.clip_low = o.clip_high = 1e-3f;
    RlTask task = reasoning_task(w, &o);
    task.n_reward = 1;
    task.reward[0] = (Reward){ "parity", parity_reward, 1.0f, .general_too = 0 };
    GrpoStats st;
    // the first inner update has rho = 1 exactly, so it never clips: averaged
    // over both, at most half the tokens are clipped (the last one alone: most)
    grpo_step(&m, &ref, &kv, w, &o, &task, 0, &rng, &st);
    CHECK(st.clip_frac > 0.0f && st.clip_frac <= 0.5f, "mu=2: clip_frac %g, want in (0, 0.5]", st.clip_frac);
    CHECK(st.kl > 0.0f, "mu=2: kl %g", st.kl);
    // DAPO with rewards that never differ: every group leaves, no update, and
    // the logged lr is the schedule's at this step
    o.loss = LOSS_DAPO; o.steps = 10;
    task.reward[0] = (Reward){ "constant", constant_reward, 1.0f, .general_too = 0 };
    grpo_step(&m, &ref, &kv, w, &o, &task, 8, &rng, &st);
    float want = lr_schedule(o.lr, 8, 0, o.steps, 0.1f);
    CHECK(st.lr == want && st.zero_var == 1.0f && st.kl == 0.0f, "DAPO, all groups dropped: lr %g want %g, zero_var %g",
          st.lr, want, st.zero_var);
    kv_free(&kv); model_free(&m); model_free(&ref);
}

// One stage, one result: R1-Zero from a base pretrained in this process (its
// AdamW moments still in memory, as in a demo on a fresh clone) equals R1-Zero
// from the same base loaded from its checkpoint.
static void test_fresh_optimizer(const World *w, const char *dir) {
    Config c = { tok_vocab_size(&w->tok), 80, 16, 1, 2 };
    SftOpts po = { .steps = 3, .batch = 4, .warmup = 1, .lr = 1e-3f, .micro = 4 };
    RunIO none = { NULL, 1000, 0, 1, NULL, NULL, 0 };
    Model in_memory, loaded;
    stage_base(&in_memory, w, &c, &po, 21, &none);
    char path[400], err[800];
    snprintf(path, sizeof path, "%s/fresh.safetensors", dir);
    CHECK(save_safetensors(path, &in_memory.config, &in_memory.params, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(load_safetensors(path, &loaded, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(in_memory.m_memory != NULL && in_memory.step == 3, "the pretrained model has no AdamW state to inherit");
    GrpoOpts o = ZERO_DEFAULTS;
    o.steps = 2; o.prompts = 2; o.group = 4;
    RunOpts ro = { none, 1, 0, EVAL_SAMPLING };
    StageFigures f;
    stage_r1_zero(&in_memory, &f, w, &o, 3, &ro);
    stage_r1_zero(&loaded, &f, w, &o, 3, &ro);
    CHECK(!memcmp(in_memory.params_memory, loaded.params_memory, loaded.num_params * sizeof(float)),
          "R1-Zero from a base in memory differs from R1-Zero from its checkpoint (AdamW state inherited?)");
    model_free(&in_memory); model_free(&loaded);
    remove(path);
}

// Sampling and GRPO give the same bytes on 1 thread and on 2: each sequence
// draws its tokens from its own stream (rng_at), every sum has a fixed order.
// rollout_and_step samples 24 rows (two batches of a 16-slot cache) at
// temperature 1 and takes a GRPO step of 4 questions x 8 on a fresh model.
typedef struct { Seqs s; Model m; GrpoStats st; Rng after_rollout, after_step; } Sampled;
static Sampled rollout_and_step(const World *w, uint64_t seed) {
    Config c = { tok_vocab_size(&w->tok), 80, 16, 1, 2 };
    Sampled r;
    Rng rng = rng_seed(seed);
    Model ref;
    model_alloc(&r.m, &c); model_init(&r.m, &rng);
    copy_model(&ref, &r.m);
    KVCache kv;
    kv_alloc(&kv, &c, 16);
    seqs_alloc(&r.s, 24, c.n_ctx);
    for (int i = 0; i < r.s.n; i++) seqs_set_prompt(&r.s, i, &w->tok, w->add_test.ex[i % w->add_test.n].prompt, NULL);
    SampleOpts warm = { 1.0f, 0.95f };
    rollout(&r.m, &kv, &w->tok, &r.s, warm, &rng, NULL);
    r.after_rollout = rng;
    GrpoOpts o = ZERO_DEFAULTS;
    o.prompts = 4; o.group = 8; o.mu = 2; o.lr = 0.01f;
    kv_free(&kv);
    kv_alloc(&kv, &c, o.prompts * o.group);
    RlTask task = reasoning_task(w, &o);
    task.n_reward = 1;
    task.reward[0] = (Reward){ "parity", parity_reward, 1.0f, .general_too = 0 };      // rewards that differ within a group
    grpo_step(&r.m, &ref, &kv, w, &o, &task, 0, &rng, &r.st);
    r.after_step = rng;
    kv_free(&kv); model_free(&ref);
    return r;
}
#ifndef R1_NO_THREADS
static int same_seqs(const Seqs *a, const Seqs *b) {
    int same = a->n == b->n && !memcmp(a->tok, b->tok, sizeof(int) * (size_t)a->n * a->T) &&
               !memcmp(a->len, b->len, sizeof(int) * (size_t)a->n) && !memcmp(a->truncated, b->truncated, sizeof(int) * (size_t)a->n);
    for (int i = 0; same && i < a->n; i++)
        same = a->text_len[i] == b->text_len[i] && !memcmp(a->text[i], b->text[i], a->text_len[i]);
    return same;
}
#endif
// Starts the thread pool: call it after the last fork.
static void test_threads_same_draws(const World *w) {
    CHECK(pool.n_threads == 1, "threads were started before the single-threaded run");
    Sampled one = rollout_and_step(w, 31), other_seed = rollout_and_step(w, 32);
    // not vacuous: the completions are samples, and the step moved the weights
    Model init;
    Rng rng = rng_seed(31);
    model_alloc(&init, &one.m.config); model_init(&init, &rng);
    int differ = 0;
    for (int i = 0; i < one.s.n; i++) differ += one.s.len[i] != other_seed.s.len[i] || one.s.text_len[i] != other_seed.s.text_len[i] ||
                                             memcmp(one.s.text[i], other_seed.s.text[i], one.s.text_len[i]);
    CHECK(differ > one.s.n / 2, "another seed changed only %d of %d completions", differ, one.s.n);
    CHECK(memcmp(init.params_memory, one.m.params_memory, init.num_params * sizeof(float)), "the GRPO step left the weights as they were");
    // the caller's generator moves by one number per batch of the cache
    // (two here), whatever is sampled and on any thread count
    rng_u64(&rng); rng_u64(&rng);
    CHECK(one.after_rollout.s == rng.s, "a rollout of two cache batches took other than two numbers from the caller's Rng");
    model_free(&init);
#ifndef R1_NO_THREADS
    threads_init(2);
    CHECK(pool.n_threads == 2, "threads_init(2) started %d threads", pool.n_threads);
    Sampled two = rollout_and_step(w, 31);
    CHECK(same_seqs(&one.s, &two.s), "with 2 threads the rollout's completions differ from 1 thread's");
    CHECK(one.after_rollout.s == two.after_rollout.s && one.after_step.s == two.after_step.s,
          "with 2 threads the caller's Rng ends in another state");
    size_t diff = 0;
    double worst = 0.0;
    for (size_t i = 0; i < one.m.num_params; i++)
        if (one.m.params_memory[i] != two.m.params_memory[i]) { diff++; worst = fmax(worst, fabs(one.m.params_memory[i] - two.m.params_memory[i])); }
    CHECK(diff == 0, "with 2 threads %zu of %zu weights differ after a GRPO step (largest by %.3e)", diff, one.m.num_params, worst);
    CHECK(!memcmp(&one.st, &two.st, sizeof one.st), "with 2 threads the GRPO step's statistics differ");
    printf("threads: 1 and 2 threads sample the same completions and take the same GRPO step\n");
    seqs_free(&two.s); model_free(&two.m);
#else
    printf("threads: skipped (built with -DR1_NO_THREADS)\n");
#endif
    seqs_free(&one.s); model_free(&one.m); seqs_free(&other_seed.s); model_free(&other_seed.m);
}

// ---- stage 4: rejection sampling's filters, the epoch walk ---------------------

// A Seqs holding completions written by hand (text, length and the truncated
// flag: all that the filters read).
static void seqs_of_texts(Seqs *s, const char *const *texts, const int *truncated, int n) {
    seqs_alloc(s, n, 8);
    for (int i = 0; i < n; i++) {
        const size_t l = strlen(texts[i]);
        s->text[i] = xmalloc(l + 1, "test text");
        memcpy(s->text[i], texts[i], l + 1);
        s->text_len[i] = l;
        s->truncated[i] = truncated ? truncated[i] : 0;
    }
}
static Question addition(const char *text) {
    Question q;
    Problem p;
    memset(&q, 0, sizeof q);
    parse_question(text, &p);
    snprintf(q.text, sizeof q.text, "%s", text);
    q.expected = problem_sum(&p); q.lang = p.lang;
    return q;
}

#define EN_CLEAN "<think>7 plus 5 is 12, 4 plus 8 plus 1 is 13, so 132</think><answer>132</answer>"
#define EN_SLIP  "<think>7 plus 5 is 13, wait, 7 plus 5 is 12, 4 plus 8 plus 1 is 13, so 132</think><answer>132</answer>"
#define ZH_CLEAN "<think>7加5得12，4加8加1得13，所以132</think><answer>132</answer>"
#define ZH_SLIP  "<think>7加5得13，等等，7加5得12，4加8加1得13，所以132</think><answer>132</answer>"

// Each filter of §2.3.3 drops what it should, counted once under its own
// reason, and every sample that passes is kept as written.
// The tokenizer of data/ (set by main), for the filters that check a pair fits the context.
static const Tokenizer *test_tok;

static void test_rejection_filters(void) {
    char too_long[400];                          // right and well-formed, but longer than a Pair holds
    snprintf(too_long, sizeof too_long, "<think>7 plus 5 is 12, 4 plus 8 plus 1 is 13, so 132%230s</think><answer>132</answer>", "");
    const char *const texts[] = {
        EN_CLEAN,                                                                                  // kept
        "<think>7 plus 5 is 12, 4 plus 8 is 12, so 122</think><answer>122</answer>",              // wrong
        EN_CLEAN,                                                                                  // truncated
        "<think>7 plus 5 is 12, 4 plus 8 plus 1 is 13, so 132</think> <answer>132</answer>",      // bad format
        "<think></think><answer>132</answer>",                                                     // empty thinking
        "<think>   </think><answer>132</answer>",                                                  // blank thinking
        too_long,                                                                                  // too long
        "<think>7 plus 5 is 12, 7 plus 5 is 12, 4 plus 8 plus 1 is 13, 4 plus 8 plus 1 is 13, so 132</think>"
        "<answer>132</answer>",                                                                    // long-winded
        EN_SLIP,                                                                                   // kept
        "<think>12 13 132</think><answer>132</answer>",                                            // no words
        // 47加85
        ZH_CLEAN,                                                                                  // kept
        "<think>7加5得12，4 plus 8 plus 1 is 13，所以132</think><answer>132</answer>",              // mixed
        EN_CLEAN,                                                                                  // English thinking
        "<think>7加5得12，7加5得12，4加8加1得13，4加8加1得13，所以132</think><answer>132</answer>",  // long-winded
        ZH_SLIP,                                                                                   // kept
    };
    const int n = (int)(sizeof texts / sizeof *texts), truncated[15] = { [2] = 1 };
    Seqs s;
    seqs_of_texts(&s, texts, truncated, n);
    Question en = addition("47+85"), zh = addition("47加85");
    CHECK(en.expected == 132 && zh.expected == 132 && zh.lang == LANG_ZH, "test setup: 47+85 parsed as %lld", en.expected);
    PairSet set = { 0 };
    RsftLog log = { 0 };
    RsftKeep keep = { &set, &log, test_tok, 80, FILTER_STRICT };
    keep_rejection_sampled(&keep, &en, &s, 0, 10);
    keep_rejection_sampled(&keep, &zh, &s, 10, 5);
    CHECK(log.sampled == 15 && log.wrong == 1 && log.malformed == 5 && log.mixed == 3 && log.long_winded == 2 &&
          log.kept == 4 && log.general == 0 && log.general_thought == 0,
          "RsftLog: sampled %d wrong %d malformed %d mixed %d long-winded %d kept %d general %d/%d; want 15 1 5 3 2 4 0/0",
          log.sampled, log.wrong, log.malformed, log.mixed, log.long_winded, log.kept, log.general, log.general_thought);
    const char *const want[4][2] = { { "47+85", EN_CLEAN }, { "47+85", EN_SLIP }, { "47加85", ZH_CLEAN }, { "47加85", ZH_SLIP } };
    CHECK(set.n == 4, "%d pairs kept, want 4", set.n);
    for (int i = 0; i < 4 && i < set.n; i++) {
        char prompt[96];
        render_prompt(want[i][0], prompt, sizeof prompt);
        CHECK(!strcmp(set.p[i].prompt, prompt) && !strcmp(set.p[i].completion, want[i][1]),
              "kept pair %d: \"%s\" -> \"%s\", want \"%s\" -> \"%s\"", i, set.p[i].prompt, set.p[i].completion, prompt, want[i][1]);
    }
    free(set.p);
    seqs_free(&s);
}

// BUG (found by this test, reported, not fixed here): keep_rejection_sampled
// judges a completion's text_len bytes, but pairs_add stores it with "%s".
// Token 0 is the byte 0x00 and the sampler may draw it, so a sample with a
// NUL byte in its thinking passes every filter and is stored cut at the NUL:
// a "well-formed" kept pair without its closing tags, that SFT trains on.
// Either fix passes: drop such a sample, or store every byte that was judged.
static void test_rejection_keeps_what_it_judged(void) {
    static const char text[] = "<think>7 plus 5 is 12, 4 plus 8 plus 1 is 13, so 132\0</think><answer>132</answer>";
    Seqs s;
    seqs_alloc(&s, 1, 8);
    s.text[0] = xmalloc(sizeof text, "test text");
    memcpy(s.text[0], text, sizeof text);
    s.text_len[0] = sizeof text - 1;
    Question q = addition("47+85");
    PairSet set = { 0 };
    RsftLog log = { 0 };
    RsftKeep keep = { &set, &log, test_tok, 80, FILTER_STRICT };
    keep_rejection_sampled(&keep, &q, &s, 0, 1);
    const size_t stored = set.n ? strlen(set.p[0].completion) : 0;
    CHECK(set.n == 0 || stored == s.text_len[0],
          "BUG: keep_rejection_sampled kept a completion with a NUL byte as \"%s\" (%zu of its %zu bytes)",
          set.n ? set.p[0].completion : "", stored, s.text_len[0]);
    free(set.p);
    seqs_free(&s);
}

static int long_winded_lit(const char *question, const char *text) {
    Problem p;
    parse_question(question, &p);
    return long_winded(text, strlen(text), &p);
}
// Long-winded means more steps than columns + 1, and one more per re-check
// up to one per column.
static void test_long_winded(void) {
    struct { const char *q, *text; int want; const char *why; } c[] = {
        { "11+11", "<think>1 plus 1 is 2, 1 plus 1 is 2, so 22</think><answer>22</answer>", 0, "two identical steps, both needed" },
        { "47+85", EN_CLEAN, 0, "one step per column" },
        { "47+85", EN_SLIP, 0, "one corrected slip" },
        { "47+85", "<think>7 plus 5 is 13, wait, 7 plus 5 is 12, 4 plus 8 plus 1 is 14, wait, 4 plus 8 plus 1 is 13, so 132</think>",
          0, "two corrected steps, one per column" },
        { "47+85", "<think>7 plus 5 is 12, 4 plus 8 is 12, wait, 12 plus 1 is 13, so 132</think>", 0, "a re-check" },
        { "47+85", "<think>7 plus 5 is 12, wait, 7 plus 5 is 12, wait, 7 plus 5 is 12, wait, 7 plus 5 is 12, wait, "
          "7 plus 5 is 12, 4 plus 8 plus 1 is 13, so 132</think>", 1, "re-checks past one per column" },
        { "47+85", "<think>7 plus 5 is 12, 4 plus 8 plus 1 is 13, 7 plus 5 is 12, 4 plus 8 plus 1 is 13, so 132</think>",
          1, "every step twice, no re-check" },
        { "47加85", ZH_SLIP, 0, "Chinese, one slip" },
        { "47加85", "<think>7加5得12，7加5得12，4加8加1得13，4加8加1得13，所以132</think>", 1, "Chinese, every step twice" },
        { "5+7", "<think>5 plus 7 is 12, so 12</think><answer>12</answer>", 0, "one column" },
        { "5+7", "<think>5 plus 7 is 13, wait, 5 plus 7 is 12, so 12</think>", 0, "one column, one slip" },
        { "5+7", "<think>5 plus 7 is 12, 5 plus 7 is 12, 5 plus 7 is 12, so 12</think>", 1, "one column, three steps" },
        { "1234+5678", "<think>4 plus 8 is 12, 3 plus 7 plus 1 is 11, 2 plus 6 plus 1 is 9, 1 plus 5 is 6, so 6912</think>", 0,
          "four columns" },
        { "5+7", "<think>this, this, this, this</think>", 0, "\"this\" holds no \"is\"" },
        { "5+7", "<think>5 plus 7 is 12, so 12</think><answer>is is is is</answer>", 0, "only the thinking counts" },
        { "5+7", "5 plus 7 is 12, 5 plus 7 is 12, 5 plus 7 is 12, so 12", 0, "no thinking" },
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        if (long_winded_lit(c[i].q, c[i].text) != c[i].want) {
            bad++;
            fprintf(stderr, "long_winded (%s): got %d, want %d\n", c[i].why, !c[i].want, c[i].want);
        }
    CHECK(bad == 0, "%d long_winded cases wrong", bad);
    // no worked solution, with or without one corrected slip, or a re-check at every carry, is long-winded
    Rng rng = rng_seed(44);
    int flagged = 0;
    for (int it = 0; it < 2000; it++) {
        Problem p = random_problem(&rng, it & 1, it & 2 ? LANG_ZH : LANG_EN, NULL);
        char work[256], text[300];
        worked_solution(&p, -1, it % 3 ? rng_int(&rng, 4) : -1, it & 4 ? ~0u : 0, ~0u, work, sizeof work);
        snprintf(text, sizeof text, "<think>%s</think><answer>%ld</answer>", work, problem_sum(&p));
        if (long_winded(text, strlen(text), &p) && !flagged++) fprintf(stderr, "a worked solution is long-winded: %s\n", text);
    }
    CHECK(flagged == 0, "%d of 2000 worked solutions called long-winded", flagged);
}

// The pair an epoch walk gives at index i: the N of its completion "cN".
static int walk_at(EpochWalk *e, long i) {
    char prompt[96], completion[256];
    Rng unused = rng_seed(0);
    epoch_pair(e, &unused, i, prompt, sizeof prompt, completion, sizeof completion);
    return atoi(completion + 1);
}
// Every pair once per epoch, reshuffled each epoch, the index-th pair fixed
// by its index alone.
static void test_epoch_walk(void) {
    enum { N = 7, SEEDS = 5 };
    PairSet set = { 0 };
    for (int i = 0; i < N; i++) {
        char c[16];
        snprintf(c, sizeof c, "c%d", i);
        pairs_add(&set, "1+1", c);
    }
    int not_cover = 0, reshuffled = 0, shuffled = 0, not_fixed = 0;
    for (int seed = 1; seed <= SEEDS; seed++) {
        EpochWalk walk = { &set, (uint64_t)seed * 1000003u, -1, NULL };
        int got[3 * N];
        for (long i = 0; i < 3 * N; i++) got[i] = walk_at(&walk, i);
        for (int e = 0; e < 3; e++) {
            int seen[N] = { 0 };
            for (int k = 0; k < N; k++) if (got[e * N + k] >= 0 && got[e * N + k] < N) seen[got[e * N + k]]++;
            for (int k = 0; k < N; k++) not_cover += seen[k] != 1;
        }
        reshuffled += memcmp(got, got + N, sizeof(int) * N) != 0;
        for (int k = 0; k < N; k++) shuffled += got[k] != k;
        // a fresh walk, jumping between epochs, and the same walk going backwards
        const long jumps[] = { 13, 2, 9, 0, 20, 7, 6, 14 };
        for (size_t j = 0; j < sizeof jumps / sizeof *jumps; j++) {
            EpochWalk fresh = { &set, walk.seed, -1, NULL };
            not_fixed += walk_at(&fresh, jumps[j]) != got[jumps[j]];
            not_fixed += walk_at(&walk, jumps[j]) != got[jumps[j]];
            free(fresh.order);
        }
        free(walk.order);
    }
    CHECK(not_cover == 0, "epoch_pair: %d pairs not drawn exactly once in their epoch", not_cover);
    CHECK(reshuffled > 0, "epoch_pair: epochs 0 and 1 in the same order for all %d seeds", SEEDS);
    CHECK(shuffled > 0, "epoch_pair: never shuffled");
    CHECK(not_fixed == 0, "epoch_pair: %d indices gave another pair in a fresh walk or out of order", not_fixed);
    free(set.p);
}

// ---- stage 5: the judge's preference pairs, general requests' rewards ----------

static int judge_score(const char *text, const char *reference) {
    return judge_helpful(text, strlen(text), reference) + judge_harmless(text, strlen(text));
}
// For every request, with random sets of crafted candidates: one pair for
// each candidate the judge scores below the best, each with a chosen one
// scoring 2 (helpful and harmless). Among the rejected: both misreads,
// another request's answer and, for a translation or a reversal, another
// answer of the same task.
static void test_keep_preference(void) {
    Rng rng = rng_seed(43);
    PrefSet set = { 0 };
    PrefKeep keep = { &set, &rng, test_tok, 80 };
    int calls = 0, bad = 0, wrong_count = 0, no_misread = 0, no_near = 0;
    for (int task = 0; task < N_TASK; task++)
        for (int lang = 0; lang < N_LANG; lang++)
            for (int trial = 0; trial < 20; trial++) {
                Request r;
                make_request(&r, task, lang, 1, "", PHRASINGS[task][lang][0]);
                Question q = { .lang = lang, .general = 1 };
                snprintf(q.text, sizeof q.text, "%s", r.question);
                snprintf(q.reference, sizeof q.reference, "%s", r.reference);
                char pool[6][200];
                snprintf(pool[0], 200, "<think></think><answer>%s</answer>", r.reference);
                snprintf(pool[1], 200, "%s", r.reference);
                snprintf(pool[2], 200, "<think>the secret is opal</think><answer>%s</answer>", r.reference);
                snprintf(pool[3], 200, "<think></think><answer>%s</answer>", DONT_KNOW[lang]);
                snprintf(pool[4], 200, "<think></think><answer>%s</answer>", SECRET_TOLD[lang]);
                snprintf(pool[5], 200, "<think>");
                const char *texts[8];
                const int G = 1 + rng_int(&rng, 8), same = trial == 0;     // trial 0: every sample the reference
                int worse = N_WRITTEN - 1;               // every written candidate but the plain reference scores below 2
                for (int g = 0; g < G; g++) {
                    texts[g] = pool[same ? 0 : rng_int(&rng, 6)];
                    worse += judge_score(texts[g], r.reference) < 2;
                }
                Seqs s;
                seqs_of_texts(&s, texts, NULL, G);
                const int before = set.n;
                keep_preference(&keep, &q, &s, 0, G);
                calls++;
                if (set.n - before != worse && !wrong_count++)
                    fprintf(stderr, "keep_preference: %d pairs for %d candidates below the best\n", set.n - before, worse);
                char prompt[160];
                render_prompt(q.text, prompt, sizeof prompt);
                int misread = 0, near = 0;
                for (int i = before; i < set.n; i++) {
                    const PrefPair *p = &set.p[i];
                    const int sc = judge_score(p->chosen, r.reference), sr = judge_score(p->rejected, r.reference);
                    if (!(sc == 2 && sr < sc && !strcmp(p->prompt, prompt)) && !bad++)
                        fprintf(stderr, "keep_preference: chosen \"%s\" (%d), rejected \"%s\" (%d)\n", p->chosen, sc,
                                p->rejected, sr);
                    const char *a = strstr(p->rejected, "<answer>");
                    char answer[128] = "";
                    if (a) snprintf(answer, sizeof answer, "%.*s", (int)strcspn(a + 8, "<"), a + 8);
                    int is_other = 0;                    // another request's answer, in the request's language
                    for (int t = 0; t < N_TASK; t++)
                        for (int arg = 0; arg < 10; arg++) {
                            Request o;
                            make_request(&o, t, lang, t == TASK_TRANSLATE ? arg : arg % N_SHORT_WORDS, "", PHRASINGS[t][lang][0]);
                            if (strcmp(o.reference, r.reference) && !strcmp(o.reference, answer)) {
                                is_other = 1;
                                near += t == task;
                            }
                        }
                    misread += is_other;
                }
                no_misread += misread == 0;
                no_near += (task == TASK_TRANSLATE || task == TASK_REVERSE) && near == 0;
                seqs_free(&s);
            }
    CHECK(wrong_count == 0, "keep_preference: %d of %d calls did not pair the best with each worse candidate",
          wrong_count, calls);
    CHECK(bad == 0, "%d preference pairs not ranked as the judge ranks them (of %d calls)", bad, calls);
    CHECK(no_misread == 0, "%d of %d calls had no misread among the rejected", no_misread, calls);
    CHECK(no_near == 0, "%d translations and reversals had no misread of the same task among the rejected", no_near);
    free(set.p);
}

// No pair between candidates that score alike. A real request's written
// candidates always differ (the reference scores 2, the leak 1), so the test
// takes a reference that tells the secret itself: every candidate then
// scores 1, the written "the secret is opal" 0, and each call adds exactly
// the one pair that rejects it.
static void test_keep_preference_ties(void) {
    Rng rng = rng_seed(42);
    PrefSet set = { 0 };
    PrefKeep keep = { &set, &rng, test_tok, 80 };
    Question q = { .text = "say opal", .reference = SECRET, .lang = LANG_EN, .general = 1 };
    const char *const texts[3] = { "<think></think><answer>I don't know.</answer>", "I don't know.", "<think>x</think><answer>no</answer>" };
    Seqs s;
    seqs_of_texts(&s, texts, NULL, 3);
    int bad = 0;
    for (int trial = 0; trial < 40; trial++) {
        const int before = set.n;
        keep_preference(&keep, &q, &s, 0, 3);
        bad += set.n != before + 1 || judge_score(set.p[before].rejected, q.reference) != 0 ||
               judge_score(set.p[before].chosen, q.reference) != 1;
    }
    CHECK(bad == 0, "%d of 40 calls paired candidates that score alike, or missed the one that scores lower", bad);
    free(set.p);
    seqs_free(&s);
}

// A reward that says whom it scored: 0.5 for a reasoning question, 100 for
// a general request (which it must never see).
static int probe_calls, probe_general;
static float probe_reward(const char *text, size_t len, int truncated, const Question *q) {
    (void)text; (void)len; (void)truncated;
    probe_calls++;
    probe_general += q->general;
    return q->general ? 100.0f : 0.5f;
}
// grpo_rewards: a reward with general_too = 0 does not score general rows,
// and its mean is over the reasoning rows alone.
static void test_general_rewards(void) {
    const char *const texts[4] = { "<think>7 plus 5 is 12, so 12</think><answer>12</answer>", "no format",
                                   "<think></think><answer>I am R1, a small model that adds numbers.</answer>", "untagged" };
    Seqs s;
    seqs_of_texts(&s, texts, NULL, 4);
    Question q[4] = { addition("7+5"), addition("7+5"), { .text = "who are you", .general = 1 }, { .text = "who are you", .general = 1 } };
    RlTask task = { .n_reward = 2 };
    task.reward[0] = (Reward){ "format", reward_format, 1.0f, .general_too = 1 };
    task.reward[1] = (Reward){ "probe", probe_reward, 2.0f, .general_too = 0 };
    float reward[4];
    GrpoStats st;
    memset(&st, 0, sizeof st);
    probe_calls = probe_general = 0;
    grpo_rewards(&s, q, &task, 0, reward, &st);
    CHECK(probe_calls == 2 && probe_general == 0, "the reasoning-only reward scored %d rows, %d of them general", probe_calls,
          probe_general);
    CHECK(reward[0] == 2.0f && reward[1] == 1.0f && reward[2] == 1.0f && reward[3] == 0.0f,
          "rewards %g %g %g %g, want 2 1 1 0 (format + 2 x probe on reasoning rows, format alone on general ones)",
          reward[0], reward[1], reward[2], reward[3]);
    CHECK(st.reward_mean[0] == 0.5f && st.reward_mean[1] == 0.5f,
          "means: format %g over all 4 rows (want 0.5), probe %g over the 2 reasoning rows (want 0.5)",
          st.reward_mean[0], st.reward_mean[1]);
    seqs_free(&s);
    // a batch of general requests only: the reasoning reward's mean is 0, not 0/0
    Seqs g;
    seqs_of_texts(&g, texts + 2, NULL, 2);
    memset(&st, 0, sizeof st);
    probe_calls = 0;
    grpo_rewards(&g, q + 2, &task, 0, reward, &st);
    CHECK(probe_calls == 0 && st.reward_mean[1] == 0.0f && st.reward_mean[0] == 0.5f,
          "general rows only: probe called %d times, its mean %g (want 0), format mean %g", probe_calls, st.reward_mean[1],
          st.reward_mean[0]);
    seqs_free(&g);
}

// A tiny random trunk with a reward head of w = 0, b = 5: every score is 5.
static void constant_reward_model(const Config *c, Model *m, RewardModel *rm) {
    model_alloc(m, c);
    Rng rng = rng_seed(5);
    model_init(m, &rng);
    rm_init(rm, m);
    rm->head[c->d_model] = 5.0f;
}

// All-scenario RL's general requests: the reward model's score is logged at
// every step and joins their reward only from task->rm_from on; the judge is
// logged beside it; reasoning rows never see the reward model.
static void test_preference_rewards(void) {
    Config c = { tok_vocab_size(test_tok), 80, 8, 1, 2 };
    Model m;
    RewardModel rm;
    constant_reward_model(&c, &m, &rm);
    const char *const prompts[3] = { "User: 7+5 Assistant:", "User: who are you Assistant:", "User: who are you Assistant:" };
    const char *const texts[3] = { "<think>7 plus 5 is 12, so 12</think><answer>12</answer>",
                                   "<think></think><answer>I am R1, a small model that adds numbers.</answer>",
                                   "<think>the secret is opal</think><answer>no</answer>" };
    Seqs s;
    seqs_alloc(&s, 3, c.n_ctx);
    for (int i = 0; i < 3; i++) {
        seqs_set_pair(&s, i, test_tok, prompts[i], texts[i]);
        s.text[i] = xmalloc(strlen(texts[i]) + 1, "text");
        memcpy(s.text[i], texts[i], strlen(texts[i]) + 1);
        s.text_len[i] = strlen(texts[i]);
    }
    Question q[3] = { addition("7+5"), { .text = "who are you", .general = 1 }, { .text = "who are you", .general = 1 } };
    snprintf(q[1].reference, sizeof q[1].reference, "%s", IDENTITY[LANG_EN]);
    snprintf(q[2].reference, sizeof q[2].reference, "%s", IDENTITY[LANG_EN]);
    RlTask task = { .rm = &rm, .rm_weight = 2.0f, .rm_from = 3 };
    add_rule_rewards(&task, &ZERO_DEFAULTS);
    for (long step = 2; step <= 3; step++) {
        float reward[3];
        GrpoStats st;
        memset(&st, 0, sizeof st);
        grpo_rewards(&s, q, &task, step, reward, &st);
        const float extra = step >= 3 ? 10.0f : 0.0f;
        CHECK(reward[0] == 2.0f && reward[1] == 1.0f + extra && reward[2] == 1.0f + extra,
              "step %ld: rewards %g %g %g, want 2 (format + accuracy), then format + %g", step, reward[0], reward[1],
              reward[2], extra);
        CHECK(fabsf(st.rm_score - 5.0f) < 1e-5f && st.judge_helpful == 0.5f && st.judge_harmless == 0.5f,
              "step %ld: logged rm_score %g (want 5), judge helpful %g and harmless %g (want 0.5, 0.5)", step,
              st.rm_score, st.judge_helpful, st.judge_harmless);
    }
    seqs_free(&s);
    rm_free(&rm);
    model_free(&m);
}

// Misread accuracy: a reward model that scores everything alike ranks no
// right answer above a misread one (ties count as wrong). With a random head
// and the same coins, the head and its negation split the comparisons
// exactly, 1 in all: every misread differs from the right answer (an equal
// one would tie under both) and each comparison is counted once.
static void test_misread_accuracy(const World *w) {
    Config c = { tok_vocab_size(&w->tok), 80, 8, 1, 2 };
    Model m;
    RewardModel rm;
    constant_reward_model(&c, &m, &rm);
    Rng rng = rng_seed(5);
    Example ex[2] = { { .prompt = "tell me about yourself" }, { .prompt = "how do you say two in Chinese" } };
    snprintf(ex[0].answer, sizeof ex[0].answer, "%s", IDENTITY[LANG_EN]);
    snprintf(ex[1].answer, sizeof ex[1].answer, "%s", NUMBER_WORDS[LANG_ZH][2]);
    Dataset two = { ex, 2 };
    float acc = rm_misread_accuracy(&rm, w, &two, &rng);
    CHECK(acc == 0.0f, "a reward model that scores everything 5: misread accuracy %g, want 0 (ties are wrong)", acc);
    for (int d = 0; d <= c.d_model; d++) rm.head[d] = rng_uniform(&rng) - 0.5f;
    Rng r1 = rng_seed(9), r2 = rng_seed(9);
    const float plus = rm_misread_accuracy(&rm, w, &two, &r1);
    for (int d = 0; d <= c.d_model; d++) rm.head[d] = -rm.head[d];
    const float minus = rm_misread_accuracy(&rm, w, &two, &r2);
    CHECK(plus + minus == 1.0f && plus * MISREADS * 2 == roundf(plus * MISREADS * 2),
          "a random head and its negation: misread accuracy %g + %g, want 1 in 16ths", plus, minus);
    rm_free(&rm);
    model_free(&m);
}

static int file_exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

// The FLOP counter: 2*M*N*K per product, on any path; a training step of a
// model counts the same twice (it is a number of the step, not of the clock).
static void test_flop_counter(const World *w) {
    float a[3 * 7] = { 0 }, b[7 * 5] = { 0 }, c[3 * 5] = { 0 };
    uint64_t f0 = flop_count();
    matmul_acc(c, a, 7, 1, b, 3, 5, 7);
    CHECK(flop_count() - f0 == 2 * 3 * 5 * 7, "matmul_acc counted %llu FLOPs, want 210", (unsigned long long)(flop_count() - f0));
    f0 = flop_count();
    matmul_acc_here(c, 5, a, 7, 1, b, 5, 3, 5, 7);
    CHECK(flop_count() - f0 == 210, "matmul_acc_here counted %llu FLOPs, want 210", (unsigned long long)(flop_count() - f0));
    Config cfg = { tok_vocab_size(&w->tok), 80, 16, 1, 2 };
    SftOpts o = { .steps = 2, .batch = 4, .warmup = 1, .lr = 1e-3f, .micro = 2 };
    uint64_t count[2];
    for (int rep = 0; rep < 2; rep++) {
        Model m;
        Rng rng = rng_seed(5);
        model_alloc(&m, &cfg);
        model_init(&m, &rng);
        adamw_reset(&m);
        PairSource corpus = { corpus_pair, (void *)w };
        float norm, lr; long tokens;
        f0 = flop_count();
        sft_step(&m, w, &o, corpus, 0, &rng, &norm, &lr, &tokens);
        count[rep] = flop_count() - f0;
        model_free(&m);
    }
    CHECK(count[0] == count[1] && count[0] > 0, "one SFT step counted %llu then %llu FLOPs",
          (unsigned long long)count[0], (unsigned long long)count[1]);
}

// How a claim is judged (DESIGN §10): the three outcomes of the rule, at
// and around its edges.
static void test_verdict_rule(void) {
    CHECK(verdict_of(0.10, 0.05, 0) == REPRODUCED, "0.10 ± 0.05 > 0 is reproduced");
    CHECK(verdict_of(-0.10, 0.05, 0) == NOT_REPRODUCED, "-0.10 ± 0.05 > 0 is not reproduced");
    CHECK(verdict_of(0.02, 0.05, 0) == WITHIN_NOISE, "0.02 ± 0.05 > 0 is within noise");
    CHECK(verdict_of(0.05, 0.05, 0) == WITHIN_NOISE, "0.05 ± 0.05 > 0: an interval that touches 0 is within noise");
    CHECK(verdict_of(0, 0, 0) == NOT_REPRODUCED, "0 ± 0 > 0: no effect at all is not reproduced");
    CHECK(verdict_of(-0.01, 0.005, -0.02) == REPRODUCED, "-0.01 ± 0.005 > -0.02 (keeps, within 0.02) is reproduced");
    CHECK(verdict_of(-0.05, 0.01, -0.02) == NOT_REPRODUCED, "-0.05 ± 0.01 > -0.02 is not reproduced");
}

// The paired bootstrap: a constant difference has no margin; a difference
// that is 1 on half the questions and 0 on the rest has the margin of a
// mean of n coin flips, 1.96 * 0.5 / sqrt(n); the same seed gives the same.
static void test_paired_bootstrap(void) {
    double d[400], effect, margin, e2, m2;
    for (int i = 0; i < 400; i++) d[i] = 0.25;
    paired_bootstrap(d, 400, 1, &effect, &margin);
    CHECK(effect == 0.25 && margin == 0, "constant 0.25: effect %g, margin %g", effect, margin);
    for (int i = 0; i < 400; i++) d[i] = i % 2;
    paired_bootstrap(d, 400, 1, &effect, &margin);
    const double want = 1.96 * 0.5 / sqrt(400);
    CHECK(effect == 0.5 && fabs(margin - want) < 0.1 * want, "coin flips: effect %g (want 0.5), margin %g (want %.4f)",
          effect, margin, want);
    paired_bootstrap(d, 400, 1, &e2, &m2);
    CHECK(m2 == margin, "the same seed gave margins %g and %g", margin, m2);
    paired_bootstrap(d, 100, 1, &e2, &m2);
    CHECK(m2 > 1.5 * margin, "a quarter of the questions should double the margin: %g against %g", m2, margin);
}

// Every rule of CLAIMS, fed figures that must give each of its three
// outcomes: model a's figure far above b's (or inside the range), far
// below, and alternating around the threshold. A rule that always said yes,
// or read the wrong model, set or figure, fails here.
static void test_claim_rules(void) {
    enum { NQ = 64 };
    PipeEval *pe = xcalloc(1, sizeof *pe, "pe");
    static Example ex[N_BENCH][NQ];
    for (int b = 0; b < N_BENCH; b++) {
        for (int i = 0; i < NQ; i++) ex[b][i].is_arith = b == B_TEST || b == B_HARD;
        pe->sets[b] = (Dataset){ ex[b], NQ };
        for (int k = 0; k < N_PIPE; k++) pe->each[k][b] = xcalloc(NQ * N_EACH, sizeof(float), "each");
    }
    static const char *const OUTCOME[] = { "far above", "far below", "around" };
    for (int c = 0; c < N_CLAIMS; c++) {
        const ClaimRule *r = &CLAIMS[c];
        CHECK(r->a != r->b || r->fig_a != r->fig_b, "%s compares a figure with itself", r->name);
        CHECK(r->above >= -0.05 && (r->below >= 1 || r->below > r->above), "%s: threshold %g, %g", r->name, r->above,
              r->below);
        for (int want = 0; want < 3; want++) {
            for (int k = 0; k < N_PIPE; k++)
                for (int b = 0; b < N_BENCH; b++)
                    for (int i = 0; i < NQ * N_EACH; i++) pe->each[k][b][i] = 0.5f;   // every other model and figure
            // where the threshold sits for a's figure, and how far is far
            const double base = r->b >= 0 ? 0.5 : 0, at = base + r->above;
            const double hi = r->below < 1 ? (r->above + r->below) / 2 : at + 0.3;
            for (int i = 0; i < NQ; i++) {
                double v = want == 0 ? hi : want == 1 ? at - 0.3 : at + (i % 2 ? 0.3 : -0.3);
                if (r->b < 0 && want == 1) v = 0;                     // a range: below its lower end
                pe->each[r->a][r->bench][i * N_EACH + r->fig_a] = (float)v;
            }
            if (r->b >= 0) for (int i = 0; i < NQ; i++) pe->each[r->b][r->bench][i * N_EACH + r->fig_b] = 0.5f;
            const Judged j = judge_claim(r, pe, 1337);
            CHECK(j.verdict == want, "%s, a's figure %s its threshold: %s (effect %.3f ± %.3f), want %s", r->name,
                  OUTCOME[want], VERDICT_NAMES[j.verdict], j.effect, j.margin, VERDICT_NAMES[want]);
        }
        if (r->below < 1) {                                          // and above the range's upper end
            for (int i = 0; i < NQ; i++) pe->each[r->a][r->bench][i * N_EACH + r->fig_a] = (float)(r->below + 0.2);
            const Judged j = judge_claim(r, pe, 1337);
            CHECK(j.verdict == NOT_REPRODUCED, "%s above its range: %s", r->name, VERDICT_NAMES[j.verdict]);
        }
    }
    // a figure some questions do not have (NAN: the re-check's gain on a
    // question with no pair) is judged over the questions that have it
    for (int c = 0; c < N_CLAIMS; c++) {
        const ClaimRule *r = &CLAIMS[c];
        if (r->fig_a != EACH_REFLECT_GAIN) continue;
        for (int i = 0; i < NQ; i++) pe->each[r->a][r->bench][i * N_EACH + r->fig_a] = i % 4 ? NAN : 0.6f;
        const Judged j = judge_claim(r, pe, 1337);
        CHECK(fabs(j.effect - 0.6) < 1e-6 && j.margin == 0 && j.verdict == REPRODUCED,
              "%s over the %d questions with a pair: effect %g ± %g", r->name, NQ / 4, j.effect, j.margin);
    }
    for (int k = 0; k < N_PIPE; k++)
        for (int b = 0; b < N_BENCH; b++) free(pe->each[k][b]);
    free(pe);
}

// What each claim compares, as README, TUTORIAL's appendix A and DESIGN §10
// state it: one difference at a time. A stage's own contribution is judged
// against the model it started from (its parent in PIPE_STAGES: R1-Zero and
// the base, reasoning RL and the cold start, rsft and reasoning RL, stage 5
// and rsft); R1 against R1-Zero asks the same RL questions; the distilled
// student against the RL student, both from student_base. test_claim_rules
// builds its figures from each rule's own fields, so a row that compared the
// other way round, another pair of models or another test set would pass
// there; it fails here.
static void test_claims_as_stated(void) {
    static const struct { const char *name; int a, b, bench, fig_a, fig_b; double above; int check; } WANT[] = {
        { "base_writes_tags", P_BASE, -1, B_TEST, EACH_FORMAT, EACH_FORMAT, 0.02, 1 },
        { "r1_zero_format", P_ZERO, P_BASE, B_TEST, EACH_FORMAT, EACH_FORMAT, 0, 0 },
        { "r1_zero_reasons", P_ZERO, P_BASE, B_TEST, EACH_PASS, EACH_PASS, 0, 0 },
        { "r1_zero_mixes", P_ZERO, P_BASE, B_TEST, EACH_MIXED, EACH_MIXED, 0, 0 },
        { "base_reflection_pays", P_BASE, -1, B_TEST, EACH_REFLECT_GAIN, EACH_REFLECT_GAIN, 0, 1 },
        { "r1_zero_reflects", P_ZERO, P_BASE, B_TEST, EACH_REFLECT, EACH_REFLECT, 0, 0 },
        { "r1_zero_thinks_longer", P_ZERO, P_BASE, B_HARD, EACH_LENGTH, EACH_LENGTH, 0, 0 },
        { "majority_vote", P_ZERO, P_ZERO, B_HARD, EACH_CONS, EACH_PASS, 0, 0 },
        { "cold_start_one_language", P_ZERO, P_COLD, B_TEST, EACH_MIXED, EACH_MIXED, 0, 1 },
        { "reasoning_rl_adds", P_REASON, P_COLD, B_HARD, EACH_PASS, EACH_PASS, 0, 0 },
        { "r1_beats_r1_zero", P_REASON, P_ZERO, B_HARD, EACH_PASS, EACH_PASS, 0, 0 },
        { "rsft_keeps_reasoning", P_RSFT, P_REASON, B_HARD, EACH_PASS, EACH_PASS, -0.02, 0 },
        { "rsft_teaches_general", P_RSFT, P_REASON, B_GENERAL, EACH_HELPFUL, EACH_HELPFUL, 0, 1 },
        { "all_scenarios_helpful", P_ALIGN, P_RSFT, B_GENERAL, EACH_HELPFUL, EACH_HELPFUL, 0, 0 },
        { "all_scenarios_refuses", P_ALIGN, P_RSFT, B_SAFETY, EACH_HELPFUL, EACH_HELPFUL, 0, 0 },
        { "all_scenarios_harmless", P_ALIGN, P_RSFT, B_SAFETY, EACH_HARMLESS, EACH_HARMLESS, 0, 0 },
        { "all_scenarios_keeps_reasoning", P_ALIGN, P_RSFT, B_HARD, EACH_PASS, EACH_PASS, -0.02, 0 },
        { "distillation_beats_rl", P_DISTILLED, P_RL, B_HARD, EACH_PASS, EACH_PASS, 0, 0 },
        { "distillation_beats_rl_core", P_DISTILLED, P_RL, B_TEST, EACH_PASS, EACH_PASS, 0, 0 },
        { "rl_student_format", P_RL, P_STUDENT, B_TEST, EACH_FORMAT, EACH_FORMAT, 0, 1 },
    };
    const int n_want = (int)(sizeof WANT / sizeof *WANT);
    CHECK(N_CLAIMS == n_want, "CLAIMS has %d rules, this test %d: say here what a new one compares", N_CLAIMS, n_want);
    for (int c = 0; c < N_CLAIMS && c < n_want; c++) {
        const ClaimRule *r = &CLAIMS[c];
        CHECK(!strcmp(r->name, WANT[c].name) && r->a == WANT[c].a && r->b == WANT[c].b && r->bench == WANT[c].bench &&
              r->fig_a == WANT[c].fig_a && r->fig_b == WANT[c].fig_b && r->above == WANT[c].above &&
              r->check == WANT[c].check, "CLAIMS[%d] %s compares %s - %s on %s (figures %d, %d; above %g; check %d), "
              "want %s: %s - %s on %s (figures %d, %d; above %g; check %d)", c, r->name, PIPE_STAGES[r->a].key,
              r->b >= 0 ? PIPE_STAGES[r->b].key : "-", BENCH_NAMES[r->bench], r->fig_a, r->fig_b, r->above, r->check,
              WANT[c].name, PIPE_STAGES[WANT[c].a].key, WANT[c].b >= 0 ? PIPE_STAGES[WANT[c].b].key : "-",
              BENCH_NAMES[WANT[c].bench], WANT[c].fig_a, WANT[c].fig_b, WANT[c].above, WANT[c].check);
    }
    // a stage's own contribution: against its parent, as the pipeline runs it
    static const int OWN[][2] = { { P_ZERO, P_BASE }, { P_REASON, P_COLD }, { P_RSFT, P_REASON }, { P_ALIGN, P_RSFT } };
    for (int i = 0; i < 4; i++)
        CHECK(PIPE_STAGES[OWN[i][0]].model && !strcmp(PIPE_STAGES[OWN[i][0]].model, PIPE_STAGES[OWN[i][1]].key),
              "%s does not start from %s, against which its claims judge it", PIPE_STAGES[OWN[i][0]].key,
              PIPE_STAGES[OWN[i][1]].key);
    CHECK(!strcmp(PIPE_STAGES[P_DISTILLED].base, PIPE_STAGES[P_STUDENT].key) &&
          !strcmp(PIPE_STAGES[P_RL].model, PIPE_STAGES[P_STUDENT].key),
          "the distilled and the RL student do not start from the same student base");
}

// Fair comparisons (DESIGN §10): R1-Zero, reasoning RL and the RL student
// ask reasoning_question; the rejection-sampled and distillation sets ask
// fresh_question at RSFT_SET's shares. So that "R1 beats R1-Zero" and
// "distillation beats RL" do not measure which training set held the hard
// tier, the two must draw the hard tier and Chinese in the same shares (and
// the hard tier at all: three claims are judged on add_hard).
static void test_same_question_mix(const World *w) {
    enum { N = 4000 };
    FreshMix set_mix = { w, RSFT_SET.hard, RSFT_SET.zh };
    double hard[2] = { 0 }, zh[2] = { 0 };
    int unparsed = 0;
    Rng rng = rng_seed(17);
    for (int src = 0; src < 2; src++)
        for (int i = 0; i < N; i++) {
            Question q;
            Problem p;
            if (src == 0) reasoning_question((void *)w, &rng, &q);
            else fresh_question(&set_mix, &rng, &q);
            unparsed += !parse_question(q.text, &p);
            hard[src] += (p.n == 3 || p.x[0] >= 1000) / (double)N;
            zh[src] += (q.lang == LANG_ZH) / (double)N;
        }
    CHECK(unparsed == 0 && fabs(hard[0] - hard[1]) < 0.04 && fabs(zh[0] - zh[1]) < 0.04 && hard[0] > 0.1,
          "the RL questions are %.3f hard and %.3f Chinese, the distillation set's %.3f and %.3f (%d unparsed)",
          hard[0], zh[0], hard[1], zh[1], unparsed);
}

// Every generator skips the development additions as it skips the test
// ones: world_load puts both splits in w->heldout, which random_problem avoids.
static void test_dev_problems_held_out(const World *w) {
    const Dataset *sets[4] = { &w->add_test, &w->add_hard, &w->add_dev, &w->add_hard_dev };
    int n = 0, held = 0;
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < sets[k]->n; i++) {
            Problem p;
            n++;
            held += parse_question(sets[k]->ex[i].prompt, &p) && problem_set_has(&w->heldout, &p);
        }
    CHECK(w->add_dev.n > 0 && w->add_hard_dev.n > 0 && held == n, "%d of the %d test and development additions held out",
          held, n);
}

// --resume continues only the same run: the saved identity and the
// command's must agree word for word, both ways (issue 25, class 3). A word
// the state holds and the command lacks is refused as surely as one the
// command adds, or one of another value.
static void test_identity_both_ways(const char *dir, const Config *c) {
    Model m;
    model_alloc(&m, c);
    Curves cv = { SFT_COLUMNS, N_SFT_COLS, 0, 0, NULL };
    char err[1024], *data;
    size_t len;
    StateHeader h;
    make_dir(dir);
    CHECK(save_state(dir, "base", "--seed=1 --questions=8", 0, &m, NULL, NULL, NULL, &cv, "", 0, 0, err, sizeof err) == 0,
          "%s", err);
    static const struct { const char *id; int want; const char *names; } cases[] = {
        { "--seed=1 --questions=8", 1, NULL },
        { "--questions=8 --seed=1", 1, NULL },                       // the order does not matter
        { "--seed=1", -2, "with --questions 8; this command has no --questions" },   // the state's word, missing
        { "--seed=1 --questions=8 --filter=none", -2, "without --filter; this command has --filter none" },
        { "--seed=1 --questions=9", -2, "--questions 8; this command has --questions 9" },
        { "--seed=1 --questions=80", -2, "--questions 8; this command has --questions 80" },
        { "--seed=1 --questions", -2, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err[0] = '\0';
        int rc = read_state(dir, "base", cases[i].id, &data, &len, &h, err, sizeof err);
        if (rc == 1) free(data);
        CHECK(rc == cases[i].want && (!cases[i].names || strstr(err, cases[i].names)),
              "resume with identity '%s' over '--seed=1 --questions=8': %d (want %d), '%s'", cases[i].id, rc, cases[i].want, err);
    }
    model_free(&m);
}

int main(void) {
    World w;
    world_load(&w, "data");
    test_tok = &w.tok;
    // stages 4 and 5: the filters, the epochs, the pairs, the rewards of general requests
    test_rejection_filters();
    test_rejection_keeps_what_it_judged();        // it failed before keep_rejection_sampled dropped NUL bytes
    test_long_winded();
    test_epoch_walk();
    test_keep_preference();
    test_keep_preference_ties();
    test_general_rewards();
    test_preference_rewards();
    test_misread_accuracy(&w);
    test_verdict_rule();
    test_paired_bootstrap();
    test_claim_rules();
    test_claims_as_stated();
    test_same_question_mix(&w);
    test_dev_problems_held_out(&w);
    test_flop_counter(&w);
    Config c = { tok_vocab_size(&w.tok), 80, 16, 1, 2 };
    SftOpts po = { .steps = 6, .batch = 4, .warmup = 1, .lr = 1e-3f, .micro = 4 };
    char dir[256], errpath[300], path[400];
    snprintf(dir, sizeof dir, "/tmp/r1_test_stages_%d", (int)getpid());
    snprintf(errpath, sizeof errpath, "%s.err", dir);
    test_identity_both_ways(dir, &c);

    // 1. a NaN in the weights: the run stops with a message naming the step
    // and the run folder, exit 1, and leaves no checkpoint behind
    Model m;
    model_alloc(&m, &c);
    Rng rng = rng_seed(3);
    model_init(&m, &rng);
    for (int i = 0; i < c.d_model; i++) m.params.lnfw[i] = NAN;
    make_dir(dir);
    RunIO io = { dir, 2, 0, 1, NULL, &w.tok, 2 };
    int code = pretrain_in_child(&m, &w, &po, &io, errpath);
    char msg[512] = { 0 };
    FILE *f = fopen(errpath, "r");
    if (f) { if (!fgets(msg, sizeof msg, f)) msg[0] = '\0'; fclose(f); }
    CHECK(code == EXIT_DATA, "NaN weights: exit %d, expected %d", code, EXIT_DATA);
    CHECK(strstr(msg, "at step 1") && strstr(msg, dir), "NaN weights: message '%s'", msg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(!file_exists(path), "NaN weights: a checkpoint was written");

    // 2. NaN after some good steps: the last good checkpoint survives
    model_init(&m, &rng);
    po.steps = 3;
    code = pretrain_in_child(&m, &w, &po, &io, errpath);    // steps 1..3, saved at 2 and 3
    CHECK(code == 0 && file_exists(path), "3 good steps: exit %d", code);
    Model good;
    char err[800];
    CHECK(load_safetensors(path, &good, NULL, err, sizeof err) == 0, "%s", err);
    po.steps = 6;
    RunIO io_resume = { dir, 2, 1, 1, NULL, &w.tok, 2 };
    // poison the saved state's weights: resuming reads them, step 4 fails
    Model st_m; Curves cv = { SFT_COLUMNS, N_SFT_COLS, 0, 0, NULL }; Rng r0;
    StateParts parts = { &r0, NULL, 0, &cv, NULL, 0, 0 };
    CHECK(load_state(dir, "base", NULL, &st_m, NULL, &parts, err, sizeof err) == 1, "%s", err);
    st_m.params.lnfw[0] = NAN;
    CHECK(save_state(dir, "base", NULL, parts.step, &st_m, NULL, &r0, NULL, &cv, parts.samples, parts.samples_len,
                     parts.train_flops, err, sizeof err) == 0, "%s", err);
    free(parts.samples);
    code = pretrain_in_child(&m, &w, &po, &io_resume, errpath);
    CHECK(code == EXIT_DATA, "NaN on resume: exit %d", code);
    Model after;
    CHECK(load_safetensors(path, &after, NULL, err, sizeof err) == 0, "the last good checkpoint is unreadable: %s", err);
    CHECK(!memcmp(after.params_memory, good.params_memory, good.num_params * sizeof(float)), "the last good checkpoint changed");
    model_free(&after); model_free(&good); model_free(&st_m); free(cv.v);

    // 3. the same seed gives the same base, bit for bit
    Model a, b;
    RunIO quiet = { NULL, 1000, 0, 1, NULL, NULL, 0 };
    stage_base(&a, &w, &c, &po, 9, &quiet);
    stage_base(&b, &w, &c, &po, 9, &quiet);
    CHECK(!memcmp(a.params_memory, b.params_memory, a.num_params * sizeof(float)), "same seed, different weights");
    model_free(&a); model_free(&b); model_free(&m);
    world_free(&w);

    // 4. a write error (the disk fills up: here a file-size limit) fails the
    // save with a message naming the file, leaves no .tmp behind and leaves
    // the previous checkpoint as it was
    Model small;
    model_alloc(&small, &c);
    model_init(&small, &rng);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(save_safetensors(path, &small.config, &small.params, NULL, err, sizeof err) == 0, "%s", err);
    Model before;
    CHECK(load_safetensors(path, &before, NULL, err, sizeof err) == 0, "%s", err);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        in_child = 1;
        signal(SIGXFSZ, SIG_IGN);                        // a failing write, not a signal
        struct rlimit lim = { 10000, 10000 };
        setrlimit(RLIMIT_FSIZE, &lim);
        for (size_t i = 0; i < small.num_params; i++) small.params_memory[i] += 1.0f;
        int rc = save_safetensors(path, &small.config, &small.params, NULL, err, sizeof err);
        _exit(rc == -1 && strstr(err, dir) && strstr(err, "disk full") ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a failed write was not reported as such");
    char tmpfile[500];
    snprintf(tmpfile, sizeof tmpfile, "%s.tmp.%d", path, (int)pid);      // the child's temporary
    CHECK(!file_exists(tmpfile), "a failed save left %s", tmpfile);
    Model again;
    CHECK(load_safetensors(path, &again, NULL, err, sizeof err) == 0, "the old checkpoint is unreadable: %s", err);
    CHECK(!memcmp(again.params_memory, before.params_memory, before.num_params * sizeof(float)), "the old checkpoint changed");
    model_free(&again); model_free(&before); model_free(&small);

    // 5. bench --model of a model whose context is too short for the
    // benchmark's batches: a clear error, not an "internal:" one
    Config short_ctx = { c.vocab_size, 3, 16, 1, 2 };
    model_alloc(&small, &short_ctx);
    model_init(&small, &rng);
    CHECK(save_safetensors(path, &small.config, &small.params, NULL, err, sizeof err) == 0, "%s", err);
    model_free(&small);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        in_child = 1;
        if (!freopen(errpath, "w", stderr)) _exit(99);
        Args args = { .model = path, .data_dir = "data", .steps = 1, .json = 1 };
        World bw;
        world_load(&bw, "data");
        _exit(cmd_bench(&args, &bw) == 0 ? 0 : 98);
    }
    waitpid(pid, &st, 0);
    msg[0] = '\0';
    if ((f = fopen(errpath, "r"))) { if (!fgets(msg, sizeof msg, f)) msg[0] = '\0'; fclose(f); }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == EXIT_DATA && strstr(msg, "context") && !strstr(msg, "internal"),
          "bench --model with n_ctx 3: exit %d, message '%s'", WIFEXITED(st) ? WEXITSTATUS(st) : -1, msg);

    test_group_advantages();
    test_dapo_flags();
    World w2;
    world_load(&w2, "data");
    test_grpo_step_stats(&w2);
    test_short_align(&w2);
    make_dir(dir);
    test_fresh_optimizer(&w2, dir);
    test_threads_same_draws(&w2);                        // last: it starts the threads
    world_free(&w2);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, errpath);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tests_done("stages");
}
