/*
 * inside.c - benchmarks of the inside-the-guest operations on a running
 * demo instance (bench/inside.sh boots it and stops it), each next to the
 * way Piotr's user does the same, in the same run:
 *
 *   1. process-list refresh: median of 50 refreshes on one open agent
 *      connection (what the TUI's process pane does), and of 10 one-shot
 *      listings (connect, sync, list: what `instance ps` does); the peer is
 *      busybox `ps` run through the agent on a fresh connection
 *      (`iotbench instance exec NAME -- ps`: one guest-exec), median of 10;
 *   2. attach to first registers, both including gdbserver's start through
 *      the agent: iotbench's forward + gdbserver + handshake + maps +
 *      symbols + 'g', vs the steps by hand: `instance exec` starting
 *      gdbserver in the background, hostfwd_add on the QEMU monitor, then
 *      `gdb-multiarch -batch` (target remote, info registers) until the
 *      registers are printed (gdb retries while gdbserver is not yet
 *      listening, as a user would); median of 5 each;
 *   3. single-step rate of iotbench and of `gdb-multiarch -batch` stepping
 *      the same process through the same gdbserver in the same run: both
 *      step N instructions from handle_request (a request from the host
 *      holds demod there); gdb's own clock is read with its Python.
 *
 *     build/bench/inside HOME INSTANCE HTTP_PORT [STEPS]
 *
 * INSIDE_IOTBENCH names the iotbench binary (default ./iotbench) and
 * INSIDE_ROOTFS gdb's sysroot. Prints rows for bench/run.sh on stdout;
 * progress on stderr.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/debugger.h"
#include "core/guestproc.h"
#include "core/instance.h"
#include "core/ports.h"
#include "core/qga.h"
#include "core/qmp.h"
#include "core/util.h"

static void die(const char *what, const struct ib_error *err)
{
    fprintf(stderr, "inside: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- 1. listing ---- */

struct list_ctx {
    bool done;
    size_t n;
    struct ib_error err;
};

static void on_list(struct guestproc_snapshot *s, const struct ib_error *err, void *arg)
{
    struct list_ctx *c = arg;
    c->done = true;
    if (err != NULL)
        c->err = *err;
    else
        c->n = s->n;
}

static double bench_refresh(const struct instance_info *info, int rounds, size_t *procs)
{
    struct loop *lp = loop_new();
    struct ib_error err = {0};
    struct qga *g = qga_open(lp, info->qga_sock, &err);
    if (g == NULL)
        die("agent", &err);
    struct guestproc_lister *ls = guestproc_lister_new();
    double *ms = xcalloc((size_t)rounds, sizeof *ms);
    for (int i = -1; i < rounds; i++) { /* one warm-up: it reads passwd too */
        struct list_ctx c = {0};
        int64_t t0 = ib_now_ms();
        guestproc_refresh(ls, lp, g, 10000, on_list, &c);
        while (!c.done)
            loop_run_once(lp, 100);
        if (c.err.msg[0])
            die("refresh", &c.err);
        if (i >= 0)
            ms[i] = (double)(ib_now_ms() - t0);
        *procs = c.n;
    }
    double m = median(ms, (size_t)rounds);
    free(ms);
    guestproc_lister_free(ls);
    qga_close(g);
    loop_free(lp);
    return m;
}

static double bench_oneshot(const struct instance_info *info, int rounds)
{
    double *ms = xcalloc((size_t)rounds, sizeof *ms);
    for (int i = 0; i < rounds; i++) {
        struct guestproc_snapshot s;
        struct ib_error err = {0};
        int64_t t0 = ib_now_ms();
        if (guestproc_list_sync(info->qga_sock, 10000, &s, &err) < 0)
            die("list", &err);
        ms[i] = (double)(ib_now_ms() - t0);
        guestproc_snapshot_free(&s);
    }
    double m = median(ms, (size_t)rounds);
    free(ms);
    return m;
}

/* Runs argv with stdout and stderr on /dev/null; its exit status, -1 if it
 * could not run. */
static int run_quiet(const char *const *argv)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *iotbench_bin(void)
{
    const char *b = getenv("INSIDE_IOTBENCH");
    return b ? b : "./iotbench";
}

/* The peer of 1: busybox ps through one guest-exec on a fresh connection. */
static double bench_peer_ps(const char *inst, int rounds)
{
    double *ms = xcalloc((size_t)rounds, sizeof *ms);
    for (int i = 0; i < rounds; i++) {
        int64_t t0 = ib_now_ms();
        if (run_quiet(
                (const char *[]){iotbench_bin(), "instance", "exec", inst, "--", "ps", NULL}) != 0)
            die("instance exec -- ps", NULL);
        ms[i] = (double)(ib_now_ms() - t0);
    }
    double m = median(ms, (size_t)rounds);
    free(ms);
    return m;
}

/* ---- 2. attach ---- */

static int find_demod(const struct instance_info *info)
{
    struct guestproc_snapshot s;
    struct ib_error err = {0};
    int pid;
    if (guestproc_list_sync(info->qga_sock, 10000, &s, &err) < 0 ||
        guestproc_find_one(&s, "demod", &pid, &err) < 0)
        die("finding demod", &err);
    guestproc_snapshot_free(&s);
    return pid;
}

static double bench_attach(const struct store *st, const struct instance_info *info, int pid,
                           int rounds)
{
    double *ms = xcalloc((size_t)rounds, sizeof *ms);
    for (int i = 0; i < rounds; i++) {
        struct debugger *d;
        struct rsp_arm_regs regs;
        struct ib_error err = {0};
        int64_t t0 = ib_now_ms();
        if (debugger_attach(st, info, pid, NULL, &d, &err) < 0 || debugger_regs(d, &regs, &err) < 0)
            die("attach", &err);
        ms[i] = (double)(ib_now_ms() - t0);
        if (debugger_detach(d, &err) < 0)
            die("detach", &err);
    }
    double m = median(ms, (size_t)rounds);
    free(ms);
    return m;
}

/* One gdb-multiarch -batch: target remote, info registers, detach. Returns
 * the ms from t0 to the line with cpsr on its stdout, -1 when none came (a
 * gdbserver not yet listening: slirp accepts, then closes). */
static double gdb_regs_once(int port, const char *rootfs, int64_t t0)
{
    char target[64], sysroot[4200];
    snprintf(target, sizeof target, "target remote 127.0.0.1:%d", port);
    snprintf(sysroot, sizeof sysroot, "set sysroot %s", rootfs);
    int out[2];
    if (pipe(out) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        close(out[0]);
        execlp("gdb-multiarch", "gdb-multiarch", "-batch", "-nx", "-ex", "set pagination off",
               "-ex", "set confirm off", "-ex", sysroot, "-ex", target, "-ex", "info registers",
               "-ex", "detach", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char buf[65536];
    size_t len = 0;
    ssize_t n;
    double ms = -1;
    while (len < sizeof buf - 1 && (n = read(out[0], buf + len, sizeof buf - 1 - len)) > 0) {
        len += (size_t)n;
        buf[len] = '\0';
        if (ms < 0 && strstr(buf, "\ncpsr") != NULL)
            ms = (double)(ib_now_ms() - t0);
    }
    close(out[0]);
    waitpid(pid, NULL, 0);
    return ms;
}

/* The peer of 2, by hand: gdbserver started in the background through the
 * agent (a fresh connection), a forward added on the monitor, gdb. */
static double bench_peer_attach(const struct instance_info *info, const char *inst, int pid,
                                int rounds)
{
    const char *rootfs = getenv("INSIDE_ROOTFS");
    char netdev[32];
    if (debugger_user_netdev(info->argv, info->argc, netdev, sizeof netdev) == NULL)
        die("the instance has no user-mode NIC", NULL);
    double *ms = xcalloc((size_t)rounds, sizeof *ms);
    for (int i = 0; i < rounds; i++) {
        int port = ports_pick_free();
        char script[200], cmd[160], *reply = NULL;
        snprintf(script, sizeof script,
                 "gdbserver --once :%d --attach %d </dev/null >/dev/null 2>&1 &", port, pid);
        int64_t t0 = ib_now_ms();
        if (run_quiet((const char *[]){iotbench_bin(), "instance", "exec", inst, "--", "sh", "-c",
                                       script, NULL}) != 0)
            die("instance exec -- gdbserver", NULL);
        snprintf(cmd, sizeof cmd, "hostfwd_add %s tcp:127.0.0.1:%d-:%d", netdev, port, port);
        struct ib_error err = {0};
        if (qmp_hmp_call(info->qmp_sock, cmd, 3000, &reply, &err) < 0)
            die("hostfwd_add", &err);
        free(reply);
        ms[i] = -1;
        for (int attempt = 0; attempt < 100 && ms[i] < 0; attempt++) {
            if (attempt > 0)
                ib_sleep_ms(40); /* iotbench's own probe interval */
            ms[i] = gdb_regs_once(port, rootfs ? rootfs : "/nonexistent", t0);
        }
        if (ms[i] < 0)
            die("gdb never showed the registers", NULL);
        snprintf(cmd, sizeof cmd, "hostfwd_remove %s tcp:127.0.0.1:%d", netdev, port);
        reply = NULL;
        qmp_hmp_call(info->qmp_sock, cmd, 3000, &reply, NULL);
        free(reply);
    }
    double m = median(ms, (size_t)rounds);
    free(ms);
    return m;
}

/* ---- 3. stepping ---- */

static pid_t request_in_child(int port)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* Let go of the parent's sockets: a copy of the one to gdbserver would
     * keep that connection open after the parent closes it. */
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        const char req[] = "GET / HTTP/1.0\r\n\r\n";
        char buf[1024];
        if (write(fd, req, sizeof req - 1) > 0)
            while (read(fd, buf, sizeof buf) > 0)
                ;
    }
    _exit(0);
}

/* gdb steps from where iotbench left the process; its Python reads the clock. */
static double gdb_steps_per_s(int port, const char *rootfs, int steps)
{
    char target[64], sysroot[4200], loop[200];
    snprintf(target, sizeof target, "target remote 127.0.0.1:%d", port);
    snprintf(sysroot, sizeof sysroot, "set sysroot %s", rootfs);
    snprintf(loop, sizeof loop,
             "python import time; t=time.time(); [gdb.execute('stepi', to_string=True) for i in "
             "range(%d)]; print('GDB-STEP-SECONDS %%.6f' %% (time.time()-t))",
             steps);
    int out[2];
    if (pipe(out) < 0)
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        const char *log = getenv("INSIDE_GDB_LOG"); /* gdb's own messages, to debug this */
        int errfd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(errfd, 2);
        close(out[0]);
        execlp("gdb-multiarch", "gdb-multiarch", "-batch", "-nx", "-ex", "set pagination off",
               "-ex", "set confirm off", "-ex", sysroot, "-ex", target, "-ex", loop, "-ex",
               "detach", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char buf[65536];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(out[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(out[0]);
    waitpid(pid, NULL, 0);
    const char *at = strstr(buf, "GDB-STEP-SECONDS ");
    if (at == NULL) {
        fprintf(stderr, "inside: gdb did not report a time:\n%s\n", buf);
        return 0;
    }
    double secs = atof(at + 17);
    return secs > 0 ? steps / secs : 0;
}

static void bench_steps(const struct store *st, const struct instance_info *info, int pid, int port,
                        int steps, double *ours, double *gdbs)
{
    struct debugger_opts o = {.keep_server = true};
    struct debugger *d;
    struct ib_error err = {0};
    if (debugger_attach(st, info, pid, &o, &d, &err) < 0)
        die("attach for stepping", &err);
    if (debugger_break(d, "handle_request", NULL, &err) < 0 || debugger_cont(d, &err) < 0)
        die("breakpoint", &err);
    pid_t child = request_in_child(port);
    struct debugger_stop stop;
    if (debugger_wait(d, 30000, &stop, &err) < 0 || stop.reason != DEBUGGER_STOP_BREAKPOINT)
        die("waiting for handle_request", &err);
    /* Our breakpoint must not stay in gdbserver's list: gdb will detach. */
    if (debugger_unbreak(d, "handle_request", &err) < 0)
        die("clearing the breakpoint", &err);
    for (int i = 0; i < 10; i++)
        debugger_step(d, &stop, &err);
    int64_t t0 = ib_now_ms();
    for (int i = 0; i < steps; i++)
        if (debugger_step(d, &stop, &err) < 0)
            die("step", &err);
    double secs = (double)(ib_now_ms() - t0) / 1000.0;
    *ours = secs > 0 ? steps / secs : 0;
    fprintf(stderr, "inside: iotbench stepped to %s; handing gdbserver to gdb\n", stop.where);
    int gport = debugger_port(d);
    char *netdev_sock = xstrdup(info->qmp_sock);
    debugger_close(d); /* no D: gdbserver (without --once) waits for gdb */
    char *rootfs = getenv("INSIDE_ROOTFS");
    /* gdbserver notices the closed connection, then listens again; a gdb
     * that comes sooner meets slirp's empty accept. */
    for (int attempt = 0; attempt < 3 && *gdbs == 0; attempt++) {
        ib_sleep_ms(1000);
        *gdbs = gdb_steps_per_s(gport, rootfs ? rootfs : "/nonexistent", steps);
    }
    /* gdb detached (gdbserver exits); the forward is ours to remove. */
    char cmd[128], netdev[32], *reply = NULL;
    if (debugger_user_netdev(info->argv, info->argc, netdev, sizeof netdev) != NULL) {
        snprintf(cmd, sizeof cmd, "hostfwd_remove %s tcp:127.0.0.1:%d", netdev, gport);
        qmp_hmp_call(netdev_sock, cmd, 3000, &reply, NULL);
        free(reply);
    }
    free(netdev_sock);
    int status;
    for (int i = 0; i < 100 && waitpid(child, &status, WNOHANG) == 0; i++)
        ib_sleep_ms(100);
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
}

/* A row for bench/run.sh: the ratio is ours / theirs. */
static void row(const char *area, const char *measure, double ours, const char *unit,
                const char *peer, double theirs, const char *peer_unit)
{
    char ratio[32] = "-";
    if (theirs > 0)
        snprintf(ratio, sizeof ratio, "%.2f", ours / theirs);
    printf("row\t%s\t%s\t%.0f %s\t%s\t%.0f %s\t%s\t\t\n", area, measure, ours, unit, peer, theirs,
           peer_unit, ratio);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: inside HOME INSTANCE HTTP_PORT [STEPS]\n");
        return 2;
    }
    int port = atoi(argv[3]), steps = argc > 4 ? atoi(argv[4]) : 300;
    struct store st;
    struct instance_info info;
    struct ib_error err = {0};
    if (store_open(&st, argv[1], &err) < 0 || instance_get(&st, argv[2], &info, &err) < 0)
        die("instance", &err);
    size_t procs = 0;
    fprintf(stderr, "inside: process list, 50 refreshes...\n");
    double refresh = bench_refresh(&info, 50, &procs);
    double oneshot = bench_oneshot(&info, 10);
    double peer_ps = bench_peer_ps(argv[2], 10);
    int pid = find_demod(&info);
    fprintf(stderr, "inside: attach to first registers, 5 times each...\n");
    double attach = bench_attach(&st, &info, pid, 5);
    double peer_attach = bench_peer_attach(&info, argv[2], pid, 5);
    fprintf(stderr, "inside: %d single steps each...\n", steps);
    double ours = 0, gdbs = 0;
    bench_steps(&st, &info, pid, port, steps, &ours, &gdbs);

    const char *a = "inside the guest";
    row(a, "process-list refresh, agent connection kept open (median of 50)", refresh, "ms",
        "busybox `ps` through one guest-exec, fresh connection (median of 10)", peer_ps, "ms");
    row(a, "process list, one-shot: connect + sync + list (median of 10)", oneshot, "ms",
        "the same `ps`", peer_ps, "ms");
    row(a, "attach to first registers, gdbserver's start included (median of 5)", attach, "ms",
        "by hand: `instance exec` gdbserver, `hostfwd_add`, `gdb-multiarch -batch` until "
        "`info registers` prints (median of 5)",
        peer_attach, "ms");
    char what[96];
    snprintf(what, sizeof what, "single-step rate, %d steps through the same gdbserver", steps);
    row(a, what, ours, "steps/s", "`gdb-multiarch -batch` `stepi`", gdbs, "steps/s");
    printf("note\t%s\tthe demo instance under TCG, %zu guest processes; gdb has the device's "
           "files as its sysroot, so it loads the same symbols iotbench does\n",
           a, procs);
    instance_info_free(&info);
    store_close(&st);
    return 0;
}
