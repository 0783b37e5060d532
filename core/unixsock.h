/*
 * unixsock.h - connecting to the UNIX sockets of a runtime folder.
 *
 * sun_path holds 107 bytes; a deep $IOTBENCH_HOME makes longer paths. Those
 * are reached through the folder's file descriptor (/proc/self/fd/N/name),
 * which the kernel resolves like any path.
 */
#ifndef IB_UNIXSOCK_H
#define IB_UNIXSOCK_H

#include "core/error.h"

/* A connected, non-blocking, close-on-exec stream socket, or -1. */
int unixsock_connect(const char *path, struct ib_error *err);

#endif
