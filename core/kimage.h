/*
 * kimage.h - what a kernel image says about itself.
 *
 * A zImage is a small decompressor followed by the compressed kernel; the
 * kernel holds the banner "Linux version 6.1.0-50-armmp (...) #1 SMP Debian
 * 6.1.176-1 (...)". We find the compressed payload by its magic bytes and
 * inflate it with libarchive (gzip, xz, lzma, lz4, zstd) until the banner
 * appears. An uncompressed Image is searched directly.
 */
#ifndef IB_KIMAGE_H
#define IB_KIMAGE_H

#include "core/error.h"

struct kimage_info {
    char banner[512];    /* the whole "Linux version ..." line */
    char release[128];   /* "6.1.0-50-armmp" (uname -r) */
    char upstream[64];   /* "6.1.176" when the banner names it (Debian does), else release */
    char compression[16];/* "gzip", "xz", ..., or "none" */
};

int kimage_read(const char *path, struct kimage_info *info, struct ib_error *err);

#endif
