/* test_cli.c - the CLI as scripts see it: messages, exit statuses, --json,
 * -h on every level, nothing written outside the store. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/fixtures.h"
#include "tests/lib/harness.h"

static const char *fresh_home(const char *name)
{
    const char *home = test_path(name);
    ib_rm_rf(home, NULL);
    return home;
}

TEST(kernel_add_list_info_json)
{
    const char *home = fresh_home("cli-kernel");
    fixture_kernel(test_path("zImage"), "6.1.0-50-armmp", "6.1.176");
    struct cmd_result r;
    ib_run(&r, home, "kernel", "add", test_path("zImage"), NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "--name virt.cortex-a15.little-6.1.176");
    cmd_result_free(&r);

    ib_run(&r, home, "kernel", "add", test_path("zImage"), "--name",
           "virt.cortex-a15.little-6.1.176", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "kernel virt.cortex-a15.little-6.1.176 added");
    cmd_result_free(&r);

    ib_run(&r, home, "kernel", "list", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "virt.cortex-a15.little-6.1.176");
    CHECK_CONTAINS(r.out, "cortex-a15");
    cmd_result_free(&r);

    ib_run(&r, home, "kernel", "list", "--json", NULL);
    CHECK_INT(r.status, 0);
    json_error_t jerr;
    json_t *arr = json_loads(r.out, 0, &jerr);
    CHECK_MSG(json_is_array(arr), "not JSON: %s", r.out);
    CHECK_INT(json_array_size(arr), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 0), "version")), "6.1.176");
    json_decref(arr);
    cmd_result_free(&r);

    ib_run(&r, home, "kernel", "info", "virt.cortex-a15.little-6.1.176", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "Linux version 6.1.0-50-armmp");
    CHECK_CONTAINS(r.out, "image_version 6.1.176");
    cmd_result_free(&r);
}

TEST(name_mismatch_warns)
{
    const char *home = fresh_home("cli-mismatch");
    fixture_kernel(test_path("zImage2"), "5.10.0-1-armmp", "5.10.7");
    struct cmd_result r;
    ib_run(&r, home, "kernel", "add", test_path("zImage2"), "--name", "virt.cortex-a7.little-6.0.0",
           NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.err, "the name says version 6.0.0 but the image says 5.10.7");
    cmd_result_free(&r);
}

TEST(bad_names_exit_2_and_write_nothing_outside)
{
    const char *home = fresh_home("cli-bad");
    test_write_file(test_path("blob"), "x");
    const char *bad[] = {"../../evil.a.b-1.2", "/tmp/evil.a.b-1.2", "virt.cortex-a7.little.toto-1.3",
                         ".x.y.z-1.2", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cmd_result r;
        ib_run(&r, home, "kernel", "add", test_path("blob"), "--name", bad[i], NULL);
        CHECK_MSG(r.status == 2, "name \"%s\" gave status %d", bad[i], r.status);
        CHECK_CONTAINS(r.err, "iotbench: ");
        cmd_result_free(&r);
    }
    CHECK(!ib_path_exists(test_path("evil.a.b-1.2")));
    CHECK(!ib_path_exists("/tmp/evil.a.b-1.2"));
    struct cmd_result r;
    ib_run(&r, home, "device", "remove", "../kernels", "--yes", NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "must not contain '/'");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "info", "..", NULL);
    CHECK_INT(r.status, 2);
    cmd_result_free(&r);
    CHECK(ib_path_is_dir(test_path("cli-bad/kernels")));
}

TEST(fs_and_dtb_verbs)
{
    const char *home = fresh_home("cli-fs");
    fixture_ext2(test_path("host.img"), 8, "ibhost");
    struct cmd_result r;
    ib_run(&r, home, "fs", "add", test_path("host.img"), "--name",
           "virt.cortex-a15.little-6.1.176.ext2", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    ib_run(&r, home, "fs", "info", "virt.cortex-a15.little-6.1.176.ext2", "--json", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "\"fs_label\": \"ibhost\"");
    CHECK_CONTAINS(r.out, "\"fs_type\": \"ext2\"");
    cmd_result_free(&r);
    test_write_file(test_path("virt-generic.dtb"), "dtb");
    ib_run(&r, home, "dtb", "add", test_path("virt-generic.dtb"), NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    ib_run(&r, home, "dtb", "list", NULL);
    CHECK_CONTAINS(r.out, "virt-generic.dtb");
    cmd_result_free(&r);
    test_write_file(test_path("nodash.dtb"), "dtb");
    ib_run(&r, home, "dtb", "add", test_path("nodash.dtb"), NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "must look like <platform>-<cpu>.dtb");
    cmd_result_free(&r);
    ib_run(&r, home, "fs", "remove", "virt.cortex-a15.little-6.1.176.ext2", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    ib_run(&r, home, "fs", "remove", "virt.cortex-a15.little-6.1.176.ext2", NULL);
    CHECK_INT(r.status, 3);
    cmd_result_free(&r);
}

static const char *CFG_OK = "version: \"1.0\"\ndevice:\n  name: Camera\n  machine:\n"
                            "    cpu: cortex-a15\n    memory: 256M\n"
                            "  bootargs: console=ttyAMA0 root=/dev/vda rw\n  drive_type: virtio\n"
                            "  network:\n    nic0: user\n  redirect:\n    nic0:\n"
                            "      http: tcp,8080,80\n";

TEST(device_check_reports_each_choice)
{
    const char *home = fresh_home("cli-check");
    fixture_device(home, "cam", CFG_OK);
    struct cmd_result r;
    ib_run(&r, home, "device", "check", "cam", NULL);
    CHECK_INT(r.status, 3);
    CHECK_CONTAINS(r.out, "kernel   MISSING");
    CHECK_CONTAINS(r.err, "no kernel matches virt.cortex-a15.little");
    cmd_result_free(&r);

    fixture_kernel(test_path("zImage"), "6.1.0-50-armmp", "6.1.176");
    ib_run(&r, home, "kernel", "add", test_path("zImage"), "--name",
           "virt.cortex-a15.little-6.1.176", NULL);
    cmd_result_free(&r);
    fixture_ext2(test_path("h.img"), 8, NULL);
    ib_run(&r, home, "fs", "add", test_path("h.img"), "--name",
           "virt.cortex-a15.little-6.1.176.ext2", NULL);
    cmd_result_free(&r);
    ib_run(&r, home, "device", "check", "cam", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "kernel   ok     virt.cortex-a15.little-6.1.176");
    CHECK_CONTAINS(r.out, "hostfs   ok     virt.cortex-a15.little-6.1.176.ext2");
    CHECK_CONTAINS(r.out, "ready to start");
    cmd_result_free(&r);

    ib_run(&r, home, "device", "list", "--json", NULL);
    CHECK_CONTAINS(r.out, "\"status\": \"ok\"");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "info", "cam", NULL);
    CHECK_CONTAINS(r.out, "redirect nic0.http: tcp 127.0.0.1:8080 -> guest 80");
    cmd_result_free(&r);

    ib_run(&r, home, "kernel", "remove", "virt.cortex-a15.little-6.1.176", NULL);
    CHECK_INT(r.status, 5);
    CHECK_CONTAINS(r.err, "used by device cam");
    cmd_result_free(&r);
}

TEST(device_check_config_errors_exit_2)
{
    const char *home = fresh_home("cli-cfg");
    fixture_device(home, "bad", "version: \"1.0\"\ndevice:\n  bootargs: x\n  machine:\n"
                                "    memory: lots\n");
    struct cmd_result r;
    ib_run(&r, home, "device", "check", "bad", NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "devices/bad/config.yaml:5:13: device.machine.memory: expected a size "
                          "like 256M or 256, got \"lots\"");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "list", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "error: ");
    cmd_result_free(&r);
    fixture_device(home, "warn", "version: \"1.0\"\ndevice:\n  bootargs: x\n  colour: red\n");
    ib_run(&r, home, "device", "info", "warn", NULL);
    CHECK_CONTAINS(r.err, "warning: ");
    CHECK_CONTAINS(r.err, "config.yaml:4:3: unknown key device.colour (ignored)");
    cmd_result_free(&r);
}

TEST(help_on_every_level_and_unknowns)
{
    const char *home = fresh_home("cli-help");
    struct cmd_result r;
    ib_run(&r, home, "-h", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "usage: iotbench");
    cmd_result_free(&r);
    const char *nouns[] = {"kernel", "fs", "dtb", "device"};
    for (size_t i = 0; i < 4; i++) {
        ib_run(&r, home, nouns[i], "-h", NULL);
        CHECK_INT(r.status, 0);
        CHECK_CONTAINS(r.out, "list");
        cmd_result_free(&r);
        ib_run(&r, home, nouns[i], "list", "-h", NULL);
        CHECK_INT(r.status, 0);
        CHECK_CONTAINS(r.out, "--json");
        cmd_result_free(&r);
    }
    ib_run(&r, home, "kernel", "frobnicate", NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "kernel has no verb \"frobnicate\"");
    cmd_result_free(&r);
    ib_run(&r, home, "kernel", "list", "--colour", NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "unknown option --colour");
    cmd_result_free(&r);
    ib_run(&r, home, "kernel", "add", NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "missing argument");
    cmd_result_free(&r);
    ib_run(&r, home, "teapot", NULL);
    CHECK_INT(r.status, 2);
    cmd_result_free(&r);
}

TEST(device_remove_needs_confirmation)
{
    const char *home = fresh_home("cli-rm");
    fixture_device(home, "cam", CFG_OK);
    struct cmd_result r;
    ib_run(&r, home, "device", "remove", "cam", NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "--yes");
    CHECK(ib_path_is_dir(test_path("cli-rm/devices/cam")));
    cmd_result_free(&r);
    ib_run(&r, home, "device", "remove", "cam", "--yes", NULL);
    CHECK_INT(r.status, 0);
    CHECK(!ib_path_exists(test_path("cli-rm/devices/cam")));
    cmd_result_free(&r);
}

TEST(kernel_add_initrd_same_skipped_different_refused)
{
    char home[4096]; /* test_path() reuses its buffers */
    snprintf(home, sizeof home, "%s", fresh_home("cli-initrd"));
    const char *kname = "virt.cortex-a15.little-6.1.176";
    fixture_kernel(test_path("zImage-i"), "6.1.0-50-armmp", "6.1.176");
    test_write_file(test_path("initrd-a"), "initrd A");
    test_write_file(test_path("initrd-b"), "initrd B");
    struct cmd_result r;
    ib_run(&r, home, "kernel", "add", test_path("zImage-i"), "--name", kname, "--initrd",
           test_path("initrd-a"), NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "added");
    cmd_result_free(&r);
    /* The same kernel and the same initrd again: nothing to do. */
    ib_run(&r, home, "kernel", "add", test_path("zImage-i"), "--name", kname, "--initrd",
           test_path("initrd-a"), NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "is already in the store (same bytes); nothing copied");
    cmd_result_free(&r);
    /* The same kernel with a different initrd: refused, the stored one kept. */
    ib_run(&r, home, "kernel", "add", test_path("zImage-i"), "--name", kname, "--initrd",
           test_path("initrd-b"), NULL);
    CHECK_MSG(r.status == 5, "status %d: %s", r.status, r.err);
    CHECK_CONTAINS(r.err, "a different initrd for kernel " "virt.cortex-a15.little-6.1.176");
    CHECK(strstr(r.out, "nothing copied") == NULL);
    cmd_result_free(&r);
    char *stored = test_read_file(test_path("cli-initrd/initrds/virt.cortex-a15.little-6.1.176"));
    CHECK_STR(stored, "initrd A");
    free(stored);
    /* A new kernel name with a clashing initrd of its own stays out entirely. */
    test_write_file(test_path("cli-initrd/initrds/virt.cortex-a15.little-6.1.177"), "stale");
    ib_run(&r, home, "kernel", "add", test_path("zImage-i"), "--name",
           "virt.cortex-a15.little-6.1.177", "--initrd", test_path("initrd-a"), NULL);
    CHECK_MSG(r.status == 5, "status %d: %s", r.status, r.err);
    cmd_result_free(&r);
    CHECK(!ib_path_exists(test_path("cli-initrd/kernels/virt.cortex-a15.little-6.1.177")));
}

TEST(add_missing_file_is_not_found_everywhere)
{
    char home[4096]; /* test_path() reuses its buffers */
    snprintf(home, sizeof home, "%s", fresh_home("cli-missing"));
    struct cmd_result r;
    ib_run(&r, home, "kernel", "add", test_path("no-such-zImage"), "--name",
           "virt.cortex-a15.little-6.1.176", NULL);
    CHECK_INT(r.status, 3);
    cmd_result_free(&r);
    ib_run(&r, home, "device", "add", test_path("no-such.piotr"), NULL);
    CHECK_INT(r.status, 3);
    CHECK(strstr(r.out, "device") == NULL);
    cmd_result_free(&r);
    /* A folder is there but is no file: bad input, not "not found". */
    ib_run(&r, home, "kernel", "add", test_tmpdir(), "--name", "virt.cortex-a15.little-6.1.176",
           NULL);
    CHECK_INT(r.status, 2);
    cmd_result_free(&r);
}

TEST(fs_add_names_end_in_ext_and_match_the_superblock)
{
    char home[4096]; /* test_path() reuses its buffers */
    snprintf(home, sizeof home, "%s", fresh_home("cli-fsname"));
    fixture_ext2(test_path("fsname.img"), 8, NULL);
    struct cmd_result r;
    ib_run(&r, home, "fs", "add", test_path("fsname.img"), "--name",
           "virt.cortex-a15.little-6.1.176.squashfs", NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "must end in .ext2, .ext3 or .ext4, not .squashfs");
    cmd_result_free(&r);
    CHECK(!ib_path_exists(test_path("cli-fsname/hostfs/virt.cortex-a15.little-6.1.176.squashfs")));
    ib_run(&r, home, "fs", "add", test_path("fsname.img"), "--name",
           "virt.cortex-a15.little-6.1.176.ext4", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.err, "warning: the name says ext4 but the superblock says ext2");
    cmd_result_free(&r);
}

TEST(dtb_messages_never_suggest_name)
{
    char home[4096]; /* test_path() reuses its buffers */
    snprintf(home, sizeof home, "%s", fresh_home("cli-dtbname"));
    struct cmd_result r;
    test_write_file(test_path("virt-a15.dtb"), "one");
    ib_run(&r, home, "dtb", "add", test_path("virt-a15.dtb"), NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    mkdir(test_path("other"), 0755);
    test_write_file(test_path("other/virt-a15.dtb"), "two");
    ib_run(&r, home, "dtb", "add", test_path("other/virt-a15.dtb"), NULL);
    CHECK_INT(r.status, 5);
    CHECK_CONTAINS(r.err, "a different dtb named virt-a15.dtb");
    CHECK_MSG(strstr(r.err, "--name") == NULL, "mentions --name: %s", r.err);
    cmd_result_free(&r);
    test_write_file(test_path("nodash2.dtb"), "dtb");
    ib_run(&r, home, "dtb", "add", test_path("nodash2.dtb"), NULL);
    CHECK_INT(r.status, 2);
    CHECK_MSG(strstr(r.err, "--name") == NULL, "mentions --name: %s", r.err);
    cmd_result_free(&r);
}

TEST(device_with_a_linked_kernel_is_refused_by_check_and_export)
{
    char home[4096]; /* test_path() reuses its buffers */
    snprintf(home, sizeof home, "%s", fresh_home("cli-link"));
    fixture_ext2(test_path("link-h.img"), 8, NULL);
    struct cmd_result r;
    ib_run(&r, home, "fs", "add", test_path("link-h.img"), "--name",
           "virt.cortex-a15.little-6.1.176.ext2", NULL);
    cmd_result_free(&r);
    fixture_device(home, "cam", "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                                "  kernel: zImage\n  bootargs: x\n");
    char link[4200];
    snprintf(link, sizeof link, "%s/devices/cam/zImage", home);
    CHECK(symlink("/etc/passwd", link) == 0);
    ib_run(&r, home, "device", "check", "cam", NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "is a symlink");
    CHECK(strstr(r.out, "ready to start") == NULL);
    cmd_result_free(&r);
    char dest[4200];
    snprintf(dest, sizeof dest, "%s/cam.piotr", test_tmpdir());
    ib_run(&r, home, "device", "export", "cam", dest, NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "device.kernel \"zImage\"");
    cmd_result_free(&r);
    CHECK(!ib_path_exists(dest));
}

/* tests/run (what `make test` ends with) must not count as passed a binary
 * that printed a clean summary and then failed: a LeakSanitizer report or a
 * crash at exit. */
TEST(tests_run_counts_a_failing_exit_after_a_clean_summary)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_path("run-tree"));
    ib_rm_rf(dir, NULL);
    char bin[4200];
    snprintf(bin, sizeof bin, "%s/build/asan/tests/unit", dir);
    struct ib_error e = {0};
    CHECK(ib_mkdir_p(bin, 0755, &e) == 0);
    const char *fakes[][2] = {
        {"test_a_leak", "echo '3 passed, 0 failed'; echo 'ERROR: LeakSanitizer' >&2; exit 23"},
        {"test_b_ok", "echo '2 passed, 0 failed'"},
        {"test_c_fail", "echo '1 passed, 1 failed'; exit 1"},
    };
    for (size_t i = 0; i < IB_ARRAY_LEN(fakes); i++) {
        snprintf(bin, sizeof bin, "%s/build/asan/tests/unit/%s", dir, fakes[i][0]);
        char *script = xasprintf("#!/bin/sh\n%s\n", fakes[i][1]);
        test_write_file(bin, script);
        free(script);
        CHECK(chmod(bin, 0755) == 0);
    }
    char *cmd = xasprintf("cd '%s' && sh '%s/tests/run' unit", dir, test_src_dir());
    char *argv[] = {"sh", "-c", cmd, NULL};
    struct cmd_result r;
    cmd_run(argv, NULL, NULL, 30, &r);
    free(cmd);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.out, "FAIL build/asan/tests/unit/test_a_leak: exit status 23 after "
                          "reporting no failure");
    /* The last line is the total: 3 + 2 + 1 passed, the leak and the failure failed. */
    CHECK_CONTAINS(r.out, "test_c_fail\n1 passed, 1 failed\n6 passed, 2 failed\n");
    size_t n = strlen(r.out);
    CHECK(n > 0 && strcmp(r.out + n - strlen("6 passed, 2 failed\n"), "6 passed, 2 failed\n") == 0);
    cmd_result_free(&r);
}

/* Every kind of config.yaml error is bad input (exit 2) for the commands
 * that read it, with the file, line and column in the message. */
TEST(config_errors_exit_2_with_their_position)
{
    char home[4096]; /* test_path() reuses its buffers */
    snprintf(home, sizeof home, "%s", fresh_home("cli-cfgerr"));
    static const char *const cases[][3] = {
        {"empty", "", "config.yaml:1:1: the file is empty"},
        {"syntax", "version: \"1.0\"\ndevice: [a, b\n",
         "config.yaml:3:1: YAML syntax error: did not find expected ',' or ']'"},
        {"tab", "version: \"1.0\"\ndevice:\n\tbootargs: x\n",
         "config.yaml:3:1: tab character in indentation"},
        {"dup", "version: \"1.0\"\ndevice:\n  bootargs: a\n  bootargs: b\n",
         "config.yaml:4:3: device.bootargs: duplicate key (first written at line 3, column 3)"},
        {"type", "version: \"1.0\"\ndevice:\n  bootargs: x\n  machine: virt\n",
         "config.yaml:4:12: device.machine: expected a mapping of keys, got a value"},
        {"redirect", "version: \"1.0\"\ndevice:\n  bootargs: x\n  network:\n    nic0: user\n"
                     "  redirect:\n    nic0:\n      ssh: tcp,99999,22\n",
         "config.yaml:8:12: device.redirect.nic0.ssh: port 99999 in \"tcp,99999,22\" is out of "
         "range 1-65535"},
        {"version", "version: \"2.0\"\ndevice:\n  bootargs: x\n",
         "config.yaml:1:10: version: expected \"1.0\""},
    };
    const char *verbs[] = {"check", "info", "start"};
    for (size_t i = 0; i < IB_ARRAY_LEN(cases); i++) {
        fixture_device(home, cases[i][0], cases[i][1]);
        for (size_t v = 0; v < IB_ARRAY_LEN(verbs); v++) {
            struct cmd_result r;
            ib_run(&r, home, "device", verbs[v], cases[i][0], NULL);
            CHECK_MSG(r.status == 2, "device %s %s: status %d: %s", verbs[v], cases[i][0],
                      r.status, r.err);
            CHECK_MSG(strstr(r.err, cases[i][2]) != NULL, "device %s %s: %s", verbs[v],
                      cases[i][0], r.err);
            cmd_result_free(&r);
        }
    }
    /* A device folder without its config.yaml. */
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/devices/nocfg/rootfs", home);
    struct ib_error e = {0};
    CHECK(ib_mkdir_p(dir, 0755, &e) == 0);
    struct cmd_result r;
    ib_run(&r, home, "device", "check", "nocfg", NULL);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "devices/nocfg/config.yaml: No such file or directory");
    cmd_result_free(&r);
}
