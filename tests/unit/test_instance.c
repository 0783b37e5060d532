/* test_instance.c - what instances report without a guest: the readiness
 * read from a console log of any size. */
#include <stdlib.h>

#include "core/instance.h"
#include "core/util.h"
#include "tests/lib/harness.h"

/* A log of `size` bytes of kernel-like lines with `marker` at offset `at`
 * (marker NULL: none). */
static const char *write_log(const char *name, size_t size, const char *marker, size_t at)
{
    const char *path = test_path(name);
    char *text = xmalloc(size + 1);
    static const char line[] = "[    1.234567] virtio_blk virtio1: [vda] 4096 512-byte blocks\n";
    for (size_t i = 0; i < size; i++)
        text[i] = line[i % (sizeof line - 1)];
    if (marker)
        memcpy(text + at, marker, strlen(marker));
    text[size] = '\0';
    test_write_file(path, text);
    free(text);
    return path;
}

static enum instance_ready readiness_of(const char *log)
{
    /* No agent socket: the level stops at what the console says. */
    struct instance_info info = {.console_log = (char *)log,
                                 .qga_sock = (char *)test_path("no-such-qga.sock")};
    return instance_readiness(&info);
}

TEST(readiness_of_a_big_console_log)
{
    /* Past the old 4 MiB cap the read failed and the level fell to none. */
    const char *log = write_log("big-banner.log", 6u << 20, "Host system ready", 200000);
    CHECK_STR(instance_ready_name(readiness_of(log)), "banner");
    log = write_log("big-plain.log", 6u << 20, NULL, 0);
    CHECK_STR(instance_ready_name(readiness_of(log)), "kernel");
    /* The banner across the boundary of two reads. */
    log = write_log("straddle.log", 1u << 20, "Host system ready", 65536 - 5);
    CHECK_STR(instance_ready_name(readiness_of(log)), "banner");
    log = write_log("prompt.log", 100000, "[Host]# ", 99000);
    CHECK_STR(instance_ready_name(readiness_of(log)), "banner");
}

TEST(readiness_without_a_console)
{
    CHECK_STR(instance_ready_name(readiness_of(test_path("missing.log"))), "qemu");
    CHECK_STR(instance_ready_name(readiness_of(write_log("empty.log", 0, NULL, 0))), "qemu");
    CHECK_STR(instance_ready_name(readiness_of(write_log("short.log", 10, NULL, 0))), "kernel");
}
