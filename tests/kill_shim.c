// tests/kill_shim.c -- an LD_PRELOAD shim that kills the process at a chosen
// rename, so a test can interrupt a save exactly between writing PATH.tmp and
// publishing it as PATH (or just after publishing it).
//
// r1 publishes every file with rename(2) (write_file_atomic); `nm -D r1`
// shows it imports rename@GLIBC, and glibc's rename() on x86-64 is the
// rename syscall itself (strace), so wrapping the libc symbol sees every
// publication. renameat and renameat2 are wrapped too, sharing one count,
// in case a later r1 or another libc uses them.
//
//   R1_KILL_AT_RENAME=n     SIGKILL just BEFORE the n-th rename (1-based):
//                           PATH.tmp is complete, PATH is still the old file
//   R1_KILL_AFTER_RENAME=n  SIGKILL just AFTER the n-th rename succeeded
//   R1_RENAME_LOG=FILE      append "n OLD NEW" for every rename (to count
//                           them and to say which file a kill point hits)
//
// Build: cc -shared -fPIC -o tests/kill_shim.so tests/kill_shim.c -ldl
// Use:   R1_KILL_AT_RENAME=3 LD_PRELOAD=$PWD/tests/kill_shim.so ./r1 pretrain ...
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long counter;                       // renames so far in this process

static long env_long(const char *name) {
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    long v = strtol(s, &end, 10);
    return *end ? 0 : v;
}

// A rename is about to happen: count it, log it, kill before it if asked.
// Returns its number.
static long before_rename(const char *from, const char *to) {
    long n = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
    const char *log = getenv("R1_RENAME_LOG");
    if (log && *log) {
        // one write(2) per line with O_APPEND: no stdio buffer to lose at SIGKILL
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            char line[2048];
            int len = snprintf(line, sizeof line, "%ld %s %s\n", n, from, to);
            if (len > 0) {
                size_t want = (size_t)len < sizeof line ? (size_t)len : sizeof line - 1;
                if (write(fd, line, want) < 0) { /* a log is best effort */ }
            }
            close(fd);
        }
    }
    if (env_long("R1_KILL_AT_RENAME") == n) kill(getpid(), SIGKILL);
    return n;
}

static void after_rename(long n, int rc) {
    if (rc == 0 && env_long("R1_KILL_AFTER_RENAME") == n) kill(getpid(), SIGKILL);
}

// dlsym returns an object pointer; copy it into a function pointer without
// the cast ISO C does not define.
static void *next_symbol(const char *name) {
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        static const char msg[] = "kill_shim: dlsym failed\n";
        if (write(2, msg, sizeof msg - 1) < 0) { /* nothing more to do */ }
        abort();
    }
    return p;
}

int rename(const char *from, const char *to) {
    static int (*real)(const char *, const char *);
    if (!real) { void *p = next_symbol("rename"); memcpy(&real, &p, sizeof real); }
    long n = before_rename(from, to);
    int rc = real(from, to);
    after_rename(n, rc);
    return rc;
}

int renameat(int fromfd, const char *from, int tofd, const char *to) {
    static int (*real)(int, const char *, int, const char *);
    if (!real) { void *p = next_symbol("renameat"); memcpy(&real, &p, sizeof real); }
    long n = before_rename(from, to);
    int rc = real(fromfd, from, tofd, to);
    after_rename(n, rc);
    return rc;
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags) {
    static int (*real)(int, const char *, int, const char *, unsigned int);
    if (!real) { void *p = next_symbol("renameat2"); memcpy(&real, &p, sizeof real); }
    long n = before_rename(from, to);
    int rc = real(fromfd, from, tofd, to, flags);
    after_rename(n, rc);
    return rc;
}
