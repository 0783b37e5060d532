/* guest.c - see guest.h. */
#include "tests/lib/guest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ports.h"
#include "core/qga.h"
#include "core/unixsock.h"
#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/harness.h"

static char home_path[4096];

#define MAX_STARTED 32
static char started_names[MAX_STARTED][80];
static char started_homes[MAX_STARTED][4096];
static int n_started;

static void stop_all(void)
{
    for (int i = 0; i < n_started; i++) {
        struct cmd_result r;
        ib_run(&r, started_homes[i], "device", "stop", started_names[i], "--now", NULL);
        cmd_result_free(&r);
    }
    n_started = 0;
}

void guest_stop_at_exit(const char *home, const char *name)
{
    static bool registered;
    if (!registered) {
        test_on_exit(stop_all);
        registered = true;
    }
    for (int i = 0; i < n_started; i++)
        if (strcmp(started_names[i], name) == 0 && strcmp(started_homes[i], home) == 0)
            return;
    if (n_started < MAX_STARTED) {
        snprintf(started_names[n_started], sizeof started_names[0], "%s", name);
        snprintf(started_homes[n_started], sizeof started_homes[0], "%s", home);
        n_started++;
    }
}

static void must(struct cmd_result *r, const char *what)
{
    if (r->status != 0) {
        fprintf(stderr, "setup failed (%s): %s%s\n", what, r->out, r->err);
        exit(1);
    }
    cmd_result_free(r);
}

const char *guest_home(void)
{
    if (home_path[0])
        return home_path;
    snprintf(home_path, sizeof home_path, "%s", test_path("home"));
    char *stock = xasprintf("%s/build/stock", test_src_dir());
    char *path = xasprintf("%s/kernel-version", stock);
    char *version = NULL;
    if (ib_read_file(path, 64, &version, NULL, NULL) < 0) {
        fprintf(stderr, "no stock images in %s: run make stock-images\n", stock);
        exit(1);
    }
    free(path);
    version[strcspn(version, "\n")] = '\0';
    char *kname = xasprintf("virt.cortex-a15.little-%s", version);
    char *fname = xasprintf("virt.cortex-a15.little-%s.ext2", version);
    free(version);
    char *zimage = xasprintf("%s/zImage", stock), *initrd = xasprintf("%s/initrd.gz", stock);
    char *hostfs = xasprintf("%s/hostfs.ext2", stock), *demo = xasprintf("%s/demo", stock);
    char *dest = xasprintf("%s/devices/demo", home_path);
    struct cmd_result r;
    ib_run(&r, home_path, "kernel", "add", zimage, "--name", kname, "--initrd", initrd, NULL);
    must(&r, "kernel add");
    ib_run(&r, home_path, "fs", "add", hostfs, "--name", fname, NULL);
    must(&r, "fs add");
    char *cp[] = {"cp", "-a", demo, dest, NULL};
    cmd_run(cp, NULL, NULL, 60, &r);
    must(&r, "copy demo device");
    free(stock), free(kname), free(fname), free(zimage), free(initrd), free(hostfs);
    free(demo), free(dest);
    return home_path;
}

int guest_free_offset(void)
{
    for (int tries = 0; tries < 200; tries++) {
        int offset = 20000 + (int)((getpid() * 7919 + tries * 104729) % 30000);
        if (ports_is_free(CONFIG_TCP, 8080 + offset))
            return offset;
    }
    return 31000;
}

int guest_start(const char *home, const char *device, const char *name, int offset,
                const char *extra, char **err)
{
    char off[32];
    snprintf(off, sizeof off, "%d", offset);
    guest_stop_at_exit(home, name);
    struct cmd_result r;
    if (extra)
        ib_run(&r, home, "device", "start", device, name, "--port-offset", off, extra, NULL);
    else
        ib_run(&r, home, "device", "start", device, name, "--port-offset", off, NULL);
    int status = r.status;
    if (err)
        *err = xstrdup(r.err ? r.err : "");
    cmd_result_free(&r);
    return status;
}

char *guest_http_get(int port, const char *path, int timeout_ms)
{
    int64_t deadline = ib_now_ms() + timeout_ms;
    /* A slirp forward accepts even when nothing listens in the guest (EOF
     * follows), so retry until a real reply arrives. */
    while (ib_now_ms() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            char req[256];
            int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
            (void)!write(fd, req, (size_t)n);
            size_t cap = 65536, len = 0;
            char *buf = xmalloc(cap);
            struct pollfd pf = {fd, POLLIN, 0};
            while (poll(&pf, 1, 2000) > 0) {
                ssize_t r = read(fd, buf + len, cap - len - 1);
                if (r <= 0)
                    break;
                len += (size_t)r;
                if (len + 1 >= cap)
                    break;
            }
            close(fd);
            buf[len] = '\0';
            if (len > 0)
                return buf;
            free(buf);
        } else {
            close(fd);
        }
        ib_sleep_ms(200);
    }
    return NULL;
}

bool guest_demod_answers(int port, int timeout_ms)
{
    char *page = guest_http_get(port, "/status", timeout_ms);
    bool ok = page != NULL && strstr(page, "200 OK") != NULL;
    free(page);
    return ok;
}

int guest_http_get_in_child(int port)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *page = guest_http_get(port, "/", 60000);
        _exit(page && strstr(page, "200 OK") ? 0 : 1);
    }
    return (int)pid;
}

bool guest_child_ok(int pid, int timeout_ms)
{
    int st;
    int64_t end = ib_now_ms() + timeout_ms;
    while (ib_now_ms() < end) {
        pid_t w = waitpid((pid_t)pid, &st, WNOHANG);
        if (w == (pid_t)pid)
            return WIFEXITED(st) && WEXITSTATUS(st) == 0;
        ib_sleep_ms(50);
    }
    kill((pid_t)pid, SIGKILL);
    waitpid((pid_t)pid, &st, 0);
    return false;
}

const char *guest_run_file(const char *home, const char *name, const char *file)
{
    static char ring[4][4096];
    static int next;
    char *buf = ring[next++ % 4];
    snprintf(buf, sizeof ring[0], "%s/run/%s/%s", home, name, file);
    return buf;
}

bool guest_console_expect(const char *home, const char *name, const char *input,
                          const char *want, int timeout_ms, char **seen)
{
    int fd = unixsock_connect(guest_run_file(home, name, "console.sock"), NULL);
    if (fd < 0)
        return false;
    if (input)
        (void)!write(fd, input, strlen(input));
    size_t cap = 1 << 16, len = 0;
    char *buf = xmalloc(cap);
    buf[0] = '\0';
    bool found = false;
    int64_t deadline = ib_now_ms() + timeout_ms;
    while (!found && ib_now_ms() < deadline) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        char chunk[4096];
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r <= 0)
            break;
        /* Keep the last bytes only: a chatty guest must not grow this. */
        if (len + (size_t)r + 1 > cap) {
            size_t keep = cap / 2;
            memmove(buf, buf + len - keep, keep);
            len = keep;
        }
        memcpy(buf + len, chunk, (size_t)r);
        len += (size_t)r;
        buf[len] = '\0';
        found = strstr(buf, want) != NULL;
    }
    close(fd);
    if (seen)
        *seen = buf;
    else
        free(buf);
    return found;
}

int guest_pid_of(const char *home, const char *name)
{
    char *text = NULL;
    if (ib_read_file(guest_run_file(home, name, "qemu.pid"), 64, &text, NULL, NULL) < 0)
        return 0;
    int pid = atoi(text);
    free(text);
    return pid;
}

bool guest_pid_alive(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    char *text = NULL;
    if (pid <= 0 || ib_read_file(path, 4096, &text, NULL, NULL) < 0)
        return false;
    /* state is the field after "(comm)" */
    const char *paren = strrchr(text, ')');
    bool alive = paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
    free(text);
    return alive;
}

char *guest_sh(const char *home, const char *name, const char *command, int *status)
{
    const char *argv[] = {"/bin/sh", "-c", command, NULL};
    struct qga_exec_result res;
    struct ib_error err = {0};
    if (qga_exec_sync(guest_run_file(home, name, "qga.sock"), argv, NULL, 0, 20000, &res, &err)
        < 0) {
        fprintf(stderr, "guest_sh(%s): %s\n", command, err.msg);
        return NULL;
    }
    if (status)
        *status = res.exit_code;
    char *out = res.out ? res.out : xstrdup("");
    res.out = NULL;
    qga_exec_result_free(&res);
    return out;
}
