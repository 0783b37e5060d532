/*
 * device.h - a device of the store: its folder, its config, and the exact
 * kernel, initrd, host filesystem and dtb a start would use.
 *
 *     struct device *dev;
 *     if (device_load(&st, "demo", &dev, &err) < 0) ...
 *     struct device_resolution res;
 *     if (device_resolve(&st, dev, &res, &err) < 0) ... err says what is missing
 *     ... res.kernel.path, res.hostfs.path ...
 *     device_resolution_free(&res);
 *     device_free(dev);
 *
 * device_resolve() is what both `device check` and `device start` call, so
 * the check reports exactly what a start would do.
 */
#ifndef IB_DEVICE_H
#define IB_DEVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/error.h"
#include "core/store.h"

struct device {
    char *alias;
    char *dir;
    char *config_path;
    char *rootfs;
    struct config *cfg;
};

struct device_choice {
    bool wanted;  /* false: the device does not use this part (no sd, no dtb) */
    bool ok;      /* found (or not wanted) */
    bool custom;  /* a file of the device folder rather than of the store */
    bool refused; /* not ok because the config names a link or a path outside the folder */
    char *name;   /* store name or path relative to the device folder */
    char *path;   /* absolute path, NULL when not found or not wanted */
    char *note;   /* how it was chosen, or what is missing */
};

struct device_resolution {
    struct device_choice kernel, initrd, hostfs, dtb, rootfs, sd;
};

int device_load(const struct store *st, const char *alias, struct device **out,
                struct ib_error *err);
void device_free(struct device *dev);

/* Fills every choice; returns -1 when a required part is missing, with
 * err naming the first one. The resolution is filled either way. */
int device_resolve(const struct store *st, const struct device *dev,
                   struct device_resolution *res, struct ib_error *err);
void device_resolution_free(struct device_resolution *res);

/* Aliases of the devices that resolve to the given store item. */
int device_users_of(const struct store *st, enum names_kind kind, const char *name,
                    char ***aliases, size_t *n, struct ib_error *err);

/* store_remove() that refuses, unless forced, when devices depend on the
 * item; the message names them. */
int device_remove_item(const struct store *st, enum names_kind kind, const char *name,
                       bool force, struct ib_error *err);

/* Removes a device folder and its warm state (warm_clear). */
int device_remove(const struct store *st, const char *alias, struct ib_error *err);

#endif
