// tests/test_stages.c -- the stages as a whole: numerics stop a run cleanly,
// a stage is reproducible from its seed.
#define R1_TESTING
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
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

// Run pretrain_base in a child whose stderr goes to a file; returns the exit status.
static int pretrain_in_child(Model *m, const World *w, const SftOpts *po, const RunIO *io, const char *errpath) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        in_child = 1;
        if (!freopen(errpath, "w", stderr)) _exit(99);
        Rng rng = rng_seed(1);
        pretrain_base(m, w, po, &rng, io);
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
    RlTask task = r1_zero_task(w, 0.0f);
    task.n_reward = 1;
    task.reward[0] = (Reward){ "parity", parity_reward, 1.0f };
    GrpoStats st;
    // the first inner update has rho = 1 exactly, so it never clips: averaged
    // over both, at most half the tokens are clipped (the last one alone: most)
    grpo_step(&m, &ref, &kv, w, &o, &task, 0, &rng, &st);
    CHECK(st.clip_frac > 0.0f && st.clip_frac <= 0.5f, "mu=2: clip_frac %g, want in (0, 0.5]", st.clip_frac);
    CHECK(st.kl > 0.0f, "mu=2: kl %g", st.kl);
    // DAPO with rewards that never differ: every group leaves, no update, and
    // the logged lr is the schedule's at this step
    o.loss = LOSS_DAPO; o.steps = 10;
    task.reward[0] = (Reward){ "constant", constant_reward, 1.0f };
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
    RunIO none = { NULL, 1000, 0, 1, NULL, NULL };
    Model in_memory, loaded;
    Rng rng = rng_seed(21);
    model_alloc(&in_memory, &c); model_init(&in_memory, &rng);
    pretrain_base(&in_memory, w, &po, &rng, &none);
    char path[400], err[800];
    snprintf(path, sizeof path, "%s/fresh.safetensors", dir);
    CHECK(save_safetensors(path, &in_memory.config, &in_memory.params, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(load_safetensors(path, &loaded, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(in_memory.m_memory != NULL && in_memory.step == 3, "the pretrained model has no AdamW state to inherit");
    GrpoOpts o = ZERO_DEFAULTS;
    o.steps = 2; o.prompts = 2; o.group = 4;
    RunOpts ro = { none, 1, 0, EVAL_SAMPLING };
    Rng r1 = rng_seed(4), r2 = rng_seed(4);
    train_r1_zero(&in_memory, w, &o, &ro, &r1, NULL, NULL);
    train_r1_zero(&loaded, w, &o, &ro, &r2, NULL, NULL);
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
    RlTask task = r1_zero_task(w, 0.0f);
    task.n_reward = 1;
    task.reward[0] = (Reward){ "parity", parity_reward, 1.0f };      // rewards that differ within a group
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

static int file_exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

int main(void) {
    World w;
    world_load(&w, "data");
    Config c = { tok_vocab_size(&w.tok), 80, 16, 1, 2 };
    SftOpts po = { .steps = 6, .batch = 4, .warmup = 1, .lr = 1e-3f, .micro = 4 };
    char dir[256], errpath[300], path[400];
    snprintf(dir, sizeof dir, "/tmp/r1_test_stages_%d", (int)getpid());
    snprintf(errpath, sizeof errpath, "%s.err", dir);

    // 1. a NaN in the weights: the run stops with a message naming the step
    // and the run folder, exit 1, and leaves no checkpoint behind
    Model m;
    model_alloc(&m, &c);
    Rng rng = rng_seed(3);
    model_init(&m, &rng);
    for (int i = 0; i < c.d_model; i++) m.params.lnfw[i] = NAN;
    make_dir(dir);
    RunIO io = { dir, 2, 0, 1, NULL, &w.tok };
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
    RunIO io_resume = { dir, 2, 1, 1, NULL, &w.tok };
    // poison the saved state's weights: resuming reads them, step 4 fails
    Model st_m; Curves cv = { SFT_COLUMNS, N_SFT_COLS, 0, 0, NULL }; Rng r0;
    StateParts parts = { &r0, NULL, 0, &cv, NULL, 0 };
    CHECK(load_state(dir, "base", NULL, &st_m, NULL, &parts, err, sizeof err) == 1, "%s", err);
    st_m.params.lnfw[0] = NAN;
    CHECK(save_state(dir, "base", NULL, parts.step, &st_m, NULL, &r0, NULL, &cv, parts.samples, parts.samples_len,
                     err, sizeof err) == 0, "%s", err);
    free(parts.samples);
    code = pretrain_in_child(&m, &w, &po, &io_resume, errpath);
    CHECK(code == EXIT_DATA, "NaN on resume: exit %d", code);
    Model after;
    CHECK(load_safetensors(path, &after, NULL, err, sizeof err) == 0, "the last good checkpoint is unreadable: %s", err);
    CHECK(!memcmp(after.params_memory, good.params_memory, good.num_params * sizeof(float)), "the last good checkpoint changed");
    model_free(&after); model_free(&good); model_free(&st_m); free(cv.v);

    // 3. the same seed gives the same base, bit for bit
    Model a, b;
    RunIO quiet = { NULL, 1000, 0, 1, NULL, NULL };
    Rng ra = rng_seed(9), rb = rng_seed(9);
    model_alloc(&a, &c); model_init(&a, &ra);
    model_alloc(&b, &c); model_init(&b, &rb);
    pretrain_base(&a, &w, &po, &ra, &quiet);
    pretrain_base(&b, &w, &po, &rb, &quiet);
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
    make_dir(dir);
    test_fresh_optimizer(&w2, dir);
    test_threads_same_draws(&w2);                        // last: it starts the threads
    world_free(&w2);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, errpath);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tests_done("stages");
}
