/* util.c - see util.h. */
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

static void die_oom(size_t n)
{
    fprintf(stderr, "iotbench: out of memory (%zu bytes)\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        die_oom(n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        die_oom(count * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        die_oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        die_oom(0);
    char *p = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int64_t ib_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ib_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ib_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

char *ib_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    if (la > 0 && a[la - 1] == '/')
        return xasprintf("%s%s", a, b);
    return xasprintf("%s/%s", a, b);
}

const char *ib_path_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

bool ib_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

bool ib_path_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool ib_path_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int ib_mkdir_p(const char *path, mode_t mode, struct ib_error *err)
{
    char *copy = xstrdup(path);
    int rc = 0;
    for (char *p = copy + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST) {
            rc = ib_err_sys(err, IB_EFAIL, "cannot create directory %s", copy);
            break;
        }
        if (saved == '\0')
            break;
        *p = saved;
    }
    if (rc == 0 && !ib_path_is_dir(path))
        rc = ib_err(err, IB_EFAIL, "%s exists and is not a directory", path);
    free(copy);
    return rc;
}

int ib_read_file(const char *path, size_t max, char **data, size_t *len, struct ib_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ib_err_sys(err, errno == ENOENT ? IB_ENOTFOUND : IB_EFAIL, "cannot open %s", path);
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max + 1) {
                free(buf);
                close(fd);
                return ib_err(err, IB_EINPUT, "%s: file is larger than %zu bytes", path, max);
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            close(fd);
            return ib_err_sys(err, IB_EFAIL, "cannot read %s", path);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max) {
        free(buf);
        return ib_err(err, IB_EINPUT, "%s: file is larger than %zu bytes", path, max);
    }
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return 0;
}

/* Opens a fresh temporary file next to path; returns its fd and name. */
static int open_temp_beside(const char *path, char **tmp_out, struct ib_error *err)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    const char *base = path;
    if (slash) {
        *slash = '\0';
        base = slash + 1;
    }
    char *tmp = slash ? xasprintf("%s/.%s.tmp.XXXXXX", dir[0] ? dir : "/", base)
                      : xasprintf(".%s.tmp.XXXXXX", base);
    free(dir);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        ib_err_sys(err, IB_EFAIL, "cannot create a temporary file for %s", path);
        free(tmp);
        return -1;
    }
    *tmp_out = tmp;
    return fd;
}

static void fsync_parent_dir(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int fd = open(slash ? (dir[0] ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Finishes a temporary file: fsync, close, rename into place. On any
 * failure the temporary file is removed and the destination untouched. */
static int commit_temp(int fd, char *tmp, const char *path, struct ib_error *err)
{
    int rc = 0;
    if (fsync(fd) < 0)
        rc = ib_err_sys(err, IB_EFAIL, "cannot write %s", path);
    if (close(fd) < 0 && rc == 0)
        rc = ib_err_sys(err, IB_EFAIL, "cannot write %s", path);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = ib_err_sys(err, IB_EFAIL, "cannot rename %s to %s", tmp, path);
    if (rc < 0)
        unlink(tmp);
    else
        fsync_parent_dir(path);
    free(tmp);
    return rc;
}

int ib_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         struct ib_error *err)
{
    char *tmp;
    int fd = open_temp_beside(path, &tmp, err);
    if (fd < 0)
        return -1;
    if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0) {
        ib_err_sys(err, IB_EFAIL, "cannot write %s", path);
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    return commit_temp(fd, tmp, path, err);
}

/* Copies the data regions of in to out, leaving holes as holes. */
static int copy_sparse(int in, int out, off_t size)
{
    static char buf[1 << 16];
    off_t pos = 0;
    while (pos < size) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break; /* only a hole is left */
            data = pos;  /* SEEK_DATA unsupported: copy everything */
        }
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            hole = size;
        if (lseek(in, data, SEEK_SET) < 0 || lseek(out, data, SEEK_SET) < 0)
            return -1;
        for (off_t left = hole - data; left > 0;) {
            ssize_t r = read(in, buf, left < (off_t)sizeof buf ? (size_t)left : sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return -1;
            if (write_all(out, buf, (size_t)r) < 0)
                return -1;
            left -= r;
        }
        pos = hole;
    }
    return ftruncate(out, size);
}

int ib_copy_file_atomic(const char *src, const char *dst, struct ib_error *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return ib_err_sys(err, errno == ENOENT ? IB_ENOTFOUND : IB_EFAIL, "cannot open %s", src);
    struct stat st;
    if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return ib_err(err, IB_EINPUT, "%s is not a regular file", src);
    }
    char *tmp;
    int out = open_temp_beside(dst, &tmp, err);
    if (out < 0) {
        close(in);
        return -1;
    }
    if (fchmod(out, st.st_mode & 07777) < 0 || copy_sparse(in, out, st.st_size) < 0) {
        ib_err_sys(err, IB_EFAIL, "cannot copy %s to %s", src, dst);
        close(in);
        close(out);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    close(in);
    return commit_temp(out, tmp, dst, err);
}

int ib_files_equal(const char *a, const char *b, struct ib_error *err)
{
    struct stat sa, sb;
    if (stat(a, &sa) < 0)
        return ib_err_sys(err, IB_EFAIL, "cannot read %s", a);
    if (stat(b, &sb) < 0)
        return ib_err_sys(err, IB_EFAIL, "cannot read %s", b);
    if (sa.st_size != sb.st_size)
        return 0;
    if (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
        return 1;
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = -1;
    if (fa == NULL || fb == NULL) {
        ib_err_sys(err, IB_EFAIL, "cannot compare %s and %s", a, b);
    } else {
        static char ba[1 << 16], bb[1 << 16];
        same = 1;
        for (;;) {
            size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
            if (na != nb || memcmp(ba, bb, na) != 0) {
                same = 0;
                break;
            }
            if (na == 0)
                break;
        }
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    return (rc < 0 && errno != ENOENT) ? -1 : 0;
}

int ib_rm_rf(const char *path, struct ib_error *err)
{
    if (!ib_path_exists(path))
        return 0;
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) < 0)
        return ib_err_sys(err, IB_EFAIL, "cannot remove %s", path);
    return 0;
}

int ib_fd_set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int ib_sha256_file(const char *path, char hex[65], struct ib_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ib_err_sys(err, IB_EFAIL, "cannot open %s", path);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    static char buf[1 << 16];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            EVP_MD_CTX_free(ctx);
            close(fd);
            return ib_err_sys(err, IB_EFAIL, "cannot read %s", path);
        }
        EVP_DigestUpdate(ctx, buf, (size_t)r);
    }
    close(fd);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = '\0';
    return 0;
}
