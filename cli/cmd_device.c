/*
 * cmd_device.c - `iotbench device list|info|check|remove`: devices of the
 * store and what they resolve to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/device.h"
#include "core/util.h"
#include "core/warm.h"

static json_t *choice_json(const struct device_choice *c)
{
    return json_pack("{s:b, s:b, s:b, s:s?, s:s?, s:s?}", "wanted", c->wanted, "ok", c->ok,
                     "custom", c->custom, "name", c->name, "path", c->path, "note", c->note);
}

static json_t *resolution_json(const struct device_resolution *res)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "kernel", choice_json(&res->kernel),
                     "initrd", choice_json(&res->initrd), "hostfs", choice_json(&res->hostfs),
                     "dtb", choice_json(&res->dtb), "rootfs", choice_json(&res->rootfs), "sd",
                     choice_json(&res->sd));
}

static json_t *config_json(const struct config *cfg)
{
    json_t *nics = json_array(), *redirs = json_array(), *warnings = json_array();
    for (size_t i = 0; i < cfg->n_nics; i++)
        json_array_append_new(nics, json_pack("{s:s, s:s, s:s?}", "name", cfg->nics[i].name,
                                              "type", cfg->nics[i].type == CONFIG_NIC_TAP
                                                          ? "tap" : "user",
                                              "interface", cfg->nics[i].ifname));
    for (size_t i = 0; i < cfg->n_redirects; i++) {
        const struct config_redirect *r = &cfg->redirects[i];
        json_array_append_new(redirs, json_pack("{s:s, s:s, s:s, s:i, s:i}", "nic", r->nic,
                                                "name", r->name, "proto",
                                                config_proto_name(r->proto), "host_port",
                                                r->host_port, "guest_port", r->guest_port));
    }
    for (size_t i = 0; i < cfg->n_warnings; i++)
        json_array_append_new(warnings, json_string(cfg->warnings[i]));
    return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:i, s:s?, s:s?, s:s, s:s?, s:s, s:s, s:s, "
                     "s:s?, s:o, s:o, s:o}",
                     "version", cfg->version, "name", cfg->name, "platform", cfg->platform,
                     "cpu", cfg->cpu, "endian", cfg->endian, "memory_mib", (int)cfg->memory_mib,
                     "dtb", cfg->dtb, "kernel", cfg->kernel, "bootargs", cfg->bootargs,
                     "hostfs", cfg->hostfs, "guestfs", config_guestfs_name(cfg->guestfs),
                     "drive_type", config_drive_name(cfg->drive_type), "virtio",
                     config_virtio_name(cfg->virtio), "sd", cfg->sd, "network", nics,
                     "redirect", redirs, "warnings", warnings);
}

static int cmd_list(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *json = NULL;
    const struct cli_opt opts[] = {{"--json", false, &json}, {NULL, false, NULL}};
    int rc = cli_parse(ctx, cmd, argc, argv, opts, NULL, 0, 0, NULL);
    if (rc != 0)
        return rc < 0 ? ctx->err.status : 0;
    struct store *st = cli_store(ctx);
    char **aliases;
    size_t n;
    if (st == NULL || store_list_devices(st, &aliases, &n, &ctx->err) < 0)
        return ctx->err.status;
    json_t *arr = json_array();
    if (!json && n > 0)
        printf("%-20s %-28s %-12s %7s %-7s %s\n", "ALIAS", "NAME", "CPU", "MEMORY", "GUESTFS",
               "STATUS");
    for (size_t i = 0; i < n; i++) {
        struct device *dev;
        struct ib_error derr = {0};
        if (device_load(st, aliases[i], &dev, &derr) < 0) {
            if (json)
                json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "alias", aliases[i],
                                                     "status", "error", "error", derr.msg));
            else
                printf("%-20s %-28s %-12s %7s %-7s error: %s\n", aliases[i], "-", "-", "-", "-",
                       derr.msg);
            continue;
        }
        struct device_resolution res;
        int ok = device_resolve(st, dev, &res, &derr) == 0;
        const struct config *cfg = dev->cfg;
        if (json) {
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s?, s:i, s:s, s:s, s:s?}",
                                                 "alias", dev->alias, "name", cfg->name, "cpu",
                                                 cfg->cpu, "memory_mib", (int)cfg->memory_mib,
                                                 "guestfs", config_guestfs_name(cfg->guestfs),
                                                 "status", ok ? "ok" : "incomplete", "problem",
                                                 ok ? NULL : derr.msg));
        } else {
            printf("%-20s %-28.28s %-12s %6uM %-7s %s\n", dev->alias, cfg->name,
                   cfg->cpu ? cfg->cpu : "-", cfg->memory_mib, config_guestfs_name(cfg->guestfs),
                   ok ? "ok" : derr.msg);
        }
        device_resolution_free(&res);
        device_free(dev);
    }
    if (json)
        cli_print_json(arr);
    else {
        json_decref(arr);
        if (n == 0)
            printf("no devices in %s\n", st->devices);
    }
    store_free_strings(aliases, n);
    return 0;
}

static void print_choice(const char *what, const struct device_choice *c)
{
    if (!c->wanted && c->ok) {
        printf("  %-8s -      %s\n", what, c->note ? c->note : "not used");
        return;
    }
    printf("  %-8s %-6s %s%s%s\n", what, c->ok ? "ok" : "MISSING", c->name ? c->name : "",
           c->name ? "  " : "", c->note ? c->note : "");
}

static void print_resolution(const struct device_resolution *res)
{
    print_choice("kernel", &res->kernel);
    print_choice("initrd", &res->initrd);
    print_choice("hostfs", &res->hostfs);
    print_choice("dtb", &res->dtb);
    print_choice("rootfs", &res->rootfs);
    print_choice("sd", &res->sd);
}

static void print_warnings(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_warnings; i++)
        fprintf(stderr, "iotbench: warning: %s\n", cfg->warnings[i]);
}

/* The warm state: what it costs on disk and whether a start will use it. */
static void print_warm(const struct store *st, const struct device *dev,
                       const struct device_resolution *res)
{
    struct warm_state w;
    char *notice = NULL;
    long long bytes = warm_bytes(st, dev->alias);
    char size[32];
    cli_format_size(bytes, size, sizeof size);
    if (warm_find(st, dev, res, &w, &notice, NULL) == 1) {
        char date[64];
        time_t t = (time_t)(w.made_ms / 1000);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
        printf("  warm     %s, made %s, level %s: starts restore it\n", size, date,
               instance_ready_name(w.level));
        warm_state_free(&w);
    } else if (bytes > 0) {
        printf("  warm     %s, stale: %s\n", size, notice ? notice : "unusable");
    } else {
        printf("  warm     none (iotbench device warm %s makes one)\n", dev->alias);
    }
    free(notice);
}

/* check and info share loading and resolving; info adds the config. */
static int show_device(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv,
                       bool full)
{
    const char *json = NULL;
    const struct cli_opt opts[] = {{"--json", false, &json}, {NULL, false, NULL}};
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? ctx->err.status : 0;
    struct store *st = cli_store(ctx);
    struct device *dev;
    if (st == NULL || device_load(st, pos[0], &dev, &ctx->err) < 0)
        return ctx->err.status;
    print_warnings(dev->cfg);
    struct device_resolution res;
    int ok = device_resolve(st, dev, &res, &ctx->err) == 0;
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:b, s:o}", "alias", dev->alias, "path", dev->dir,
                              "ok", ok, "resolution", resolution_json(&res));
        if (full) {
            json_object_set_new(o, "config", config_json(dev->cfg));
            json_object_set_new(o, "warm_bytes", json_integer(warm_bytes(st, dev->alias)));
        }
        cli_print_json(o);
    } else {
        const struct config *cfg = dev->cfg;
        printf("device %s (%s)\n", dev->alias, dev->dir);
        if (full) {
            printf("  name     %s\n  machine  %s, cpu %s, %s endian, %u MiB\n  bootargs %s\n"
                   "  guestfs  %s, drive %s, virtio %s\n", cfg->name, cfg->platform,
                   cfg->cpu ? cfg->cpu : "(not set)", cfg->endian, cfg->memory_mib,
                   cfg->bootargs, config_guestfs_name(cfg->guestfs),
                   config_drive_name(cfg->drive_type), config_virtio_name(cfg->virtio));
            for (size_t i = 0; i < cfg->n_nics; i++)
                printf("  network  %s: %s%s%s\n", cfg->nics[i].name,
                       cfg->nics[i].type == CONFIG_NIC_TAP ? "tap " : "user",
                       cfg->nics[i].ifname ? cfg->nics[i].ifname : "", "");
            for (size_t i = 0; i < cfg->n_redirects; i++)
                printf("  redirect %s.%s: %s 127.0.0.1:%d -> guest %d\n", cfg->redirects[i].nic,
                       cfg->redirects[i].name, config_proto_name(cfg->redirects[i].proto),
                       cfg->redirects[i].host_port, cfg->redirects[i].guest_port);
        }
        print_resolution(&res);
        if (full && ok)
            print_warm(st, dev, &res);
        printf("%s\n", ok ? "ready to start" : "cannot start: a part is missing");
    }
    device_resolution_free(&res);
    device_free(dev);
    /* info describes a device even when incomplete; check is the verdict. */
    return ok || full ? 0 : ctx->err.status;
}

static int cmd_info(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    return show_device(ctx, cmd, argc, argv, true);
}

static int cmd_check(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    return show_device(ctx, cmd, argc, argv, false);
}

static int cmd_remove(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *yes = NULL;
    const struct cli_opt opts[] = {{"--yes", false, &yes}, {NULL, false, NULL}};
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? ctx->err.status : 0;
    struct store *st = cli_store(ctx);
    if (st == NULL || names_validate(pos[0], "device alias", &ctx->err) < 0)
        return ctx->err.status;
    char *dir = ib_path_join(st->devices, pos[0]);
    bool exists = ib_path_is_dir(dir);
    free(dir);
    if (!exists)
        return ib_err(&ctx->err, IB_ENOTFOUND, "no device named %s", pos[0]);
    if (!yes) {
        char q[300];
        snprintf(q, sizeof q, "Remove device %s and its rootfs?", pos[0]);
        if (!cli_confirm(q))
            return ib_err(&ctx->err, IB_EINPUT, "not removed: confirm on a terminal or pass "
                          "--yes");
    }
    long long warm = warm_bytes(st, pos[0]);
    if (device_remove(st, pos[0], &ctx->err) < 0)
        return ctx->err.status;
    if (warm > 0)
        printf("device %s removed, with its warm state (%.1f MiB freed)\n", pos[0],
               (double)warm / (1024 * 1024));
    else
        printf("device %s removed\n", pos[0]);
    return 0;
}

const struct cli_command cli_device_commands[] = {
    {"device", "list", "[--json]", "list the devices of the store and whether they can start",
     cmd_list},
    {"device", "info", "NAME [--json]", "show a device's config and what it resolves to",
     cmd_info},
    {"device", "check", "NAME [--json]",
     "resolve kernel, hostfs and dtb exactly as a start would; exit 0 when all are there",
     cmd_check},
    {"device", "remove", "NAME [--yes]", "remove a device folder and its warm state",
     cmd_remove},
    {NULL, NULL, NULL, NULL, NULL},
};
