/* kimage.c - see kimage.h. */
#include "core/kimage.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>

#include "core/util.h"

#define KIMAGE_MAX_FILE (128u * 1024 * 1024)
#define KIMAGE_MAX_INFLATE (256u * 1024 * 1024)
static const char BANNER[] = "Linux version ";

struct magic {
    const char *name;
    const unsigned char *bytes;
    size_t len;
};

static const unsigned char GZIP[] = {0x1f, 0x8b, 0x08};
static const unsigned char XZ[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
static const unsigned char LZMA[] = {0x5d, 0x00, 0x00};
static const unsigned char LZ4[] = {0x02, 0x21, 0x4c, 0x18};
static const unsigned char ZSTD[] = {0x28, 0xb5, 0x2f, 0xfd};

static const struct magic MAGICS[] = {
    {"gzip", GZIP, sizeof GZIP}, {"xz", XZ, sizeof XZ},       {"zstd", ZSTD, sizeof ZSTD},
    {"lz4", LZ4, sizeof LZ4},    {"lzma", LZMA, sizeof LZMA},
};

/* Copies the banner line starting at p (at most end) into info. */
static void take_banner(const char *p, const char *end, struct kimage_info *info)
{
    size_t n = 0;
    while (p + n < end && p[n] != '\n' && p[n] != '\0' && n + 1 < sizeof info->banner)
        n++;
    memcpy(info->banner, p, n);
    info->banner[n] = '\0';
    for (char *c = info->banner; *c; c++)
        if (!isprint((unsigned char)*c))
            *c = '?';
    const char *rel = info->banner + strlen(BANNER);
    size_t rn = strcspn(rel, " ");
    snprintf(info->release, sizeof info->release, "%.*s", (int)rn, rel);
    /* Distribution kernels name the upstream version after the
     * distribution: "#1 SMP Debian 6.1.176-1 (2026-01-01)". */
    const char *deb = strstr(info->banner, " Debian ");
    const char *ver = deb ? deb + 8 : NULL;
    if (ver && isdigit((unsigned char)*ver)) {
        size_t vn = strspn(ver, "0123456789.");
        while (vn > 0 && ver[vn - 1] == '.')
            vn--;
        snprintf(info->upstream, sizeof info->upstream, "%.*s", (int)vn, ver);
    } else {
        size_t vn = strspn(info->release, "0123456789.");
        snprintf(info->upstream, sizeof info->upstream, "%.*s", (int)vn, info->release);
    }
}

/* Inflates the stream at data and searches it for the banner. */
static bool search_stream(const unsigned char *data, size_t len, struct kimage_info *info)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    bool found = false;
    struct archive_entry *entry;
    if (archive_read_open_memory(a, data, len) == ARCHIVE_OK &&
        archive_read_next_header(a, &entry) == ARCHIVE_OK) {
        /* Keep the tail of the previous chunk so a banner split between
         * two reads is still seen. */
        enum { CHUNK = 1 << 16, KEEP = 600 };
        char *buf = xmalloc(CHUNK + KEEP);
        size_t kept = 0, total = 0;
        la_ssize_t r;
        while (!found && total < KIMAGE_MAX_INFLATE &&
               (r = archive_read_data(a, buf + kept, CHUNK)) > 0) {
            total += (size_t)r;
            size_t have = kept + (size_t)r;
            char *hit = memmem(buf, have, BANNER, sizeof BANNER - 1);
            if (hit && (size_t)(buf + have - hit) >= KEEP / 2) {
                take_banner(hit, buf + have, info);
                found = true;
            } else if (hit) {
                /* Too close to the end to hold the whole line: keep it. */
                kept = (size_t)(buf + have - hit);
                memmove(buf, hit, kept);
            } else {
                kept = have < KEEP ? have : KEEP;
                memmove(buf, buf + have - kept, kept);
            }
        }
        if (!found && kept > 0) {
            char *hit = memmem(buf, kept, BANNER, sizeof BANNER - 1);
            if (hit) {
                take_banner(hit, buf + kept, info);
                found = true;
            }
        }
        free(buf);
    }
    archive_read_free(a);
    return found;
}

int kimage_read(const char *path, struct kimage_info *info, struct ib_error *err)
{
    memset(info, 0, sizeof *info);
    char *data;
    size_t len;
    if (ib_read_file(path, KIMAGE_MAX_FILE, &data, &len, err) < 0)
        return -1;
    const char *hit = memmem(data, len, BANNER, sizeof BANNER - 1);
    if (hit && isdigit((unsigned char)hit[sizeof BANNER - 1])) {
        take_banner(hit, data + len, info);
        strcpy(info->compression, "none");
        free(data);
        return 0;
    }
    const unsigned char *u = (const unsigned char *)data;
    for (size_t m = 0; m < IB_ARRAY_LEN(MAGICS); m++) {
        const struct magic *mg = &MAGICS[m];
        int tries = 0;
        for (size_t off = 0; off + mg->len <= len && tries < 32; off++) {
            if (u[off] != mg->bytes[0] || memcmp(u + off, mg->bytes, mg->len) != 0)
                continue;
            tries++;
            if (search_stream(u + off, len - off, info)) {
                snprintf(info->compression, sizeof info->compression, "%s", mg->name);
                free(data);
                return 0;
            }
        }
    }
    free(data);
    return ib_err(err, IB_EINPUT, "%s: no \"Linux version\" banner found (not a Linux kernel "
                  "image, or compressed in a way libarchive cannot read)", path);
}
