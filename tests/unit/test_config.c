/* test_config.c - config.yaml: Piotr's schema, defaults, and one precise
 * message (file:line:column, key path, what was expected) per bad input. */
#include <stdlib.h>

#include "core/config.h"
#include "tests/lib/harness.h"

static struct ib_error err;

/* Parses text; returns the config or NULL with err filled. */
static struct config *parse(const char *text)
{
    struct config *cfg = NULL;
    ib_err_clear(&err);
    if (config_parse(text, strlen(text), "config.yaml", &cfg, &err) < 0)
        return NULL;
    return cfg;
}

static const char *FULL =
    "version: \"1.0\"\n"
    "device:\n"
    "  name: \"Demo camera\"\n"
    "  machine:\n"
    "    platform: virt\n"
    "    cpu: cortex-a7\n"
    "    endian: little\n"
    "    memory: 512M\n"
    "    dtb: auto\n"
    "  kernel: 5.10.7\n"
    "  bootargs: \"root=/dev/vda rw console=ttyAMA0,115200\"\n"
    "  hostfs: virt\n"
    "  guestfs: embed\n"
    "  drive_type: virtio\n"
    "  virtio: pci\n"
    "  sd: sdcard\n"
    "  network:\n"
    "    nic0: user\n"
    "    nic1: tap,tap0\n"
    "  redirect:\n"
    "    nic0:\n"
    "      telnet: tcp,2223,23\n"
    "      dns: udp , 5353 , 53\n";

TEST(full_config_every_key)
{
    struct config *cfg = parse(FULL);
    CHECK_MSG(cfg != NULL, "%s", err.msg);
    CHECK_STR(cfg->version, "1.0");
    CHECK_STR(cfg->name, "Demo camera");
    CHECK_STR(cfg->platform, "virt");
    CHECK_STR(cfg->cpu, "cortex-a7");
    CHECK_STR(cfg->endian, "little");
    CHECK_INT(cfg->memory_mib, 512);
    CHECK_STR(cfg->dtb, "auto");
    CHECK_STR(cfg->kernel, "5.10.7");
    CHECK_STR(cfg->bootargs, "root=/dev/vda rw console=ttyAMA0,115200");
    CHECK_STR(cfg->hostfs, "virt");
    CHECK_INT(cfg->guestfs, CONFIG_GUESTFS_EMBED);
    CHECK_INT(cfg->drive_type, CONFIG_DRIVE_VIRTIO);
    CHECK_INT(cfg->virtio, CONFIG_VIRTIO_PCI);
    CHECK_STR(cfg->sd, "sdcard");
    CHECK_INT(cfg->n_nics, 2);
    CHECK_STR(cfg->nics[0].name, "nic0");
    CHECK_INT(cfg->nics[0].type, CONFIG_NIC_USER);
    CHECK_INT(cfg->nics[1].type, CONFIG_NIC_TAP);
    CHECK_STR(cfg->nics[1].ifname, "tap0");
    CHECK_INT(cfg->n_redirects, 2);
    CHECK_STR(cfg->redirects[0].name, "telnet");
    CHECK_INT(cfg->redirects[0].host_port, 2223);
    CHECK_INT(cfg->redirects[0].guest_port, 23);
    CHECK_INT(cfg->redirects[0].line, 22);
    CHECK_INT(cfg->redirects[1].proto, CONFIG_UDP);
    CHECK_INT(cfg->redirects[1].host_port, 5353);
    CHECK_INT(cfg->n_warnings, 0);
    config_free(cfg);
}

TEST(piotr_defaults)
{
    struct config *cfg = parse("version: \"1.0\"\ndevice:\n  bootargs: console=ttyAMA0\n");
    CHECK_MSG(cfg != NULL, "%s", err.msg);
    CHECK_STR(cfg->name, "piotr_guest");
    CHECK_STR(cfg->platform, "virt");
    CHECK(cfg->cpu == NULL);
    CHECK_STR(cfg->endian, "little");
    CHECK_INT(cfg->memory_mib, 128);
    CHECK(cfg->dtb == NULL);
    CHECK(cfg->kernel == NULL);
    CHECK(cfg->hostfs == NULL);
    CHECK_INT(cfg->guestfs, CONFIG_GUESTFS_VIRTFS);
    CHECK_INT(cfg->drive_type, CONFIG_DRIVE_SCSI);
    CHECK_INT(cfg->virtio, CONFIG_VIRTIO_DEVICE);
    CHECK_INT(cfg->n_nics, 0);
    config_free(cfg);
}

TEST(memory_forms)
{
    CHECK_INT(config_parse_size_mib("256"), 256);
    CHECK_INT(config_parse_size_mib("256M"), 256);
    CHECK_INT(config_parse_size_mib("1G"), 1024);
    CHECK_INT(config_parse_size_mib("512MiB"), 512);
    CHECK_INT(config_parse_size_mib("lots"), -1);
    CHECK_INT(config_parse_size_mib("0"), -1);
    CHECK_INT(config_parse_size_mib("12K"), -1);
    CHECK_INT(config_parse_size_mib("-5"), -1);
    CHECK_INT(config_parse_size_mib("99999999999999999999"), -1);
}

TEST(error_memory_exact_position)
{
    /* The issue's own example: line 7, column 13. */
    CHECK(parse("version: \"1.0\"\n"
                "device:\n"
                "  bootargs: x\n"
                "  machine:\n"
                "    cpu: cortex-a7\n"
                "    platform: virt\n"
                "    memory: lots\n") == NULL);
    CHECK_STR(err.msg, "config.yaml:7:13: device.machine.memory: expected a size like 256M or "
                       "256, got \"lots\"");
    CHECK_INT(err.status, IB_EINPUT);
}

TEST(error_empty_file)
{
    CHECK(parse("") == NULL);
    CHECK_CONTAINS(err.msg, "config.yaml:1:1: the file is empty");
    CHECK(parse("# only a comment\n\n") == NULL);
    CHECK_CONTAINS(err.msg, "the file is empty");
}

TEST(error_yaml_syntax)
{
    /* The end of the file is where libyaml notices; the message also says
     * where the quoted scalar began. */
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: \"unterminated\n") == NULL);
    CHECK_STR(err.msg, "config.yaml:4:1: YAML syntax error: found unexpected end of stream while "
                       "scanning a quoted scalar started at line 3, column 13");
    CHECK_INT(err.status, IB_EINPUT);
    CHECK(parse("version: \"1.0\"\ndevice: [a, b\n") == NULL);
    CHECK_STR(err.msg, "config.yaml:3:1: YAML syntax error: did not find expected ',' or ']' "
                       "while parsing a flow sequence started at line 2, column 9");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  : y\n  z\n") == NULL);
    CHECK_STR(err.msg, "config.yaml:4:3: YAML syntax error: did not find expected key while "
                       "parsing a block mapping started at line 3, column 3");
}

TEST(error_tab_indentation)
{
    CHECK(parse("version: \"1.0\"\ndevice:\n\tbootargs: x\n") == NULL);
    CHECK_STR(err.msg, "config.yaml:3:1: tab character in indentation; YAML indents with spaces "
                       "only");
    CHECK(parse("version: \"1.0\"\ndevice:\n  machine:\n  \tcpu: x\n") == NULL);
    CHECK_CONTAINS(err.msg, "config.yaml:4:3: tab character");
}

TEST(error_duplicate_key)
{
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: a\n  bootargs: b\n") == NULL);
    CHECK_STR(err.msg, "config.yaml:4:3: device.bootargs: duplicate key (first written at line "
                       "3, column 3)");
}

TEST(error_wrong_type)
{
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  machine: virt\n") == NULL);
    CHECK_STR(err.msg, "config.yaml:4:12: device.machine: expected a mapping of keys, got a "
                       "value");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: [a, b]\n") == NULL);
    CHECK_CONTAINS(err.msg, "config.yaml:3:13: device.bootargs: expected the kernel command "
                            "line");
    CHECK_CONTAINS(err.msg, "got a list");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  guestfs: nfs\n") == NULL);
    CHECK_STR(err.msg, "config.yaml:4:12: device.guestfs: expected one of virtfs, embed, got "
                       "\"nfs\"");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  drive_type: ide\n") == NULL);
    CHECK_CONTAINS(err.msg, "device.drive_type: expected one of scsi, virtio, pci");
    CHECK(parse("- a\n- b\n") == NULL);
    CHECK_CONTAINS(err.msg, "expected a mapping with version and device, got a list");
}

/* Machine and CPU names reach QEMU's argv and the store's names: a '-'
 * first (found by fuzzing: platform "-cpu"), a '.', a ',' or a space are
 * refused where they stand. */
TEST(error_machine_and_cpu_names)
{
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  machine:\n    platform: -cpu\n")
          == NULL);
    CHECK_STR(err.msg, "config.yaml:5:15: device.machine.platform: expected a QEMU machine name "
                       "such as virt (letters, digits, '-', '_'), got \"-cpu\"");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  machine:\n    cpu: cortex a15\n")
          == NULL);
    CHECK_STR(err.msg, "config.yaml:5:10: device.machine.cpu: expected a CPU name such as "
                       "cortex-a15 (letters, digits, '-', '_'), got \"cortex a15\"");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  machine:\n    cpu: a15,pmu=on\n")
          == NULL);
    CHECK_CONTAINS(err.msg, "device.machine.cpu: expected a CPU name");
    struct config *cfg = parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  machine:\n"
                               "    platform: vexpress-a9\n    cpu: cortex_a9\n");
    CHECK_MSG(cfg != NULL, "%s", err.msg);
    config_free(cfg);
}

TEST(error_bad_redirect_rule)
{
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  network:\n    nic0: user\n"
                "  redirect:\n    nic0:\n      ssh: tcp,99999,22\n") == NULL);
    CHECK_STR(err.msg, "config.yaml:8:12: device.redirect.nic0.ssh: port 99999 in "
                       "\"tcp,99999,22\" is out of range 1-65535");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  network:\n    nic0: user\n"
                "  redirect:\n    nic0:\n      ssh: sctp,22,22\n") == NULL);
    CHECK_CONTAINS(err.msg, "config.yaml:8:12: device.redirect.nic0.ssh: expected <proto>,<host "
                            "port>,<guest port> like tcp,8080,80 (proto tcp or udp), got "
                            "\"sctp,22,22\"");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  network:\n    nic0: user\n"
                "  redirect:\n    nic1:\n      ssh: tcp,2222,22\n") == NULL);
    CHECK_CONTAINS(err.msg, "config.yaml:7:5: device.redirect.nic1: redirects must name a NIC "
                            "declared under device.network");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  network:\n    nic0: user\n"
                "  redirect:\n    nic0:\n      a: tcp,2222,22\n      b: tcp,2222,23\n") == NULL);
    CHECK_CONTAINS(err.msg, "already redirected by rule nic0.a (line 8)");
}

TEST(error_version)
{
    CHECK(parse("version: \"2.0\"\ndevice:\n  bootargs: x\n") == NULL);
    CHECK_STR(err.msg, "config.yaml:1:10: version: expected \"1.0\" (the only config.yaml "
                       "version), got \"2.0\"");
    CHECK(parse("device:\n  bootargs: x\n") == NULL);
    CHECK_CONTAINS(err.msg, "version: missing");
    /* An unquoted 1.0 is the same text: accepted. */
    struct config *cfg = parse("version: 1.0\ndevice:\n  bootargs: x\n");
    CHECK_MSG(cfg != NULL, "%s", err.msg);
    config_free(cfg);
}

TEST(error_missing_required)
{
    CHECK(parse("version: \"1.0\"\ndevice:\n  name: x\n") == NULL);
    CHECK_CONTAINS(err.msg, "config.yaml:3:3: device.bootargs: missing");
    CHECK(parse("version: \"1.0\"\n") == NULL);
    CHECK_CONTAINS(err.msg, "device: missing");
}

TEST(error_paths_stay_inside_device)
{
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  kernel: /boot/vmlinuz\n") == NULL);
    CHECK_CONTAINS(err.msg, "config.yaml:4:11: device.kernel: expected a path relative to the "
                            "device folder");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  sd: ../../etc\n") == NULL);
    CHECK_CONTAINS(err.msg, "device.sd: path \"../../etc\" leaves the device folder");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  machine:\n    dtb: a/../../b.dtb\n")
          == NULL);
    CHECK_CONTAINS(err.msg, "device.machine.dtb");
}

TEST(error_network_types)
{
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  network:\n    nic0: bridge\n")
          == NULL);
    CHECK_STR(err.msg, "config.yaml:5:11: device.network.nic0: expected user or tap,<interface>, "
                       "got \"bridge\"");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  network:\n    nic0: tap\n") == NULL);
    CHECK_CONTAINS(err.msg, "expected tap,<interface>");
    CHECK(parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  network:\n    nic0: tap,t0\n"
                "  redirect:\n    nic0:\n      a: tcp,1,2\n") == NULL);
    CHECK_CONTAINS(err.msg, "port redirects need a user-mode NIC");
}

TEST(unknown_keys_warn_with_line)
{
    struct config *cfg = parse("version: \"1.0\"\ncolour: red\ndevice:\n  bootargs: x\n"
                               "  machine:\n    cpus: 4\n");
    CHECK_MSG(cfg != NULL, "%s", err.msg);
    CHECK_INT(cfg->n_warnings, 2);
    CHECK_STR(cfg->warnings[0], "config.yaml:2:1: unknown key colour (ignored)");
    CHECK_STR(cfg->warnings[1], "config.yaml:6:5: unknown key device.machine.cpus (ignored)");
    config_free(cfg);
}

TEST(null_values_mean_unset)
{
    struct config *cfg = parse("version: \"1.0\"\ndevice:\n  bootargs: x\n  network:\n"
                               "  redirect:\n  machine:\n    dtb:\n");
    CHECK_MSG(cfg != NULL, "%s", err.msg);
    CHECK_INT(cfg->n_nics, 0);
    CHECK(cfg->dtb == NULL);
    config_free(cfg);
}

TEST(load_missing_file)
{
    struct config *cfg;
    ib_err_clear(&err);
    CHECK(config_load(test_path("nope/config.yaml"), &cfg, &err) < 0);
    CHECK_CONTAINS(err.msg, "cannot open");
    CHECK_CONTAINS(err.msg, "No such file");
    CHECK_INT(err.status, IB_EINPUT);
}
