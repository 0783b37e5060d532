/*
 * names.h - the names of things in the store, Piotr's way.
 *
 *   kernel  <platform>.<cpu>.<endian>-<x.y[.z...]>            virt.cortex-a7.little-5.10.7
 *   hostfs  <platform>.<cpu>.<endian>-<x.y[.z...]>.<fstype>   virt.cortex-a15.little-6.1.176.ext2
 *   dtb     <platform>-<cpu>.dtb                              virt-generic.dtb
 *
 * Platform, cpu and endianness may hold any character but '.', exactly as
 * Piotr's patterns; on top of that every name a user gives goes through
 * names_validate(), so no name can reach outside its store folder.
 */
#ifndef IB_NAMES_H
#define IB_NAMES_H

#include <stdbool.h>

#include "core/error.h"

#define NAMES_MAX_PARTS 8

enum names_kind { NAMES_KERNEL, NAMES_HOSTFS, NAMES_DTB };

struct names_version {
    int part[NAMES_MAX_PARTS];
    int n;
};

struct names_parsed {
    char platform[64];
    char cpu[64];
    char endian[16];
    char version[64];      /* as written: "6.1.176" */
    struct names_version ver;
    char fstype[16];       /* hostfs only: ext2, ext3, ext4 */
};

/* What a kind is called in messages and folders. */
const char *names_kind_label(enum names_kind kind);  /* "kernel", "host filesystem", "dtb" */

/* A name anyone may give for a file or folder in the store: non-empty, at
 * most 200 bytes, no '/', not hidden (leading '.'), no "..", no control
 * characters. what names the thing in the error ("device alias"). */
int names_validate(const char *name, const char *what, struct ib_error *err);

/* "x.y[.z...]": at least two numeric parts. */
int names_parse_version(const char *s, struct names_version *out);
int names_version_cmp(const struct names_version *a, const struct names_version *b);

/* Parses a store name of the given kind; -1 with a message saying which
 * pattern it must follow. */
int names_parse(enum names_kind kind, const char *name, struct names_parsed *out,
                struct ib_error *err);

#endif
