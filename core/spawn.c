/* spawn.c - see spawn.h. */
#include "core/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"

int spawn_tool(char *const argv[], const char *errlog, struct ib_error *err)
{
    pid_t pid = fork();
    if (pid < 0)
        return ib_err_sys(err, IB_EFAIL, "fork");
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        int log = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(log >= 0 ? log : devnull, 2);
        umask(077); /* overlays and images are the owner's only */
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    char *log = NULL;
    ib_read_file(errlog, 1 << 16, &log, NULL, NULL);
    const char *text = log ? log : "";
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '\n')
        len--;
    size_t start = len;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    ib_err(err, IB_EFAIL, "%s failed: %.*s", argv[0], (int)(len - start), text + start);
    free(log);
    return -1;
}
