/*
 * fixtures.h - files the store tests need, made for real: a zImage-like
 * kernel (a stub followed by a gzip payload holding a Linux banner), an
 * ext2 image made by mke2fs, device folders.
 */
#ifndef TEST_FIXTURES_H
#define TEST_FIXTURES_H

/* Writes a fake zImage whose gzip payload holds the banner of `release`
 * and, in the Debian style, upstream version `upstream`. */
void fixture_kernel(const char *path, const char *release, const char *upstream);

/* A real ext2 image of size_mib made with mke2fs (label may be NULL). */
void fixture_ext2(const char *path, int size_mib, const char *label);

/* A device folder home/devices/alias with config.yaml = config and an empty rootfs/. */
void fixture_device(const char *home, const char *alias, const char *config);

/* home/devices/alias/rootfs becomes a hard-linked copy (cp -al) of
 * home/devices/from/rootfs: a real folder, as a device's rootfs must be (a
 * symlink is refused), made in milliseconds whatever the size. */
void fixture_rootfs_from(const char *home, const char *alias, const char *from);

#endif
