/*
 * lockfile.h - "only one client at a time" for the sockets of a runtime
 * folder that QEMU serves to a single client (console, agent): whoever
 * uses one holds an flock on a lock file beside it, with its pid written
 * inside so the next one can say who holds it.
 *
 *     int fd;
 *     pid_t holder;
 *     if (lockfile_take(".../console.lock", 0, &fd, &holder, &err) < 0)
 *         ... err: "held by pid 1234 (iotbench)"
 *     ...
 *     lockfile_release(fd);
 */
#ifndef IB_LOCKFILE_H
#define IB_LOCKFILE_H

#include <sys/types.h>

#include "core/error.h"

/* Waits up to timeout_ms (0: try once). On IB_ECONFLICT, *holder is the
 * pid written by the holder (0 if unknown). */
int lockfile_take(const char *path, int timeout_ms, int *fd_out, pid_t *holder,
                  struct ib_error *err);
void lockfile_release(int fd);

#endif
