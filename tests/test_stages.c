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
    RunIO io = { dir, 2, 0, 1 };
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
    RunIO io_resume = { dir, 2, 1, 1 };
    // poison the saved state's weights: resuming reads them, step 4 fails
    Model st_m; Curves cv = { SFT_COLUMNS, N_SFT_COLS, 0, 0, NULL }; long st_step; Rng r0;
    CHECK(load_state(dir, "base", &st_m, NULL, &r0, NULL, &st_step, &cv, err, sizeof err) == 1, "%s", err);
    st_m.params.lnfw[0] = NAN;
    CHECK(save_state(dir, "base", st_step, &st_m, NULL, &r0, NULL, &cv, err, sizeof err) == 0, "%s", err);
    code = pretrain_in_child(&m, &w, &po, &io_resume, errpath);
    CHECK(code == EXIT_DATA, "NaN on resume: exit %d", code);
    Model after;
    CHECK(load_safetensors(path, &after, NULL, err, sizeof err) == 0, "the last good checkpoint is unreadable: %s", err);
    CHECK(!memcmp(after.params_memory, good.params_memory, good.num_params * sizeof(float)), "the last good checkpoint changed");
    model_free(&after); model_free(&good); model_free(&st_m); free(cv.v);

    // 3. the same seed gives the same base, bit for bit
    Model a, b;
    RunIO quiet = { NULL, 1000, 0, 1 };
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

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, errpath);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tests_done("stages");
}
