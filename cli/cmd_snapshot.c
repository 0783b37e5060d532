/* cmd_snapshot.c - `iotbench instance snapshot INSTANCE save|load|delete
 * NAME` and `... INSTANCE list`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/instance.h"
#include "core/snapshot.h"
#include "core/util.h"

static void show_progress(const char *what, int percent, void *arg)
{
    (void)arg;
    /* One line that redraws itself on a terminal; quiet otherwise. */
    if (isatty(2))
        fprintf(stderr, "\r[snapshot] %s %3d%%%s", what, percent, percent >= 100 ? "\n" : "");
}

static int list_snapshots(struct cli_ctx *ctx, const struct instance_info *info, bool json)
{
    struct snapshot *list;
    size_t n;
    if (snapshot_list(info, &list, &n, &ctx->err) < 0)
        return -1;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "name", list[i].name,
                                                 "date_s", (json_int_t)list[i].date_s,
                                                 "vm_state_size",
                                                 (json_int_t)list[i].vm_state_size));
        cli_print_json(arr);
    } else if (n == 0) {
        printf("no snapshots of %s\n", info->name);
    } else {
        printf("%-24s %-20s %10s\n", "NAME", "TAKEN", "RAM STATE");
        for (size_t i = 0; i < n; i++) {
            char date[32], size[32];
            time_t t = (time_t)list[i].date_s;
            struct tm tm;
            localtime_r(&t, &tm);
            strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
            cli_format_size(list[i].vm_state_size, size, sizeof size);
            printf("%-24s %-20s %10s\n", list[i].name, date, size);
        }
    }
    free(list);
    return 0;
}

int cli_snapshot_run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv);

int cli_snapshot_run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *json = NULL;
    const struct cli_opt opts[] = {{"--json", false, &json}, {NULL, false, NULL}};
    char *pos[3];
    int n;
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 2, 3, &n);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    const char *action = pos[1];
    bool is_list = strcmp(action, "list") == 0;
    if (!is_list && strcmp(action, "save") && strcmp(action, "load") && strcmp(action, "delete"))
        return ib_err(&ctx->err, IB_EINPUT, "snapshot action must be save, load, delete or list, "
                      "got \"%s\"", action);
    if (!is_list && n != 3)
        return ib_err(&ctx->err, IB_EINPUT, "snapshot %s needs a NAME", action);
    struct store *st = cli_store(ctx);
    struct instance_info info;
    if (st == NULL || instance_get(st, pos[0], &info, &ctx->err) < 0)
        return -1;
    if (info.state != INSTANCE_RUNNING) {
        ib_err(&ctx->err, IB_EFAIL, "instance %s is dead: %s", info.name, info.dead_reason);
        instance_info_free(&info);
        return -1;
    }
    int64_t t0 = ib_now_ms();
    if (is_list)
        rc = list_snapshots(ctx, &info, json != NULL);
    else if (strcmp(action, "save") == 0)
        rc = snapshot_save(&info, pos[2], show_progress, NULL, &ctx->err);
    else if (strcmp(action, "load") == 0)
        rc = snapshot_load(&info, pos[2], show_progress, NULL, &ctx->err);
    else
        rc = snapshot_delete(&info, pos[2], show_progress, NULL, &ctx->err);
    if (rc == 0 && !is_list)
        printf("snapshot %s of %s: %s done in %.2f s\n", pos[2], info.name, action,
               (double)(ib_now_ms() - t0) / 1000);
    instance_info_free(&info);
    return rc;
}
