/*
 * fuzz_manifest.c - MANIFEST.iotbench, the first member of a package
 * archive (someone else's): pkg_manifest_parse(), and the member names
 * through pkg_path_normalize(), the one place that says which names may
 * enter the store.
 *
 * Promises checked: a manifest that parses lists only plain relative names
 * (no "..", ".", empty component, absolute path or control character) and
 * written back with pkg_manifest_format() parses to the same members; a
 * name pkg_path_normalize() accepts is such a name and normalising it again
 * changes nothing.
 */
#include "core/pkg_manifest.h"
#include "tests/fuzz/fuzz.h"

static void mff_plain(const char *path)
{
    if (path[0] == '\0' || path[0] == '/' || pkg_find_control(path))
        fuzz_fail("member name \"%s\" is empty, absolute or has a control character", path);
    for (const char *s = path;;) {
        size_t n = strcspn(s, "/");
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            fuzz_fail("member name \"%s\" has an empty, \".\" or \"..\" component", path);
        if (s[n] == '\0')
            break;
        s += n + 1;
    }
}

static void mff_normalize(const char *raw)
{
    char *out = NULL;
    struct ib_error err = {0};
    int rc = pkg_path_normalize(raw, &out, &err);
    if (rc < 0 && (out != NULL || err.msg[0] == '\0'))
        fuzz_fail("a refused name with a result or without a message");
    if (rc == 1 && out != NULL)
        fuzz_fail("the root folder with a result");
    if (rc == 0) {
        mff_plain(out);
        char *again = NULL;
        if (pkg_path_normalize(out, &again, &err) != 0 || strcmp(again, out) != 0)
            fuzz_fail("normalising \"%s\" twice changes it", out);
        free(again);
    }
    free(out);
    char shown[64];
    pkg_show(raw, shown, sizeof shown);
    if (strlen(shown) >= sizeof shown)
        fuzz_fail("pkg_show overflowed its buffer");
}

static int mff_cmp(const void *a, const void *b)
{
    return strcmp((*(struct pkg_node *const *)a)->path, (*(struct pkg_node *const *)b)->path);
}

FUZZ_ENTRY(manifest)
{
    /* Every line as a member name, as archive headers would carry it. */
    char *text = xstrndup((const char *)data, size);
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        mff_normalize(line);
        char *tab = strrchr(line, '\t');
        if (tab)
            mff_normalize(tab + 1);
    }
    free(text);

    struct pkg_manifest m;
    struct ib_error err = {0};
    if (pkg_manifest_parse((const char *)data, size, &m, &err) < 0) {
        if (err.msg[0] == '\0' || m.files.n != 0)
            fuzz_fail("a refused manifest without a message, or with members left");
        return 0;
    }
    struct pkg_node **nodes = xcalloc(m.files.n + 1, sizeof *nodes);
    size_t n = 0;
    for (size_t i = 0; i < m.files.cap; i++) {
        struct pkg_node *node = m.files.slots[i];
        if (node == NULL)
            continue;
        mff_plain(node->path);
        if (pkg_map_get(&m.files, node->path) != node)
            fuzz_fail("member %s cannot be found by its name", node->path);
        if (node->type == PKG_SYMLINK && (node->target == NULL || node->target[0] == '\0'))
            fuzz_fail("symlink %s without a target", node->path);
        nodes[n++] = node;
    }
    if (n != m.files.n || m.entries != n)
        fuzz_fail("%zu members found, %zu counted, %llu in the total", n, m.files.n,
                  (unsigned long long)m.entries);
    qsort(nodes, n, sizeof *nodes, mff_cmp);
    struct pkg_buf out = {0};
    pkg_manifest_format(&out, nodes, n, m.bytes);
    struct pkg_manifest again;
    if (pkg_manifest_parse(out.data, out.len, &again, &err) < 0)
        fuzz_fail("a manifest written back does not parse: %s", err.msg);
    if (again.files.n != n || again.bytes != m.bytes)
        fuzz_fail("a manifest written back has other members");
    for (size_t i = 0; i < n; i++) {
        struct pkg_node *b = pkg_map_get(&again.files, nodes[i]->path);
        if (b == NULL || b->type != nodes[i]->type || b->size != nodes[i]->size ||
            strcmp(b->sha256, nodes[i]->sha256) != 0 ||
            (b->target == NULL) != (nodes[i]->target == NULL) ||
            (b->target && strcmp(b->target, nodes[i]->target) != 0))
            fuzz_fail("member %s changed when written back", nodes[i]->path);
    }
    pkg_manifest_free(&again);
    pkg_buf_free(&out);
    free(nodes);
    pkg_manifest_free(&m);
    return 0;
}
