/* pkg_manifest.c - see pkg_manifest.h. */
#include "core/pkg_manifest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive_entry.h>

#include "core/package.h"
#include "core/util.h"

/* Longest member name we accept: far beyond any real rootfs, and short
 * enough that the store's path in front of it stays under PATH_MAX. */
#define PKG_PATH_MAX 2048

/* --- map ------------------------------------------------------------------ */

static size_t hash_str(const char *s)
{
    size_t h = 14695981039346656037ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static size_t map_find_slot(struct pkg_node **slots, size_t cap, const char *path)
{
    size_t i = hash_str(path) & (cap - 1);
    while (slots[i] && strcmp(slots[i]->path, path) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

struct pkg_node *pkg_map_get(const struct pkg_map *m, const char *path)
{
    if (m->cap == 0)
        return NULL;
    return m->slots[map_find_slot(m->slots, m->cap, path)];
}

struct pkg_node *pkg_map_add(struct pkg_map *m, const char *path, char type)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 256;
        struct pkg_node **slots = xcalloc(cap, sizeof *slots);
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i])
                slots[map_find_slot(slots, cap, m->slots[i]->path)] = m->slots[i];
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    size_t i = map_find_slot(m->slots, m->cap, path);
    if (m->slots[i])
        return NULL;
    struct pkg_node *node = xcalloc(1, sizeof *node);
    node->path = xstrdup(path);
    node->type = type;
    m->slots[i] = node;
    m->n++;
    return node;
}

void pkg_map_free(struct pkg_map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i]) {
            free(m->slots[i]->path);
            free(m->slots[i]->target);
            free(m->slots[i]);
        }
    }
    free(m->slots);
    memset(m, 0, sizeof *m);
}

char pkg_entry_type(struct archive_entry *e)
{
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
        return PKG_FILE;
    case AE_IFDIR:
        return PKG_DIR;
    case AE_IFLNK:
        return PKG_SYMLINK;
    case AE_IFCHR:
        return PKG_CHR;
    case AE_IFBLK:
        return PKG_BLK;
    case AE_IFIFO:
        return PKG_FIFO;
    default:
        return 0;
    }
}

bool pkg_type_is_dir(char type)
{
    return type == PKG_DIR || type == PKG_IMPLICIT_DIR;
}

/* --- buffers and manifest ------------------------------------------------- */

void pkg_buf_printf(struct pkg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void pkg_buf_append(struct pkg_buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void pkg_buf_free(struct pkg_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void pkg_manifest_format(struct pkg_buf *out, struct pkg_node *const *nodes, size_t n,
                         uint64_t bytes)
{
    pkg_buf_printf(out,
                   "iotbench-manifest\t1\n"
                   "# Members of this iotbench device package, checked by `iotbench device add`.\n"
                   "# type (f file, d folder, l symlink, c/b device, p fifo), size, SHA-256,\n"
                   "# path, symlink target; separated by tabs.\n"
                   "total\t%zu\t%llu\n",
                   n, (unsigned long long)bytes);
    for (size_t i = 0; i < n; i++) {
        const struct pkg_node *node = nodes[i];
        if (node->type == PKG_FILE)
            pkg_buf_printf(out, "f\t%llu\t%s\t%s\n", (unsigned long long)node->size, node->sha256,
                           node->path);
        else if (node->type == PKG_SYMLINK)
            pkg_buf_printf(out, "l\t-\t-\t%s\t%s\n", node->path, node->target);
        else
            pkg_buf_printf(out, "%c\t-\t-\t%s\n", node->type, node->path);
    }
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9' || strlen(s) > 19)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* One entry line, split in place into at most 5 tab-separated fields. */
static int manifest_line(struct pkg_manifest *m, char *line, int lineno, struct ib_error *err)
{
    char *f[6];
    int n = 0;
    for (char *p = line; n < 6;) {
        f[n++] = p;
        p = strchr(p, '\t');
        if (p == NULL)
            break;
        *p++ = '\0';
    }
    if (n == 2 && strcmp(f[0], "iotbench-manifest") == 0)
        return strcmp(f[1], "1") == 0 ? 0
                                      : ib_err(err, IB_EINPUT,
                                               "manifest version %.20s is "
                                               "not supported (only 1)",
                                               f[1]);
    if (n == 3 && strcmp(f[0], "total") == 0) {
        if (!parse_u64(f[1], &m->entries) || !parse_u64(f[2], &m->bytes))
            return ib_err(err, IB_EINPUT, "manifest line %d: bad total", lineno);
        return 0;
    }
    char type = f[0][0];
    bool ok =
        strlen(f[0]) == 1 && strchr("fdlcbp", type) && (n == 4 || (n == 5 && type == PKG_SYMLINK));
    uint64_t size = 0;
    if (ok && type == PKG_FILE)
        ok = parse_u64(f[1], &size) && is_hex64(f[2]);
    else if (ok)
        ok = strcmp(f[1], "-") == 0 && strcmp(f[2], "-") == 0;
    if (!ok || (type == PKG_SYMLINK && (n != 5 || !*f[4] || pkg_find_control(f[4]))))
        return ib_err(err, IB_EINPUT, "manifest line %d is not \"type, size, sha256, path\"",
                      lineno);
    char *norm;
    if (pkg_path_normalize(f[3], &norm, err) != 0 || strcmp(norm, f[3]) != 0) {
        if (norm)
            free(norm);
        return ib_err(err, IB_EINPUT, "manifest line %d: path is not a plain relative name",
                      lineno);
    }
    struct pkg_node *node = pkg_map_add(&m->files, norm, type);
    free(norm);
    if (node == NULL)
        return ib_err(err, IB_EINPUT, "manifest line %d: path listed twice", lineno);
    node->size = size;
    if (type == PKG_FILE)
        memcpy(node->sha256, f[2], 65);
    if (type == PKG_SYMLINK)
        node->target = xstrdup(f[4]);
    return 0;
}

int pkg_manifest_parse(const char *text, size_t len, struct pkg_manifest *m, struct ib_error *err)
{
    memset(m, 0, sizeof *m);
    if (memchr(text, '\0', len))
        return ib_err(err, IB_EINPUT, "%s holds a NUL byte", PACKAGE_MANIFEST);
    char *copy = xstrndup(text, len);
    int lineno = 0, rc = 0;
    bool header = false, total = false;
    for (char *line = copy, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (!header && strncmp(line, "iotbench-manifest\t", 18) != 0) {
            rc = ib_err(err, IB_EINPUT, "%s does not start with \"iotbench-manifest\"",
                        PACKAGE_MANIFEST);
            break;
        }
        if (strncmp(line, "total\t", 6) == 0)
            total = true;
        header = true;
        if ((rc = manifest_line(m, line, lineno, err)) < 0)
            break;
    }
    free(copy);
    if (rc == 0 && (!header || !total))
        rc = ib_err(err, IB_EINPUT, "%s has no header or no total line", PACKAGE_MANIFEST);
    if (rc == 0 && m->entries != m->files.n)
        rc = ib_err(err, IB_EINPUT, "%s: its total says %llu members but it lists %zu",
                    PACKAGE_MANIFEST, (unsigned long long)m->entries, m->files.n);
    if (rc < 0) {
        ib_err_prefix(err, "bad manifest: ");
        pkg_manifest_free(m);
    }
    return rc;
}

void pkg_manifest_free(struct pkg_manifest *m)
{
    pkg_map_free(&m->files);
    memset(m, 0, sizeof *m);
}

/* --- names ---------------------------------------------------------------- */

const char *pkg_find_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return s;
    return NULL;
}

const char *pkg_show(const char *s, char *buf, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (*s)
        o += (size_t)snprintf(buf + o, cap - o, "...");
    buf[o < cap ? o : cap - 1] = '\0';
    return buf;
}

int pkg_path_normalize(const char *raw, char **out, struct ib_error *err)
{
    char shown[300];
    *out = NULL;
    const char *p = raw;
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    if (strcmp(raw, "/") == 0 || strcmp(p, ".") == 0 || *p == '\0')
        return 1;
    if (raw[0] == '/')
        return ib_err(err, IB_EINPUT, "member \"%s\" has an absolute path",
                      pkg_show(raw, shown, sizeof shown));
    const char *bad = pkg_find_control(raw);
    if (bad)
        return ib_err(err, IB_EINPUT,
                      "member \"%s\" has a control character (byte 0x%02x) in "
                      "its name",
                      pkg_show(raw, shown, sizeof shown), (unsigned char)*bad);
    size_t len = strlen(p);
    while (len > 0 && p[len - 1] == '/')
        len--;
    if (len == 0)
        return 1; /* ".//" and the like: the root, as "./" is */
    if (len > PKG_PATH_MAX)
        return ib_err(err, IB_EINPUT, "member \"%s\" has a name longer than %d bytes",
                      pkg_show(raw, shown, sizeof shown), PKG_PATH_MAX);
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        size_t n = j - i;
        if (n == 2 && p[i] == '.' && p[i + 1] == '.')
            return ib_err(err, IB_EINPUT, "member \"%s\" has a \"..\" component",
                          pkg_show(raw, shown, sizeof shown));
        if (n == 0 || (n == 1 && p[i] == '.'))
            return ib_err(err, IB_EINPUT, "member \"%s\" has an empty or \".\" component",
                          pkg_show(raw, shown, sizeof shown));
        if (n > 255)
            return ib_err(err, IB_EINPUT, "member \"%s\" has a component longer than 255 bytes",
                          pkg_show(raw, shown, sizeof shown));
        i = j + 1;
    }
    *out = xstrndup(p, len);
    return 0;
}
