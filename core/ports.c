/* ports.c - see ports.h. The holder is found the way ss(8) does: the
 * socket's inode from /proc/net/{tcp,udp}[6], then the process whose fd
 * points at socket:[inode]. */
#include "core/ports.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"

bool ports_is_free(enum config_proto proto, int port)
{
    int fd = socket(AF_INET, (proto == CONFIG_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    /* QEMU's slirp sets SO_REUSEADDR too: match it so TIME_WAIT does not
     * count as taken. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

int ports_pick_free(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* The inode of a socket bound to port in one /proc/net table. */
static unsigned long find_inode(const char *table, int port, bool tcp)
{
    FILE *f = fopen(table, "r");
    if (f == NULL)
        return 0;
    char line[512];
    unsigned long inode = 0;
    if (fgets(line, sizeof line, f) == NULL) { /* header */
        fclose(f);
        return 0;
    }
    while (inode == 0 && fgets(line, sizeof line, f)) {
        char local[128];
        unsigned state;
        unsigned long ino;
        if (sscanf(line, " %*d: %127s %*s %x %*s %*s %*s %*d %*d %lu", local, &state, &ino) != 3)
            continue;
        const char *colon = strrchr(local, ':');
        if (colon == NULL || (int)strtol(colon + 1, NULL, 16) != port)
            continue;
        if (tcp && state != 0x0A) /* LISTEN */
            continue;
        inode = ino;
    }
    fclose(f);
    return inode;
}

static pid_t find_pid_of_inode(unsigned long inode)
{
    char want[64];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return 0;
    struct dirent *pe;
    pid_t found = 0;
    while (!found && (pe = readdir(proc)) != NULL) {
        if (pe->d_name[0] < '0' || pe->d_name[0] > '9')
            continue;
        char fddir[300];
        snprintf(fddir, sizeof fddir, "/proc/%s/fd", pe->d_name);
        DIR *fds = opendir(fddir);
        if (fds == NULL)
            continue;
        struct dirent *fe;
        while ((fe = readdir(fds)) != NULL) {
            char link[600], target[128];
            snprintf(link, sizeof link, "%s/%s", fddir, fe->d_name);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strcmp(target, want) == 0) {
                found = (pid_t)atoi(pe->d_name);
                break;
            }
        }
        closedir(fds);
    }
    closedir(proc);
    return found;
}

pid_t ports_holder(enum config_proto proto, int port, char *comm, size_t cap)
{
    bool tcp = proto == CONFIG_TCP;
    const char *tables[] = {tcp ? "/proc/net/tcp" : "/proc/net/udp",
                            tcp ? "/proc/net/tcp6" : "/proc/net/udp6"};
    unsigned long inode = 0;
    for (size_t i = 0; i < 2 && inode == 0; i++)
        inode = find_inode(tables[i], port, tcp);
    pid_t pid = inode ? find_pid_of_inode(inode) : 0;
    if (comm && cap) {
        comm[0] = '\0';
        if (pid > 0) {
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
            FILE *f = fopen(path, "r");
            if (f) {
                if (fgets(comm, (int)cap, f))
                    comm[strcspn(comm, "\n")] = '\0';
                fclose(f);
            }
        }
    }
    return pid;
}
