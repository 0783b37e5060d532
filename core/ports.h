/*
 * ports.h - loopback ports: is one free, who holds it, pick a free one.
 *
 * A forward whose host port is taken would make QEMU refuse to start with
 * a terse message; we check first and name the holder instead.
 */
#ifndef IB_PORTS_H
#define IB_PORTS_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/config.h"
#include "core/error.h"

/* true when 127.0.0.1:port (tcp or udp) can be bound now. */
bool ports_is_free(enum config_proto proto, int port);

/* The pid of the process listening on port (0 when unknown) and its
 * command name. */
pid_t ports_holder(enum config_proto proto, int port, char *comm, size_t cap);

/* A currently free TCP port on 127.0.0.1 (0 on failure). */
int ports_pick_free(void);

#endif
