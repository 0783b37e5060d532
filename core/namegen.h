/*
 * namegen.h - Docker-style instance names ("brave_lovelace"), as Piotr
 * names its instances, so the two tools feel alike.
 */
#ifndef IB_NAMEGEN_H
#define IB_NAMEGEN_H

#include <stddef.h>

/* Writes adjective_surname into buf, choosing with seed. */
void namegen_make(unsigned seed, char *buf, size_t cap);

#endif
