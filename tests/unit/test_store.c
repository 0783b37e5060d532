/* test_store.c - the store: atomic adds, conflicts, Piotr's matching,
 * kernel versions read from images, device resolution. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/device.h"
#include "core/fsimage.h"
#include "core/kimage.h"
#include "core/store.h"
#include "core/util.h"
#include "tests/lib/fixtures.h"
#include "tests/lib/harness.h"

static struct ib_error err;

static void open_fresh(struct store *st, const char *name)
{
    const char *home = test_path(name);
    ib_rm_rf(home, NULL);
    if (store_open(st, home, &err) < 0) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        exit(1);
    }
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

TEST(open_creates_layout_and_private_run)
{
    struct store st;
    open_fresh(&st, "home-layout");
    CHECK(ib_path_is_dir(st.kernels));
    CHECK(ib_path_is_dir(st.hostfs));
    CHECK(ib_path_is_dir(st.dtbs));
    CHECK(ib_path_is_dir(st.devices));
    struct stat sb;
    CHECK(stat(st.run, &sb) == 0);
    CHECK_INT(sb.st_mode & 0777, 0700);
    store_close(&st);
}

TEST(add_copy_conflict_and_identical)
{
    struct store st;
    open_fresh(&st, "home-add");
    test_write_file(test_path("k1"), "kernel one");
    test_write_file(test_path("k2"), "kernel two");
    bool already = true;
    CHECK(store_add(&st, NAMES_KERNEL, test_path("k1"), "virt.cortex-a15.little-6.1.1", &already,
                    &err) == 0);
    CHECK(!already);
    char *dst = store_item_path(&st, NAMES_KERNEL, "virt.cortex-a15.little-6.1.1");
    char *content = test_read_file(dst);
    CHECK_STR(content, "kernel one");
    free(content);
    CHECK(store_add(&st, NAMES_KERNEL, test_path("k1"), "virt.cortex-a15.little-6.1.1", &already,
                    &err) == 0);
    CHECK(already);
    CHECK(store_add(&st, NAMES_KERNEL, test_path("k2"), "virt.cortex-a15.little-6.1.1", &already,
                    &err) < 0);
    CHECK_INT(err.status, IB_ECONFLICT);
    CHECK_CONTAINS(err.msg, "a different kernel named virt.cortex-a15.little-6.1.1");
    content = test_read_file(dst);
    CHECK_STR(content, "kernel one");
    free(content);
    free(dst);
    /* Neither the refused add nor the copies left a temporary file. */
    CHECK_INT(count_entries(st.kernels), 1);
    store_close(&st);
}

TEST(add_refuses_bad_names_and_writes_nothing)
{
    struct store st;
    open_fresh(&st, "home-badnames");
    test_write_file(test_path("k"), "x");
    const char *bad[] = {"../escape-1.2", "a/b.c.d-1.2", ".hidden.a.b-1.2", "",
                         "virt.cortex-a7.little.toto-1.3", "virt.cortex-a7.little-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(store_add(&st, NAMES_KERNEL, test_path("k"), bad[i], NULL, &err) < 0,
                  "accepted \"%s\"", bad[i]);
        CHECK_INT(err.status, IB_EINPUT);
    }
    CHECK_INT(count_entries(st.kernels), 0);
    CHECK(!ib_path_exists(test_path("escape-1.2")));
    store_close(&st);
}

TEST(sparse_image_stays_sparse)
{
    struct store st;
    open_fresh(&st, "home-sparse");
    fixture_ext2(test_path("fs.img"), 64, "hostfs");
    CHECK(store_add(&st, NAMES_HOSTFS, test_path("fs.img"), "virt.cortex-a15.little-6.1.176.ext2",
                    NULL, &err) == 0);
    char *dst = store_item_path(&st, NAMES_HOSTFS, "virt.cortex-a15.little-6.1.176.ext2");
    struct fsimage_info fi;
    CHECK(fsimage_probe(dst, &fi, &err) == 0);
    CHECK_STR(fi.type, "ext2");
    CHECK_STR(fi.label, "hostfs");
    CHECK_INT(fi.fs_bytes, 64LL * 1024 * 1024);
    CHECK_MSG(fi.allocated < 16LL * 1024 * 1024, "copy allocates %lld bytes", fi.allocated);
    CHECK_INT(ib_files_equal(test_path("fs.img"), dst, &err), 1);
    free(dst);
    store_close(&st);
}

TEST(find_newest_explicit_and_mismatch)
{
    struct store st;
    open_fresh(&st, "home-find");
    test_write_file(test_path("k"), "k");
    const char *names[] = {"virt.cortex-a15.little-6.1.99", "virt.cortex-a15.little-6.1.176",
                           "virt.cortex-a15.little-5.10.7", "virt.cortex-a7.little-6.2.1",
                           "virt.cortex-a15.big-7.0.0", "versatilepb.cortex-a15.little-9.9"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(store_add(&st, NAMES_KERNEL, test_path("k"), names[i], NULL, &err) == 0);
    char *n = store_find(&st, NAMES_KERNEL, "virt", "cortex-a15", "little", NULL, &err);
    CHECK_STR(n, "virt.cortex-a15.little-6.1.176");
    free(n);
    n = store_find(&st, NAMES_KERNEL, "virt", "cortex-a15", "little", "5.10.7", &err);
    CHECK_STR(n, "virt.cortex-a15.little-5.10.7");
    free(n);
    CHECK(store_find(&st, NAMES_KERNEL, "virt", "cortex-a15", "little", "5.10", &err) == NULL);
    CHECK_INT(err.status, IB_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "no kernel matches virt.cortex-a15.little version 5.10");
    CHECK(store_find(&st, NAMES_KERNEL, "virt", "cortex-a9", "little", NULL, &err) == NULL);
    CHECK_CONTAINS(err.msg, "installed: ");
    CHECK_CONTAINS(err.msg, "virt.cortex-a7.little-6.2.1");
    store_close(&st);
}

TEST(find_dtb_falls_back_to_generic)
{
    struct store st;
    open_fresh(&st, "home-dtb");
    test_write_file(test_path("virt-generic.dtb"), "d");
    test_write_file(test_path("virt-cortex-a7.dtb"), "e");
    CHECK(store_add(&st, NAMES_DTB, test_path("virt-generic.dtb"), NULL, NULL, &err) == 0);
    char *n = store_find(&st, NAMES_DTB, "virt", "cortex-a15", "little", NULL, &err);
    CHECK_STR(n, "virt-generic.dtb");
    free(n);
    CHECK(store_add(&st, NAMES_DTB, test_path("virt-cortex-a7.dtb"), NULL, NULL, &err) == 0);
    n = store_find(&st, NAMES_DTB, "virt", "cortex-a7", "little", NULL, &err);
    CHECK_STR(n, "virt-cortex-a7.dtb");
    free(n);
    CHECK(store_find(&st, NAMES_DTB, "vexpress", "cortex-a7", "little", NULL, &err) == NULL);
    store_close(&st);
}

TEST(kernel_version_from_gzip_payload)
{
    fixture_kernel(test_path("zImage"), "6.1.0-50-armmp", "6.1.176");
    struct kimage_info ki;
    CHECK_MSG(kimage_read(test_path("zImage"), &ki, &err) == 0, "%s", err.msg);
    CHECK_STR(ki.release, "6.1.0-50-armmp");
    CHECK_STR(ki.upstream, "6.1.176");
    CHECK_STR(ki.compression, "gzip");
    CHECK_CONTAINS(ki.banner, "Linux version 6.1.0-50-armmp (builder@example)");
    test_write_file(test_path("notkernel"), "just text");
    CHECK(kimage_read(test_path("notkernel"), &ki, &err) < 0);
    CHECK_CONTAINS(err.msg, "no \"Linux version\" banner");
}

static const char *DEMO_CFG = "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                              "    memory: 256M\n  bootargs: console=ttyAMA0 root=/dev/vda\n"
                              "  drive_type: virtio\n";

TEST(resolve_chooses_like_a_start)
{
    struct store st;
    open_fresh(&st, "home-resolve");
    test_write_file(test_path("k"), "k");
    test_write_file(test_path("i"), "initrd");
    CHECK(store_add(&st, NAMES_KERNEL, test_path("k"), "virt.cortex-a15.little-6.1.176", NULL,
                    &err) == 0);
    char *initrd = ib_path_join(st.initrds, "virt.cortex-a15.little-6.1.176");
    CHECK(ib_copy_file_atomic(test_path("i"), initrd, &err) == 0);
    free(initrd);
    fixture_device(st.home, "cam", DEMO_CFG);
    struct device *dev;
    CHECK_MSG(device_load(&st, "cam", &dev, &err) == 0, "%s", err.msg);
    struct device_resolution res;
    CHECK(device_resolve(&st, dev, &res, &err) < 0);
    CHECK_CONTAINS(err.msg, "no host filesystem matches virt.cortex-a15.little");
    CHECK(res.kernel.ok);
    CHECK_STR(res.kernel.name, "virt.cortex-a15.little-6.1.176");
    CHECK(res.initrd.ok && res.initrd.path != NULL);
    CHECK(!res.hostfs.ok);
    device_resolution_free(&res);
    CHECK(store_add(&st, NAMES_HOSTFS, test_path("k"), "virt.cortex-a15.little-6.1.176.ext2",
                    NULL, &err) == 0);
    CHECK_MSG(device_resolve(&st, dev, &res, &err) == 0, "%s", err.msg);
    CHECK_STR(res.hostfs.name, "virt.cortex-a15.little-6.1.176.ext2");
    CHECK(res.rootfs.ok);
    device_resolution_free(&res);
    device_free(dev);
    store_close(&st);
}

TEST(resolve_custom_kernel_and_missing_custom)
{
    struct store st;
    open_fresh(&st, "home-custom");
    test_write_file(test_path("k"), "k");
    CHECK(store_add(&st, NAMES_HOSTFS, test_path("k"), "virt.cortex-a7.little-1.0.ext2", NULL,
                    &err) == 0);
    fixture_device(st.home, "cam", "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a7\n"
                                    "  kernel: images/zImage\n  bootargs: x\n");
    struct device *dev;
    CHECK(device_load(&st, "cam", &dev, &err) == 0);
    struct device_resolution res;
    CHECK(device_resolve(&st, dev, &res, &err) < 0);
    CHECK_CONTAINS(err.msg, "device.kernel \"images/zImage\" is neither a file in");
    device_resolution_free(&res);
    char *k = xasprintf("%s/images/zImage", dev->dir);
    test_write_file(k, "custom");
    free(k);
    CHECK_MSG(device_resolve(&st, dev, &res, &err) == 0, "%s", err.msg);
    CHECK(res.kernel.custom);
    CHECK_STR(res.kernel.name, "images/zImage");
    device_resolution_free(&res);
    device_free(dev);
    store_close(&st);
}

/* The rule an import applies to a package's config holds for a device of
 * the store too: check, start and export refuse links and paths that leave
 * the device folder, rather than booting whatever a link points to. */
TEST(resolve_refuses_links_and_paths_outside_the_folder)
{
    struct store st;
    open_fresh(&st, "home-links");
    test_write_file(test_path("k"), "k");
    CHECK(store_add(&st, NAMES_HOSTFS, test_path("k"), "virt.cortex-a7.little-1.0.ext2", NULL,
                    &err) == 0);
    CHECK(store_add(&st, NAMES_KERNEL, test_path("k"), "virt.cortex-a7.little-6.0.0", NULL,
                    &err) == 0);
    test_write_file(test_path("outside"), "host secret");
    const char *cases[][2] = {
        {"  kernel: zImage\n", "device.kernel \"zImage\": "},
        {"  kernel: boot/zImage\n", "device.kernel \"boot/zImage\": "},
        /* (absolute paths and ".." are already errors of config.yaml) */
        {"  kernel: 6.0.0\n  machine:\n    dtb: board.dtb\n", "device.machine.dtb \"board.dtb\""},
        {"  kernel: 6.0.0\n  sd: card\n", "device.sd \"card\": "},
    };
    for (size_t i = 0; i < IB_ARRAY_LEN(cases); i++) {
        bool own_machine = strstr(cases[i][0], "machine:") != NULL;
        char *cfg = own_machine ? xasprintf("version: \"1.0\"\ndevice:\n%s    cpu: cortex-a7\n"
                                            "  bootargs: x\n", cases[i][0])
                                : xasprintf("version: \"1.0\"\ndevice:\n  machine:\n    cpu: "
                                            "cortex-a7\n%s  bootargs: x\n", cases[i][0]);
        ib_rm_rf(test_path("home-links/devices/cam"), NULL);
        fixture_device(st.home, "cam", cfg);
        free(cfg);
        char *dir = ib_path_join(st.devices, "cam");
        char *link = ib_path_join(dir, "zImage");
        CHECK(symlink(test_path("outside"), link) == 0);
        free(link);
        link = ib_path_join(dir, "boot");
        CHECK(symlink(test_tmpdir(), link) == 0);
        free(link);
        link = ib_path_join(dir, "board.dtb");
        CHECK(symlink(test_path("outside"), link) == 0);
        free(link);
        link = ib_path_join(dir, "card");
        CHECK(symlink(test_tmpdir(), link) == 0);
        free(link);
        /* boot/zImage exists through the link, so only the rule refuses it. */
        test_write_file(test_path("zImage"), "k");
        free(dir);
        struct device *dev;
        CHECK_MSG(device_load(&st, "cam", &dev, &err) == 0, "%s", err.msg);
        struct device_resolution res;
        CHECK_MSG(device_resolve(&st, dev, &res, &err) < 0, "case %zu accepted", i);
        CHECK_INT(err.status, IB_EINPUT);
        CHECK_CONTAINS(err.msg, cases[i][1]);
        CHECK_CONTAINS(err.msg, "is a symlink");
        device_resolution_free(&res);
        device_free(dev);
    }
    /* A rootfs that is a link is refused as well. */
    ib_rm_rf(test_path("home-links/devices/cam"), NULL);
    fixture_device(st.home, "cam", "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a7\n"
                                    "  kernel: zImage\n  bootargs: x\n");
    char *rootfs = ib_path_join(st.devices, "cam/rootfs");
    ib_rm_rf(rootfs, NULL);
    CHECK(symlink("/", rootfs) == 0);
    char *k = ib_path_join(st.devices, "cam/zImage");
    test_write_file(k, "custom");
    free(k);
    struct device *dev;
    CHECK(device_load(&st, "cam", &dev, &err) == 0);
    struct device_resolution res;
    CHECK(device_resolve(&st, dev, &res, &err) < 0);
    CHECK(res.kernel.ok && res.kernel.custom);
    CHECK_CONTAINS(err.msg, "rootfs is a symlink");
    device_resolution_free(&res);
    device_free(dev);
    free(rootfs);
    store_close(&st);
}

TEST(remove_refuses_when_used_unless_forced)
{
    struct store st;
    open_fresh(&st, "home-remove");
    test_write_file(test_path("k"), "k");
    CHECK(store_add(&st, NAMES_KERNEL, test_path("k"), "virt.cortex-a15.little-6.1.176", NULL,
                    &err) == 0);
    fixture_device(st.home, "cam", DEMO_CFG);
    fixture_device(st.home, "box", DEMO_CFG);
    CHECK(device_remove_item(&st, NAMES_KERNEL, "virt.cortex-a15.little-6.1.176", false, &err)
          < 0);
    CHECK_INT(err.status, IB_ECONFLICT);
    CHECK_CONTAINS(err.msg, "is used by devices box, cam; use --force");
    CHECK_INT(count_entries(st.kernels), 1);
    CHECK(device_remove_item(&st, NAMES_KERNEL, "virt.cortex-a15.little-6.1.176", true, &err)
          == 0);
    CHECK_INT(count_entries(st.kernels), 0);
    CHECK(device_remove_item(&st, NAMES_KERNEL, "virt.cortex-a15.little-6.1.176", true, &err)
          < 0);
    CHECK_INT(err.status, IB_ENOTFOUND);
    store_close(&st);
}
