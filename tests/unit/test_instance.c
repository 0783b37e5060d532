/* test_instance.c - what instances report without a guest: the readiness
 * read from a console log of any size. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/instance.h"
#include "core/store.h"
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

/* A dead instance whose console log is far bigger than anything read whole:
 * the reason still comes from the log's end (it used to be read whole, up
 * to 64 MiB, on the workbench's UI loop - and past that not at all). */
TEST(death_reason_from_the_end_of_a_huge_console_log)
{
    const char *home = test_path("dead-home");
    ib_rm_rf(home, NULL);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/run/gone", home);
    CHECK(ib_mkdir_p(dir, 0700, NULL) == 0);
    /* A pid that existed and is gone: a reaped child's. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    char path[PATH_MAX + 32], meta[256];
    snprintf(meta, sizeof meta,
             "{\"format\": 1, \"name\": \"gone\", \"device\": \"demo\", \"pid\": %d, "
             "\"started_ms\": 1, \"forwards\": [], \"argv\": []}",
             (int)pid);
    snprintf(path, sizeof path, "%s/meta.json", dir);
    test_write_file(path, meta);
    /* 100 MiB, sparse but for the end: the boot, then the panic. */
    snprintf(path, sizeof path, "%s/console.log", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    static const char end[] = "\n[  9.1] Kernel panic - not syncing: Attempted to kill init!\n"
                              "[  9.2] ---[ end Kernel panic - not syncing ]---\n";
    CHECK(pwrite(fd, end, sizeof end - 1, 100 << 20) == (ssize_t)(sizeof end - 1));
    close(fd);

    struct store st;
    struct ib_error err;
    CHECK(store_open(&st, home, &err) == 0);
    struct instance_info *list;
    size_t n;
    CHECK(instance_list(&st, &list, &n, &err) == 0);
    CHECK_INT((int)n, 1);
    CHECK(list[0].state == INSTANCE_DEAD);
    CHECK_CONTAINS(list[0].dead_reason, "guest kernel panic: Kernel panic - not syncing: "
                                        "Attempted to kill init!");
    CHECK_CONTAINS(list[0].last_console, "end Kernel panic");
    CHECK(!ib_path_exists(dir)); /* cleaned once explained */
    instance_list_free(list, n);
    store_close(&st);
}
