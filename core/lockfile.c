/* lockfile.c - see lockfile.h. flock locks vanish with their holder, so a
 * killed TUI never leaves a console locked. */
#include "core/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/util.h"

static pid_t read_holder(int fd)
{
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (pid_t)atoi(buf);
}

static void holder_comm(pid_t pid, char *comm, size_t cap)
{
    comm[0] = '\0';
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(comm, (int)cap, f))
            comm[strcspn(comm, "\n")] = '\0';
        fclose(f);
    }
}

int lockfile_take(const char *path, int timeout_ms, int *fd_out, pid_t *holder,
                  struct ib_error *err)
{
    if (holder)
        *holder = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return ib_err_sys(err, IB_EFAIL, "cannot open %s", path);
    int64_t deadline = ib_now_ms() + timeout_ms;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            close(fd);
            return ib_err_sys(err, IB_EFAIL, "cannot lock %s", path);
        }
        if (ib_now_ms() >= deadline) {
            pid_t pid = read_holder(fd);
            close(fd);
            if (holder)
                *holder = pid;
            char comm[64] = "";
            if (pid > 0)
                holder_comm(pid, comm, sizeof comm);
            return ib_err(err, IB_ECONFLICT, "held by pid %d%s%s%s", (int)pid,
                          comm[0] ? " (" : "", comm, comm[0] ? ")" : "");
        }
        ib_sleep_ms(5);
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) == 0)
        (void)!pwrite(fd, buf, (size_t)n, 0);
    *fd_out = fd;
    return 0;
}

void lockfile_release(int fd)
{
    if (fd < 0)
        return;
    /* Clear the pid first so nobody names a holder that has let go. */
    if (ftruncate(fd, 0) < 0) {
        /* nothing to do: the lock goes with the close anyway */
    }
    flock(fd, LOCK_UN);
    close(fd);
}
