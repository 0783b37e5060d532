/*
 * snapshot.h - named snapshots of a running instance (RAM and every disk
 * layer), through QMP's snapshot-save/load/delete jobs. They live inside
 * the instance's qcow2 layers and go with it when it stops.
 *
 * A virtfs device has its 9P share unmounted for the save (QEMU refuses to
 * save while it is mounted) and mounted again after; when the device's
 * services run from the share it cannot be unmounted and the save is
 * refused with that explanation.
 *
 *     snapshot_save(&info, "before-exploit", progress, NULL, &err);
 *     snapshot_load(&info, "before-exploit", progress, NULL, &err);
 */
#ifndef IB_SNAPSHOT_H
#define IB_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/instance.h"

struct snapshot {
    char name[128];
    int64_t date_s;          /* when it was taken */
    long long vm_state_size; /* bytes of RAM state */
};

typedef void (*snapshot_progress_fn)(const char *what, int percent, void *arg);

int snapshot_save(const struct instance_info *info, const char *name,
                  snapshot_progress_fn progress, void *arg, struct ib_error *err);
int snapshot_load(const struct instance_info *info, const char *name,
                  snapshot_progress_fn progress, void *arg, struct ib_error *err);
int snapshot_delete(const struct instance_info *info, const char *name,
                    snapshot_progress_fn progress, void *arg, struct ib_error *err);
int snapshot_list(const struct instance_info *info, struct snapshot **list, size_t *n,
                  struct ib_error *err);

#endif
