/*
 * cmd_instance.c - running devices from the command line:
 * `device start|running|stop` (Piotr's verbs) and `instance list|stop|
 * info|wait|target-start` (the same actions under the instance noun).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/instance.h"
#include "core/qemu_argv.h"
#include "core/util.h"
#include "core/warm.h"

static int parse_int(struct cli_ctx *ctx, const char *opt, const char *s, int min, int max,
                     int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max)
        return ib_err(&ctx->err, IB_EINPUT, "%s expects a whole number from %d to %d, got \"%s\"",
                      opt, min, max, s);
    *out = (int)v;
    return 0;
}

static int parse_level(struct cli_ctx *ctx, const char *s, enum instance_ready *out)
{
    if (instance_ready_parse(s, out) < 0 || *out == INSTANCE_READY_NONE)
        return ib_err(&ctx->err, IB_EINPUT, "--wait/--for expects kernel, banner, agent or "
                      "target, got \"%s\"", s);
    return 0;
}

static void format_uptime(int64_t started_ms, char *buf, size_t cap)
{
    long s = (long)((ib_wall_ms() - started_ms) / 1000);
    if (s < 0)
        s = 0;
    if (s < 3600)
        snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, cap, "%ldh%02ldm", s / 3600, (s / 60) % 60);
}

static json_t *info_json(const struct instance_info *in)
{
    json_t *fw = json_array(), *argv = json_array();
    for (size_t i = 0; i < in->n_forwards; i++)
        json_array_append_new(fw, json_pack("{s:s, s:s, s:i, s:i}", "name", in->forwards[i].name,
                                            "proto", config_proto_name(in->forwards[i].proto),
                                            "host_port", in->forwards[i].host_port, "guest_port",
                                            in->forwards[i].guest_port));
    for (size_t i = 0; i < in->argc; i++)
        json_array_append_new(argv, json_string(in->argv[i]));
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:I, s:s, s:s, s:s, s:s, s:o, s:o}", "name",
                          in->name, "device", in->device, "state",
                          in->state == INSTANCE_RUNNING ? "running" : "dead", "pid", (int)in->pid,
                          "started_ms", (json_int_t)in->started_ms, "dir", in->dir,
                          "console_log", in->console_log, "qmp", in->qmp_sock, "agent",
                          in->qga_sock, "forwards", fw, "argv", argv);
    if (in->gdbstub_port)
        json_object_set_new(o, "gdbstub_port", json_integer(in->gdbstub_port));
    json_object_set_new(o, "warm_made_ms", json_integer(in->warm_made_ms));
    if (in->dead_reason)
        json_object_set_new(o, "dead_reason", json_string(in->dead_reason));
    if (in->last_console)
        json_object_set_new(o, "last_console", json_string(in->last_console));
    return o;
}

static void print_forwards(const struct instance_info *in, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 0; i < in->n_forwards; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%d->%d/%s", i ? " " : "",
                 in->forwards[i].host_port, in->forwards[i].guest_port,
                 config_proto_name(in->forwards[i].proto));
}

static int cmd_start(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *offset = NULL, *wait = NULL, *timeout = NULL, *gdbstub = NULL, *target = NULL,
               *json = NULL, *cold = NULL;
    const struct cli_opt opts[] = {
        {"--port-offset", true, &offset}, {"--wait", true, &wait},
        {"--timeout", true, &timeout},    {"--gdbstub", false, &gdbstub},
        {"--target", false, &target},     {"--json", false, &json},
        {"--cold", false, &cold},         {NULL, false, NULL}};
    char *pos[2];
    int n;
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 2, &n);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    struct instance_start_opts o = {.name = n > 1 ? pos[1] : NULL, .timeout_ms = 60000,
                                    .gdbstub = gdbstub != NULL, .start_target = target != NULL,
                                    .cold = cold != NULL};
    int secs = 60;
    if ((offset && parse_int(ctx, "--port-offset", offset, -65535, 65535, &o.port_offset) < 0) ||
        (timeout && parse_int(ctx, "--timeout", timeout, 1, 86400, &secs) < 0) ||
        (wait && parse_level(ctx, wait, &o.wait) < 0))
        return -1;
    o.timeout_ms = secs * 1000;
    struct store *st = cli_store(ctx);
    struct instance_info info;
    int64_t t0 = ib_now_ms();
    if (st == NULL || instance_start(st, pos[0], &o, &info, &ctx->err) < 0) {
        if (st && info.notice)
            fprintf(stderr, "iotbench: %s\n", info.notice);
        if (st)
            instance_info_free(&info);
        return -1;
    }
    if (info.notice)
        fprintf(stderr, "iotbench: %s\n", info.notice);
    if (json) {
        cli_print_json(info_json(&info));
    } else {
        char fw[512];
        print_forwards(&info, fw, sizeof fw);
        char made[64] = "";
        if (info.warm_made_ms) {
            time_t t = (time_t)(info.warm_made_ms / 1000);
            struct tm tm;
            localtime_r(&t, &tm);
            strftime(made, sizeof made, "%Y-%m-%d %H:%M:%S", &tm);
        }
        printf("%s started %s%s%s in %.2f s (device %s, pid %d%s%s)\n", info.name,
               info.warm_made_ms ? "warm, from the state made " : "cold", made,
               info.warm_made_ms ? "," : "", (double)(ib_now_ms() - t0) / 1000, info.device,
               (int)info.pid, fw[0] ? ", forwards " : "", fw);
    }
    instance_info_free(&info);
    return 0;
}

static int cmd_running(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *json = NULL;
    const struct cli_opt opts[] = {{"--json", false, &json}, {NULL, false, NULL}};
    int rc = cli_parse(ctx, cmd, argc, argv, opts, NULL, 0, 0, NULL);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    struct store *st = cli_store(ctx);
    struct instance_info *list;
    size_t n;
    if (st == NULL || instance_list(st, &list, &n, &ctx->err) < 0)
        return -1;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, info_json(&list[i]));
        cli_print_json(arr);
    } else if (n == 0) {
        printf("no instances running\n");
    } else {
        printf("%-24s %-16s %-8s %8s %8s  %s\n", "NAME", "DEVICE", "STATE", "PID", "UPTIME",
               "FORWARDS");
        for (size_t i = 0; i < n; i++) {
            char up[32], fw[512];
            format_uptime(list[i].started_ms, up, sizeof up);
            print_forwards(&list[i], fw, sizeof fw);
            if (list[i].state == INSTANCE_RUNNING)
                printf("%-24s %-16s %-8s %8d %8s  %s\n", list[i].name, list[i].device, "running",
                       (int)list[i].pid, up, fw);
            else
                printf("%-24s %-16s %-8s %8d %8s  %s (cleaned up)\n", list[i].name,
                       list[i].device, "dead", (int)list[i].pid, "-", list[i].dead_reason);
        }
    }
    instance_list_free(list, n);
    return 0;
}

static const char *stop_way_text(enum instance_stop_way way, bool now)
{
    switch (way) {
    case INSTANCE_STOP_POWERED_OFF:
        return "the guest powered off";
    case INSTANCE_STOP_QUIT:
        return now ? "QEMU quit" : "QEMU quit: the guest agent did not answer or the guest did "
                                   "not power off in time";
    case INSTANCE_STOP_KILLED:
        return "killed: QEMU did not quit";
    case INSTANCE_STOP_WAS_DEAD:
        return "it had exited already";
    }
    return "?";
}

static int cmd_stop(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *all = NULL, *now = NULL, *timeout = NULL;
    const struct cli_opt opts[] = {{"--all", false, &all}, {"--now", false, &now},
                                   {"--timeout", true, &timeout}, {NULL, false, NULL}};
    char *pos[16];
    int n;
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 0, 16, &n);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if ((n == 0) == (all == NULL))
        return ib_err(&ctx->err, IB_EINPUT, "give instance names or --all (not both)");
    int secs = 10;
    if (timeout && parse_int(ctx, "--timeout", timeout, 0, 3600, &secs) < 0)
        return -1;
    struct store *st = cli_store(ctx);
    if (st == NULL)
        return -1;
    char **names = NULL;
    size_t count = 0;
    if (all) {
        struct instance_info *list;
        size_t ln;
        if (instance_list(st, &list, &ln, &ctx->err) < 0)
            return -1;
        names = xcalloc(ln + 1, sizeof *names);
        for (size_t i = 0; i < ln; i++)
            if (list[i].state == INSTANCE_RUNNING)
                names[count++] = xstrdup(list[i].name);
        instance_list_free(list, ln);
    } else {
        names = xcalloc((size_t)n + 1, sizeof *names);
        for (int i = 0; i < n; i++)
            names[count++] = xstrdup(pos[i]);
    }
    int status = 0;
    for (size_t i = 0; i < count; i++) {
        struct ib_error e = {0};
        enum instance_stop_way way;
        if (instance_stop_how(st, names[i], secs * 1000, now != NULL, &way, &e) < 0) {
            fprintf(stderr, "iotbench: %s\n", e.msg);
            status = e.status ? e.status : IB_EFAIL;
        } else {
            printf("%s stopped (%s)\n", names[i], stop_way_text(way, now != NULL));
        }
        free(names[i]);
    }
    free(names);
    return status;
}

static int cmd_info(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *json = NULL;
    const struct cli_opt opts[] = {{"--json", false, &json}, {NULL, false, NULL}};
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    struct store *st = cli_store(ctx);
    struct instance_info info;
    if (st == NULL || instance_get(st, pos[0], &info, &ctx->err) < 0)
        return -1;
    if (json) {
        json_t *o = info_json(&info);
        json_object_set_new(o, "ready", json_string(instance_ready_name(
                                            instance_readiness(&info))));
        cli_print_json(o);
    } else {
        char up[32], fw[512];
        format_uptime(info.started_ms, up, sizeof up);
        print_forwards(&info, fw, sizeof fw);
        char *line = qemu_argv_display(info.argv);
        printf("instance  %s\ndevice    %s\nstate     %s%s%s\npid       %d\nuptime    %s\n"
               "ready     %s\nforwards  %s\nfolder    %s\ncommand   %s\n", info.name,
               info.device, info.state == INSTANCE_RUNNING ? "running" : "dead",
               info.dead_reason ? ": " : "", info.dead_reason ? info.dead_reason : "",
               (int)info.pid, up, instance_ready_name(instance_readiness(&info)),
               fw[0] ? fw : "(none)", info.dir, line);
        if (info.gdbstub_port)
            printf("gdbstub   127.0.0.1:%d\n", info.gdbstub_port);
        free(line);
    }
    instance_info_free(&info);
    return 0;
}

static int cmd_wait(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *level = NULL, *timeout = NULL;
    const struct cli_opt opts[] = {{"--for", true, &level}, {"--timeout", true, &timeout},
                                   {NULL, false, NULL}};
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    enum instance_ready want = INSTANCE_READY_BANNER;
    int secs = 60;
    if ((level && parse_level(ctx, level, &want) < 0) ||
        (timeout && parse_int(ctx, "--timeout", timeout, 1, 86400, &secs) < 0))
        return -1;
    struct store *st = cli_store(ctx);
    struct instance_info info;
    if (st == NULL || instance_get(st, pos[0], &info, &ctx->err) < 0)
        return -1;
    rc = info.state == INSTANCE_DEAD
        ? ib_err(&ctx->err, IB_EFAIL, "instance %s is dead: %s", info.name, info.dead_reason)
        : instance_wait(&info, want, secs * 1000, &ctx->err);
    if (rc == 0)
        printf("%s reached %s\n", info.name, instance_ready_name(want));
    instance_info_free(&info);
    return rc;
}

static int cmd_target_start(struct cli_ctx *ctx, const struct cli_command *cmd, int argc,
                            char **argv)
{
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, NULL, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    struct store *st = cli_store(ctx);
    struct instance_info info;
    if (st == NULL || instance_get(st, pos[0], &info, &ctx->err) < 0)
        return -1;
    rc = instance_start_target(&info, 15000, &ctx->err);
    if (rc == 0)
        printf("target of %s started\n", info.name);
    instance_info_free(&info);
    return rc;
}

static void print_progress(const char *line, void *arg)
{
    (void)arg;
    printf("[warm] %s\n", line);
    fflush(stdout);
}

static int cmd_warm(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *level = NULL, *clear = NULL;
    const struct cli_opt opts[] = {{"--level", true, &level}, {"--clear", false, &clear},
                                   {NULL, false, NULL}};
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    struct store *st = cli_store(ctx);
    if (st == NULL)
        return -1;
    if (clear) {
        if (names_validate(pos[0], "device alias", &ctx->err) < 0)
            return -1;
        long long bytes = warm_bytes(st, pos[0]);
        if (warm_clear(st, pos[0], &ctx->err) < 0)
            return -1;
        if (bytes > 0)
            printf("warm state of %s removed (%.1f MiB freed)\n", pos[0],
                   (double)bytes / (1024 * 1024));
        else
            printf("%s has no warm state: nothing to remove\n", pos[0]);
        return 0;
    }
    enum instance_ready want = INSTANCE_READY_TARGET;
    if (level && (instance_ready_parse(level, &want) < 0 ||
                  (want != INSTANCE_READY_AGENT && want != INSTANCE_READY_TARGET)))
        return ib_err(&ctx->err, IB_EINPUT, "--level expects agent or target, got \"%s\"",
                      level);
    return warm_make(st, pos[0], want, print_progress, NULL, &ctx->err) < 0 ? -1 : 0;
}

int cli_console_run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv);
int cli_snapshot_run(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv);

const struct cli_command cli_instance_commands[] = {
    {"device", "start",
     "DEVICE [INSTANCE] [--port-offset N] [--wait kernel|banner|agent|target] [--timeout S] "
     "[--target] [--gdbstub] [--cold] [--json]",
     "start an instance (from the warm state when valid; --cold boots); returns once QEMU runs, "
     "or at the --wait level. --target or --wait target start the device's services; without "
     "them a cold boot leaves them stopped and a restore of a target-level warm state has them "
     "running", cmd_start},
    {"device", "warm", "DEVICE [--level agent|target] | DEVICE --clear",
     "boot a device once and save it, so later starts restore it in a fraction of a second",
     cmd_warm},
    {"device", "running", "[--json]", "list the running instances (alias: instance list)",
     cmd_running},
    {"device", "stop", "INSTANCE... | --all [--now] [--timeout S]",
     "power an instance down cleanly (--now: at once) and remove its runtime folder", cmd_stop},
    {"instance", "list", "[--json]", "list the running instances", cmd_running},
    {"instance", "stop", "INSTANCE... | --all [--now] [--timeout S]",
     "power an instance down and remove its runtime folder", cmd_stop},
    {"instance", "info", "INSTANCE [--json]",
     "show an instance: state, readiness, forwards and the exact QEMU command line", cmd_info},
    {"instance", "wait", "INSTANCE [--for kernel|banner|agent|target] [--timeout S]",
     "wait until an instance reaches a readiness level", cmd_wait},
    {"instance", "target-start", "INSTANCE",
     "start the device's services (target-start --background through the agent)",
     cmd_target_start},
    {"instance", "snapshot", "INSTANCE save|load|delete NAME | INSTANCE list [--json]",
     "save, restore, list or delete snapshots of a running instance", cli_snapshot_run},
    {"instance", "console", "INSTANCE [--no-replay]",
     "attach the serial console to this terminal (detach with Ctrl-])", cli_console_run},
    {NULL, NULL, NULL, NULL, NULL},
};
