/* test_package_boot.c - a device exported from one store boots in another:
 * `device export` carries the stock kernel, initrd and host filesystem it
 * uses, `device add` installs them under the same names in a fresh home,
 * and the imported demo serves its page. A skeleton from `device create`
 * boots and has the shell its init.sh needs. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/guest.h"
#include "tests/lib/harness.h"

TEST(exported_demo_boots_after_import_into_a_fresh_home)
{
    test_set_timeout(240);
    const char *home = guest_home();
    const char *archive = test_path("demo.piotr");
    struct cmd_result r;
    ib_run(&r, home, "device", "export", "demo", archive, NULL);
    CHECK_MSG(r.status == 0, "export: %s", r.err);
    cmd_result_free(&r);

    const char *fresh = test_path("fresh-home");
    ib_run(&r, fresh, "device", "add", archive, "--dry-run", NULL);
    CHECK_MSG(r.status == 0, "dry run: %s", r.err);
    CHECK_CONTAINS(r.out, "virt.cortex-a15.little-");
    cmd_result_free(&r);
    ib_run(&r, fresh, "kernel", "list", NULL);
    CHECK_CONTAINS(r.out, "no kernels"); /* the dry run installed nothing */
    cmd_result_free(&r);

    ib_run(&r, fresh, "device", "add", archive, NULL);
    CHECK_MSG(r.status == 0, "import: %s", r.err);
    cmd_result_free(&r);
    ib_run(&r, fresh, "device", "check", "demo", NULL);
    CHECK_MSG(r.status == 0, "check: %s%s", r.out, r.err);
    CHECK_CONTAINS(r.out, "initrd   ok");
    cmd_result_free(&r);

    int offset = guest_free_offset();
    char *err = NULL;
    CHECK_MSG(guest_start(fresh, "demo", "imported", offset, "--target", &err) == 0, "%s", err);
    free(err);
    ib_run(&r, fresh, "instance", "wait", "imported", "--for", "target", "--timeout", "90", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    char *page = guest_http_get(8080 + offset, "/", 20000);
    CHECK_CONTAINS(page, "iotbench demo device");
    free(page);
}

/* A skeleton from `device create` starts its services as it is: init.sh
 * (#!/bin/sh ... exec /bin/sh) runs under chroot into rootfs/, where the
 * copy of the demo's busybox provides the shell. */
TEST(created_skeleton_boots_to_target_and_runs_its_shell)
{
    test_set_timeout(180);
    const char *home = guest_home();
    struct cmd_result r;
    ib_run(&r, home, "device", "create", "skel", NULL);
    CHECK_MSG(r.status == 0, "create: %s", r.err);
    CHECK_CONTAINS(r.err, "rootfs/bin/busybox is a copy of the demo device's");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "check", "skel", NULL);
    CHECK_MSG(r.status == 0, "check: %s%s", r.out, r.err);
    cmd_result_free(&r);

    int offset = guest_free_offset();
    char *err = NULL;
    CHECK_MSG(guest_start(home, "skel", "skel1", offset, "--target", &err) == 0, "%s", err);
    free(err);
    ib_run(&r, home, "instance", "wait", "skel1", "--for", "target", "--timeout", "90", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    int status = -1;
    char *out = guest_sh(home, "skel1",
                         "cat /run/iotbench/target.log; "
                         "chroot /target /bin/sh -c 'echo shell-$((6*7))'",
                         &status);
    CHECK_MSG(out != NULL && strstr(out, "shell-42") != NULL, "status %d: %s", status,
              out ? out : "(no reply)");
    CHECK_MSG(out == NULL || strstr(out, "not found") == NULL, "init.sh failed: %s", out);
    free(out);
    ib_run(&r, home, "device", "stop", "skel1", NULL);
    CHECK_MSG(r.status == 0, "stop: %s", r.err);
    cmd_result_free(&r);
}
