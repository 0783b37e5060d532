/*
 * util.h - small helpers every module of core/ uses: allocation that never
 * returns NULL, monotonic time, paths, and file operations that are atomic
 * (a reader sees the old file or the complete new one, never a half).
 */
#ifndef IB_UTIL_H
#define IB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"

#define IB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure is not a user error: these abort with a message. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds on the monotonic clock (for timeouts) and since the epoch. */
int64_t ib_now_ms(void);
int64_t ib_wall_ms(void);
void ib_sleep_ms(int ms);

/* "a" + "/" + "b", malloc'd. */
char *ib_path_join(const char *a, const char *b);
/* The part after the last '/', pointing into path. */
const char *ib_path_base(const char *path);
bool ib_path_exists(const char *path);
bool ib_path_is_dir(const char *path);
bool ib_path_is_file(const char *path);

/* mkdir -p; existing directories are fine, their mode is left alone. */
int ib_mkdir_p(const char *path, mode_t mode, struct ib_error *err);

/* Reads a whole file (at most max bytes, else an error), NUL-terminated. */
int ib_read_file(const char *path, size_t max, char **data, size_t *len, struct ib_error *err);

/* Writes data to path through a temporary file in the same directory,
 * fsync and rename: readers never see a partial file. */
int ib_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         struct ib_error *err);

/* Copies src to dst the same atomic way, keeping holes (sparse images stay
 * sparse) and the permission bits of src. */
int ib_copy_file_atomic(const char *src, const char *dst, struct ib_error *err);

/* 1 when both files have the same bytes, 0 when not, -1 on error. */
int ib_files_equal(const char *a, const char *b, struct ib_error *err);

/* rm -rf that never follows symlinks; a missing path is fine. */
int ib_rm_rf(const char *path, struct ib_error *err);

int ib_fd_set_nonblock(int fd);

/* Hex SHA-256 (65 bytes with the NUL) of a file. */
int ib_sha256_file(const char *path, char hex[65], struct ib_error *err);

#endif
