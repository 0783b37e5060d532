/* harness.c - see harness.h. */
#include "tests/lib/harness.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct test_case {
    const char *name;
    test_fn fn;
};

static struct test_case *cases;
static size_t n_cases, cap_cases;
static bool current_failed;
static const char *current_name;
static char tmpdir[4096];
static void (*exit_hooks[32])(void);
static size_t n_exit_hooks;
static int timeout_s = 120;

void test_register(const char *name, test_fn fn)
{
    if (n_cases == cap_cases) {
        cap_cases = cap_cases ? cap_cases * 2 : 64;
        cases = realloc(cases, cap_cases * sizeof *cases);
        if (cases == NULL)
            abort();
    }
    cases[n_cases++] = (struct test_case){name, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    current_failed = true;
    fprintf(stdout, "  %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

bool test_failed(void)
{
    return current_failed;
}

void test_on_exit(void (*fn)(void))
{
    if (n_exit_hooks < sizeof exit_hooks / sizeof exit_hooks[0])
        exit_hooks[n_exit_hooks++] = fn;
}

void test_set_timeout(int seconds)
{
    timeout_s = seconds;
    alarm((unsigned)seconds);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void run_exit_hooks(void)
{
    while (n_exit_hooks > 0)
        exit_hooks[--n_exit_hooks]();
    if (tmpdir[0] && getenv("IB_KEEP_TMP") == NULL)
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_alarm(int sig)
{
    (void)sig;
    /* Not async-signal-safe in theory; the process is about to end anyway
     * and leaving QEMU behind would be worse. */
    printf("FAIL %s: timed out after %d s\n", current_name ? current_name : "?", timeout_s);
    run_exit_hooks();
    printf("0 passed, 1 failed\n");
    fflush(stdout);
    _exit(1);
}

const char *test_tmpdir(void)
{
    if (tmpdir[0] == '\0') {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/ibtest.XXXXXX", base && *base ? base : "/tmp");
        if (mkdtemp(tmpdir) == NULL) {
            perror("mkdtemp");
            exit(1);
        }
    }
    return tmpdir;
}

const char *test_path(const char *name)
{
    static char ring[8][4096];
    static int next;
    char *buf = ring[next++ % 8];
    snprintf(buf, sizeof ring[0], "%s/%s", test_tmpdir(), name);
    return buf;
}

const char *test_src_dir(void)
{
    const char *src = getenv("IOTBENCH_SRC");
    return src && *src ? src : ".";
}

void test_write_file(const char *path, const char *content)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL || fputs(content, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

char *test_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

static bool selected(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return true;
    for (int i = 1; i < argc; i++)
        if (strstr(name, argv[i]) != NULL)
            return true;
    return false;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    atexit(run_exit_hooks);
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n_cases; i++) {
        if (!selected(cases[i].name, argc, argv))
            continue;
        current_failed = false;
        current_name = cases[i].name;
        alarm((unsigned)timeout_s);
        double t0 = now_s();
        cases[i].fn();
        alarm(0);
        double ms = (now_s() - t0) * 1000.0;
        if (current_failed) {
            printf("FAIL %s (%.0f ms)\n", cases[i].name, ms);
            failed++;
        } else {
            printf("ok   %s (%.0f ms)\n", cases[i].name, ms);
            passed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
