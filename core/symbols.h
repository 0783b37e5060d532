/*
 * symbols.h - function names of a guest process, read on the host side
 * from the ELF files of the device's rootfs folder (libelf).
 *
 * A process is a set of modules (its executable and shared libraries), each
 * an ELF file mapped at a bias: 0 for a static non-PIE executable (its
 * addresses are absolute), the load address minus the first segment's
 * vaddr for PIE and libraries, found from /proc/PID/maps. Names resolve to
 * run-time addresses and back, so `break handle_request` works and an
 * address shows as "handle_request+0x10".
 *
 * Paths in the maps are the host system's view ("/target/usr/bin/demod");
 * they are resolved inside the rootfs folder as chroot would - absolute
 * symlinks restart at the rootfs, ".." stops at it - so no path of the
 * guest can name a file outside the rootfs.
 *
 *     struct symbols *sy = symbols_new();
 *     symbols_load_maps(sy, "/home/me/.iotbench/devices/demo/rootfs", &maps, &err);
 *     struct symbol s;
 *     if (symbols_lookup(sy, "handle_request", &s) == 0)
 *         set_breakpoint(s.addr, s.thumb ? RSP_BP_THUMB : RSP_BP_ARM);
 *     char where[128];
 *     symbols_format(sy, pc, where, sizeof where);       // "handle_request+0x8"
 *     symbols_free(sy);
 *
 * ELF files are untrusted input: every table is bounds-checked by libelf
 * and again here; a file that does not parse is skipped with a message.
 */
#ifndef IB_SYMBOLS_H
#define IB_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/guestproc.h"

struct symbols;

struct symbol {
    const char *name;   /* owned by the symbols set */
    const char *module; /* the module's name: "/usr/bin/demod" */
    uint64_t addr;      /* run-time address, Thumb bit cleared */
    uint64_t size;
    bool thumb; /* ARM: a Thumb function (the ELF value had bit 0 set) */
    bool func;
};

struct symbols *symbols_new(void);
void symbols_free(struct symbols *sy);

/* One ELF file (a host path) loaded at bias; name is what messages and
 * symbol.module show. */
int symbols_add_file(struct symbols *sy, const char *host_path, const char *name, uint64_t bias,
                     struct ib_error *err);

/* Every file mapped executable in maps, found in rootfs. Only a device
 * process has its files there (a host-system process gives 0 modules).
 * Returns the number of modules loaded; files that cannot be read are
 * listed in *notes (malloc'd, one per line, or NULL). */
int symbols_load_maps(struct symbols *sy, const char *rootfs, const struct guestproc_maps *maps,
                      char **notes, struct ib_error *err);

size_t symbols_count(const struct symbols *sy);
size_t symbols_modules(const struct symbols *sy);

/* By name: global symbols first, then local ones, in module order. */
int symbols_lookup(const struct symbols *sy, const char *name, struct symbol *out);
/* The symbol containing addr (or the closest one before it in the same
 * module when sizes are unknown); *off is addr - symbol address. */
bool symbols_at(const struct symbols *sy, uint64_t addr, struct symbol *out, uint64_t *off);
/* "name+0x10", "name", or "0x10548" when nothing is known. */
void symbols_format(const struct symbols *sy, uint64_t addr, char *buf, size_t cap);
/* 1 Thumb, 0 ARM, -1 unknown: from ARM mapping symbols ($a/$t) or the
 * containing function. */
int symbols_thumb_at(const struct symbols *sy, uint64_t addr);
/* Bytes of the file image at run-time address addr (as loaded: .bss reads
 * as zero). Returns how many could be read (0 when addr is in no module). */
size_t symbols_read(const struct symbols *sy, uint64_t addr, void *buf, size_t len);

/* Resolves path inside root as chroot(root) would, refusing to leave it;
 * *out is the host path of a regular file (malloc'd). */
int symbols_resolve_in_root(const char *root, const char *path, char **out, struct ib_error *err);

/* "where" to an address: a symbol name, "name+OFF", or a number (0x.., decimal).
 * *thumb tells the instruction set (from the symbol or the mapping symbols;
 * false when unknown). */
int symbols_parse_location(const struct symbols *sy, const char *where, uint64_t *addr, bool *thumb,
                           struct ib_error *err);

#endif
