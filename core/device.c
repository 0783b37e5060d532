/* device.c - see device.h. */
#include "core/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/pkg_manifest.h"
#include "core/util.h"
#include "core/warm.h"

int device_load(const struct store *st, const char *alias, struct device **out,
                struct ib_error *err)
{
    if (names_validate(alias, "device alias", err) < 0)
        return -1;
    char *dir = ib_path_join(st->devices, alias);
    if (!ib_path_is_dir(dir)) {
        free(dir);
        return ib_err(err, IB_ENOTFOUND, "no device named %s in %s", alias, st->devices);
    }
    struct device *dev = xcalloc(1, sizeof *dev);
    dev->alias = xstrdup(alias);
    dev->dir = dir;
    dev->config_path = ib_path_join(dir, "config.yaml");
    dev->rootfs = ib_path_join(dir, "rootfs");
    if (config_load(dev->config_path, &dev->cfg, err) < 0) {
        device_free(dev);
        return -1;
    }
    *out = dev;
    return 0;
}

void device_free(struct device *dev)
{
    if (dev == NULL)
        return;
    free(dev->alias);
    free(dev->dir);
    free(dev->config_path);
    free(dev->rootfs);
    config_free(dev->cfg);
    free(dev);
}

static void choice_set(struct device_choice *c, bool ok, bool custom, const char *name,
                       char *path, char *note)
{
    c->wanted = true;
    c->ok = ok;
    c->custom = custom;
    c->name = name ? xstrdup(name) : NULL;
    c->path = path;
    c->note = note;
}

/* A value of the config that names something in the device folder, under
 * the rule an import applies to a package's config (pkg_extract.c): a
 * plain relative path that goes through real folders only, to a regular
 * file (a folder for device.sd). A symlink could lead anywhere on the
 * host - the kernel would boot /etc/passwd, an export would pack it - so
 * it is refused here too, and check, start and export agree with import.
 * Returns 1 with *path set, 0 when nothing of that name is there (the
 * value may be a version), -1 with *why set. */
static int device_path(const struct device *dev, const char *key, const char *rel, bool folder,
                       char **path, char **why)
{
    *path = NULL;
    *why = NULL;
    char *norm;
    if (pkg_path_normalize(rel, &norm, NULL) != 0) {
        *why = xasprintf("%s \"%s\" is not a plain path inside the device folder %s", key, rel,
                         dev->dir);
        return -1;
    }
    char *cur = xstrdup(dev->dir);
    int rc = 0;
    for (char *part = norm, *next; part; part = next) {
        next = strchr(part, '/');
        if (next)
            *next++ = '\0';
        char *deeper = ib_path_join(cur, part);
        free(cur);
        cur = deeper;
        struct stat sb;
        if (lstat(cur, &sb) < 0)
            break; /* nothing there: perhaps a version */
        const char *want = next || folder ? "folder" : "regular file";
        if (S_ISLNK(sb.st_mode)) {
            *why = xasprintf("%s \"%s\": %s is a symlink; a device's files must be inside its "
                             "folder, not links (an import refuses them too)", key, rel, cur);
            rc = -1;
        } else if (next || folder ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)) {
            *why = xasprintf("%s \"%s\": %s is not a %s", key, rel, cur, want);
            rc = -1;
        } else if (next == NULL) {
            *path = cur;
            cur = NULL;
            rc = 1;
        }
        if (rc != 0)
            break;
    }
    free(cur);
    free(norm);
    return rc;
}

/* Kernel or hostfs: a custom file, an explicit version, or the newest. */
static void resolve_stock(const struct store *st, const struct device *dev, enum names_kind kind,
                          const char *value, struct device_choice *c)
{
    const struct config *cfg = dev->cfg;
    const char *key = kind == NAMES_KERNEL ? "device.kernel" : "device.hostfs";
    char *custom = NULL, *why = NULL;
    int found = value ? device_path(dev, key, value, false, &custom, &why) : 0;
    if (found < 0) {
        choice_set(c, false, true, value, NULL, why);
        c->refused = true;
        return;
    }
    if (found > 0) {
        choice_set(c, true, true, value, custom, xasprintf("custom file of the device folder"));
        return;
    }
    struct names_version ver;
    const char *version = NULL;
    if (value && names_parse_version(value, &ver) == 0)
        version = value;
    else if (value && !(kind == NAMES_HOSTFS && strcmp(value, cfg->platform) == 0)) {
        /* "hostfs: virt" in Piotr's skeleton means the platform's stock one. */
        choice_set(c, false, false, value, NULL,
                   xasprintf("%s \"%s\" is neither a file in %s nor a version like 6.1.176", key,
                             value, dev->dir));
        return;
    }
    if (cfg->cpu == NULL) {
        choice_set(c, false, false, NULL, NULL,
                   xasprintf("device.machine.cpu is not set in %s; it is needed to choose a %s",
                             cfg->path, names_kind_label(kind)));
        return;
    }
    struct ib_error ferr = {0};
    char *name = store_find(st, kind, cfg->platform, cfg->cpu, cfg->endian, version, &ferr);
    if (name == NULL) {
        choice_set(c, false, false, NULL, NULL, xstrdup(ferr.msg));
        return;
    }
    choice_set(c, true, false, name, store_item_path(st, kind, name),
               version ? xasprintf("version %s, as device.%s asks", version,
                                   kind == NAMES_KERNEL ? "kernel" : "hostfs")
                       : xasprintf("newest matching %s.%s.%s", cfg->platform, cfg->cpu,
                                   cfg->endian));
    free(name);
}

static void resolve_dtb(const struct store *st, const struct device *dev, struct device_choice *c)
{
    const struct config *cfg = dev->cfg;
    if (cfg->dtb == NULL || strcmp(cfg->dtb, "embedded") == 0) {
        c->ok = true;
        c->note = xstrdup(cfg->dtb ? "embedded in the kernel" : "none (QEMU's machine provides it)");
        return;
    }
    if (strcmp(cfg->dtb, "auto") == 0) {
        char *name = store_find(st, NAMES_DTB, cfg->platform, cfg->cpu, cfg->endian, NULL, NULL);
        if (name) {
            choice_set(c, true, false, name, store_item_path(st, NAMES_DTB, name),
                       xasprintf("auto: registered for %s", cfg->platform));
            free(name);
        } else {
            /* Piotr goes on without one; so do we, and say so. */
            c->ok = true;
            c->note = xasprintf("auto: none registered for %s-%s or %s-generic; QEMU's own is "
                                "used", cfg->platform, cfg->cpu ? cfg->cpu : "?", cfg->platform);
        }
        return;
    }
    char *custom = NULL, *why = NULL;
    int found = device_path(dev, "device.machine.dtb", cfg->dtb, false, &custom, &why);
    if (found < 0) {
        choice_set(c, false, true, cfg->dtb, NULL, why);
        c->refused = true;
    } else if (found > 0)
        choice_set(c, true, true, cfg->dtb, custom, xstrdup("custom file of the device folder"));
    else
        choice_set(c, false, true, cfg->dtb, NULL,
                   xasprintf("device.machine.dtb names %s, which is not a file in %s", cfg->dtb,
                             dev->dir));
}

int device_resolve(const struct store *st, const struct device *dev,
                   struct device_resolution *res, struct ib_error *err)
{
    memset(res, 0, sizeof *res);
    resolve_stock(st, dev, NAMES_KERNEL, dev->cfg->kernel, &res->kernel);
    resolve_stock(st, dev, NAMES_HOSTFS, dev->cfg->hostfs, &res->hostfs);
    resolve_dtb(st, dev, &res->dtb);

    res->initrd.ok = true;
    if (res->kernel.ok && !res->kernel.custom) {
        char *initrd = ib_path_join(st->initrds, res->kernel.name);
        if (ib_path_is_file(initrd))
            choice_set(&res->initrd, true, false, res->kernel.name, initrd,
                       xstrdup("registered with the kernel"));
        else {
            free(initrd);
            res->initrd.note = xstrdup("none registered with the kernel");
        }
    } else {
        res->initrd.note = xstrdup("none");
    }

    struct stat rsb;
    if (lstat(dev->rootfs, &rsb) == 0 && S_ISLNK(rsb.st_mode)) {
        /* Shared with the guest read-write: a link would share whatever it
         * points to. */
        choice_set(&res->rootfs, false, false, "rootfs", NULL,
                   xasprintf("%s is a symlink; the rootfs must be a folder of the device",
                             dev->rootfs));
        res->rootfs.refused = true;
    } else if (ib_path_is_dir(dev->rootfs))
        choice_set(&res->rootfs, true, false, "rootfs", xstrdup(dev->rootfs),
                   xasprintf("shared as %s", config_guestfs_name(dev->cfg->guestfs)));
    else
        choice_set(&res->rootfs, false, false, "rootfs", NULL,
                   xasprintf("%s is missing (every device needs a rootfs folder)", dev->rootfs));

    res->sd.ok = true;
    if (dev->cfg->sd) {
        char *sd = NULL, *why = NULL;
        int found = device_path(dev, "device.sd", dev->cfg->sd, true, &sd, &why);
        if (found > 0)
            choice_set(&res->sd, true, true, dev->cfg->sd, sd,
                       xstrdup("folder made into a disk image per instance"));
        else if (found < 0) {
            choice_set(&res->sd, false, true, dev->cfg->sd, NULL, why);
            res->sd.refused = true;
        } else
            choice_set(&res->sd, false, true, dev->cfg->sd, NULL,
                       xasprintf("device.sd names %s, which is not a folder of %s",
                                 dev->cfg->sd, dev->dir));
    }

    const struct device_choice *order[] = {&res->kernel, &res->hostfs, &res->dtb, &res->rootfs,
                                           &res->sd};
    for (size_t i = 0; i < IB_ARRAY_LEN(order); i++) {
        if (!order[i]->ok)
            return ib_err(err, order[i]->refused ? IB_EINPUT : IB_ENOTFOUND, "device %s: %s",
                          dev->alias, order[i]->note);
    }
    return 0;
}

static void choice_free(struct device_choice *c)
{
    free(c->name);
    free(c->path);
    free(c->note);
}

void device_resolution_free(struct device_resolution *res)
{
    choice_free(&res->kernel);
    choice_free(&res->initrd);
    choice_free(&res->hostfs);
    choice_free(&res->dtb);
    choice_free(&res->rootfs);
    choice_free(&res->sd);
    memset(res, 0, sizeof *res);
}

int device_users_of(const struct store *st, enum names_kind kind, const char *name,
                    char ***aliases, size_t *n, struct ib_error *err)
{
    char **all;
    size_t n_all;
    *aliases = NULL;
    *n = 0;
    if (store_list_devices(st, &all, &n_all, err) < 0)
        return -1;
    for (size_t i = 0; i < n_all; i++) {
        struct device *dev;
        if (device_load(st, all[i], &dev, NULL) < 0)
            continue; /* a broken config uses nothing */
        struct device_resolution res;
        device_resolve(st, dev, &res, NULL);
        const struct device_choice *c = kind == NAMES_KERNEL ? &res.kernel
                                      : kind == NAMES_HOSTFS ? &res.hostfs : &res.dtb;
        if (c->ok && !c->custom && c->name && strcmp(c->name, name) == 0) {
            *aliases = xrealloc(*aliases, (*n + 1) * sizeof **aliases);
            (*aliases)[(*n)++] = xstrdup(all[i]);
        }
        device_resolution_free(&res);
        device_free(dev);
    }
    store_free_strings(all, n_all);
    return 0;
}

int device_remove_item(const struct store *st, enum names_kind kind, const char *name,
                       bool force, struct ib_error *err)
{
    if (names_validate(name, names_kind_label(kind), err) < 0)
        return -1;
    char *path = store_item_path(st, kind, name);
    bool exists = ib_path_is_file(path);
    free(path);
    if (!exists)
        return ib_err(err, IB_ENOTFOUND, "no %s named %s in the store", names_kind_label(kind),
                      name);
    char **users;
    size_t n;
    if (device_users_of(st, kind, name, &users, &n, err) < 0)
        return -1;
    if (n > 0 && !force) {
        char list[600] = "";
        for (size_t i = 0; i < n; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     users[i]);
        store_free_strings(users, n);
        return ib_err(err, IB_ECONFLICT, "%s %s is used by device%s %s; use --force to remove "
                      "it anyway", names_kind_label(kind), name, n > 1 ? "s" : "", list);
    }
    store_free_strings(users, n);
    return store_remove(st, kind, name, err);
}

int device_remove(const struct store *st, const char *alias, struct ib_error *err)
{
    if (names_validate(alias, "device alias", err) < 0)
        return -1;
    char *dir = ib_path_join(st->devices, alias);
    if (!ib_path_is_dir(dir)) {
        free(dir);
        return ib_err(err, IB_ENOTFOUND, "no device named %s", alias);
    }
    /* Its warm state first (tens of MiB that nothing else would free);
     * while the device exists this never says "not found". */
    if (warm_clear(st, alias, err) < 0) {
        free(dir);
        return ib_err_prefix(err, "cannot remove the warm state of %s: ", alias);
    }
    /* Rename first so a half-removed device never looks like a device:
     * hidden folders are not listed. */
    char *trash = xasprintf("%s/.removing-%s-%d", st->devices, alias, (int)getpid());
    int rc = 0;
    if (rename(dir, trash) < 0)
        rc = ib_err_sys(err, IB_EFAIL, "cannot remove %s", dir);
    else
        rc = ib_rm_rf(trash, err);
    free(trash);
    free(dir);
    return rc;
}
