/*
 * store.h - the library of kernels, host filesystems, dtbs and devices
 * under $IOTBENCH_HOME (default ~/.iotbench), laid out as Piotr's ~/.piotr:
 *
 *   kernels/<platform>.<cpu>.<endian>-<version>           zImage
 *   initrds/<kernel name>                                 its initramfs (iotbench addition)
 *   hostfs/<platform>.<cpu>.<endian>-<version>.<fstype>   raw image
 *   dtbs/<platform>-<cpu>.dtb
 *   devices/<alias>/config.yaml, rootfs/
 *   run/<instance>/                                        running instances (0700)
 *
 *     struct store st;
 *     if (store_open(&st, NULL, &err) < 0) ...
 *     store_add(&st, NAMES_KERNEL, "/tmp/zImage", "virt.cortex-a15.little-6.1.176", &err);
 *     store_close(&st);
 *
 * Files enter the store by an atomic copy and are never overwritten by a
 * different file of the same name.
 */
#ifndef IB_STORE_H
#define IB_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/names.h"

struct store {
    char *home;
    char *kernels;
    char *initrds;
    char *hostfs;
    char *dtbs;
    char *devices;
    char *run;
};

struct store_item {
    char *name;
    char *path;
    long long size;       /* bytes of the file */
    bool valid;           /* the name follows the kind's pattern */
    struct names_parsed parsed;
};

struct store_list {
    struct store_item *items;
    size_t n;
};

/* home NULL: $IOTBENCH_HOME, else ~/.iotbench. Creates missing folders. */
int store_open(struct store *st, const char *home, struct ib_error *err);
void store_close(struct store *st);

const char *store_dir(const struct store *st, enum names_kind kind);
/* Path of a named item (malloc'd); the name must pass names_validate. */
char *store_item_path(const struct store *st, enum names_kind kind, const char *name);

/* All files of a kind, sorted by name; files whose names do not follow the
 * pattern are listed with valid = false. */
int store_list(const struct store *st, enum names_kind kind, struct store_list *out,
               struct ib_error *err);
void store_list_free(struct store_list *list);

/* Copies src into the store under name (NULL: src's file name). When a
 * file of that name already holds the same bytes, *already is set and
 * nothing is written; a different file of that name is a conflict. */
int store_add(const struct store *st, enum names_kind kind, const char *src, const char *name,
              bool *already, struct ib_error *err);

/* A kernel's initrd (initrds/<kernel>), with the same rule as store_add:
 * identical bytes set *already, a different file is a conflict (IB_ECONFLICT).
 * store_check_initrd only says what store_add_initrd would do, so a caller
 * can refuse before it adds the kernel. */
int store_check_initrd(const struct store *st, const char *kernel, const char *src,
                       bool *already, struct ib_error *err);
int store_add_initrd(const struct store *st, const char *kernel, const char *src, bool *already,
                     struct ib_error *err);

/* Removes an item (and a kernel's initrd). It does not look at devices:
 * device_remove_item() in device.h refuses when a device depends on it. */
int store_remove(const struct store *st, enum names_kind kind, const char *name,
                 struct ib_error *err);

/* Piotr's matching: platform, cpu and endianness equal (dtb: platform and
 * cpu, falling back to cpu "generic"); an explicit version must be equal,
 * otherwise the highest version wins. Returns the name (malloc'd) or NULL
 * with a message saying what was looked for and what exists. */
char *store_find(const struct store *st, enum names_kind kind, const char *platform,
                 const char *cpu, const char *endian, const char *version, struct ib_error *err);

/* The device aliases (folders of devices/), sorted. */
int store_list_devices(const struct store *st, char ***aliases, size_t *n, struct ib_error *err);
void store_free_strings(char **v, size_t n);

#endif
