// tests/fuzz/regress.c -- replays the fuzzers' saved inputs without libFuzzer
// or clang, so `make test` can run them with any C compiler:
//
//   cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -O1 -o tests/fuzz/regress
//      tests/fuzz/regress.c tokenizer.c -lm -lpthread
//   ./tests/fuzz/regress [tests/fuzz]
//
// Every file in tests/fuzz/crashes/NAME/ (inputs that once crashed a harness:
// regression tests) and in tests/fuzz/corpus/NAME/ (the seeds, as smoke
// tests) goes through the harness NAME (verifier, tokenizer, safetensors,
// jsonl, serve), in a heap buffer of exactly its size so that AddressSanitizer
// catches a read past the end when built with -fsanitize=address. Each input
// runs in a child process: an abort (a broken property, a sanitizer report),
// a call to exit() or a hang (over 60 s) fails that input only. The last
// line is "fuzz-regress: N passed, N failed"; the exit status is 1 if any
// input failed.
#define FUZZ_NO_MAIN
#include "fuzz_common.h"
#include "fuzz_verifier.c"
#include "fuzz_tokenizer.c"
#include "fuzz_safetensors.c"
#include "fuzz_jsonl.c"
#include "fuzz_serve.c"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

typedef int (*Harness)(const uint8_t *, size_t);
static const struct { const char *name; Harness fn; } HARNESSES[] = {
    { "verifier", fuzz_verifier }, { "tokenizer", fuzz_tokenizer },
    { "safetensors", fuzz_safetensors }, { "jsonl", fuzz_jsonl }, { "serve", fuzz_serve },
};

static const char *replaying;  // the file being replayed, while in a harness
static int passed, failed;

// A harness must return; a library that calls exit() on bad input is a bug.
static void exit_during_replay(void) {
    if (!replaying) return;
    fprintf(stderr, "fuzz-regress: %s: the code under test called exit()\n", replaying);
    _exit(3);
}

// Run fn on the input in a child process, so that one input that crashes
// does not hide the others. 1 if it returned normally within a minute.
static int replay_one(const char *path, Harness fn, const uint8_t *data, size_t len) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) { perror("fuzz-regress: fork"); exit(1); }
    if (pid == 0) {
        alarm(60);                                      // a hang fails too
        replaying = path;
        fn(data, len);                                  // aborts on a broken property
        replaying = NULL;
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) { perror("fuzz-regress: waitpid"); exit(1); }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 1;
    if (WIFSIGNALED(st))
        fprintf(stderr, "fuzz-regress: FAIL %s: killed by signal %d%s\n", path, WTERMSIG(st),
                WTERMSIG(st) == SIGALRM ? " (took over 60 s: a hang)" : "");
    else
        fprintf(stderr, "fuzz-regress: FAIL %s: exit status %d%s\n", path, WEXITSTATUS(st),
                WEXITSTATUS(st) == 3 ? " (exit() called)" : "");
    return 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Replay every regular file of dir through fn, in name order.
static void replay_dir(const char *dir, Harness fn) {
    DIR *d = opendir(dir);
    if (!d) return;                                     // no crashes of this kind
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **x = realloc(names, cap * sizeof *names);
            if (!x) { fprintf(stderr, "fuzz-regress: out of memory\n"); exit(1); }
            names = x;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[4096], err[512];
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path ||
            stat(path, &st) != 0 || !S_ISREG(st.st_mode)) { free(names[i]); continue; }
        size_t len = 0;
        char *file = read_file(path, (size_t)64 << 20, &len, err, sizeof err);
        if (!file) { fprintf(stderr, "fuzz-regress: %s\n", err); failed++; free(names[i]); continue; }
        uint8_t *exact = malloc(len ? len : 1);        // exactly len bytes: overreads are caught
        if (!exact) { fprintf(stderr, "fuzz-regress: out of memory\n"); exit(1); }
        memcpy(exact, file, len);
        free(file);
        if (replay_one(path, fn, exact, len)) passed++;
        else failed++;
        free(exact);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : "tests/fuzz";
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "fuzz-regress: %s is not a directory (run from the repository root, or pass tests/fuzz)\n", root);
        printf("fuzz-regress: 0 passed, 1 failed\n");
        return 1;
    }
    fuzz_scratch_path();              // one scratch file, named after this process and
    atexit(exit_during_replay);       // removed at its exit, shared by the children
    for (size_t h = 0; h < sizeof HARNESSES / sizeof *HARNESSES; h++) {
        const char *kinds[2] = { "crashes", "corpus" };
        for (int k = 0; k < 2; k++) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/%s/%s", root, kinds[k], HARNESSES[h].name);
            int before = passed + failed;
            replay_dir(dir, HARNESSES[h].fn);
            if (passed + failed > before)
                printf("fuzz-regress: %s/%s: %d inputs replayed\n", kinds[k], HARNESSES[h].name, passed + failed - before);
        }
    }
    printf("fuzz-regress: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
