/*
 * pkg_create.c - `device create`: a new device folder, either a skeleton
 * (commented config.yaml, rootfs/piotr/init.sh, the demo device's busybox
 * as rootfs/bin/sh when the store has it) or an exact copy of another
 * device, kept by the same rules as an export: owners (as root), modes,
 * times, links, sparse files, device nodes (as root), xattrs.
 *
 * The folder is made as devices/.create-XXXXXX (hidden, so never listed as
 * a device) and renamed into place once complete.
 */
#include "core/package.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/names.h"
#include "core/pkg_common.h"
#include "core/util.h"

/* A YAML double-quoted scalar: a device alias may hold '"' or '\'. */
static char *yaml_quote(const char *s)
{
    struct pkg_buf b = {0};
    pkg_buf_append(&b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            pkg_buf_append(&b, "\\", 1);
        pkg_buf_append(&b, s, 1);
    }
    pkg_buf_append(&b, "\"", 1);
    return b.data;
}

char *package_config_template(const char *alias)
{
    char *name = yaml_quote(alias);
    char *text = xasprintf(
        "# config.yaml of device %s, in Piotr's device format.\n"
        "# `iotbench device check %s` shows what a start would use. A key that\n"
        "# is commented out takes the default its comment gives.\n"
        "version: \"1.0\"                      # config format; \"1.0\" is the only one\n"
        "\n"
        "device:\n"
        "  name: %s%*s# display name only; the alias is the folder name\n"
        "\n"
        "  machine:\n"
        "    platform: virt                  # QEMU machine (-M); picks the stock parts\n"
        "    cpu: cortex-a15                 # QEMU CPU (-cpu); picks kernel and hostfs\n"
        "    endian: little                  # little or big; picks the stock parts\n"
        "    memory: 256M                    # guest RAM (-m): 256, 256M, 1G (default 128M)\n"
        "    # dtb: auto                     # auto: the store's dtb for platform-cpu (or\n"
        "    #                               # platform-generic); embedded: the kernel's;\n"
        "    #                               # or a .dtb file of this folder. Unset: QEMU's\n"
        "    #                               # machine makes the device tree.\n"
        "\n"
        "  # kernel: 6.1.176                 # a version of the store's kernels, or a file\n"
        "  #                                 # of this folder (custom kernel). Unset: the\n"
        "  #                                 # newest kernel for platform, cpu, endian.\n"
        "  bootargs: \"console=ttyAMA0 root=/dev/vda rw\"   # kernel command line (-append)\n"
        "  # hostfs: 6.1.176                 # host filesystem: a version of the store's,\n"
        "  #                                 # or an image file of this folder. Unset:\n"
        "  #                                 # the newest match.\n"
        "  guestfs: virtfs                   # how rootfs/ reaches the guest: virtfs (a 9P\n"
        "  #                                 # share mounted on /target) or embed\n"
        "  drive_type: virtio                # hostfs disk: virtio (/dev/vda), scsi or pci\n"
        "  virtio: device                    # virtio transport: device (mmio) or pci\n"
        "  # sd: sdcard                      # a folder of this folder, made into an ext2\n"
        "  #                                 # image per instance: a 2nd disk (/dev/vdb)\n"
        "\n"
        "  network:                          # one NIC per key, in this order\n"
        "    nic0: user                      # user: QEMU's own NAT, no root needed;\n"
        "    #                               # or \"tap,<ifname>\" for a host tap\n"
        "\n"
        "  # redirect:                       # port forwards of user NICs, one named\n"
        "  #   nic0:                         # rule each, bound to 127.0.0.1:\n"
        "  #     http: \"tcp,8080,80\"         # host tcp 8080 -> guest port 80\n",
        name, alias, name, (int)(strlen(name) < 28 ? 28 - strlen(name) : 1), "");
    free(name);
    return text;
}

static const char INIT_SH[] =
    "#!/bin/sh\n"
    "# /piotr/init.sh: the host system runs it as `chroot /target /piotr/init.sh`\n"
    "# once /proc, /sys and /dev are mounted into the device's root filesystem.\n"
    "# Start the device's services here, in the background, then hand the\n"
    "# console over to a shell.\n"
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
    "export PATH\n"
    "PS1='[Guest]# '\n"
    "export PS1\n"
    "HOME=/root\n"
    "export HOME\n"
    "cd /\n"
    "\n"
    "# The device's services, for example:\n"
    "#   /usr/sbin/httpd -p 80 -h /www &\n"
    "#   /usr/sbin/telnetd -l /bin/sh &\n"
    "\n"
    "exec /bin/sh\n";

/* target-start runs init.sh by `chroot rootfs /piotr/init.sh`, so the
 * skeleton's shell script needs a /bin/sh inside rootfs/. The stock demo
 * device carries a static ARM busybox with its applets as hard links (no
 * symlinks: 9P with mapped-xattr cannot follow links made on the host);
 * the skeleton gets a copy of it laid out the same way. */
static const char *const APPLET_DIRS[] = {"bin", "sbin", "usr/bin", "usr/sbin"};

static size_t link_applets(const char *from_root, const char *to_root, const struct stat *bb,
                           const char *busybox)
{
    size_t n = 0;
    for (size_t i = 0; i < IB_ARRAY_LEN(APPLET_DIRS); i++) {
        char *from = ib_path_join(from_root, APPLET_DIRS[i]);
        DIR *d = opendir(from);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            char *p = ib_path_join(from, de->d_name);
            struct stat sb;
            if (lstat(p, &sb) == 0 && sb.st_ino == bb->st_ino && sb.st_dev == bb->st_dev &&
                !(i == 0 && strcmp(de->d_name, "busybox") == 0)) {
                char *to = xasprintf("%s/%s/%s", to_root, APPLET_DIRS[i], de->d_name);
                n += link(busybox, to) == 0;
                free(to);
            }
            free(p);
        }
        if (d)
            closedir(d);
        free(from);
    }
    return n;
}

static int add_busybox(const char *devices, const char *dir, struct package_report *rep,
                       struct ib_error *err)
{
    char *from_root = xasprintf("%s/demo/rootfs", devices);
    char *from = ib_path_join(from_root, "bin/busybox");
    struct stat bb;
    int rc = 0;
    if (lstat(from, &bb) < 0 || !S_ISREG(bb.st_mode)) {
        pkg_notice(rep, "rootfs/ has no /bin/sh (the store has no demo device to copy busybox "
                   "from): put a static ARM shell at rootfs/bin/sh before starting, init.sh "
                   "runs with it");
        goto out;
    }
    char *to_root = ib_path_join(dir, "rootfs");
    mode_t dmode = 0755 & ~pkg_umask();
    const char *mk[] = {"bin", "sbin", "usr", "usr/bin", "usr/sbin"};
    for (size_t i = 0; rc == 0 && i < IB_ARRAY_LEN(mk); i++) {
        char *p = ib_path_join(to_root, mk[i]);
        if (mkdir(p, dmode) < 0)
            rc = ib_err_sys(err, IB_EFAIL, "cannot create %s", p);
        free(p);
    }
    char *busybox = ib_path_join(to_root, "bin/busybox");
    if (rc == 0)
        rc = ib_copy_file_atomic(from, busybox, err);
    if (rc == 0) {
        size_t n = link_applets(from_root, to_root, &bb, busybox);
        pkg_notice(rep, "rootfs/bin/busybox is a copy of the demo device's, with %zu applets as "
                   "hard links (/bin/sh among them), so init.sh runs as it is", n);
    }
    free(busybox);
    free(to_root);
out:
    free(from);
    free(from_root);
    return rc;
}

static int make_skeleton(const char *dir, const char *alias, const char *devices,
                         struct package_report *rep, struct ib_error *err)
{
    mode_t dmode = 0755 & ~pkg_umask();
    char *config = package_config_template(alias);
    char *path = ib_path_join(dir, "config.yaml");
    int rc = ib_write_file_atomic(path, config, strlen(config), 0644 & ~pkg_umask(), err);
    free(path);
    free(config);
    /* target-start bind-mounts /proc, /sys and /dev into the rootfs. */
    static const char *const dirs[] = {"rootfs",     "rootfs/piotr", "rootfs/proc",
                                       "rootfs/sys", "rootfs/dev",   "rootfs/tmp"};
    for (size_t i = 0; rc == 0 && i < IB_ARRAY_LEN(dirs); i++) {
        path = ib_path_join(dir, dirs[i]);
        if (mkdir(path, dmode) < 0)
            rc = ib_err_sys(err, IB_EFAIL, "cannot create %s", path);
        free(path);
    }
    if (rc == 0) {
        path = ib_path_join(dir, "rootfs/tmp");
        chmod(path, 01777);
        free(path);
        path = ib_path_join(dir, "rootfs/piotr/init.sh");
        rc = ib_write_file_atomic(path, INIT_SH, sizeof INIT_SH - 1, 0755 & ~pkg_umask(), err);
        free(path);
    }
    if (rc == 0)
        rc = add_busybox(devices, dir, rep, err);
    if (rc == 0 && chmod(dir, dmode) < 0)
        rc = ib_err_sys(err, IB_EFAIL, "cannot set the mode of %s", dir);
    return rc;
}

/* --- copy ------------------------------------------------------------------ */

struct copier {
    const struct package_ops *ops;
    struct package_report *rep;
    struct ib_error *err;
    struct archive *out;
    struct pkg_map skipped; /* destinations not made (device nodes without root) */
    uint64_t done;
    struct pkg_meter meter;
};

static int copy_data(struct copier *c, struct archive *disk, const char *name)
{
    const void *buf;
    size_t len;
    la_int64_t off;
    int r;
    while ((r = archive_read_data_block(disk, &buf, &len, &off)) == ARCHIVE_OK) {
        if (archive_write_data_block(c->out, buf, len, off) < ARCHIVE_OK)
            return ib_err(c->err, IB_EFAIL, "cannot copy %s: %s", name,
                          archive_error_string(c->out));
        c->done += len;
        c->rep->bytes += len;
        pkg_meter_update(&c->meter, c->done, false);
        if (pkg_cancelled(c->ops))
            return ib_err(c->err, IB_EFAIL, "copy interrupted; nothing was kept");
    }
    if (r != ARCHIVE_EOF)
        return ib_err(c->err, IB_EFAIL, "cannot read %s: %s", name, archive_error_string(disk));
    return 0;
}

static int copy_entry(struct copier *c, struct archive *disk, struct archive_entry *e,
                      const char *rel)
{
    char type = archive_entry_hardlink(e) ? PKG_FILE : pkg_entry_type(e);
    const char *link = archive_entry_hardlink(e);
    if (type == 0) {
        pkg_notice(c->rep, "%s is a socket: not copied", rel);
        return 0;
    }
    if ((type == PKG_CHR || type == PKG_BLK) && geteuid() != 0) {
        pkg_notice(c->rep, "%s is a device node: not copied (only root can make one)", rel);
        pkg_map_add(&c->skipped, archive_entry_pathname(e), type);
        return 0;
    }
    if (link && pkg_map_get(&c->skipped, link))
        return 0; /* a second name of a device node that was not made */
    int r = archive_write_header(c->out, e);
    if (r < ARCHIVE_WARN)
        return ib_err(c->err, IB_EFAIL, "cannot copy %s: %s", rel, archive_error_string(c->out));
    if (r == ARCHIVE_WARN)
        pkg_notice(c->rep, "%s: not kept exactly: %s", rel, archive_error_string(c->out));
    if (type == PKG_FILE && !link && copy_data(c, disk, rel) < 0)
        return -1;
    r = archive_write_finish_entry(c->out);
    if (r < ARCHIVE_WARN)
        return ib_err(c->err, IB_EFAIL, "cannot copy %s: %s", rel, archive_error_string(c->out));
    if (r == ARCHIVE_WARN)
        pkg_notice(c->rep, "%s: not kept exactly: %s", rel, archive_error_string(c->out));
    c->rep->entries++;
    return 0;
}

/* Copies the tree src into the (empty) folder dst, an absolute path free
 * of symlinks (write_disk refuses to go through one). */
static int copy_tree(struct copier *c, const char *src, const char *dst)
{
    struct archive *disk = archive_read_disk_new();
    archive_read_disk_set_symlink_hybrid(disk);
    archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_RESTORE_ATIME |
                                             ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS |
                                             ARCHIVE_READDISK_NO_FFLAGS);
    struct archive_entry_linkresolver *links = archive_entry_linkresolver_new();
    archive_entry_linkresolver_set_strategy(links, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
    c->out = pkg_disk_writer(true, true);
    int rc = 0;
    mode_t top = 0755;
    if (archive_read_disk_open(disk, src) != ARCHIVE_OK)
        rc = ib_err(c->err, IB_EFAIL, "cannot read %s: %s", src, archive_error_string(disk));
    size_t plen = strlen(src);
    while (rc == 0) {
        struct archive_entry *e = archive_entry_new();
        int r = archive_read_next_header2(disk, e);
        if (r == ARCHIVE_EOF) {
            archive_entry_free(e);
            break;
        }
        const char *from = archive_entry_sourcepath(e);
        if (from == NULL)
            from = archive_entry_pathname(e);
        if (r != ARCHIVE_OK) {
            rc = ib_err(c->err, IB_EFAIL, "cannot read %s: %s", from, archive_error_string(disk));
            archive_entry_free(e);
            break;
        }
        archive_read_disk_descend(disk);
        const char *rel = strlen(from) >= plen ? from + plen : "";
        while (*rel == '/')
            rel++;
        if (*rel == '\0') {
            top = archive_entry_perm(e); /* the folder itself: its mode, at the end */
            archive_entry_free(e);
            continue;
        }
        char *relcopy = xstrdup(rel);
        char *to = ib_path_join(dst, rel);
        archive_entry_set_pathname(e, to);
        struct archive_entry *spare = NULL;
        archive_entry_linkify(links, &e, &spare);
        if (e)
            rc = copy_entry(c, disk, e, relcopy);
        free(to);
        free(relcopy);
        archive_entry_free(e);
        archive_entry_free(spare);
    }
    if (rc == 0 && archive_write_close(c->out) < ARCHIVE_WARN)
        rc = ib_err(c->err, IB_EFAIL, "cannot finish the copy: %s", archive_error_string(c->out));
    archive_write_free(c->out); /* after a failure, the tree is removed */
    archive_entry_linkresolver_free(links);
    archive_read_free(disk);
    if (rc == 0 && chmod(dst, top) < 0)
        rc = ib_err_sys(c->err, IB_EFAIL, "cannot set the mode of %s", dst);
    return rc;
}

int package_create(const struct store *st, const char *alias, const char *from,
                   const struct package_ops *ops, struct package_report *rep, struct ib_error *err)
{
    pkg_report_init(rep);
    rep->alias = xstrdup(alias);
    if (names_validate(alias, "device alias", err) < 0)
        return -1;
    if (from && names_validate(from, "device alias", err) < 0)
        return -1;
    char *dst = ib_path_join(st->devices, alias);
    char *src = from ? ib_path_join(st->devices, from) : NULL;
    char *tmp = NULL;
    int lock_fd = -1, rc = 0;
    if (ib_path_exists(dst))
        rc = ib_err(err, IB_ECONFLICT, "a device named %s already exists", alias);
    else if (src && !ib_path_is_dir(src))
        rc = ib_err(err, IB_ENOTFOUND, "no device named %s in %s", from, st->devices);
    if (rc == 0) {
        pkg_sweep_stale(st->devices);
        if ((tmp = pkg_temp_dir(st->devices, "create", &lock_fd, err)) == NULL)
            rc = -1;
    }
    bool made = rc == 0;
    if (rc == 0 && src) {
        char real[PATH_MAX];
        struct copier c = {.ops = ops, .rep = rep, .err = err};
        pkg_meter_init(&c.meter, ops, 0);
        locale_t saved = pkg_locale_enter();
        if (realpath(tmp, real) == NULL)
            rc = ib_err_sys(err, IB_EFAIL, "cannot resolve %s", tmp);
        else
            rc = copy_tree(&c, src, real);
        pkg_locale_leave(saved);
        pkg_map_free(&c.skipped);
        if (rc == 0)
            pkg_meter_update(&c.meter, c.done, true);
    } else if (rc == 0) {
        rc = make_skeleton(tmp, alias, st->devices, rep, err);
    }
    if (rc == 0 && pkg_rename_noreplace(tmp, dst) < 0)
        rc = errno == EEXIST ? ib_err(err, IB_ECONFLICT, "a device named %s already exists", alias)
                             : ib_err_sys(err, IB_EFAIL, "cannot create %s", dst);
    if (rc == 0)
        pkg_fsync_parent(dst);
    if (rc < 0 && made) {
        struct ib_error rerr = {0};
        pkg_rm_tree(tmp, &rerr);
    }
    if (lock_fd >= 0)
        close(lock_fd);
    free(tmp);
    free(src);
    free(dst);
    return rc;
}
