/*
 * cmd_console.c - `iotbench instance console NAME`: the serial console in
 * this terminal, like `virsh console`, but the guest's bytes go through
 * core/termfilter first (no title changes, no clipboard writes, no DCS),
 * and the console socket is drained continuously (an unread console
 * freezes the guest).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/instance.h"
#include "core/lockfile.h"
#include "core/termfilter.h"
#include "core/unixsock.h"
#include "core/util.h"

#define DETACH_KEY 0x1d /* Ctrl-] */
#define REPLAY_BYTES 16384

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
    if (tio_saved)
        tcsetattr(0, TCSAFLUSH, &saved_tio);
}

static void raw_tty(void)
{
    if (!isatty(0) || tcgetattr(0, &saved_tio) < 0)
        return;
    tio_saved = true;
    atexit(restore_tty);
    struct termios raw = saved_tio;
    cfmakeraw(&raw);
    tcsetattr(0, TCSAFLUSH, &raw);
}

static void write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            struct pollfd pf = {fd, POLLOUT, 0};
            poll(&pf, 1, 100);
            continue;
        }
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void write_filtered(struct termfilter *tf, const unsigned char *buf, size_t n)
{
    unsigned char out[8192 + TERMFILTER_SLACK];
    while (n > 0) {
        size_t chunk = n > 8192 ? 8192 : n;
        size_t m = termfilter_feed(tf, buf, chunk, out);
        write_all(1, out, m);
        buf += chunk;
        n -= chunk;
    }
}

/* The end of console.log, from a line start, so the screen has context. */
static void replay_log(const char *path, struct termfilter *tf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat sb;
    if (fstat(fd, &sb) == 0) {
        off_t from = sb.st_size > REPLAY_BYTES ? sb.st_size - REPLAY_BYTES : 0;
        unsigned char *buf = xmalloc(REPLAY_BYTES);
        ssize_t n = pread(fd, buf, REPLAY_BYTES, from);
        if (n > 0) {
            size_t skip = 0;
            if (from > 0)
                while (skip < (size_t)n && buf[skip++] != '\n')
                    ;
            write_filtered(tf, buf + skip, (size_t)n - skip);
        }
        free(buf);
    }
    close(fd);
}

/* Copies until the user detaches or the guest goes away. */
static int proxy(int sock, struct termfilter *tf)
{
    struct pollfd pf[2] = {{0, POLLIN, 0}, {sock, POLLIN, 0}};
    unsigned char buf[8192];
    for (;;) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (pf[1].revents) {
            ssize_t n = read(sock, buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return 1; /* QEMU closed the console: the instance stopped */
            if (n > 0)
                write_filtered(tf, buf, (size_t)n);
        }
        if (pf[0].revents) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n <= 0)
                return 0;
            unsigned char *detach = memchr(buf, DETACH_KEY, (size_t)n);
            if (detach) {
                write_all(sock, buf, (size_t)(detach - buf));
                return 0;
            }
            write_all(sock, buf, (size_t)n);
        }
    }
}

int cli_console_run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv);

int cli_console_run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *no_replay = NULL;
    const struct cli_opt opts[] = {{"--no-replay", false, &no_replay}, {NULL, false, NULL}};
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    struct store *st = cli_store(ctx);
    struct instance_info info;
    if (st == NULL || instance_get(st, pos[0], &info, &ctx->err) < 0)
        return -1;
    if (info.state == INSTANCE_DEAD) {
        ib_err(&ctx->err, IB_EFAIL, "instance %s is dead: %s", info.name, info.dead_reason);
        instance_info_free(&info);
        return -1;
    }
    char *lock = ib_path_join(info.dir, "console.lock");
    int lockfd = -1;
    rc = lockfile_take(lock, 0, &lockfd, NULL, &ctx->err);
    free(lock);
    int sock = rc == 0 ? unixsock_connect(info.console_sock, &ctx->err) : -1;
    if (rc < 0 || sock < 0) {
        if (rc < 0)
            ib_err_prefix(&ctx->err, "the console of %s is in use: ", info.name);
        lockfile_release(lockfd);
        instance_info_free(&info);
        return -1;
    }
    struct termfilter tf;
    termfilter_init(&tf);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "[console of %s; detach with Ctrl-]]\r\n", info.name);
    raw_tty();
    if (!no_replay)
        replay_log(info.console_log, &tf);
    int end = proxy(sock, &tf);
    restore_tty();
    fprintf(stderr, "\n[%s]\n", end == 1 ? "the instance closed its console" : "detached");
    close(sock);
    lockfile_release(lockfd);
    instance_info_free(&info);
    return 0;
}
