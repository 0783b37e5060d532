/* test_warm.c - warm-state housekeeping that needs no guest, through the
 * CLI: a removed device takes its warm state along, leftovers of a save
 * that crashed are swept, clearing an unknown device is "not found". */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/fixtures.h"
#include "tests/lib/harness.h"

static const char *CFG = "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                         "  bootargs: console=ttyAMA0\n";

static const char *home_with_demo(const char *name)
{
    const char *home = test_path(name);
    ib_rm_rf(home, NULL);
    fixture_device(home, "demo", CFG);
    return home;
}

/* A fake warm folder home/warm/NAME holding 1 MiB (contents do not matter
 * to removal and accounting). */
static void fake_warm(const char *home, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/warm/%s/ram.mig", home, name);
    char *blob = xmalloc((1u << 20) + 1);
    memset(blob, 'r', 1u << 20);
    blob[1u << 20] = '\0';
    test_write_file(path, blob);
    free(blob);
}

/* A pid that is certainly not running: a child that has been reaped. */
static int dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    return (int)pid;
}

static bool warm_has(const char *home, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/warm/%s", home, name);
    return ib_path_exists(path);
}

TEST(device_remove_takes_the_warm_state_along)
{
    const char *home = home_with_demo("warm-remove");
    fake_warm(home, "demo");
    struct cmd_result r;
    ib_run(&r, home, "device", "remove", "demo", "--yes", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "device demo removed, with its warm state (1.0 MiB freed)");
    cmd_result_free(&r);
    CHECK(!warm_has(home, "demo"));
    /* Without a warm state the message says nothing of one. */
    fixture_device(home, "plain", CFG);
    ib_run(&r, home, "device", "remove", "plain", "--yes", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "device plain removed\n");
    cmd_result_free(&r);
}

TEST(warm_clear_of_an_unknown_device_is_not_found)
{
    const char *home = home_with_demo("warm-unknown");
    struct cmd_result r;
    ib_run(&r, home, "device", "warm", "nosuch", "--clear", NULL);
    CHECK_INT(r.status, 3);
    CHECK_CONTAINS(r.err, "no device named nosuch");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "warm", "../demo", "--clear", NULL);
    CHECK_INT(r.status, 2);
    cmd_result_free(&r);
    /* A known device without a warm state: fine, and said so. */
    ib_run(&r, home, "device", "warm", "demo", "--clear", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "demo has no warm state");
    cmd_result_free(&r);
    /* A warm state whose device is gone can still be cleared. */
    fake_warm(home, "orphan");
    ib_run(&r, home, "device", "warm", "orphan", "--clear", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "warm state of orphan removed (1.0 MiB freed)");
    cmd_result_free(&r);
    CHECK(!warm_has(home, "orphan"));
}

TEST(leftovers_of_a_crashed_save_are_swept)
{
    const char *home = home_with_demo("warm-leftovers");
    int dead = dead_pid();
    char fresh_dead[64], old_dead[64], fresh_live[64], device_like[64];
    snprintf(fresh_dead, sizeof fresh_dead, ".new-demo.%d", dead);
    snprintf(old_dead, sizeof old_dead, "demo.old.%d", dead);
    snprintf(fresh_live, sizeof fresh_live, ".new-demo.%d", (int)getpid());
    snprintf(device_like, sizeof device_like, "x.old.%d", dead);
    fake_warm(home, "demo");
    fake_warm(home, fresh_dead);
    fake_warm(home, old_dead);
    fake_warm(home, fresh_live);
    /* A device may be named like a leftover: its warm state stays. */
    fixture_device(home, device_like, CFG);
    fake_warm(home, device_like);
    struct cmd_result r;
    ib_run(&r, home, "device", "info", "demo", "--json", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "\"warm_bytes\": 1048576");
    cmd_result_free(&r);
    CHECK(!warm_has(home, fresh_dead));
    CHECK(!warm_has(home, old_dead));
    CHECK(warm_has(home, fresh_live)); /* its save may be running now */
    CHECK(warm_has(home, device_like));
    CHECK(warm_has(home, "demo"));
    /* Clearing sweeps too. */
    fake_warm(home, fresh_dead);
    ib_run(&r, home, "device", "warm", "demo", "--clear", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    CHECK(!warm_has(home, fresh_dead));
    CHECK(!warm_has(home, "demo"));
}
