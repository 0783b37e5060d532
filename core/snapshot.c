/* snapshot.c - see snapshot.h. QEMU reports a job's failure only in
 * query-jobs, so every job is polled to its end and its error read there. */
#include "core/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/names.h"
#include "core/qemu_argv.h"
#include "core/qga.h"
#include "core/qmp.h"
#include "core/util.h"

#define JOB_TIMEOUT_MS 120000

static bool argv_has(const struct instance_info *info, const char *needle)
{
    for (size_t i = 0; i < info->argc; i++)
        if (strstr(info->argv[i], needle))
            return true;
    return false;
}

static bool uses_virtfs(const struct instance_info *info)
{
    return argv_has(info, "mount_tag=host0");
}

/* The block nodes the instance has, for a job's "devices". */
static json_t *node_list(const struct instance_info *info)
{
    json_t *a = json_array();
    const char *nodes[] = {QEMU_NODE_HOSTFS, QEMU_NODE_TARGET, QEMU_NODE_SD};
    for (size_t i = 0; i < IB_ARRAY_LEN(nodes); i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "node-name=%s", nodes[i]);
        if (argv_has(info, needle))
            json_array_append_new(a, json_string(nodes[i]));
    }
    return a;
}

static int guest_script(const struct instance_info *info, const char *path, const char *what,
                        struct ib_error *err)
{
    const char *argv[] = {path, NULL};
    struct qga_exec_result res;
    if (qga_exec_sync(info->qga_sock, argv, NULL, 0, 20000, &res, err) < 0)
        return ib_err_prefix(err, "%s: ", what);
    int rc = 0;
    if (res.exit_code != 0) {
        size_t n = res.err_len;
        while (n > 0 && (res.err[n - 1] == '\n' || res.err[n - 1] == '\r'))
            n--;
        rc = ib_err(err, IB_EFAIL, "%s failed: %.*s", what, (int)n, res.err ? res.err : "");
    }
    qga_exec_result_free(&res);
    return rc;
}

/* Runs a snapshot job to its end. */
static int run_job(const struct instance_info *info, const char *cmd, const char *id, json_t *args,
                   const char *what, snapshot_progress_fn progress, void *arg,
                   struct ib_error *err)
{
    json_object_set_new(args, "job-id", json_string(id));
    if (qmp_call(info->qmp_sock, cmd, args, 5000, NULL, err) < 0)
        return -1;
    int64_t deadline = ib_now_ms() + JOB_TIMEOUT_MS;
    int rc = ib_err(err, IB_ETIMEOUT, "%s did not finish within %d s", what,
                    JOB_TIMEOUT_MS / 1000);
    while (ib_now_ms() < deadline) {
        json_t *jobs = NULL;
        if (qmp_call(info->qmp_sock, "query-jobs", NULL, 5000, &jobs, err) < 0)
            return -1;
        size_t i;
        json_t *job, *mine = NULL;
        json_array_foreach(jobs, i, job) {
            const char *jid = json_string_value(json_object_get(job, "id"));
            if (jid && strcmp(jid, id) == 0)
                mine = job;
        }
        const char *status = mine ? json_string_value(json_object_get(mine, "status")) : NULL;
        if (mine && progress) {
            json_int_t cur = json_integer_value(json_object_get(mine, "current-progress"));
            json_int_t tot = json_integer_value(json_object_get(mine, "total-progress"));
            progress(what, tot > 0 ? (int)(cur * 100 / tot) : 0, arg);
        }
        if (status && strcmp(status, "concluded") == 0) {
            const char *why = json_string_value(json_object_get(mine, "error"));
            rc = why ? ib_err(err, IB_EFAIL, "%s failed: %s", what, why) : 0;
            json_decref(jobs);
            qmp_call(info->qmp_sock, "job-dismiss", json_pack("{s:s}", "id", id), 5000, NULL,
                     NULL);
            if (rc == 0 && progress)
                progress(what, 100, arg);
            return rc;
        }
        json_decref(jobs);
        ib_sleep_ms(20);
    }
    return rc;
}

static int check_name(const char *name, struct ib_error *err)
{
    if (names_validate(name, "snapshot name", err) < 0)
        return -1;
    if (strlen(name) >= sizeof((struct snapshot *)0)->name)
        return ib_err(err, IB_EINPUT, "snapshot name is longer than 127 characters");
    return 0;
}

static void job_id(char *buf, size_t cap, const char *kind)
{
    snprintf(buf, cap, "iotbench-%s-%d-%lld", kind, (int)getpid(), (long long)ib_now_ms());
}

int snapshot_save(const struct instance_info *info, const char *name,
                  snapshot_progress_fn progress, void *arg, struct ib_error *err)
{
    if (check_name(name, err) < 0)
        return -1;
    bool virtfs = uses_virtfs(info);
    /* QEMU cannot save while the 9P share is mounted. */
    if (virtfs && guest_script(info, "/sbin/iotbench-prepare-save", "unmounting the 9P share",
                               err) < 0) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return ib_err(err, IB_EFAIL, "cannot save snapshot %s: %s. Save before target-start, "
                      "or give the device guestfs: embed", name, why);
    }
    char id[96];
    job_id(id, sizeof id, "save");
    json_t *args = json_pack("{s:s, s:s, s:o}", "tag", name, "vmstate", QEMU_NODE_HOSTFS,
                             "devices", node_list(info));
    int rc = run_job(info, "snapshot-save", id, args, "saving snapshot", progress, arg, err);
    struct ib_error remount = {0};
    if (virtfs && guest_script(info, "/sbin/iotbench-after-restore",
                               "mounting the 9P share again", &remount) < 0 && rc == 0)
        rc = ib_err(err, IB_EFAIL, "%s", remount.msg);
    return rc;
}

int snapshot_load(const struct instance_info *info, const char *name,
                  snapshot_progress_fn progress, void *arg, struct ib_error *err)
{
    if (check_name(name, err) < 0)
        return -1;
    char id[96];
    job_id(id, sizeof id, "load");
    json_t *args = json_pack("{s:s, s:s, s:o}", "tag", name, "vmstate", QEMU_NODE_HOSTFS,
                             "devices", node_list(info));
    if (run_job(info, "snapshot-load", id, args, "loading snapshot", progress, arg, err) < 0) {
        /* QEMU stops the VM for the load and restarts it only when the
         * load worked: a failed one (no such snapshot) leaves the guest
         * paused, with its agent silent. It was running: let it run. */
        qmp_call(info->qmp_sock, "cont", NULL, 3000, NULL, NULL);
        return -1;
    }
    /* The guest is back where it was when saved: clock, and its share. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_int_t ns = (json_int_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (qga_call(info->qga_sock, "guest-set-time", json_pack("{s:I}", "time", ns), 5000, NULL,
                 err) < 0)
        return ib_err_prefix(err, "after loading: ");
    if (uses_virtfs(info))
        return guest_script(info, "/sbin/iotbench-after-restore", "mounting the 9P share again",
                            err);
    return 0;
}

int snapshot_delete(const struct instance_info *info, const char *name,
                    snapshot_progress_fn progress, void *arg, struct ib_error *err)
{
    if (check_name(name, err) < 0)
        return -1;
    char id[96];
    job_id(id, sizeof id, "delete");
    json_t *args = json_pack("{s:s, s:o}", "tag", name, "devices", node_list(info));
    return run_job(info, "snapshot-delete", id, args, "deleting snapshot", progress, arg, err);
}

int snapshot_list(const struct instance_info *info, struct snapshot **list, size_t *n,
                  struct ib_error *err)
{
    *list = NULL;
    *n = 0;
    json_t *blocks = NULL;
    if (qmp_call(info->qmp_sock, "query-block", NULL, 5000, &blocks, err) < 0)
        return -1;
    size_t i;
    json_t *b;
    json_array_foreach(blocks, i, b) {
        const char *dev = json_string_value(json_object_get(b, "device"));
        if (dev == NULL || strcmp(dev, "hostfs") != 0)
            continue;
        json_t *snaps = json_object_get(json_object_get(json_object_get(b, "inserted"), "image"),
                                        "snapshots");
        size_t k;
        json_t *s;
        *list = xcalloc(json_array_size(snaps) + 1, sizeof **list);
        json_array_foreach(snaps, k, s) {
            struct snapshot *out = &(*list)[(*n)++];
            const char *nm = json_string_value(json_object_get(s, "name"));
            snprintf(out->name, sizeof out->name, "%s", nm ? nm : "?");
            out->date_s = (int64_t)json_integer_value(json_object_get(s, "date-sec"));
            out->vm_state_size = (long long)json_integer_value(
                json_object_get(s, "vm-state-size"));
        }
    }
    json_decref(blocks);
    return 0;
}
