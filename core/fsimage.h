/*
 * fsimage.h - what an ext2/3/4 image is, read from its superblock, so that
 * `fs add` can warn about a file that is not a filesystem and `fs info`
 * can show its real type, size and label.
 */
#ifndef IB_FSIMAGE_H
#define IB_FSIMAGE_H

#include "core/error.h"

struct fsimage_info {
    char type[8];         /* "ext2", "ext3" or "ext4" */
    char label[17];
    long long fs_bytes;   /* blocks x block size */
    long long allocated;  /* bytes the image file really uses on disk */
};

/* -1 (IB_EINPUT) when the file holds no ext superblock. */
int fsimage_probe(const char *path, struct fsimage_info *info, struct ib_error *err);

#endif
