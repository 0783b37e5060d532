/* names.c - see names.h. */
#include "core/names.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *names_kind_label(enum names_kind kind)
{
    switch (kind) {
    case NAMES_KERNEL:
        return "kernel";
    case NAMES_HOSTFS:
        return "host filesystem";
    case NAMES_DTB:
        return "dtb";
    }
    return "?";
}

int names_validate(const char *name, const char *what, struct ib_error *err)
{
    if (name == NULL || name[0] == '\0')
        return ib_err(err, IB_EINPUT, "%s must not be empty", what);
    if (strlen(name) > 200)
        return ib_err(err, IB_EINPUT, "%s is longer than 200 characters", what);
    if (strchr(name, '/') != NULL)
        return ib_err(err, IB_EINPUT, "%s \"%s\" must not contain '/'", what, name);
    if (strstr(name, "..") != NULL)
        return ib_err(err, IB_EINPUT, "%s \"%s\" must not contain \"..\"", what, name);
    if (name[0] == '.')
        return ib_err(err, IB_EINPUT, "%s \"%s\" must not start with '.' (hidden names are "
                      "reserved)", what, name);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return ib_err(err, IB_EINPUT, "%s must not contain control characters (byte 0x%02x "
                          "at offset %d)", what, *p, (int)(p - (const unsigned char *)name));
    }
    return 0;
}

/* Parses digits; returns the number of characters used or 0. */
static int parse_uint(const char *s, int *out)
{
    long v = 0;
    int i = 0;
    while (isdigit((unsigned char)s[i])) {
        v = v * 10 + (s[i] - '0');
        if (v > 1000000000L)
            return 0;
        i++;
    }
    *out = (int)v;
    return i;
}

int names_parse_version(const char *s, struct names_version *out)
{
    struct names_version v = {{0}, 0};
    const char *p = s;
    for (;;) {
        if (v.n == NAMES_MAX_PARTS)
            return -1;
        int used = parse_uint(p, &v.part[v.n]);
        if (used == 0)
            return -1;
        v.n++;
        p += used;
        if (*p == '\0')
            break;
        if (*p != '.')
            return -1;
        p++;
    }
    if (v.n < 2)
        return -1;
    *out = v;
    return 0;
}

int names_version_cmp(const struct names_version *a, const struct names_version *b)
{
    int n = a->n > b->n ? a->n : b->n;
    for (int i = 0; i < n; i++) {
        int x = i < a->n ? a->part[i] : 0, y = i < b->n ? b->part[i] : 0;
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a->n - b->n;
}

/* Copies the field [start, end) into dst, refusing empty and overlong ones. */
static int take_field(char *dst, size_t cap, const char *start, const char *end)
{
    size_t n = (size_t)(end - start);
    if (n == 0 || n >= cap)
        return -1;
    memcpy(dst, start, n);
    dst[n] = '\0';
    return 0;
}

/* platform.cpu.endian-VERSION, where the first three fields hold no '.'. */
static int parse_triplet_version(const char *s, const char *end, struct names_parsed *out)
{
    const char *dot1 = memchr(s, '.', (size_t)(end - s));
    if (dot1 == NULL)
        return -1;
    const char *dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
    if (dot2 == NULL)
        return -1;
    /* The version holds no '-', so it starts after the last one; the
     * endianness field may hold '-' but no '.' (Piotr's [^.]+). */
    const char *dash = memrchr(dot2 + 1, '-', (size_t)(end - dot2 - 1));
    if (dash == NULL || memchr(dot2 + 1, '.', (size_t)(dash - dot2 - 1)) != NULL)
        return -1;
    if (take_field(out->platform, sizeof out->platform, s, dot1) < 0 ||
        take_field(out->cpu, sizeof out->cpu, dot1 + 1, dot2) < 0 ||
        take_field(out->endian, sizeof out->endian, dot2 + 1, dash) < 0 ||
        take_field(out->version, sizeof out->version, dash + 1, end) < 0)
        return -1;
    return names_parse_version(out->version, &out->ver);
}

int names_parse(enum names_kind kind, const char *name, struct names_parsed *out,
                struct ib_error *err)
{
    memset(out, 0, sizeof *out);
    if (names_validate(name, names_kind_label(kind), err) < 0)
        return -1;
    const char *end = name + strlen(name);
    switch (kind) {
    case NAMES_KERNEL:
        if (parse_triplet_version(name, end, out) == 0)
            return 0;
        return ib_err(err, IB_EINPUT, "kernel name \"%s\" must look like "
                      "<platform>.<cpu>.<endian>-<version>, e.g. virt.cortex-a7.little-5.10.7",
                      name);
    case NAMES_HOSTFS: {
        const char *dot = strrchr(name, '.');
        if (dot && take_field(out->fstype, sizeof out->fstype, dot + 1, end) == 0 &&
            !isdigit((unsigned char)dot[1]) && parse_triplet_version(name, dot, out) == 0)
            return 0;
        return ib_err(err, IB_EINPUT, "host filesystem name \"%s\" must look like "
                      "<platform>.<cpu>.<endian>-<version>.<fstype>, e.g. "
                      "virt.cortex-a15.little-6.1.176.ext2", name);
    }
    case NAMES_DTB: {
        size_t len = strlen(name);
        const char *dash = strchr(name, '-');
        if (len > 4 && strcmp(end - 4, ".dtb") == 0 && dash != NULL &&
            take_field(out->platform, sizeof out->platform, name, dash) == 0 &&
            take_field(out->cpu, sizeof out->cpu, dash + 1, end - 4) == 0 &&
            strchr(out->cpu, '.') == NULL)
            return 0;
        return ib_err(err, IB_EINPUT, "dtb name \"%s\" must look like <platform>-<cpu>.dtb, "
                      "e.g. virt-generic.dtb", name);
    }
    }
    return ib_err(err, IB_EINPUT, "unknown kind of name");
}
