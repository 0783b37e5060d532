/*
 * test_faults.c - fault drills with real demo guests: what iotbench says,
 * and what it leaves behind, when things break under it.
 *
 *   - QEMU killed (kill -9) during boot, and during a debug session;
 *   - the guest agent killed inside the guest, then started again;
 *   - gdbserver killed while the process runs with a breakpoint set, and
 *     while a one-shot `instance debug --step` steps;
 *   - a guest writing hostile escape sequences to `instance console`;
 *   - the store's disk full (a small tmpfs, a file size limit) during
 *     `device export` and `device add`;
 *   - a guest kernel panic: an init that cannot start, and sysrq-c.
 *
 * Three instances boot together at the first drill: "drill" (agent,
 * gdbserver, hostile console, and the sysrq panic as the last drill),
 * "drill_dbg" (its QEMU is killed during a debug session) and
 * "drill_reboot" (rebooted from its console).
 * Every instance is stopped at exit; the tmpfs is unmounted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "core/debugger.h"
#include "core/guestproc.h"
#include "core/qga.h"
#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/fixtures.h"
#include "tests/lib/guest.h"
#include "tests/lib/harness.h"

#define MAIN "drill"
#define DBG "drill_dbg"
#define REBOOT "drill_reboot"
#define GA_START                                                                                   \
    "qemu-ga -d -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 "                     \
    "-f /run/qemu-ga.pid -t /run"

static int main_off = -1, dbg_off = -1;

/* ---- the shared instances ---- */

static void must_start(const char *home, const char *name, int offset)
{
    char *err = NULL;
    if (guest_start(home, "demo", name, offset, NULL, &err) != 0) {
        fprintf(stderr, "cannot start %s: %s\n", name, err);
        exit(1);
    }
    free(err);
}

/* Both QEMUs start at once (they boot side by side); each is waited for
 * (agent, then target-start: demod runs) the first time a drill needs it. */
static const char *boot_shared(void)
{
    const char *home = guest_home();
    if (main_off < 0) {
        main_off = guest_free_offset();
        must_start(home, MAIN, main_off);
        dbg_off = guest_free_offset();
        must_start(home, DBG, dbg_off);
        must_start(home, REBOOT, guest_free_offset());
    }
    return home;
}

static const char *shared(const char *name)
{
    static bool up[2];
    const char *home = boot_shared();
    bool *ready = &up[strcmp(name, MAIN) == 0 ? 0 : 1];
    if (!*ready) {
        struct cmd_result r;
        ib_run(&r, home, "instance", "wait", name, "--for", "agent", "--timeout", "120", NULL);
        if (r.status == 0) {
            cmd_result_free(&r);
            ib_run(&r, home, "instance", "target-start", name, NULL);
        }
        if (r.status != 0) {
            fprintf(stderr, "%s did not come up: %s\n", name, r.err);
            exit(1);
        }
        cmd_result_free(&r);
        *ready = true;
    }
    return home;
}

static int http_port(const char *name)
{
    return 8080 + (strcmp(name, MAIN) == 0 ? main_off : dbg_off);
}

static bool demod_answers(const char *name, int timeout_ms)
{
    return guest_demod_answers(http_port(name), timeout_ms);
}

static int demod_pid(const char *name)
{
    char *out = guest_sh(guest_home(), name, "pidof demod || echo 0", NULL);
    int pid = out ? atoi(out) : 0;
    free(out);
    return pid;
}

/* demod answering again after a drill that may have ended it. */
static bool ensure_demod(const char *name)
{
    if (demod_answers(name, 2000))
        return true;
    struct cmd_result r;
    ib_run(&r, guest_home(), "instance", "exec", name, "--target", "--", "/bin/sh", "-c",
           "setsid /usr/bin/demod </dev/null >/dev/null 2>&1 &", NULL);
    cmd_result_free(&r);
    return demod_answers(name, 20000);
}

static void open_instance(const char *name, struct store *st, struct instance_info *info)
{
    struct ib_error err = {0};
    if (store_open(st, guest_home(), &err) < 0 || instance_get(st, name, info, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

/* ---- processes on the host ---- */

/* An iotbench command in the background, its output in files. */
struct bg {
    pid_t pid;
    char out[4096], err[4096];
};

static void bg_start(struct bg *b, const char *home, const char *const *args)
{
    static int seq;
    seq++;
    snprintf(b->out, sizeof b->out, "%s", test_path("bg.out"));
    snprintf(b->out + strlen(b->out), sizeof b->out - strlen(b->out), ".%d", seq);
    snprintf(b->err, sizeof b->err, "%s", test_path("bg.err"));
    snprintf(b->err + strlen(b->err), sizeof b->err - strlen(b->err), ".%d", seq);
    fflush(stdout);
    b->pid = fork();
    if (b->pid == 0) {
        int o = open(b->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(b->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int n = open("/dev/null", O_RDONLY);
        dup2(n, 0);
        dup2(o, 1);
        dup2(e, 2);
        setenv("IOTBENCH_HOME", home, 1);
        setenv("NO_COLOR", "1", 1);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the tests */
        const char *argv[32];
        int k = 0;
        argv[k++] = ib_bin();
        for (int i = 0; args[i] && k < 31; i++)
            argv[k++] = args[i];
        argv[k] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
}

/* Exit status, or -1 when it did not end within timeout_ms (then killed). */
static int bg_wait(struct bg *b, int timeout_ms)
{
    int64_t end = ib_now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t w = waitpid(b->pid, &st, WNOHANG);
        if (w == b->pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (ib_now_ms() >= end) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &st, 0);
            return -1;
        }
        ib_sleep_ms(20);
    }
}

/* Waits until the background command's stdout holds text. */
static bool bg_said(struct bg *b, const char *text, int timeout_ms)
{
    int64_t end = ib_now_ms() + timeout_ms;
    do {
        char *s = test_read_file(b->out);
        bool found = s && strstr(s, text);
        free(s);
        if (found)
            return true;
        ib_sleep_ms(50);
    } while (ib_now_ms() < end);
    return false;
}

/* Pids of host processes whose command line holds needle as one argument
 * (QEMU: its -name; iotbench: the instance argument). */
static int host_procs_with_arg(const char *needle, int *pids, int cap)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        int pid = atoi(de->d_name);
        if (pid <= 0 || pid == getpid() || !guest_pid_alive(pid))
            continue;
        char path[64], *cmd = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        if (ib_read_file(path, 1 << 20, &cmd, &len, NULL) < 0)
            continue;
        for (size_t i = 0; i < len; i += strlen(cmd + i) + 1) {
            if (strcmp(cmd + i, needle) == 0) {
                if (n < cap)
                    pids[n] = pid;
                n++;
                break;
            }
        }
        free(cmd);
    }
    if (d)
        closedir(d);
    return n;
}

/* A child that asks demod for a page every 250 ms, for up to secs (and
 * not a moment longer than this process, should a check fail first). */
static pid_t requests_in_child(int port, int secs)
{
    fflush(stdout);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int64_t end = ib_now_ms() + secs * 1000;
        while (getppid() == parent && ib_now_ms() < end) {
            free(guest_http_get(port, "/", 3000));
            usleep(250000);
        }
        _exit(0);
    }
    return pid;
}

static void end_child(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static json_t *parse_json(const char *text)
{
    json_error_t je;
    return text ? json_loads(text, 0, &je) : NULL;
}

/* ==== QEMU killed during boot ==== */

TEST(qemu_killed_during_boot_is_reported_dead_with_its_reason)
{
    test_set_timeout(180);
    const char *home = boot_shared(); /* the shared pair boots meanwhile */
    char off[16];
    snprintf(off, sizeof off, "%d", guest_free_offset());
    guest_stop_at_exit(home, "bootkill");
    struct bg b;
    bg_start(&b, home,
             (const char *[]){"device", "start", "demo", "bootkill", "--port-offset", off,
                              "--wait=banner", NULL});
    /* The kernel has started (the console has its first lines), the host
     * system is far from its banner. */
    const char *log = guest_run_file(home, "bootkill", "console.log");
    int64_t end = ib_now_ms() + 60000;
    char *text = NULL;
    while (ib_now_ms() < end) {
        free(text);
        text = test_read_file(log);
        if (text && strlen(text) > 200)
            break;
        ib_sleep_ms(20);
    }
    CHECK_MSG(text && strlen(text) > 200, "the kernel never printed: %s", text ? text : "");
    CHECK_NOT_CONTAINS(text, "Host system ready");
    free(text);
    int pid = guest_pid_of(home, "bootkill");
    CHECK(pid > 0 && guest_pid_alive(pid));
    CHECK(kill(pid, SIGKILL) == 0);
    int64_t t0 = ib_now_ms();
    /* The start that was waiting for the banner ends at once, saying why. */
    int st = bg_wait(&b, 10000);
    char *err = test_read_file(b.err);
    CHECK_MSG(st == 1, "start ended with %d: %s", st, err);
    printf("  the waiting start noticed in %lld ms\n", (long long)(ib_now_ms() - t0));
    CHECK_CONTAINS(err, "instance bootkill died while waiting for banner: QEMU is gone without "
                        "a message (it had daemonized: killed, or it quit on an error it could "
                        "not report); the console's last line: \"");
    free(err);
    struct cmd_result r;
    ib_run(&r, home, "device", "running", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "bootkill");
    CHECK_CONTAINS(r.out, "it quit on an error it could not report); the console's last line: ");
    CHECK_CONTAINS(r.out, "\" (cleaned up)");
    cmd_result_free(&r);
    /* Reported once, and nothing is left: no folder, no QEMU. */
    CHECK(!ib_path_exists(guest_run_file(home, "bootkill", "")));
    int left[4];
    CHECK_INT(host_procs_with_arg("bootkill", left, 4), 0);
    ib_run(&r, home, "device", "running", NULL);
    CHECK_NOT_CONTAINS(r.out, "bootkill");
    cmd_result_free(&r);
    ib_run(&r, home, "instance", "info", "bootkill", NULL);
    CHECK_INT(r.status, 3);
    cmd_result_free(&r);
}

/* ==== the guest agent killed inside the guest ==== */

TEST(agent_killed_in_the_guest_times_out_then_recovers)
{
    test_set_timeout(180);
    const char *home = shared(MAIN);
    const char *sock = guest_run_file(home, MAIN, "qga.sock");
    CHECK(qga_ping(sock, 5000, NULL) == 0);
    /* Typed on the serial console: the agent is the thing being killed. */
    char *seen = NULL;
    bool ok = guest_console_expect(home, MAIN,
                                   "\rkill $(cat /run/qemu-ga.pid); "
                                   "echo agent-$((1+1))-killed\r",
                                   "agent-2-killed", 15000, &seen);
    CHECK_MSG(ok, "console: %.600s", seen);
    free(seen);
    /* Requests get no answer now: each fails on its own deadline. */
    struct ib_error err = {0};
    int64_t t0 = ib_now_ms();
    CHECK(qga_ping(sock, 1500, &err) < 0);
    int64_t took = ib_now_ms() - t0;
    CHECK_STR(err.msg, "agent not responding after 1500 ms");
    CHECK_INT(err.status, IB_ETIMEOUT);
    CHECK_MSG(took >= 1400 && took < 4000, "the ping took %lld ms", (long long)took);
    struct cmd_result r;
    t0 = ib_now_ms();
    ib_run(&r, home, "instance", "exec", MAIN, "--timeout", "1", "--", "true", NULL);
    took = ib_now_ms() - t0;
    CHECK_INT(r.status, 4);
    CHECK_CONTAINS(r.err, "agent not responding after");
    CHECK_MSG(took < 15000, "exec took %lld ms", (long long)took);
    cmd_result_free(&r);
    ib_run(&r, home, "instance", "wait", MAIN, "--for", "agent", "--timeout", "2", NULL);
    CHECK_INT(r.status, 4);
    CHECK_CONTAINS(r.err, "(reached: banner)");
    cmd_result_free(&r);
    /* Started again on the console: the next requests get through. */
    ok = guest_console_expect(home, MAIN, "\r" GA_START "; echo agent-$((2+2))-back\r",
                              "agent-4-back", 15000, &seen);
    CHECK_MSG(ok, "console: %.600s", seen);
    free(seen);
    int64_t back = ib_now_ms() + 15000;
    while (qga_ping(sock, 1000, NULL) < 0 && ib_now_ms() < back)
        ib_sleep_ms(100);
    CHECK(qga_ping(sock, 2000, &err) == 0);
    ib_run(&r, home, "instance", "exec", MAIN, "--", "echo", "agent-ok", NULL);
    CHECK_INT(r.status, 0);
    CHECK_STR(r.out, "agent-ok\n");
    cmd_result_free(&r);
}

/* ==== gdbserver killed ==== */

TEST(gdbserver_killed_while_the_process_runs_leaves_it_running)
{
    test_set_timeout(180);
    shared(MAIN);
    CHECK(ensure_demod(MAIN));
    struct store st;
    struct instance_info info;
    open_instance(MAIN, &st, &info);
    int pid = demod_pid(MAIN);
    CHECK(pid > 0);
    struct debugger *d = NULL;
    struct ib_error err = {0};
    CHECK_MSG(debugger_attach(&st, &info, pid, NULL, &d, &err) == 0, "%s", err.msg);
    CHECK_MSG(debugger_break(d, "handle_request", NULL, &err) == 0, "%s", err.msg);
    CHECK(debugger_cont(d, &err) == 0);
    /* gdbserver dies with its breakpoint in demod's code. */
    char *out = guest_sh(guest_home(), MAIN, "kill -9 $(pidof gdbserver) && echo killed", NULL);
    CHECK_STR(out, "killed\n");
    free(out);
    int64_t t0 = ib_now_ms();
    CHECK(debugger_wait(d, 20000, NULL, &err) < 0);
    CHECK_MSG(ib_now_ms() - t0 < 3000, "the loss took %lld ms to show",
              (long long)(ib_now_ms() - t0));
    CHECK_CONTAINS(err.msg, "gdbserver ended in the guest");
    /* The detach puts the code back and says what became of the process. */
    t0 = ib_now_ms();
    CHECK(debugger_detach(d, &err) < 0);
    printf("  detach after the loss: %lld ms\n", (long long)(ib_now_ms() - t0));
    char want[128];
    snprintf(want, sizeof want, "process %d runs on", pid);
    CHECK_CONTAINS(err.msg, want);
    CHECK_CONTAINS(err.msg, "taken out");
    printf("  detach said: %s\n", err.msg);
    /* Requests go through handle_request again without a trap. */
    CHECK(demod_answers(MAIN, 10000));
    CHECK(demod_answers(MAIN, 10000));
    CHECK_INT(demod_pid(MAIN), pid);
    instance_info_free(&info);
    store_close(&st);
}

/* A guest process's state letter and tracer (0: none), from its status. */
static char proc_state(const char *name, int pid, int *tracer)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "cat /proc/%d/status", pid);
    char *st = guest_sh(guest_home(), name, cmd, NULL);
    const char *s = st ? strstr(st, "\nState:\t") : NULL;
    const char *t = st ? strstr(st, "TracerPid:\t") : NULL;
    char state = s ? s[8] : '?';
    *tracer = t ? atoi(t + 11) : 0;
    free(st);
    return state;
}

/* Waits until the traced process is in the state wanted. */
static bool traced_in(const char *name, int pid, const char *states, int timeout_ms)
{
    int64_t end = ib_now_ms() + timeout_ms;
    while (ib_now_ms() < end) {
        int tracer = 0;
        char st = proc_state(name, pid, &tracer);
        if (tracer > 0 && strchr(states, st))
            return true;
        ib_sleep_ms(50);
    }
    return false;
}

TEST(gdbserver_killed_mid_step_ends_the_session_clearly)
{
    test_set_timeout(180);
    const char *home = shared(MAIN);
    CHECK(ensure_demod(MAIN));
    int pid = demod_pid(MAIN);
    CHECK(pid > 0);
    struct bg b;
    bg_start(&b, home,
             (const char *[]){"instance", "debug", MAIN, "demod", "--break", "handle_request",
                              "--wait", "60", "--step", "100000", "--json", NULL});
    /* Traced and running (continued, waiting for a request); then requests
     * come, the first stops at the breakpoint, and the steps begin (they
     * would last minutes). */
    bool continued = traced_in(MAIN, pid, "S", 30000);
    pid_t asker = requests_in_child(http_port(MAIN), 60);
    bool stepping = continued && traced_in(MAIN, pid, "t", 30000);
    if (!stepping) {
        end_child(asker);
        bg_wait(&b, 0);
    }
    CHECK(continued);
    CHECK(stepping);
    ib_sleep_ms(500);
    char *o = guest_sh(home, MAIN, "kill -9 $(pidof gdbserver) && echo killed", NULL);
    int64_t t0 = ib_now_ms();
    CHECK_STR(o, "killed\n");
    free(o);
    int status = bg_wait(&b, 20000);
    end_child(asker);
    printf("  the CLI ended %lld ms after the kill\n", (long long)(ib_now_ms() - t0));
    char *out = test_read_file(b.out), *err = test_read_file(b.err);
    CHECK_MSG(status == 1, "status %d: %s %s", status, out, err);
    json_t *j = parse_json(out);
    CHECK_MSG(j != NULL, "not JSON: %s", out);
    /* The loss came after the breakpoint: while stepping. */
    json_t *stop = json_object_get(j, "stop");
    CHECK_STR(json_string_value(json_object_get(stop, "reason")), "breakpoint");
    const char *msg = json_string_value(json_object_get(j, "error"));
    CHECK_CONTAINS(msg, "gdbserver ended in the guest");
    CHECK(json_is_false(json_object_get(j, "detached")));
    CHECK_CONTAINS(err, "gdbserver ended in the guest");
    /* The process's fate is told, and true. */
    char gone[96], runs[96];
    snprintf(gone, sizeof gone, "process %d is gone", pid);
    snprintf(runs, sizeof runs, "process %d runs on", pid);
    bool said_gone = strstr(msg, gone) != NULL, said_runs = strstr(msg, runs) != NULL;
    CHECK_MSG(said_gone != said_runs, "no fate in: %s", msg);
    CHECK_INT(demod_pid(MAIN) == pid, said_runs);
    printf("  said: %s\n", msg);
    json_decref(j);
    free(out);
    free(err);
    o = guest_sh(home, MAIN, "pidof gdbserver || echo none", NULL);
    CHECK_STR(o, "none\n");
    free(o);
    CHECK(ensure_demod(MAIN));
}

/* ==== QEMU killed during a debug session ==== */

TEST(qemu_killed_during_a_debug_session_ends_it_clearly)
{
    test_set_timeout(180);
    const char *home = shared(DBG);
    CHECK(ensure_demod(DBG));
    struct bg b;
    bg_start(&b, home,
             (const char *[]){"instance", "debug", DBG, "demod", "--break", "handle_request",
                              "--wait", "120", NULL});
    if (!bg_said(&b, "continuing; waiting", 30000)) {
        bg_wait(&b, 0);
        CHECK_MSG(0, "the debugger never got to wait: %s", test_read_file(b.err));
    }
    int qemu = guest_pid_of(home, DBG);
    CHECK(qemu > 0 && kill(qemu, SIGKILL) == 0);
    int64_t t0 = ib_now_ms();
    int status = bg_wait(&b, 30000);
    int64_t took = ib_now_ms() - t0;
    char *err = test_read_file(b.err);
    CHECK_MSG(status == 1, "status %d after %lld ms: %s", status, (long long)took, err);
    printf("  the debugger ended %lld ms after the kill: %s", (long long)took, err);
    CHECK_MSG(took < 5000, "it took %lld ms", (long long)took);
    char want[160];
    snprintf(want, sizeof want, "instance %s died (its QEMU, pid %d, is gone)", DBG, qemu);
    CHECK_CONTAINS(err, want);
    free(err);
    /* Nothing of it is left on the host: no QEMU, no iotbench. */
    int left[4];
    CHECK_INT(host_procs_with_arg(DBG, left, 4), 0);
    struct cmd_result r;
    ib_run(&r, home, "device", "running", NULL);
    CHECK_CONTAINS(r.out, DBG);
    CHECK_CONTAINS(r.out, "it quit on an error it could not report); the console's last line: ");
    CHECK_CONTAINS(r.out, "\" (cleaned up)");
    cmd_result_free(&r);
    CHECK(!ib_path_exists(guest_run_file(home, DBG, "")));
}

/* ==== a guest writing hostile escape sequences ==== */

static void add(char **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (*len + n > *cap) {
        *cap = (*len + n) * 2;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, p, n);
    *len += n;
}

#define ADDS(s) add(&buf, &len, &cap, s, sizeof(s) - 1)

/* Titles, clipboard, DCS (DECRQSS and sixel), APC/PM/SOS, window
 * operations, huge CSI parameter lists and numbers, REP at a line start,
 * C1 controls raw and in UTF-8, and a 1 MiB line. */
static char *hostile_bytes(size_t *out_len)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    ADDS("hostile-start\n");
    ADDS("\x1b]0;PWNED-title0\x07\x1b]2;PWNED-title2\x1b\\");
    ADDS("\x1b]52;c;UFdORUQtY2xpcGJvYXJk\x07\x1b]52;p;?\x07");
    ADDS("\x1bP1$qm\x1b\\\x1bPq#0;2;0;0;0#0~~@@vv@@~~$-\x1b\\");
    ADDS("\x1b_PWNED-apc\x1b\\\x1b^PWNED-pm\x1b\\\x1bXPWNED-sos\x1b\\");
    ADDS("\x1b[8;1;1t\x1b[21t\x1b[20t");
    ADDS("\x1b[");
    for (int i = 0; i < 5000; i++)
        ADDS("1;");
    ADDS("m\x1b[");
    for (int i = 0; i < 3000; i++)
        ADDS("9");
    ADDS("H\n\x1b[1000000000b\n");
    /* Without their C1 introducer these are plain text: only that goes. */
    ADDS("\x9d"
         "0;c1-text\x07\x90"
         "c1-text\x9c\x9b"
         "8;1;1t");
    ADDS("\xc2\x9d"
         "0;c1-text\x07\xc2\x9b"
         "21t\xc2\x90"
         "q\xc2\x9c");
    ADDS("\nhostile-middle\n");
    for (int i = 0; i < 1048576 / 64; i++)
        ADDS("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    ADDS("\nhostile-end\n");
    *out_len = len;
    return buf;
}

/* What reached the user's terminal: NULL when clean, else what leaked. */
static const char *leak_in(const unsigned char *s, size_t n)
{
    static char why[200];
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == 0x1b && i + 1 < n && strchr("]P_^X", s[i + 1]) && s[i + 1]) {
            snprintf(why, sizeof why, "ESC %c (a string sequence) at %zu", s[i + 1], i);
            return why;
        }
        if (c == 0x1b && i + 1 < n && s[i + 1] == '[') {
            size_t j = i + 2;
            int params = 1;
            while (j < n && s[j] >= 0x20 && s[j] <= 0x3f)
                params += s[j] == ';' || s[j] == ':', j++;
            if (j < n && (s[j] == 't' || s[j] == 'b' || params > 16 || j - i > 80)) {
                snprintf(why, sizeof why, "CSI with %d parameters, %zu bytes, final '%c' at %zu",
                         params, j - i + 1, s[j], i);
                return why;
            }
        }
        if (c >= 0x80 && c <= 0x9f) {
            /* Only as a continuation byte of a UTF-8 character >= U+00A0. */
            size_t k = i;
            while (k > 0 && i - k < 3 && s[k - 1] >= 0x80 && s[k - 1] <= 0xbf)
                k--;
            bool lead = k > 0 && s[k - 1] >= 0xc2 && s[k - 1] <= 0xf4;
            if (!lead || (s[k - 1] == 0xc2 && k == i)) {
                snprintf(why, sizeof why, "C1 control 0x%02x%s at %zu", c, lead ? " (UTF-8)" : "",
                         i);
                return why;
            }
        }
    }
    if (memmem(s, n, "PWNED", 5)) {
        const char *p = memmem(s, n, "PWNED", 5);
        snprintf(why, sizeof why, "the text of a dropped sequence: %.20s", p);
        return why;
    }
    return NULL;
}

/* `instance console` in a pseudo-terminal, every byte it writes kept. */
struct pty {
    pid_t pid;
    int fd;
    char *buf;
    size_t len, cap;
};

static void pty_start(struct pty *p, const char *home, const char *const *args)
{
    memset(p, 0, sizeof *p);
    struct winsize ws = {.ws_row = 40, .ws_col = 120};
    fflush(stdout);
    p->pid = forkpty(&p->fd, NULL, NULL, &ws);
    if (p->pid == 0) {
        setenv("IOTBENCH_HOME", home, 1);
        setenv("TERM", "xterm-256color", 1);
        setenv("LANG", "C.UTF-8", 1);
        const char *argv[16];
        int k = 0;
        argv[k++] = ib_bin();
        for (int i = 0; args[i] && k < 15; i++)
            argv[k++] = args[i];
        argv[k] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
}

/* Reads until want appears after byte `from`; its end offset, or 0. */
static size_t pty_expect(struct pty *p, size_t from, const char *want, int timeout_ms)
{
    int64_t end = ib_now_ms() + timeout_ms;
    size_t wl = strlen(want);
    for (;;) {
        const char *hit = p->len > from ? memmem(p->buf + from, p->len - from, want, wl) : NULL;
        if (hit)
            return (size_t)(hit - p->buf) + wl;
        int left = (int)(end - ib_now_ms());
        if (left <= 0)
            return 0;
        struct pollfd pf = {p->fd, POLLIN, 0};
        if (poll(&pf, 1, left < 100 ? left : 100) <= 0)
            continue;
        for (;;) {
            if (p->len + 65536 > p->cap) {
                p->cap = (p->len + 65536) * 2;
                p->buf = xrealloc(p->buf, p->cap);
            }
            ssize_t n = read(p->fd, p->buf + p->len, p->cap - p->len);
            if (n <= 0)
                break;
            p->len += (size_t)n;
        }
    }
}

static int pty_end(struct pty *p, int timeout_ms)
{
    int st = -1;
    int64_t end = ib_now_ms() + timeout_ms;
    while (waitpid(p->pid, &st, WNOHANG) == 0) {
        if (ib_now_ms() >= end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            st = -1;
            break;
        }
        pty_expect(p, p->len, "\001never\001", 50);
    }
    close(p->fd);
    free(p->buf);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void pty_type(struct pty *p, const char *s)
{
    (void)!write(p->fd, s, strlen(s));
}

/* The console switches the terminal to raw mode after its banner, and
 * discards what was typed before (TCSAFLUSH): wait for it. */
static bool pty_raw(struct pty *p, int timeout_ms)
{
    int64_t end = ib_now_ms() + timeout_ms;
    struct termios tio;
    while (tcgetattr(p->fd, &tio) == 0 && (tio.c_lflag & ICANON)) {
        if (ib_now_ms() >= end)
            return false;
        pty_expect(p, p->len, "\001never\001", 10);
    }
    return true;
}

/* The payload through `instance console`: checks what the terminal got. */
static void hostile_session(struct pty *p)
{
    size_t at = pty_expect(p, 0, "detach with Ctrl-]", 10000);
    CHECK(at > 0);
    CHECK(pty_raw(p, 5000));
    pty_type(p, "\r");
    pty_type(p, "cat /tmp/hostile.bin; echo HOSTILE-$((40+2))\r");
    int64_t t0 = ib_now_ms();
    size_t done = pty_expect(p, at, "HOSTILE-42", 60000);
    CHECK_MSG(done > 0, "the payload never ended; got %zu bytes: %.300s", p->len,
              p->buf ? p->buf : "");
    printf("  %zu bytes of hostile output in %lld ms\n", p->len - at,
           (long long)(ib_now_ms() - t0));
    const char *leak = leak_in((unsigned char *)p->buf, done);
    CHECK_MSG(leak == NULL, "reached the terminal: %s", leak);
    /* The text around the sequences, and the whole 1 MiB line, came through. */
    CHECK(memmem(p->buf, done, "hostile-middle", 14) != NULL);
    CHECK(memmem(p->buf, done, "hostile-end", 11) != NULL);
    const char *a = memmem(p->buf, done, "AAAA", 4);
    size_t run = 0;
    while (a && a + run < p->buf + done && a[run] == 'A')
        run++;
    CHECK_MSG(run == 1048576, "the long line arrived as %zu bytes", run);
    /* And the console still answers at once. */
    t0 = ib_now_ms();
    pty_type(p, "echo after-$((6*7))\r");
    CHECK(pty_expect(p, done, "after-42", 10000) > 0);
    printf("  next command echoed in %lld ms\n", (long long)(ib_now_ms() - t0));
    size_t before = p->len;
    pty_type(p, "\x1d");
    CHECK(pty_expect(p, before, "detached", 5000) > 0);
}

TEST(hostile_console_output_never_reaches_the_terminal)
{
    test_set_timeout(180);
    const char *home = shared(MAIN);
    size_t n = 0;
    char *bytes = hostile_bytes(&n);
    /* The payload is in the guest; the guest's own shell prints it. */
    const char *argv[] = {"/bin/sh", "-c", "cat > /tmp/hostile.bin && wc -c < /tmp/hostile.bin",
                          NULL};
    struct qga_exec_result res;
    struct ib_error err = {0};
    CHECK_MSG(qga_exec_sync(guest_run_file(home, MAIN, "qga.sock"), argv, bytes, n, 30000, &res,
                            &err) == 0,
              "%s", err.msg);
    CHECK_INT(atol(res.out), (long)n);
    qga_exec_result_free(&res);
    free(bytes);
    struct pty p;
    pty_start(&p, home, (const char *[]){"instance", "console", MAIN, "--no-replay", NULL});
    hostile_session(&p);
    /* Ended (killed after a failure: the console must be free for the
     * drills that follow). */
    int st = pty_end(&p, 5000);
    CHECK_INT(st, 0);
}

/* ==== the store's disk full ==== */

static char mnt[4096];

static void unmount_tmpfs(void)
{
    if (mnt[0])
        umount2(mnt, MNT_DETACH);
    mnt[0] = '\0';
}

/* Every file of the store (but run/): path, type, size and, for regular
 * files, the first bytes' checksum - what "nothing lost" compares. */
static char *tree_text;
static size_t tree_len, tree_cap;

static int tree_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    char line[4400];
    unsigned sum = 0;
    if (S_ISREG(sb->st_mode)) {
        int fd = open(path, O_RDONLY);
        unsigned char b[65536];
        ssize_t r;
        while (fd >= 0 && (r = read(fd, b, sizeof b)) > 0)
            for (ssize_t i = 0; i < r; i++)
                sum = sum * 31 + b[i];
        if (fd >= 0)
            close(fd);
    }
    int n = snprintf(line, sizeof line, "%s %o %lld %u\n", path, (unsigned)sb->st_mode,
                     (long long)sb->st_size, sum);
    if (tree_len + (size_t)n + 1 > tree_cap)
        tree_text = xrealloc(tree_text, tree_cap = (tree_len + (size_t)n + 1) * 2);
    memcpy(tree_text + tree_len, line, (size_t)n + 1);
    tree_len += (size_t)n;
    return 0;
}

static char *tree_of(const char *dir)
{
    tree_text = NULL;
    tree_len = tree_cap = 0;
    nftw(dir, tree_entry, 32, FTW_PHYS);
    char *t = tree_text;
    tree_text = NULL;
    return t ? t : xstrdup("");
}

static char *store_tree(const char *home)
{
    size_t cap = 0, len = 0;
    char *all = NULL;
    const char *parts[] = {"devices", "kernels", "initrds", "hostfs", "dtbs"};
    for (size_t i = 0; i < 5; i++) {
        char *dir = xasprintf("%s/%s", home, parts[i]);
        char *t = tree_of(dir);
        size_t n = strlen(t);
        if (len + n + 1 > cap)
            all = xrealloc(all, cap = (len + n + 1) * 2);
        memcpy(all + len, t, n + 1);
        len += n;
        free(t);
        free(dir);
    }
    return all;
}

/* Names in a folder that start with prefix (temporary files, imports). */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

static void tmpfs_limits(unsigned long long bytes, unsigned long long inodes)
{
    char opts[128];
    snprintf(opts, sizeof opts, "size=%llu,nr_inodes=%llu", bytes, inodes);
    if (mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, opts) < 0)
        fprintf(stderr, "remount %s: %s\n", opts, strerror(errno));
}

/* The store's parts (the demo device and the stock images it uses, not
 * the running instances) copied into home. */
static void copy_store_into(const char *home)
{
    char *rundir = xasprintf("%s/run", home);
    CHECK(ib_mkdir_p(rundir, 0700, NULL) == 0);
    free(rundir);
    const char *parts[] = {"devices", "kernels", "initrds", "hostfs", "dtbs"};
    for (size_t i = 0; i < 5; i++) {
        char *src = xasprintf("%s/%s", guest_home(), parts[i]);
        char *cp[] = {"cp", "-a", src, (char *)home, NULL};
        struct cmd_result r;
        cmd_run(cp, NULL, NULL, 60, &r);
        CHECK_MSG(r.status == 0, "%s", r.err);
        cmd_result_free(&r);
        free(src);
    }
}

/* A file size limit (SIGXFSZ ignored, EFBIG reported) hits export and add
 * like a full disk; prlimit needs no privilege, so this half of the drill
 * runs for everyone. */
TEST(store_file_size_limit_during_export_and_add_loses_nothing)
{
    test_set_timeout(180);
    char *home = xasprintf("%s", test_path("fsize-home"));
    copy_store_into(home);
    char *archive = xasprintf("%s/demo.piotr", home);
    struct cmd_result r;
    ib_run(&r, home, "device", "export", "demo", archive, NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    char *before = store_tree(home);
    char *second = xasprintf("%s/second.piotr", home);
    char *env_home = xasprintf("IOTBENCH_HOME=%s", home);
    char *env[] = {env_home, NULL};
    char *limited[] = {"prlimit", "--fsize=1000000", (char *)ib_bin(), "device", "add",
                       archive,   "--name",          "copy3",          NULL};
    cmd_run(limited, env, NULL, 120, &r);
    CHECK_MSG(r.status == 1, "status %d: %s", r.status, r.err);
    CHECK_CONTAINS(r.err, "File too large");
    CHECK_CONTAINS(r.err, "nothing was kept");
    cmd_result_free(&r);
    char *limited_export[] = {
        "prlimit", "--fsize=1000000", (char *)ib_bin(), "device", "export", "demo", second, NULL};
    cmd_run(limited_export, env, NULL, 120, &r);
    CHECK_MSG(r.status == 1, "status %d: %s", r.status, r.err);
    CHECK_CONTAINS(r.err, "File too large");
    cmd_result_free(&r);
    CHECK(!ib_path_exists(second));
    CHECK_INT(count_entries(home, ".second.piotr.tmp"), 0);
    char *devices = xasprintf("%s/devices", home);
    CHECK_INT(count_entries(devices, ".import"), 0);
    free(devices);
    char *after = store_tree(home);
    CHECK_STR(after, before);
    free(after);
    /* Without the limit, the same archive imports and the device checks. */
    ib_run(&r, home, "device", "add", archive, "--name", "copy4", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    ib_run(&r, home, "device", "check", "copy4", NULL);
    CHECK_MSG(r.status == 0, "%s%s", r.out, r.err);
    cmd_result_free(&r);
    free(before);
    free(env_home);
    free(second);
    free(archive);
    free(home);
}

TEST(store_disk_full_during_export_and_add_loses_nothing)
{
    test_set_timeout(180);
    if (geteuid() != 0) {
        /* Said, not hidden: the file size half above ran all the same. */
        printf("  skipped: mounting a small tmpfs needs root\n");
        return;
    }
    /* A private mount namespace: nobody else sees the small disk, and it
     * goes with this process. */
    CHECK(unshare(CLONE_NEWNS) == 0);
    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    snprintf(mnt, sizeof mnt, "%s", test_path("small"));
    CHECK(mkdir(mnt, 0700) == 0);
    CHECK(mount("tmpfs", mnt, "tmpfs", 0, "size=256m,nr_inodes=100000") == 0);
    test_on_exit(unmount_tmpfs);
    char *home = xasprintf("%s/home", mnt);
    copy_store_into(home);
    struct cmd_result r;
    char *archive = xasprintf("%s/demo.piotr", home);
    ib_run(&r, home, "device", "export", "demo", archive, NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    struct stat sb;
    CHECK(stat(archive, &sb) == 0);
    char *before_archive = test_read_file(archive);
    char *before = store_tree(home);
    /* Room for half an archive more, no more. */
    struct statvfs vfs;
    CHECK(statvfs(mnt, &vfs) == 0);
    unsigned long long used = (unsigned long long)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
    tmpfs_limits(used + (unsigned long long)sb.st_size / 2, 100000);

    /* export over the existing archive: the old one stays, whole. */
    ib_run(&r, home, "device", "export", "demo", archive, "--force", NULL);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "No space left on device");
    CHECK_CONTAINS(r.err, "the partial archive was removed");
    cmd_result_free(&r);
    char *after_archive = test_read_file(archive);
    CHECK(after_archive != NULL && memcmp(before_archive, after_archive, (size_t)sb.st_size) == 0);
    free(after_archive);
    /* export to a new file: no file, no temporary left. */
    char *second = xasprintf("%s/second.piotr", home);
    ib_run(&r, home, "device", "export", "demo", second, NULL);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "No space left on device");
    cmd_result_free(&r);
    CHECK(!ib_path_exists(second));
    CHECK_INT(count_entries(home, ".demo.piotr.tmp"), 0);
    CHECK_INT(count_entries(home, ".second.piotr.tmp"), 0);

    /* add with too little room for what the archive claims: refused first,
     * as a failure of the store (1), not bad input. */
    ib_run(&r, home, "device", "add", archive, "--name", "copy1", NULL);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "the free space in");
    CHECK_CONTAINS(r.err, "nothing was kept");
    cmd_result_free(&r);
    /* add with room for the bytes but not for the files: the disk fills up
     * halfway through the extraction. */
    CHECK(statvfs(mnt, &vfs) == 0);
    unsigned long long inodes = (unsigned long long)(vfs.f_files - vfs.f_ffree);
    tmpfs_limits(used + 200ull * 1024 * 1024, inodes + 60);
    ib_run(&r, home, "device", "add", archive, "--name", "copy2", NULL);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "No space left on device");
    CHECK_CONTAINS(r.err, "nothing was kept");
    cmd_result_free(&r);
    char *devices = xasprintf("%s/devices", home);
    CHECK_INT(count_entries(devices, "copy"), 0);
    CHECK_INT(count_entries(devices, ".import"), 0);
    free(devices);
    char *after = store_tree(home);
    CHECK_STR(after, before);
    free(after);
    /* With room again, the same archive imports and the device checks. */
    tmpfs_limits(used + 200ull * 1024 * 1024, 100000);
    ib_run(&r, home, "device", "add", archive, "--name", "copy4", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    ib_run(&r, home, "device", "check", "copy4", NULL);
    CHECK_MSG(r.status == 0, "%s%s", r.out, r.err);
    cmd_result_free(&r);
    free(before);
    free(before_archive);
    free(second);
    free(archive);
    free(home);
}

/* ==== guest kernel panics ==== */

TEST(init_that_cannot_start_panics_and_qemu_ends)
{
    test_set_timeout(120);
    const char *home = guest_home();
    /* rdinit and init both missing: the kernel cannot mount the root
     * (its disk driver is a module of the initramfs it did not run). */
    char *demo_cfg = xasprintf("%s/devices/demo/config.yaml", home);
    char *cfg = test_read_file(demo_cfg);
    free(demo_cfg);
    CHECK(cfg != NULL);
    char *bootargs = strstr(cfg, "  bootargs:");
    CHECK(bootargs != NULL);
    size_t head = (size_t)(bootargs - cfg);
    const char *rest = strchr(bootargs, '\n');
    char *broken = xasprintf("%.*s  bootargs: \"console=ttyAMA0 root=/dev/vda rw "
                             "rdinit=/nonexistent init=/nonexistent\"%s",
                             (int)head, cfg, rest);
    fixture_device(home, "noinit", broken);
    fixture_rootfs_from(home, "noinit", "demo");
    free(cfg), free(broken);
    char off[16];
    snprintf(off, sizeof off, "%d", guest_free_offset());
    guest_stop_at_exit(home, "noinit");
    struct cmd_result r;
    int64_t t0 = ib_now_ms();
    ib_run(&r, home, "device", "start", "noinit", "noinit", "--port-offset", off, "--wait=banner",
           "--timeout", "60", NULL);
    printf("  the start ended after %lld ms\n", (long long)(ib_now_ms() - t0));
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "died while waiting for banner: guest kernel panic: Kernel panic - "
                          "not syncing: VFS: Unable to mount root fs");
    cmd_result_free(&r);
    ib_run(&r, home, "instance", "info", "noinit", "--json", NULL);
    CHECK_INT(r.status, 0);
    json_t *j = parse_json(r.out);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "dead");
    CHECK_CONTAINS(json_string_value(json_object_get(j, "dead_reason")),
                   "guest kernel panic: Kernel panic - not syncing: VFS");
    /* The panic's lines, and the reboot (panic=1) that ended QEMU. */
    const char *last = json_string_value(json_object_get(j, "last_console"));
    CHECK_CONTAINS(last, "panic from mount_block_root");
    CHECK_CONTAINS(last, "Rebooting in 1 seconds");
    json_decref(j);
    cmd_result_free(&r);
    CHECK(!ib_path_exists(guest_run_file(home, "noinit", "")));
}

/* -no-reboot: a reboot ends the instance too, and says so. */
TEST(guest_reboot_ends_the_instance_and_says_so)
{
    test_set_timeout(120);
    const char *home = boot_shared();
    struct cmd_result r;
    ib_run(&r, home, "instance", "wait", REBOOT, "--for", "banner", "--timeout", "120", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    int pid = guest_pid_of(home, REBOOT);
    CHECK(
        guest_console_expect(home, REBOOT, "\rreboot\r", "reboot: Restarting system", 20000, NULL));
    int64_t t0 = ib_now_ms();
    while (guest_pid_alive(pid) && ib_now_ms() - t0 < 10000)
        ib_sleep_ms(50);
    CHECK(!guest_pid_alive(pid));
    ib_run(&r, home, "instance", "info", REBOOT, "--json", NULL);
    CHECK_INT(r.status, 0);
    json_t *j = parse_json(r.out);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "dead");
    CHECK_CONTAINS(json_string_value(json_object_get(j, "dead_reason")), "the guest rebooted");
    json_decref(j);
    cmd_result_free(&r);
}

/* Last: it ends the shared instance. */
TEST(sysrq_panic_shows_dead_panicked_and_qemu_does_not_spin)
{
    test_set_timeout(120);
    const char *home = shared(MAIN);
    int pid = guest_pid_of(home, MAIN);
    CHECK(pid > 0);
    char *seen = NULL;
    bool ok = guest_console_expect(home, MAIN, "\recho c > /proc/sysrq-trigger\r",
                                   "Kernel panic - not syncing", 20000, &seen);
    CHECK_MSG(ok, "no panic on the console: %.800s", seen);
    free(seen);
    /* QEMU ends by itself (panic=1, -no-reboot) instead of spinning. */
    int64_t t0 = ib_now_ms();
    while (guest_pid_alive(pid) && ib_now_ms() - t0 < 15000)
        ib_sleep_ms(50);
    CHECK_MSG(!guest_pid_alive(pid), "QEMU still runs 15 s after the panic");
    printf("  QEMU ended %lld ms after the panic was printed\n", (long long)(ib_now_ms() - t0));
    struct cmd_result r;
    ib_run(&r, home, "device", "running", "--json", NULL);
    CHECK_INT(r.status, 0);
    json_t *arr = parse_json(r.out), *in = NULL, *v;
    size_t i;
    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "name")), MAIN) == 0)
            in = v;
    }
    CHECK_MSG(in != NULL, "%s is not listed: %s", MAIN, r.out);
    CHECK_STR(json_string_value(json_object_get(in, "state")), "dead");
    CHECK_STR(json_string_value(json_object_get(in, "dead_reason")),
              "guest kernel panic: Kernel panic - not syncing: sysrq triggered crash");
    const char *last = json_string_value(json_object_get(in, "last_console"));
    CHECK_CONTAINS(last, "sysrq: Trigger a crash");
    CHECK_CONTAINS(last, "Rebooting in 1 seconds");
    json_decref(arr);
    cmd_result_free(&r);
    CHECK(!ib_path_exists(guest_run_file(home, MAIN, "")));
    int left[4];
    CHECK_INT(host_procs_with_arg(MAIN, left, 4), 0);
}
