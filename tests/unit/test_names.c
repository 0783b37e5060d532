/* test_names.c - Piotr's name patterns, user-name validation, versions. */
#include "core/names.h"
#include "tests/lib/harness.h"

TEST(kernel_name_parses_fields)
{
    struct names_parsed p;
    CHECK(names_parse(NAMES_KERNEL, "virt.cortex-a7.little-5.10.7", &p, NULL) == 0);
    CHECK_STR(p.platform, "virt");
    CHECK_STR(p.cpu, "cortex-a7");
    CHECK_STR(p.endian, "little");
    CHECK_STR(p.version, "5.10.7");
    CHECK_INT(p.ver.n, 3);
    CHECK_INT(p.ver.part[1], 10);
}

TEST(kernel_name_piotr_invalid_examples)
{
    struct names_parsed p;
    struct ib_error err = {0};
    /* Piotr's own example of an invalid name: a fourth dotted field. */
    CHECK(names_parse(NAMES_KERNEL, "virt.cortex-a7.little.toto-1.3", &p, &err) < 0);
    CHECK_CONTAINS(err.msg, "<platform>.<cpu>.<endian>-<version>");
    CHECK_INT(err.status, IB_EINPUT);
    CHECK(names_parse(NAMES_KERNEL, "virt.cortex-a7.little-5", &p, NULL) < 0);
    CHECK(names_parse(NAMES_KERNEL, "virt.cortex-a7.little-5.x", &p, NULL) < 0);
    CHECK(names_parse(NAMES_KERNEL, "virt.cortex-a7-5.1", &p, NULL) < 0);
    CHECK(names_parse(NAMES_KERNEL, ".cortex-a7.little-5.1", &p, NULL) < 0);
    CHECK(names_parse(NAMES_KERNEL, "virt..little-5.1", &p, NULL) < 0);
    CHECK(names_parse(NAMES_KERNEL, "virt.a.little-5.1.", &p, NULL) < 0);
}

TEST(kernel_name_endian_with_dash_follows_regex)
{
    /* ([^.]+) may hold '-', the version starts after the last one. */
    struct names_parsed p;
    CHECK(names_parse(NAMES_KERNEL, "virt.a15.little-x-1.2", &p, NULL) == 0);
    CHECK_STR(p.endian, "little-x");
    CHECK_STR(p.version, "1.2");
}

TEST(hostfs_name_parses_fstype)
{
    struct names_parsed p;
    CHECK(names_parse(NAMES_HOSTFS, "virt.cortex-a15.little-4.19.196.ext2", &p, NULL) == 0);
    CHECK_STR(p.version, "4.19.196");
    CHECK_STR(p.fstype, "ext2");
    CHECK(names_parse(NAMES_HOSTFS, "virt.cortex-a15.little-4.19.196", &p, NULL) < 0);
    CHECK(names_parse(NAMES_HOSTFS, "virt.cortex-a15.little.ext2", &p, NULL) < 0);
}

TEST(dtb_name_parses)
{
    struct names_parsed p;
    CHECK(names_parse(NAMES_DTB, "virt-generic.dtb", &p, NULL) == 0);
    CHECK_STR(p.platform, "virt");
    CHECK_STR(p.cpu, "generic");
    CHECK(names_parse(NAMES_DTB, "versatilepb-cortex-a8.dtb", &p, NULL) == 0);
    CHECK_STR(p.cpu, "cortex-a8");
    CHECK(names_parse(NAMES_DTB, "virt.dtb", &p, NULL) < 0);
    CHECK(names_parse(NAMES_DTB, "virt-a.b.dtb", &p, NULL) < 0);
    CHECK(names_parse(NAMES_DTB, "virt-generic.dtbx", &p, NULL) < 0);
}

TEST(validate_rejects_escapes)
{
    struct ib_error err = {0};
    CHECK(names_validate("", "device alias", &err) < 0);
    CHECK_CONTAINS(err.msg, "empty");
    CHECK(names_validate("a/b", "device alias", &err) < 0);
    CHECK_CONTAINS(err.msg, "'/'");
    CHECK(names_validate("..", "device alias", &err) < 0);
    CHECK_CONTAINS(err.msg, "..");
    CHECK(names_validate("a..b", "device alias", &err) < 0);
    CHECK(names_validate(".hidden", "device alias", &err) < 0);
    CHECK_CONTAINS(err.msg, "hidden");
    CHECK(names_validate("bad\x1b[31m", "device alias", &err) < 0);
    CHECK_CONTAINS(err.msg, "control");
    CHECK(names_validate("demo_2", "device alias", &err) == 0);
}

TEST(version_order)
{
    struct names_version a, b;
    CHECK(names_parse_version("6.1.176", &a) == 0);
    CHECK(names_parse_version("6.1.99", &b) == 0);
    CHECK(names_version_cmp(&a, &b) > 0);
    CHECK(names_parse_version("6.10", &b) == 0);
    CHECK(names_version_cmp(&a, &b) < 0);
    CHECK(names_parse_version("6.1", &b) == 0);
    CHECK(names_version_cmp(&a, &b) > 0);
    CHECK(names_parse_version("6", &b) < 0);
    CHECK(names_parse_version("6..1", &b) < 0);
    CHECK(names_parse_version("1.2.3.4.5.6.7.8.9", &b) < 0);
}
