/* unixsock.c - see unixsock.h. */
#include "core/unixsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/util.h"

int unixsock_connect(const char *path, struct ib_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int dirfd = -1;
    if (strlen(path) < sizeof sa.sun_path) {
        memcpy(sa.sun_path, path, strlen(path) + 1);
    } else {
        char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        dirfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        free(dir);
        if (dirfd < 0)
            return ib_err_sys(err, IB_EFAIL, "cannot open the folder of %s", path);
        int n = snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dirfd,
                         ib_path_base(path));
        if (n < 0 || (size_t)n >= sizeof sa.sun_path) {
            close(dirfd);
            return ib_err(err, IB_EINPUT, "socket name %s is too long", ib_path_base(path));
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (dirfd >= 0)
            close(dirfd);
        return ib_err_sys(err, IB_EFAIL, "socket");
    }
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int saved = errno;
    if (dirfd >= 0)
        close(dirfd);
    if (rc < 0) {
        close(fd);
        errno = saved;
        return ib_err_sys(err, saved == ENOENT || saved == ECONNREFUSED ? IB_ENOTFOUND : IB_EFAIL,
                          "cannot connect to %s", path);
    }
    ib_fd_set_nonblock(fd);
    return fd;
}
