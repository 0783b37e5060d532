/* cmd.c - see cmd.h. */
#include "tests/lib/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct buf {
    char *data;
    size_t len, cap;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = realloc(b->data, b->cap);
        if (b->data == NULL)
            abort();
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void apply_env(char *const env_extra[])
{
    for (size_t i = 0; env_extra && env_extra[i]; i++) {
        const char *eq = strchr(env_extra[i], '=');
        if (eq == NULL)
            continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - env_extra[i]), env_extra[i]);
        if (eq[1] == '\0')
            unsetenv(name);
        else
            setenv(name, eq + 1, 1);
    }
}

int cmd_run(char *const argv[], char *const env_extra[], const char *input, int timeout_s,
            struct cmd_result *r)
{
    int in[2], out[2], err[2];
    memset(r, 0, sizeof *r);
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        setpgid(0, 0);
        apply_env(env_extra);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (input)
        (void)!write(in[1], input, strlen(input));
    close(in[1]);
    struct buf bo = {0}, be = {0};
    buf_add(&bo, "", 0);
    buf_add(&be, "", 0);
    struct pollfd pf[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    time_t deadline = time(NULL) + timeout_s;
    while (open_fds > 0) {
        int left = (int)(deadline - time(NULL));
        if (left <= 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            break;
        }
        if (poll(pf, 2, left * 1000) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || pf[i].revents == 0)
                continue;
            char chunk[8192];
            ssize_t n = read(pf[i].fd, chunk, sizeof chunk);
            if (n > 0) {
                buf_add(i == 0 ? &bo : &be, chunk, (size_t)n);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (pf[i].fd >= 0)
            close(pf[i].fd);
    int st = 0;
    waitpid(pid, &st, 0);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->out = bo.data;
    r->err = be.data;
    return 0;
}

void cmd_result_free(struct cmd_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

const char *ib_bin(void)
{
    const char *b = getenv("IOTBENCH_BIN");
    return b && *b ? b : "build/asan/iotbench";
}

static int run_va(struct cmd_result *r, const char *home, const char *input, va_list ap)
{
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)ib_bin();
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 63)
        argv[n++] = (char *)a;
    argv[n] = NULL;
    char home_env[4200];
    snprintf(home_env, sizeof home_env, "IOTBENCH_HOME=%s", home);
    char *env[] = {home_env, "NO_COLOR=1", NULL};
    return cmd_run(argv, env, input, 300, r);
}

int ib_run(struct cmd_result *r, const char *home, ...)
{
    va_list ap;
    va_start(ap, home);
    int rc = run_va(r, home, NULL, ap);
    va_end(ap);
    return rc;
}

int ib_run_input(struct cmd_result *r, const char *home, const char *input, ...)
{
    va_list ap;
    va_start(ap, input);
    int rc = run_va(r, home, input, ap);
    va_end(ap);
    return rc;
}
