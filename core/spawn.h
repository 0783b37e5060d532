/*
 * spawn.h - running a helper program (qemu-img, mke2fs) directly, never
 * through a shell, with its messages kept in a log so that a failure can
 * be explained with the tool's own last line.
 */
#ifndef IB_SPAWN_H
#define IB_SPAWN_H

#include "core/error.h"

/* Runs argv to completion; stderr is appended to errlog (private to the
 * owner, as is anything the tool creates). -1 with "<tool> failed: <its
 * last line>" when it exits non-zero. */
int spawn_tool(char *const argv[], const char *errlog, struct ib_error *err);

#endif
