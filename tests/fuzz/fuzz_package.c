/*
 * fuzz_package.c - a device package archive (.piotr: tar, gzip or not)
 * from anyone, through pkg_extract(), the code `device add`
 * (package_import) runs in its child process.
 *
 * Two passes, as the import does them:
 * 1. a dry run in this process (what the fuzzer learns from): every member
 *    checked, the manifest verified, the config parsed, nothing written;
 * 2. when the dry run accepts the archive, the real extraction, in a child
 *    process chrooted into a fresh folder jail/ and working in jail/run
 *    (as package_import does as root). A member that lands anywhere but
 *    under run/ - through "..", an absolute name, a symlink or a hard link
 *    - shows up in jail/ and fails the run; the chroot keeps this host safe
 *    meanwhile. Not as root, the child takes a user namespace to chroot, or
 *    skips the pass.
 *
 * Promises checked: a refusal says why; the report lines are single lines
 * starting with a known letter; what the dry run accepts extracts without
 * a crash, without escaping and without touching the device folder itself.
 */
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/pkg_common.h"
#include "core/pkg_extract.h"
#include "tests/fuzz/fuzz.h"

static char pkgf_work[64]; /* a folder of our own under /tmp */

/* /tmp/ibfuzz-pkg.<pid>; folders of fuzzer processes that were killed
 * (libFuzzer's fork mode ends its jobs so) are removed on the way. */
static void pkgf_init(void)
{
    if (pkgf_work[0])
        return;
    DIR *d = opendir("/tmp");
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        int pid;
        if (sscanf(e->d_name, "ibfuzz-pkg.%d", &pid) == 1 && pid > 0 && kill(pid, 0) < 0 &&
            errno == ESRCH) {
            char *stale = xasprintf("/tmp/%s", e->d_name);
            pkg_rm_tree(stale, NULL);
            free(stale);
        }
    }
    if (d)
        closedir(d);
    snprintf(pkgf_work, sizeof pkgf_work, "/tmp/ibfuzz-pkg.%d", (int)getpid());
    if (mkdir(pkgf_work, 0700) < 0 && errno != EEXIST)
        fuzz_fail("mkdir %s: %s", pkgf_work, strerror(errno));
}

__attribute__((destructor)) static void pkgf_cleanup(void)
{
    if (pkgf_work[0] == '\0')
        return;
    char jail[128];
    snprintf(jail, sizeof jail, "%s/jail", pkgf_work);
    pkg_rm_tree(jail, NULL);
    rmdir(pkgf_work);
}

static int pkgf_memfd(const void *data, size_t size)
{
    int fd = memfd_create("fuzz-package", MFD_CLOEXEC);
    if (fd < 0)
        fuzz_fail("memfd_create: %s", strerror(errno));
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, (const char *)data + off, size - off);
        if (n <= 0)
            fuzz_fail("write: %s", strerror(errno));
        off += (size_t)n;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* Every report line: "<letter> ...", the letter one of P D N S E. */
static void pkgf_check_report(int fd)
{
    off_t len = lseek(fd, 0, SEEK_END);
    if (len <= 0)
        return;
    char *text = xmalloc((size_t)len + 1);
    if (pread(fd, text, (size_t)len, 0) != len)
        fuzz_fail("cannot read the report back");
    text[len] = '\0';
    if (text[len - 1] != '\n')
        fuzz_fail("the report does not end with a newline");
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl == NULL || nl == line || !strchr("PDNSE", line[0]) || line[1] != ' ')
            fuzz_fail("a report line that is not \"<P|D|N|S|E> ...\": %.60s", line);
        if (memchr(line, '\0', (size_t)(nl - line)) != NULL)
            fuzz_fail("a NUL inside a report line");
        line = nl + 1;
    }
    free(text);
}

static int pkgf_extract(int archive_fd, bool write, struct ib_error *err)
{
    int report = memfd_create("fuzz-report", MFD_CLOEXEC);
    struct pkg_extract_opts o = {
        .archive_fd = archive_fd,
        .report_fd = report,
        .display_name = "fuzz.piotr",
        .write = write,
        .root = false,
        .max_bytes = 64u << 20,
        .max_entries = 4096,
        .max_bytes_what = "the fuzzer's limit",
    };
    lseek(archive_fd, 0, SEEK_SET);
    int rc = pkg_extract(&o, err);
    fuzz_debug("%s: %s", write ? "extraction" : "dry run", rc == 0 ? "accepted" : err->msg);
    if (rc < 0 && err->msg[0] == '\0')
        fuzz_fail("pkg_extract refused without a message");
    pkgf_check_report(report);
    close(report);
    return rc;
}

/* The child: jail/ becomes its root, run/ its working folder. */
static void pkgf_child(const char *jail, int archive_fd) __attribute__((noreturn));
static void pkgf_child(const char *jail, int archive_fd)
{
    if (chdir(jail) < 0)
        _exit(3);
    if (chroot(".") < 0) {
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (unshare(CLONE_NEWUSER) < 0)
            _exit(3);
        char map[64];
        int fd = open("/proc/self/setgroups", O_WRONLY);
        if (fd >= 0)
            (void)!write(fd, "deny", 4), close(fd);
        fd = open("/proc/self/uid_map", O_WRONLY);
        int n = snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
        if (fd < 0 || write(fd, map, (size_t)n) != n)
            _exit(3);
        close(fd);
        fd = open("/proc/self/gid_map", O_WRONLY);
        n = snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
        if (fd < 0 || write(fd, map, (size_t)n) != n)
            _exit(3);
        close(fd);
        if (chroot(".") < 0)
            _exit(3);
    }
    if (chdir("/run") < 0)
        _exit(4);
    struct ib_error err = {0};
    pkgf_extract(archive_fd, true, &err);
    _exit(0);
}

static void pkgf_write_pass(int archive_fd)
{
    char jail[128], run[160];
    snprintf(jail, sizeof jail, "%s/jail", pkgf_work);
    snprintf(run, sizeof run, "%s/run", jail);
    struct ib_error err = {0};
    pkg_rm_tree(jail, &err);
    if (mkdir(jail, 0700) < 0 || mkdir(run, 0700) < 0)
        fuzz_fail("cannot make %s: %s", run, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        fuzz_fail("fork: %s", strerror(errno));
    if (pid == 0)
        pkgf_child(jail, archive_fd);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 3))
        fuzz_fail("the extraction crashed (%s %d) on an archive the dry run accepted",
                  WIFSIGNALED(st) ? "signal" : "exit status",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    /* The folders the extraction makes are ours: no member may set their
     * owner or type (tests/fuzz/regressions/package/: ".//" once did). */
    char *device = xasprintf("%s/device", run);
    struct stat sb;
    if (lstat(device, &sb) == 0 && (!S_ISDIR(sb.st_mode) || sb.st_uid != geteuid()))
        fuzz_fail("a member changed the device folder itself (owner %u, mode %o)",
                  (unsigned)sb.st_uid, (unsigned)sb.st_mode);
    free(device);
    DIR *d = opendir(jail);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "run"))
            fuzz_fail("a member escaped the extraction folder: %s", e->d_name);
    if (d)
        closedir(d);
    if (pkg_rm_tree(jail, &err) < 0)
        fuzz_fail("cannot remove what was extracted: %s", err.msg);
}

FUZZ_ENTRY(package)
{
    pkgf_init();
    int fd = pkgf_memfd(data, size);
    struct ib_error err = {0};
    if (pkgf_extract(fd, false, &err) == 0)
        pkgf_write_pass(fd);
    close(fd);
    return 0;
}
