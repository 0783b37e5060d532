/* test_stock.c - stock/register.sh, the script behind `make stock`, run for
 * real against the CLI under test and a temporary store: a rebuilt image
 * replaces the one registered before, an unchanged one is left alone. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/fixtures.h"
#include "tests/lib/harness.h"

#define VERSION "6.1.176"
#define FS_NAME "virt.cortex-a15.little-" VERSION ".ext2"

/* A build/stock-like folder: kernel, initrd, host filesystem, demo device. */
static const char *make_stock_out(const char *name)
{
    const char *out = test_path(name);
    ib_rm_rf(out, NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s/kernel-version", out);
    test_write_file(path, VERSION "\n");
    snprintf(path, sizeof path, "%s/zImage", out);
    fixture_kernel(path, "6.1.0-50-armmp", VERSION);
    snprintf(path, sizeof path, "%s/initrd.gz", out);
    test_write_file(path, "not really an initramfs");
    snprintf(path, sizeof path, "%s/hostfs.ext2", out);
    fixture_ext2(path, 2, "first");
    snprintf(path, sizeof path, "%s/demo/config.yaml", out);
    test_write_file(path, "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                          "  bootargs: console=ttyAMA0\n");
    snprintf(path, sizeof path, "%s/demo/rootfs", out);
    mkdir(path, 0755);
    return out;
}

static void run_register(const char *home, const char *out, struct cmd_result *r)
{
    char script[4096], env_home[4200], env_out[4200];
    snprintf(script, sizeof script, "%s/stock/register.sh", test_src_dir());
    snprintf(env_home, sizeof env_home, "IOTBENCH_HOME=%s", home);
    snprintf(env_out, sizeof env_out, "STOCK_OUT=%s", out);
    char *argv[] = {"sh", script, (char *)ib_bin(), NULL};
    char *env[] = {env_home, env_out, NULL};
    cmd_run(argv, env, NULL, 60, r);
}

TEST(register_replaces_a_rebuilt_hostfs)
{
    const char *home = test_path("stock-home");
    ib_rm_rf(home, NULL);
    const char *out = make_stock_out("stock-out");
    char built[4096], stored[4096];
    snprintf(built, sizeof built, "%s/hostfs.ext2", out);
    snprintf(stored, sizeof stored, "%s/hostfs/%s", home, FS_NAME);

    struct cmd_result r;
    run_register(home, out, &r);
    CHECK_MSG(r.status == 0, "first run: status %d\n%s%s", r.status, r.out, r.err);
    CHECK_CONTAINS(r.out, "device demo installed");
    cmd_result_free(&r);
    CHECK(ib_files_equal(built, stored, NULL) == 1);

    /* Nothing rebuilt: nothing replaced. */
    run_register(home, out, &r);
    CHECK_MSG(r.status == 0, "second run: status %d\n%s%s", r.status, r.out, r.err);
    CHECK_NOT_CONTAINS(r.out, "was rebuilt");
    cmd_result_free(&r);

    /* The host filesystem is rebuilt (another label: other bytes). */
    fixture_ext2(built, 2, "second");
    CHECK(ib_files_equal(built, stored, NULL) == 0);
    run_register(home, out, &r);
    CHECK_MSG(r.status == 0, "third run: status %d\n%s%s", r.status, r.out, r.err);
    CHECK_CONTAINS(r.out, FS_NAME " was rebuilt: replacing it");
    CHECK_CONTAINS(r.out, "virt.cortex-a7.little-" VERSION ".ext2 was rebuilt");
    CHECK_NOT_CONTAINS(r.out, "virt.cortex-a15.little-" VERSION " was rebuilt");
    cmd_result_free(&r);
    CHECK_MSG(ib_files_equal(built, stored, NULL) == 1, "the store kept the old host filesystem");
}

TEST(register_fails_loudly_on_other_errors)
{
    const char *home = test_path("stock-home-bad");
    ib_rm_rf(home, NULL);
    const char *out = make_stock_out("stock-out-bad");
    char path[4096];
    snprintf(path, sizeof path, "%s/hostfs.ext2", out);
    unlink(path);
    struct cmd_result r;
    run_register(home, out, &r);
    CHECK(r.status != 0);
    CHECK_CONTAINS(r.err, "hostfs.ext2");
    cmd_result_free(&r);
}
