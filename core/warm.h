/*
 * warm.h - warm states: a device booted once, saved (RAM and disks), and
 * restored by every later start in a fraction of a second.
 *
 * $IOTBENCH_HOME/warm/<device>/ holds
 *   warm.json         what it was made from (fingerprints), level, date
 *   ram.mig           the RAM and device state (a QEMU migration stream)
 *   disk.qcow2        the host filesystem layer at save time (over the store's hostfs)
 *   target.qcow2 + target-base.ext2, sd.qcow2 + sd-base.ext2   embedded rootfs / SD
 * Instances restore it with -incoming and get their own qcow2 layer over
 * each disk, so any number can start from one warm state at once and none
 * of them changes it.
 *
 * QEMU refuses to save while a 9P share is mounted: for a virtfs device the
 * host system unmounts /target first (iotbench-prepare-save), so the warm
 * state is taken before the device's services start, and every restored
 * instance mounts the share again and, for level target, runs
 * target-start: it sees the device's files as they are now. An embedded
 * rootfs has no such limit: its services are saved running.
 *
 *     struct warm_state w;
 *     char *notice = NULL;
 *     if (warm_find(&st, dev, &res, &w, &notice) == 1) ... start from w
 *     warm_make(&st, "demo", INSTANCE_READY_TARGET, &err);
 */
#ifndef IB_WARM_H
#define IB_WARM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/device.h"
#include "core/error.h"
#include "core/instance.h"
#include "core/store.h"

struct warm_state {
    char *dir;
    char *ram;            /* ram.mig */
    char *disk;           /* disk.qcow2 */
    char *target;         /* target.qcow2 or NULL */
    char *sd;             /* sd.qcow2 or NULL */
    enum instance_ready level;   /* what the device should reach after restore */
    bool services_saved;  /* the target's services run in the saved state */
    int64_t made_ms;
    long long bytes;      /* disk space used */
};

/* 1: a valid warm state (filled in w); 0: none, or stale (then *notice,
 * malloc'd, says what changed); -1: error. */
int warm_find(const struct store *st, const struct device *dev,
              const struct device_resolution *res, struct warm_state *w, char **notice,
              struct ib_error *err);
void warm_state_free(struct warm_state *w);

/* Boots the device cold, waits for level, saves. Progress lines go to
 * progress (may be NULL). */
int warm_make(const struct store *st, const char *device, enum instance_ready level,
              void (*progress)(const char *line, void *arg), void *arg, struct ib_error *err);

/* Removes the warm state (fine when there is none; IB_ENOTFOUND when
 * there is neither a device nor a warm state of that name). This, making
 * and measuring a warm state also remove what a crashed save left in
 * warm/ (".new-ALIAS.PID", "ALIAS.old.PID" whose process is gone). */
int warm_clear(const struct store *st, const char *device, struct ib_error *err);

/* Bytes used by the device's warm state (0 when none). */
long long warm_bytes(const struct store *st, const char *device);

/* What instance_start runs in a restored guest: clock, the console
 * notice, 9P remount and, when the level asks for it, target-start. */
int warm_after_restore(const struct instance_info *info, const struct warm_state *w,
                       struct ib_error *err);

#endif
