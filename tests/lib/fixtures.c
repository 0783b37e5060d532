/* fixtures.c - see fixtures.h. */
#include "tests/lib/fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "tests/lib/cmd.h"
#include "tests/lib/harness.h"

void fixture_kernel(const char *path, const char *release, const char *upstream)
{
    /* The payload: padding, then the banner, then more padding, so the
     * banner sits well inside the stream. */
    size_t len = 300000;
    char *payload = calloc(1, len);
    for (size_t i = 0; i < len; i++)
        payload[i] = (char)("abcdefgh"[i % 8]);
    char banner[300];
    int n = snprintf(banner, sizeof banner, "Linux version %s (builder@example) (gcc-12) #1 SMP "
                     "Debian %s-1 (2026-01-01)\n", release, upstream);
    memcpy(payload + 200000, banner, (size_t)n);

    size_t cap = len + 65536, used = 0;
    char *gz = malloc(cap);
    struct archive *a = archive_write_new();
    archive_write_set_format_raw(a);
    archive_write_add_filter_gzip(a);
    archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open_memory(a, gz, cap, &used);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "data");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_write_header(a, e);
    archive_write_data(a, payload, len);
    archive_write_close(a);
    archive_write_free(a);
    archive_entry_free(e);

    FILE *f = fopen(path, "wb");
    /* A decompressor stub in front, as in a real zImage. */
    static const char stub[4096] = "\x00\x00\xa0\xe1 zImage decompressor stub";
    fwrite(stub, 1, sizeof stub, f);
    fwrite(gz, 1, used, f);
    fclose(f);
    free(gz);
    free(payload);
}

void fixture_ext2(const char *path, int size_mib, const char *label)
{
    char size[32];
    snprintf(size, sizeof size, "%dM", size_mib);
    char *argv[] = {"mke2fs", "-q", "-F", "-t", "ext2", "-L", (char *)(label ? label : ""),
                    (char *)path, size, NULL};
    struct cmd_result r;
    cmd_run(argv, NULL, NULL, 30, &r);
    if (r.status != 0) {
        fprintf(stderr, "mke2fs failed: %s\n", r.err);
        exit(1);
    }
    cmd_result_free(&r);
}

void fixture_device(const char *home, const char *alias, const char *config)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/devices/%s/config.yaml", home, alias);
    test_write_file(path, config);
    snprintf(path, sizeof path, "%s/devices/%s/rootfs", home, alias);
    mkdir(path, 0755);
}

void fixture_rootfs_from(const char *home, const char *alias, const char *from)
{
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/devices/%s/rootfs", home, from);
    snprintf(dst, sizeof dst, "%s/devices/%s/rootfs", home, alias);
    rmdir(dst); /* fixture_device's empty one */
    char *argv[] = {"cp", "-al", src, dst, NULL};
    struct cmd_result r;
    cmd_run(argv, NULL, NULL, 60, &r);
    CHECK_MSG(r.status == 0, "cp -al %s %s: %s", src, dst, r.err);
    cmd_result_free(&r);
}
