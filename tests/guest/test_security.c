/*
 * test_security.c - security promises checked against real guests:
 *
 * - forwards (tcp and udp), QEMU's gdbstub and the gdbserver forward listen
 *   on 127.0.0.1 only: read from the sockets QEMU's pid holds, and tried
 *   from another address through a network namespace when `ip` can make one;
 * - runtime folders and warm states: folders 0700, every file 0600;
 * - no config value and no name reaches a shell: a device whose every string
 *   holds shell syntax starts (or fails cleanly) and no canary file appears,
 *   on the host or in the guest; a warm state saved and restored under a
 *   store path and alias full of quotes and $(...) works;
 * - iotbench needs no root: as nobody, a demo instance with user-mode
 *   networking and a mapped-xattr 9P share reaches its banner.
 *
 * (The unit side, tests/unit/test_security.c, checks the argv and scans the
 * sources for shells.)
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/debugger.h"
#include "core/guestproc.h"
#include "core/instance.h"
#include "core/store.h"
#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/guest.h"
#include "tests/lib/harness.h"

#define SEC_NAME "sec"
#define SEC_CONFIG                                                                                 \
    "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n    memory: 256M\n"               \
    "  bootargs: \"console=ttyAMA0 root=/dev/vda rw\"\n  drive_type: virtio\n"                     \
    "  network:\n    nic0: user\n  redirect:\n    nic0:\n      http: tcp,8080,80\n"                \
    "      dns: udp,8053,53\n"

/* ---- devices and the shared instance ---- */

static int sec_offset = -1;

/* home/devices/alias: config, and a copy of the demo's rootfs. */
static void make_device(const char *home, const char *alias, const char *config)
{
    char *dir = xasprintf("%s/devices/%s", home, alias);
    char *src = xasprintf("%s/devices/demo/rootfs", home);
    char *cfg = xasprintf("%s/config.yaml", dir);
    if (ib_mkdir_p(dir, 0755, NULL) < 0)
        abort();
    char *cp[] = {"cp", "-a", src, dir, NULL};
    struct cmd_result r;
    cmd_run(cp, NULL, NULL, 60, &r);
    if (r.status != 0) {
        fprintf(stderr, "cannot copy the demo rootfs: %s\n", r.err);
        exit(1);
    }
    cmd_result_free(&r);
    test_write_file(cfg, config);
    free(dir), free(src), free(cfg);
}

/* "sec": a demo with a tcp and a udp forward, QEMU's gdbstub, demod running. */
static const char *sec_home(void)
{
    const char *home = guest_home();
    if (sec_offset >= 0)
        return home;
    make_device(home, "secdev", SEC_CONFIG);
    sec_offset = guest_free_offset();
    char off[16];
    snprintf(off, sizeof off, "%d", sec_offset);
    guest_stop_at_exit(home, SEC_NAME);
    struct cmd_result r;
    ib_run(&r, home, "device", "start", "secdev", SEC_NAME, "--port-offset", off, "--gdbstub",
           "--target", "--wait=agent", "--timeout", "240", NULL);
    if (r.status != 0) {
        fprintf(stderr, "cannot boot the shared instance: %s\n", r.err);
        exit(1);
    }
    cmd_result_free(&r);
    return home;
}

static void open_instance(const char *home, const char *name, struct store *st,
                          struct instance_info *info)
{
    struct ib_error err = {0};
    if (store_open(st, home, &err) < 0 || instance_get(st, name, info, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

/* ---- listening sockets of a process ---- */

struct listener {
    char proto[5];
    char addr[INET6_ADDRSTRLEN];
    int port;
};

static bool inode_of(const unsigned long *inodes, size_t n, unsigned long inode)
{
    for (size_t i = 0; i < n; i++)
        if (inodes[i] == inode)
            return true;
    return false;
}

/* The socket inodes a pid holds open. */
static size_t socket_inodes(int pid, unsigned long *out, size_t cap)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
    DIR *d = opendir(dir);
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL && n < cap;) {
        char link[512], target[128];
        snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        unsigned long inode;
        if (sscanf(target, "socket:[%lu]", &inode) == 1)
            out[n++] = inode;
    }
    if (d)
        closedir(d);
    return n;
}

static void decode_addr(const char *hex, bool v6, char *out)
{
    if (!v6) {
        struct in_addr a = {.s_addr = (uint32_t)strtoul(hex, NULL, 16)};
        inet_ntop(AF_INET, &a, out, INET6_ADDRSTRLEN);
        return;
    }
    struct in6_addr a;
    for (int w = 0; w < 4; w++) {
        char word[9];
        memcpy(word, hex + 8 * w, 8);
        word[8] = '\0';
        uint32_t v = (uint32_t)strtoul(word, NULL, 16);
        memcpy(&a.s6_addr[4 * w], &v, 4);
    }
    inet_ntop(AF_INET6, &a, out, INET6_ADDRSTRLEN);
}

/* TCP sockets in LISTEN and every UDP socket of pid, from /proc/PID/net. */
static size_t listeners_of(int pid, struct listener *out, size_t cap)
{
    unsigned long inodes[512];
    size_t n_inodes = socket_inodes(pid, inodes, 512), n = 0;
    static const char *const tables[] = {"tcp", "tcp6", "udp", "udp6"};
    for (size_t t = 0; t < 4; t++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/net/%s", pid, tables[t]);
        char *text = NULL;
        if (ib_read_file(path, 16u << 20, &text, NULL, NULL) < 0)
            continue;
        bool udp = tables[t][0] == 'u', v6 = tables[t][3] == '6';
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char local[64];
            unsigned st;
            unsigned long inode;
            if (sscanf(line, " %*d: %63s %*s %x %*s %*s %*s %*u %*u %lu", local, &st, &inode) != 3)
                continue;
            if (!inode_of(inodes, n_inodes, inode) || (!udp && st != 0x0A) || n == cap)
                continue;
            char *colon = strrchr(local, ':');
            if (colon == NULL)
                continue;
            *colon = '\0';
            struct listener *l = &out[n++];
            snprintf(l->proto, sizeof l->proto, "%s", tables[t]);
            decode_addr(local, v6, l->addr);
            l->port = (int)strtol(colon + 1, NULL, 16);
        }
        free(text);
    }
    return n;
}

static bool loopback(const char *addr)
{
    return strcmp(addr, "127.0.0.1") == 0 || strcmp(addr, "::1") == 0 ||
           strcmp(addr, "::ffff:127.0.0.1") == 0;
}

static bool has_listener(const struct listener *ls, size_t n, const char *proto, int port)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(ls[i].proto, proto, 3) == 0 && ls[i].port == port)
            return true;
    return false;
}

/* ---- another address: a network namespace on a veth pair ---- */

static char ns_name[32], veth_a[16], veth_b[16];
static int ns_subnet;

static int ip(const char *a0, ...)
{
    char *argv[24] = {"ip", (char *)a0};
    size_t n = 2;
    va_list ap;
    va_start(ap, a0);
    for (char *a; n < 23 && (a = va_arg(ap, char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    struct cmd_result r;
    cmd_run(argv, NULL, NULL, 20, &r);
    int st = r.status;
    if (st != 0)
        printf("  ip %s ...: %s", a0, r.err);
    cmd_result_free(&r);
    return st;
}

static void ns_cleanup(void)
{
    if (ns_name[0] == '\0')
        return;
    struct cmd_result r;
    char *del[] = {"ip", "netns", "del", ns_name, NULL};
    cmd_run(del, NULL, NULL, 20, &r);
    cmd_result_free(&r);
    char *link[] = {"ip", "link", "del", veth_a, NULL};
    cmd_run(link, NULL, NULL, 20, &r);
    cmd_result_free(&r);
    ns_name[0] = '\0';
}

/* A namespace at 10.213.N.2 (fd00:1b5e:N::2) whose peer in ours is .1 (::1);
 * NULL and *why when this machine cannot make one. */
static bool ns_make(char *why, size_t cap)
{
    struct cmd_result r;
    char *probe[] = {"ip", "-V", NULL};
    cmd_run(probe, NULL, NULL, 10, &r);
    int st = r.status;
    cmd_result_free(&r);
    if (st != 0) {
        snprintf(why, cap, "`ip` (iproute2) is not installed");
        return false;
    }
    int id = (int)(getpid() % 100000);
    snprintf(ns_name, sizeof ns_name, "ibsec%d", id);
    snprintf(veth_a, sizeof veth_a, "ibsa%d", id);
    snprintf(veth_b, sizeof veth_b, "ibsb%d", id);
    ns_subnet = 20 + id % 200;
    test_on_exit(ns_cleanup);
    if (ip("netns", "add", ns_name, NULL) != 0) {
        snprintf(why, cap, "`ip netns add` failed (no privilege for network namespaces?)");
        ns_name[0] = '\0';
        return false;
    }
    char a4[32], b4[32], a6[48], b6[48];
    snprintf(a4, sizeof a4, "10.213.%d.1/30", ns_subnet);
    snprintf(b4, sizeof b4, "10.213.%d.2/30", ns_subnet);
    snprintf(a6, sizeof a6, "fd00:1b5e:%d::1/64", ns_subnet);
    snprintf(b6, sizeof b6, "fd00:1b5e:%d::2/64", ns_subnet);
    if (ip("link", "add", veth_a, "type", "veth", "peer", "name", veth_b, NULL) != 0 ||
        ip("link", "set", veth_b, "netns", ns_name, NULL) != 0 ||
        ip("addr", "add", a4, "dev", veth_a, NULL) != 0 ||
        ip("-6", "addr", "add", a6, "dev", veth_a, "nodad", NULL) != 0 ||
        ip("link", "set", veth_a, "up", NULL) != 0 ||
        ip("-n", ns_name, "addr", "add", b4, "dev", veth_b, NULL) != 0 ||
        ip("-n", ns_name, "-6", "addr", "add", b6, "dev", veth_b, "nodad", NULL) != 0 ||
        ip("-n", ns_name, "link", "set", veth_b, "up", NULL) != 0 ||
        ip("-n", ns_name, "link", "set", "lo", "up", NULL) != 0) {
        snprintf(why, cap, "cannot set up a veth pair into the namespace");
        ns_cleanup();
        return false;
    }
    return true;
}

enum { PROBE_CONNECTED = 0, PROBE_REFUSED = 1, PROBE_OTHER = 2 };

/* From inside the namespace: connects (tcp) or sends a datagram (udp) to
 * our side of the pair; PROBE_REFUSED when nothing listens on that address. */
static int ns_probe(bool v6, bool udp, int port)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        char path[64];
        snprintf(path, sizeof path, "/run/netns/%s", ns_name);
        int nsfd = open(path, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
            _exit(3);
        struct sockaddr_storage ss = {0};
        socklen_t len;
        char host[48];
        if (v6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            snprintf(host, sizeof host, "fd00:1b5e:%d::1", ns_subnet);
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons((uint16_t)port);
            inet_pton(AF_INET6, host, &s6->sin6_addr);
            len = sizeof *s6;
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            snprintf(host, sizeof host, "10.213.%d.1", ns_subnet);
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)port);
            inet_pton(AF_INET, host, &s4->sin_addr);
            len = sizeof *s4;
        }
        int fd = socket(ss.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
        if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
            _exit(errno == ECONNREFUSED ? PROBE_REFUSED : PROBE_OTHER);
        if (udp && send(fd, "probe", 5, 0) != 5)
            _exit(errno == ECONNREFUSED ? PROBE_REFUSED : PROBE_OTHER);
        struct pollfd p = {fd, udp ? POLLIN : POLLOUT, 0};
        int n = poll(&p, 1, 2000);
        if (udp) {
            char b[16];
            /* An ICMP port-unreachable comes back as ECONNREFUSED. */
            if (n > 0 && recv(fd, b, sizeof b, 0) < 0 && errno == ECONNREFUSED)
                _exit(PROBE_REFUSED);
            _exit(n == 0 ? PROBE_CONNECTED : PROBE_OTHER); /* silence: someone took it */
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (n > 0 && soerr == 0)
            _exit(PROBE_CONNECTED);
        _exit(soerr == ECONNREFUSED ? PROBE_REFUSED : PROBE_OTHER);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : PROBE_OTHER;
}

/* A listener of ours on every address, to prove the namespace reaches us. */
static int any_listener(int family, int type, int *port)
{
    int fd = socket(family, type | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss = {0};
    socklen_t len = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    ss.ss_family = (sa_family_t)family;
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || (type == SOCK_STREAM && listen(fd, 4) < 0))
        return -1;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                     : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* ---- the tests ---- */

TEST(forwards_gdbstub_and_gdbserver_listen_on_loopback_only)
{
    test_set_timeout(400);
    const char *home = sec_home();
    struct store st;
    struct instance_info info;
    open_instance(home, SEC_NAME, &st, &info);
    CHECK(info.gdbstub_port > 0);

    /* gdbserver on demod, through the forward the debugger adds. */
    struct guestproc_snapshot snap;
    struct ib_error err = {0};
    int demod = -1;
    CHECK_MSG(guestproc_list_sync(info.qga_sock, 20000, &snap, &err) == 0, "%s", err.msg);
    guestproc_find_one(&snap, "demod", &demod, NULL);
    guestproc_snapshot_free(&snap);
    CHECK_MSG(demod > 0, "demod is not running in the guest");
    struct debugger *d = NULL;
    CHECK_MSG(debugger_attach(&st, &info, demod, NULL, &d, &err) == 0, "%s", err.msg);
    int gdbserver_port = debugger_port(d);

    struct listener ls[64];
    size_t n = listeners_of(info.pid, ls, 64);
    char seen[2048] = "";
    bool all_loopback = true;
    for (size_t i = 0; i < n; i++) {
        snprintf(seen + strlen(seen), sizeof seen - strlen(seen), " %s %s:%d", ls[i].proto,
                 ls[i].addr, ls[i].port);
        all_loopback &= loopback(ls[i].addr);
    }
    printf("  QEMU (pid %d) listens on:%s\n", (int)info.pid, seen);
    int http = 8080 + sec_offset, dns = 8053 + sec_offset;
    bool found = has_listener(ls, n, "tcp", http) && has_listener(ls, n, "udp", dns) &&
                 has_listener(ls, n, "tcp", info.gdbstub_port) &&
                 has_listener(ls, n, "tcp", gdbserver_port);

    /* And from another address. */
    char why[200];
    int refused = 0, probes = 0;
    char probe_log[512] = "";
    bool made = ns_make(why, sizeof why);
    if (made) {
        int tport, uport, t6port;
        int tfd = any_listener(AF_INET, SOCK_STREAM, &tport);
        int ufd = any_listener(AF_INET, SOCK_DGRAM, &uport);
        int t6fd = any_listener(AF_INET6, SOCK_STREAM, &t6port);
        int c1 = ns_probe(false, false, tport), c2 = ns_probe(true, false, t6port);
        int c3 = ns_probe(false, true, uport);
        struct pollfd pu = {ufd, POLLIN, 0};
        bool datagram = poll(&pu, 1, 2000) == 1;
        close(tfd), close(ufd), close(t6fd);
        CHECK_MSG(c1 == PROBE_CONNECTED && c2 == PROBE_CONNECTED && c3 == PROBE_CONNECTED &&
                      datagram,
                  "the namespace cannot reach a listener on every address (%d %d %d %d): the "
                  "check would prove nothing",
                  c1, c2, c3, datagram);
        const struct {
            bool udp;
            int port;
        } targets[] = {
            {false, http}, {true, dns}, {false, info.gdbstub_port}, {false, gdbserver_port}};
        for (size_t i = 0; i < IB_ARRAY_LEN(targets); i++) {
            for (int v6 = 0; v6 < 2; v6++) {
                int rc = ns_probe(v6, targets[i].udp, targets[i].port);
                probes++;
                refused += rc == PROBE_REFUSED;
                snprintf(probe_log + strlen(probe_log), sizeof probe_log - strlen(probe_log),
                         " %s%s:%d=%s", targets[i].udp ? "udp" : "tcp", v6 ? "6" : "",
                         targets[i].port, rc == PROBE_REFUSED ? "refused" : "REACHED");
            }
        }
        printf("  from namespace %s (10.213.%d.2, fd00:1b5e:%d::2):%s\n", ns_name, ns_subnet,
               ns_subnet, probe_log);
        ns_cleanup();
    } else {
        printf("  SKIPPED the check from another address: %s; the listening sockets were "
               "checked only\n",
               why);
    }
    int gdbstub_port = info.gdbstub_port;
    CHECK_MSG(debugger_detach(d, &err) == 0, "%s", err.msg);
    instance_info_free(&info);
    store_close(&st);
    CHECK_MSG(all_loopback, "QEMU listens beyond loopback:%s", seen);
    CHECK_MSG(found, "missing among QEMU's listeners (tcp %d, udp %d, gdbstub %d, gdbserver %d):%s",
              http, dns, gdbstub_port, gdbserver_port, seen);
    CHECK_MSG(refused == probes, "reachable from another address:%s", probe_log);
}

/* ---- private files ---- */

static char private_bad[4096];
static int private_count;

static int private_visit(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
    (void)flag, (void)f;
    private_count++;
    if (!S_ISLNK(sb->st_mode) && (sb->st_mode & 077) != 0)
        snprintf(private_bad + strlen(private_bad), sizeof private_bad - strlen(private_bad),
                 "\n    %o %s", (unsigned)(sb->st_mode & 07777), path);
    return 0;
}

/* Everything under root (root included) that others may read or enter;
 * "" when all is private. */
static const char *open_to_others(const char *root)
{
    private_bad[0] = '\0';
    private_count = 0;
    if (nftw(root, private_visit, 32, FTW_PHYS) < 0)
        snprintf(private_bad, sizeof private_bad, "cannot walk %s", root);
    return private_bad;
}

TEST(runtime_folders_0700_and_every_file_0600)
{
    test_set_timeout(300);
    const char *home = sec_home();
    char *run = xasprintf("%s/run", home);
    struct stat sb;
    CHECK(stat(run, &sb) == 0);
    CHECK_INT(sb.st_mode & 0777, 0700);
    char *dir = xasprintf("%s/%s", run, SEC_NAME);
    const char *bad = open_to_others(dir);
    CHECK_MSG(private_count >= 8, "only %d entries in %s", private_count, dir);
    CHECK_MSG(bad[0] == '\0', "open to others in the runtime folder:%s", bad);
    free(dir);
    free(run);
}

/* ---- shells ---- */

/* Files whose names start "ibcanary" in dir (recursively when deep). */
static void canaries_in(const char *dir, bool deep, char *found, size_t cap)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *path = xasprintf("%s/%s", dir, e->d_name);
        if (strncmp(e->d_name, "ibcanary", 8) == 0)
            snprintf(found + strlen(found), cap - strlen(found), " %s", path);
        if (deep && e->d_type == DT_DIR)
            canaries_in(path, true, found, cap);
        free(path);
    }
    if (d)
        closedir(d);
}

static void remove_stale_canaries(void)
{
    const char *dirs[] = {"/", "/tmp"};
    for (size_t i = 0; i < 2; i++) {
        DIR *d = opendir(dirs[i]);
        for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
            if (strncmp(e->d_name, "ibcanary", 8) == 0) {
                char *p = xasprintf("%s/%s", strcmp(dirs[i], "/") ? dirs[i] : "", e->d_name);
                unlink(p);
                free(p);
            }
        }
        if (d)
            closedir(d);
    }
}

/* Canaries on the host: /, /tmp, the working folder, the whole home. */
static void host_canaries(const char *home, char *found, size_t cap)
{
    found[0] = '\0';
    canaries_in("/", false, found, cap);
    canaries_in("/tmp", false, found, cap);
    canaries_in(".", false, found, cap);
    canaries_in(home, true, found, cap);
}

#define META_BOOTARGS                                                                              \
    "console=ttyAMA0 root=/dev/vda rw ib.a=$(touch${IFS}/tmp/ibcanary-boot1) "                     \
    "ib.b=`touch${IFS}/tmp/ibcanary-boot2`;touch${IFS}/tmp/ibcanary-boot3|x&y'q\"z"
#define META_SD "sd $(touch ibcanary-sd);'`\""
/* Instance names are plain words (they go into QEMU's -name, and name the
 * process): shell syntax there is refused, cleanly. */
#define META_INSTANCE "meta-1"
#define META_BAD_INSTANCE "in's $(touch ibcanary-inst) `touch ibcanary-inst2` ;x"

/* s as a single-quoted YAML scalar (a quote inside is written twice). */
static char *yaml_sq(const char *s)
{
    char *out = xmalloc(2 * strlen(s) + 3), *o = out;
    *o++ = '\'';
    for (; *s; s++) {
        if (*s == '\'')
            *o++ = '\'';
        *o++ = *s;
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/* Every string a config holds, with shell syntax in it. */
static char *meta_config(void)
{
    char *boot = yaml_sq(META_BOOTARGS), *sd = yaml_sq(META_SD);
    char *text =
        xasprintf("version: \"1.0\"\n"
                  "device:\n"
                  "  name: \"$(touch /tmp/ibcanary-name1) `touch /tmp/ibcanary-name2`; touch "
                  "/tmp/ibcanary-name3 | x & 'q'\"\n"
                  "  machine:\n    cpu: cortex-a15\n    memory: 256M\n"
                  "  bootargs: %s\n"
                  "  drive_type: virtio\n"
                  "  sd: %s\n"
                  "  network:\n    \"nic0 $(touch ibcanary-nic)\": user\n"
                  "  redirect:\n    \"nic0 $(touch ibcanary-nic)\":\n"
                  "      \"http;touch ibcanary-rule\": tcp,8080,80\n",
                  boot, sd);
    free(boot);
    free(sd);
    return text;
}

/* QEMU's argument after opt in /proc/PID/cmdline, malloc'd, or NULL. */
static char *qemu_arg(int pid, const char *opt)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    char *cmd = NULL;
    size_t len = 0;
    if (ib_read_file(path, 1 << 20, &cmd, &len, NULL) < 0)
        return NULL;
    char *val = NULL;
    for (size_t i = 0; i < len && val == NULL;) {
        size_t n = strlen(cmd + i);
        if (strcmp(cmd + i, opt) == 0 && i + n + 1 < len)
            val = xstrdup(cmd + i + n + 1);
        i += n + 1;
    }
    free(cmd);
    return val;
}

/* A device whose config makes the start fail; it must fail cleanly. Its
 * folder has the stock kernel and hostfs as zImage and hostfs.ext2. */
static void start_fails_cleanly(const char *home, const char *alias, const char *config)
{
    make_device(home, alias, config);
    const char *kinds[] = {"kernels", "hostfs"}, *names[] = {"zImage", "hostfs.ext2"};
    for (size_t i = 0; i < 2; i++) {
        char *dir = xasprintf("%s/%s", home, kinds[i]);
        DIR *d = opendir(dir);
        struct dirent *e = NULL;
        while (d && (e = readdir(d)) != NULL && e->d_name[0] == '.')
            ;
        if (e != NULL) {
            char *target = xasprintf("%s/%s", dir, e->d_name);
            char *link = xasprintf("%s/devices/%s/%s", home, alias, names[i]);
            if (symlink(target, link) < 0)
                abort();
            free(target), free(link);
        }
        if (d)
            closedir(d);
        free(dir);
    }
    struct cmd_result r;
    ib_run(&r, home, "device", "start", alias, "failing", "--port-offset", "0", NULL);
    printf("  %s: status %d: %s", alias, r.status, r.err);
    CHECK_MSG(r.status != 0 && r.err && strlen(r.err) > 10,
              "device %s started, or failed without a message", alias);
    cmd_result_free(&r);
    CHECK_MSG(!ib_path_exists(guest_run_file(home, "failing", "")),
              "device %s left a runtime folder", alias);
}

TEST(shell_syntax_in_every_config_string_runs_nothing)
{
    test_set_timeout(400);
    const char *home = guest_home();
    remove_stale_canaries();
    char *config = meta_config();
    make_device(home, "meta", config);
    free(config);
    char *card = xasprintf("%s/devices/meta/%s/hello.txt", home, META_SD);
    test_write_file(card, "sd card\n");
    free(card);
    int offset = guest_free_offset();
    char off[16];
    snprintf(off, sizeof off, "%d", offset);
    guest_stop_at_exit(home, META_INSTANCE);
    struct cmd_result r;
    ib_run(&r, home, "device", "start", "meta", META_INSTANCE, "--port-offset", off, "--wait=agent",
           "--timeout", "240", NULL);
    CHECK_MSG(r.status == 0, "the device did not start: %s", r.err);
    cmd_result_free(&r);

    /* The bootargs reached QEMU as one argument, and the guest's kernel as
     * they are. */
    int pid = guest_pid_of(home, META_INSTANCE);
    char *append = qemu_arg(pid, "-append");
    CHECK_MSG(append && strncmp(append, META_BOOTARGS " iotbench.guestfs=virtfs",
                                strlen(META_BOOTARGS " iotbench.guestfs=virtfs")) == 0,
              "-append %s", append ? append : "(none)");
    free(append);
    int status = -1;
    char *cmdline = guest_sh(home, META_INSTANCE, "cat /proc/cmdline", &status);
    CHECK_CONTAINS(cmdline, META_BOOTARGS);
    free(cmdline);
    char *guest = guest_sh(home, META_INSTANCE,
                           "ls -d /ibcanary* /tmp/ibcanary* /target/ibcanary* /target/tmp/"
                           "ibcanary* /run/ibcanary* 2>/dev/null; echo end",
                           &status);
    CHECK_STR(guest, "end\n");
    free(guest);

    char found[2048];
    host_canaries(home, found, sizeof found);
    CHECK_MSG(found[0] == '\0', "a command ran on the host:%s", found);
    ib_run(&r, home, "device", "running", NULL);
    CHECK_CONTAINS(r.out, "running");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "stop", META_INSTANCE, "--now", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    CHECK(!guest_pid_alive(pid));

    ib_run(&r, home, "device", "start", "meta", META_BAD_INSTANCE, NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "instance name");
    cmd_result_free(&r);
    CHECK(!ib_path_exists(guest_run_file(home, META_BAD_INSTANCE, "")));

    /* What QEMU or the resolver refuses: refused with a message. */
    start_fails_cleanly(home, "metacpu",
                        "version: \"1.0\"\ndevice:\n  machine:\n    cpu: 'cortex-a15;touch "
                        "ibcanary-cpu $(touch ibcanary-cpu2)'\n  bootargs: x\n");
    /* With its own kernel and hostfs the resolver lets it through: QEMU refuses. */
    start_fails_cleanly(home, "metaqemu",
                        "version: \"1.0\"\ndevice:\n  machine:\n    cpu: 'cortex-a15;touch "
                        "ibcanary-qemu $(touch ibcanary-qemu2)'\n  kernel: zImage\n"
                        "  hostfs: hostfs.ext2\n  bootargs: x\n");
    start_fails_cleanly(home, "metaplat",
                        "version: \"1.0\"\ndevice:\n  machine:\n    platform: 'virt;touch "
                        "ibcanary-plat'\n    cpu: cortex-a15\n  bootargs: x\n");
    start_fails_cleanly(home, "metakernel",
                        "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                        "  kernel: 'k $(touch ibcanary-kernel)'\n  bootargs: x\n");
    start_fails_cleanly(home, "metatap",
                        "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                        "  bootargs: x\n  network:\n    nic0: 'tap,tap0;touch ibcanary-tap'\n");
    host_canaries(home, found, sizeof found);
    CHECK_MSG(found[0] == '\0', "a command ran on the host:%s", found);
}

/* The migration URIs ("exec:cat > '...'" to save, "exec:cat '...'" to
 * restore) are the shell commands iotbench builds; the store path in them
 * is single-quoted. */
TEST(warm_state_under_a_hostile_store_path_and_alias)
{
    test_set_timeout(900);
    remove_stale_canaries();
    const char *src = guest_home();
    char *home =
        xasprintf("%s/o'b $x `touch ibcanary-w1` $(touch ibcanary-w2) \"q\"/home", test_tmpdir());
    /* The alias is part of both paths too, but `device warm` takes only
     * aliases that are plain words for now (tests/unit/test_fuzz_found.c:
     * found_warm_refuses_aliases_that_are_not_plain_words); once it takes
     * any alias, "de'mo $(touch ibcanary-w3)" belongs here. */
    const char *alias = "de.mo-1";
    CHECK(ib_mkdir_p(home, 0755, NULL) == 0);
    const char *parts[] = {"kernels", "initrds", "hostfs", "dtbs"};
    struct cmd_result r;
    for (size_t i = 0; i < IB_ARRAY_LEN(parts); i++) {
        char *from = xasprintf("%s/%s", src, parts[i]);
        char *cp[] = {"cp", "-a", from, home, NULL};
        cmd_run(cp, NULL, NULL, 120, &r);
        CHECK_MSG(r.status == 0, "%s", r.err);
        cmd_result_free(&r);
        free(from);
    }
    char *devices = xasprintf("%s/devices", home);
    CHECK(ib_mkdir_p(devices, 0755, NULL) == 0);
    char *from = xasprintf("%s/devices/demo", src), *to = xasprintf("%s/%s", devices, alias);
    char *cp[] = {"cp", "-a", from, to, NULL};
    cmd_run(cp, NULL, NULL, 120, &r);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    free(from), free(to), free(devices);

    ib_run(&r, home, "device", "warm", alias, NULL);
    CHECK_MSG(r.status == 0, "device warm: %s%s", r.out, r.err);
    cmd_result_free(&r);
    char *warm = xasprintf("%s/warm", home);
    const char *bad = open_to_others(warm);
    CHECK_MSG(private_count >= 4, "only %d entries in %s", private_count, warm);
    CHECK_MSG(bad[0] == '\0', "open to others in the warm states:%s", bad);
    free(warm);

    int offset = guest_free_offset();
    char off[16];
    snprintf(off, sizeof off, "%d", offset);
    guest_stop_at_exit(home, "w1");
    ib_run(&r, home, "device", "start", alias, "w1", "--port-offset", off, "--wait=agent",
           "--timeout", "180", NULL);
    CHECK_MSG(r.status == 0, "warm start: %s", r.err);
    CHECK_CONTAINS(r.out, "started warm");
    cmd_result_free(&r);
    int status = -1;
    char *alive = guest_sh(home, "w1", "echo alive", &status);
    CHECK_STR(alive, "alive\n");
    free(alive);
    char *dir = xasprintf("%s/run/w1", home);
    bad = open_to_others(dir);
    CHECK_MSG(bad[0] == '\0', "open to others in a warm-started runtime folder:%s", bad);
    free(dir);
    char found[2048];
    host_canaries(test_tmpdir(), found, sizeof found);
    CHECK_MSG(found[0] == '\0', "a command ran on the host:%s", found);
    ib_run(&r, home, "device", "stop", "w1", "--now", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    free(home);
}

/* ---- no root ---- */

static char nobody_dir[4096];

/* The CLI as nobody (setpriv drops root and every capability). */
static void as_nobody(struct cmd_result *r, const char *home, int timeout_s, ...)
{
    char *argv[32] = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                      "--",      (char *)ib_bin()};
    size_t n = 6;
    va_list ap;
    va_start(ap, timeout_s);
    for (char *a; n < 31 && (a = va_arg(ap, char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char *env_home = xasprintf("IOTBENCH_HOME=%s", home);
    char *env_h = xasprintf("HOME=%s", nobody_dir);
    char *env[] = {env_home, env_h, NULL};
    cmd_run(argv, env, NULL, timeout_s, r);
    free(env_home);
    free(env_h);
}

static int status_uid(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    char *text = NULL;
    int uid = -1;
    if (ib_read_file(path, 1 << 16, &text, NULL, NULL) == 0) {
        const char *u = strstr(text, "\nUid:");
        if (u)
            uid = atoi(u + 5);
    }
    free(text);
    return uid;
}

TEST(cli_as_nobody_starts_with_user_network_and_mapped_xattr)
{
    test_set_timeout(600);
    if (geteuid() != 0) {
        printf("  SKIPPED: this test drops root to run as nobody; it runs as root\n");
        return;
    }
    const char *src = guest_home(); /* for its stock file names */
    /* nobody's own folder inside the test's, which nobody may cross (but
     * not list); it goes with the rest at exit, after the instances. */
    snprintf(nobody_dir, sizeof nobody_dir, "%s/nobody", test_tmpdir());
    CHECK(chmod(test_tmpdir(), 0711) == 0);
    CHECK(mkdir(nobody_dir, 0755) == 0);
    char *home = xasprintf("%s/home", nobody_dir);
    char *devices = xasprintf("%s/devices", home);
    CHECK(ib_mkdir_p(devices, 0755, NULL) == 0);
    struct cmd_result r;
    char *from = xasprintf("%s/devices/demo", src);
    char *cp[] = {"cp", "-a", from, devices, NULL};
    cmd_run(cp, NULL, NULL, 120, &r);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    char *chown[] = {"chown", "-R", "nobody:nogroup", nobody_dir, NULL};
    cmd_run(chown, NULL, NULL, 120, &r);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    free(from);

    /* The store, filled as nobody from the stock images. */
    char *stock = xasprintf("%s/build/stock", test_src_dir());
    char *vpath = xasprintf("%s/kernel-version", stock), *version = NULL;
    CHECK(ib_read_file(vpath, 64, &version, NULL, NULL) == 0);
    version[strcspn(version, "\n")] = '\0';
    char *kname = xasprintf("virt.cortex-a15.little-%s", version);
    char *fname = xasprintf("%s.ext2", kname);
    char *zimage = xasprintf("%s/zImage", stock), *initrd = xasprintf("%s/initrd.gz", stock);
    char *hostfs = xasprintf("%s/hostfs.ext2", stock);
    as_nobody(&r, home, 120, "kernel", "add", zimage, "--name", kname, "--initrd", initrd, NULL);
    CHECK_MSG(r.status == 0, "kernel add as nobody: %s", r.err);
    cmd_result_free(&r);
    as_nobody(&r, home, 120, "fs", "add", hostfs, "--name", fname, NULL);
    CHECK_MSG(r.status == 0, "fs add as nobody: %s", r.err);
    cmd_result_free(&r);
    free(stock), free(vpath), free(version), free(kname), free(fname), free(zimage);
    free(initrd), free(hostfs);

    int offset = guest_free_offset();
    char off[16];
    snprintf(off, sizeof off, "%d", offset);
    guest_stop_at_exit(home, "nb");
    as_nobody(&r, home, 300, "device", "start", "demo", "nb", "--port-offset", off, "--wait",
              "banner", "--timeout", "240", NULL);
    CHECK_MSG(r.status == 0, "device start as nobody: %s", r.err);
    cmd_result_free(&r);
    int pid = guest_pid_of(home, "nb");
    CHECK_INT(status_uid(pid), 65534);
    char *fsdev = qemu_arg(pid, "-fsdev"), *netdev = qemu_arg(pid, "-netdev");
    CHECK_CONTAINS(fsdev, "security_model=mapped-xattr");
    CHECK_CONTAINS(netdev, "user,");
    free(fsdev), free(netdev);
    char *log = test_read_file(guest_run_file(home, "nb", "console.log"));
    CHECK_CONTAINS(log, "Host system ready");
    free(log);

    /* The share works both ways; what the guest writes is nobody's, with
     * the guest's owner kept in user.virtfs.* attributes. */
    as_nobody(&r, home, 150, "instance", "wait", "nb", "--for", "agent", "--timeout", "120", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    as_nobody(&r, home, 60, "instance", "exec", "nb", "--", "/bin/sh", "-c",
              "cat /target/etc/hostname >/dev/null && echo made > /target/tmp/from-guest && "
              "echo ok",
              NULL);
    CHECK_MSG(r.status == 0 && r.out && strstr(r.out, "ok"), "exec as nobody: %s%s", r.out, r.err);
    cmd_result_free(&r);
    char *made = xasprintf("%s/demo/rootfs/tmp/from-guest", devices);
    struct stat sb;
    CHECK_MSG(stat(made, &sb) == 0, "%s missing", made);
    CHECK_INT(sb.st_uid, 65534);
    char attr[16];
    CHECK_MSG(getxattr(made, "user.virtfs.uid", attr, sizeof attr) > 0,
              "no user.virtfs.uid on %s: %s", made, strerror(errno));
    free(made);

    as_nobody(&r, home, 60, "device", "stop", "nb", "--now", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    CHECK(!guest_pid_alive(pid));
    free(devices);
    free(home);
}
