/* test_qemu_argv.c - the QEMU command line for every config key, against
 * golden files in tests/data/argv/ (one argument per line). Run with
 * IB_UPDATE_GOLDEN=1 to rewrite them after a deliberate change, then read
 * the diff. */
#include <stdlib.h>

#include "core/config.h"
#include "core/qemu_argv.h"
#include "core/util.h"
#include "tests/lib/harness.h"

static char *joined(char **argv)
{
    size_t len = 1;
    for (char **p = argv; *p; p++)
        len += strlen(*p) + 1;
    char *s = xmalloc(len), *o = s;
    for (char **p = argv; *p; p++)
        o += sprintf(o, "%s\n", *p);
    *o = '\0';
    return s;
}

/* Builds the argv of config text with in's other fields and compares it
 * with tests/data/argv/<name>.argv. */
static void check_golden(const char *name, const char *yaml, struct qemu_argv_input in)
{
    struct ib_error err = {0};
    struct config *cfg;
    CHECK_MSG(config_parse(yaml, strlen(yaml), "config.yaml", &cfg, &err) == 0, "%s", err.msg);
    in.cfg = cfg;
    char **argv;
    size_t argc;
    CHECK_MSG(qemu_argv_build(&in, &argv, &argc, &err) == 0, "%s", err.msg);
    CHECK(argv[argc] == NULL);
    char *got = joined(argv);
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/argv/%s.argv", test_src_dir(), name);
    if (getenv("IB_UPDATE_GOLDEN"))
        test_write_file(path, got);
    char *want = test_read_file(path);
    CHECK_MSG(want != NULL, "missing golden file %s", path);
    CHECK_STR(got, want);
    free(want);
    free(got);
    qemu_argv_free(argv);
    config_free(cfg);
}

static const struct qemu_argv_input BASE = {
    .instance = "brave_turing",
    .dir = "/home/u/.iotbench/run/brave_turing",
    .kernel = "/home/u/.iotbench/kernels/virt.cortex-a15.little-6.1.176",
    .initrd = "/home/u/.iotbench/initrds/virt.cortex-a15.little-6.1.176",
    .rootfs = "/home/u/.iotbench/devices/demo/rootfs",
};

TEST(golden_demo_virtfs_user_net_forward)
{
    check_golden("demo",
                 "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n    memory: 256M\n"
                 "  bootargs: console=ttyAMA0 root=/dev/vda rw\n  drive_type: virtio\n"
                 "  network:\n    nic0: user\n  redirect:\n    nic0:\n      http: tcp,8080,80\n"
                 "      dns: udp,5353,53\n",
                 BASE);
}

TEST(golden_port_offset_gdbstub_nonroot)
{
    struct qemu_argv_input in = BASE;
    in.port_offset = 100;
    in.gdbstub_port = 41234;
    in.mapped_xattr = true;
    check_golden("offset-gdbstub",
                 "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a7\n  bootargs: x\n"
                 "  drive_type: virtio\n  network:\n    nic0: user\n  redirect:\n    nic0:\n"
                 "      http: tcp,8080,80\n",
                 in);
}

TEST(golden_embed_sd_no_network)
{
    struct qemu_argv_input in = BASE;
    in.has_sd = true;
    in.initrd = NULL;
    check_golden("embed-sd",
                 "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n  bootargs: x\n"
                 "  drive_type: virtio\n  guestfs: embed\n  sd: sdcard\n",
                 in);
}

TEST(golden_scsi_default_drive)
{
    check_golden("scsi", "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                         "  bootargs: root=/dev/sda\n", BASE);
}

TEST(golden_pci_everything)
{
    struct qemu_argv_input in = BASE;
    in.dtb = "/home/u/.iotbench/dtbs/virt-generic.dtb";
    check_golden("pci",
                 "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n    dtb: auto\n"
                 "  bootargs: x\n  drive_type: pci\n  virtio: pci\n  sd: card\n"
                 "  network:\n    nic0: tap,tap0\n    nic1: user\n",
                 in);
}

TEST(golden_other_platform_and_comma_path)
{
    struct qemu_argv_input in = BASE;
    in.rootfs = "/data/dev,ices/x/rootfs";
    check_golden("platform-comma",
                 "version: \"1.0\"\ndevice:\n  machine:\n    platform: vexpress-a9\n"
                 "    cpu: cortex-a9\n    memory: 1G\n  bootargs: x\n  drive_type: virtio\n",
                 in);
}

TEST(golden_warm_restore_quotes_the_state_path)
{
    struct qemu_argv_input in = BASE;
    in.incoming_file = "/home/o'brien/.iotbench/warm/demo/ram.mig";
    check_golden("warm", "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                         "  bootargs: x\n  drive_type: virtio\n", in);
}

TEST(port_offset_out_of_range_is_refused)
{
    struct ib_error err = {0};
    struct config *cfg;
    const char *yaml = "version: \"1.0\"\ndevice:\n  bootargs: x\n  network:\n    nic0: user\n"
                       "  redirect:\n    nic0:\n      http: tcp,65000,80\n";
    CHECK(config_parse(yaml, strlen(yaml), "c", &cfg, &err) == 0);
    struct qemu_argv_input in = BASE;
    in.cfg = cfg;
    in.port_offset = 1000;
    char **argv;
    size_t argc;
    CHECK(qemu_argv_build(&in, &argv, &argc, &err) < 0);
    CHECK_CONTAINS(err.msg, "host port 65000 + offset 1000 is out of range");
    config_free(cfg);
}

/* panic=1 (with -no-reboot) ends QEMU on a guest panic; a device that
 * sets panic= itself keeps its value, and only a whole word counts. */
TEST(kernel_panic_ends_qemu_unless_the_device_sets_panic)
{
    struct ib_error err = {0};
    const char *cases[][2] = {
        {"console=ttyAMA0", "console=ttyAMA0 iotbench.guestfs=virtfs panic=1"},
        {"console=ttyAMA0 panic=0", "console=ttyAMA0 panic=0 iotbench.guestfs=virtfs"},
        {"panic=-1 quiet", "panic=-1 quiet iotbench.guestfs=virtfs"},
        {"oops=panic nopanic=3", "oops=panic nopanic=3 iotbench.guestfs=virtfs panic=1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml, "version: \"1.0\"\ndevice:\n  bootargs: %s\n", cases[i][0]);
        struct config *cfg;
        CHECK_MSG(config_parse(yaml, strlen(yaml), "c", &cfg, &err) == 0, "%s", err.msg);
        char *line = qemu_argv_kernel_cmdline(cfg);
        CHECK_STR(line, cases[i][1]);
        free(line);
        config_free(cfg);
    }
}

TEST(display_quotes_for_humans)
{
    char *argv[] = {"qemu-system-arm", "-append", "console=ttyAMA0 root=/dev/vda", "it's", NULL};
    char *s = qemu_argv_display(argv);
    CHECK_STR(s, "qemu-system-arm -append 'console=ttyAMA0 root=/dev/vda' 'it'\\''s'");
    free(s);
}
