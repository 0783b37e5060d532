/*
 * cmd_package.c - `iotbench device create|export|add`: new device folders,
 * and devices to and from .piotr packages (core/package.h).
 *
 * A progress bar goes to stderr when it is a terminal, nothing otherwise.
 * SIGINT and SIGTERM stop an operation cleanly: it removes what it had
 * written and fails with "interrupted". A file size limit (SIGXFSZ) is
 * turned into the write error it stands for, so it is reported and cleaned
 * up like a full disk.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/config.h"
#include "core/package.h"
#include "core/util.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);
}

/* --- progress bar ------------------------------------------------------------ */

struct bar {
    const char *label;
    int64_t start_ms;
    bool drawn;
};

static void bar_draw(uint64_t done, uint64_t total, void *arg)
{
    struct bar *b = arg;
    double secs = (double)(ib_now_ms() - b->start_ms) / 1000.0;
    double rate = secs > 0.05 ? (double)done / 1e6 / secs : 0.0;
    if (total == 0) {
        fprintf(stderr, "\r%s: reading %.1f MB  %.1f MB/s\033[K", b->label, (double)done / 1e6,
                rate);
    } else {
        enum { WIDTH = 28 };
        int fill = done >= total ? WIDTH : (int)((double)WIDTH * (double)done / (double)total);
        char cells[WIDTH + 1];
        for (int i = 0; i < WIDTH; i++)
            cells[i] = i < fill ? '#' : '.';
        cells[WIDTH] = '\0';
        fprintf(stderr, "\r%s [%s] %.1f/%.1f MB  %.1f MB/s\033[K", b->label, cells,
                (double)done / 1e6, (double)total / 1e6, rate);
    }
    b->drawn = true;
}

static void ops_init(struct package_ops *ops, struct bar *b, const char *label)
{
    memset(ops, 0, sizeof *ops);
    memset(b, 0, sizeof *b);
    b->label = label;
    b->start_ms = ib_now_ms();
    ops->cancel = &interrupted;
    if (isatty(2)) {
        ops->progress = bar_draw;
        ops->arg = b;
    }
}

static void bar_end(struct bar *b)
{
    if (b->drawn)
        fputc('\n', stderr);
}

static void print_notices(const struct package_report *rep)
{
    for (size_t i = 0; i < rep->n_notices; i++)
        fprintf(stderr, "iotbench: note: %s\n", rep->notices[i]);
}

/* --- device create ----------------------------------------------------------- */

static int cmd_create(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *from = NULL;
    const struct cli_opt opts[] = {{"--from", true, &from}, {NULL, false, NULL}};
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? ctx->err.status : 0;
    struct store *st = cli_store(ctx);
    if (st == NULL)
        return ctx->err.status;
    catch_signals();
    struct package_ops ops;
    struct bar bar;
    ops_init(&ops, &bar, "copy");
    struct package_report rep;
    rc = package_create(st, pos[0], from, &ops, &rep, &ctx->err);
    bar_end(&bar);
    print_notices(&rep);
    if (rc == 0) {
        char *dir = ib_path_join(st->devices, pos[0]);
        if (from) {
            char size[32];
            cli_format_size((long long)rep.bytes, size, sizeof size);
            printf("device %s created in %s, a copy of %s (%llu entries, %s)\n", pos[0], dir, from,
                   (unsigned long long)rep.entries, size);
        } else {
            printf("device %s created in %s\n  edit %s/config.yaml; the device's files go in "
                   "%s/rootfs/, its start script is rootfs/piotr/init.sh\n",
                   pos[0], dir, dir, dir);
        }
        free(dir);
    }
    package_report_free(&rep);
    return rc == 0 ? 0 : ctx->err.status;
}

/* --- device export ----------------------------------------------------------- */

static int cmd_export(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *force = NULL;
    const struct cli_opt opts[] = {{"--force", false, &force}, {NULL, false, NULL}};
    char *pos[2];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 2, 2, NULL);
    if (rc != 0)
        return rc < 0 ? ctx->err.status : 0;
    struct store *st = cli_store(ctx);
    if (st == NULL)
        return ctx->err.status;
    catch_signals();
    struct package_ops ops;
    struct bar bar;
    ops_init(&ops, &bar, "export");
    struct package_report rep;
    rc = package_export(st, pos[0], pos[1], force != NULL, &ops, &rep, &ctx->err);
    bar_end(&bar);
    print_notices(&rep);
    if (rc == 0) {
        char size[32];
        cli_format_size((long long)rep.bytes, size, sizeof size);
        printf("exported %s to %s: %llu members, %s of data\n", pos[0], pos[1],
               (unsigned long long)rep.entries, size);
        for (size_t i = 0; i < rep.n_deps; i++)
            printf("  with %-7s %s\n", package_dep_label(rep.deps[i].kind), rep.deps[i].name);
    }
    package_report_free(&rep);
    return rc == 0 ? 0 : ctx->err.status;
}

/* --- device add -------------------------------------------------------------- */

/* refused: the import failed, so nothing the archive holds was installed. */
static const char *action_text(enum package_dep_action a, bool dry, bool refused)
{
    switch (a) {
    case PACKAGE_DEP_INSTALL:
        if (refused)
            return "not installed (the import is refused)";
        return dry ? "would be installed" : "installed";
    case PACKAGE_DEP_PRESENT:
        return "already in the store (same bytes)";
    case PACKAGE_DEP_CONFLICT:
        return "CONFLICT: the store has a different file of this name";
    }
    return "?";
}

static int parse_limits(struct cli_ctx *ctx, const char *size, const char *files,
                        struct package_import_opts *o)
{
    if (size) {
        long mib = config_parse_size_mib(size);
        if (mib < 0)
            return ib_err(&ctx->err, IB_EINPUT,
                          "--max-size: expected a size like 4G or 512M, "
                          "got \"%s\"",
                          size);
        o->max_bytes = (uint64_t)mib << 20;
    }
    if (files) {
        char *end;
        unsigned long long n = strtoull(files, &end, 10);
        if (*files < '0' || *files > '9' || *end || n == 0)
            return ib_err(&ctx->err, IB_EINPUT, "--max-files: expected a number, got \"%s\"",
                          files);
        o->max_entries = n;
    }
    return 0;
}

static int cmd_add(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *name = NULL, *dry = NULL, *max_size = NULL, *max_files = NULL;
    const struct cli_opt opts[] = {{"--name", true, &name},
                                   {"--dry-run", false, &dry},
                                   {"--max-size", true, &max_size},
                                   {"--max-files", true, &max_files},
                                   {NULL, false, NULL}};
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? ctx->err.status : 0;
    struct package_import_opts o = {.alias = name, .dry_run = dry != NULL};
    if (parse_limits(ctx, max_size, max_files, &o) < 0)
        return ctx->err.status;
    struct store *st = cli_store(ctx);
    if (st == NULL)
        return ctx->err.status;
    catch_signals();
    struct bar bar;
    ops_init(&o.ops, &bar, dry ? "check" : "import");
    struct package_report rep;
    rc = package_import(st, pos[0], &o, &rep, &ctx->err);
    bar_end(&bar);
    print_notices(&rep);
    /* A conflicting dep refuses the import once the archive was read and
     * checked: the list then says which dep it is. Any other failure (an
     * alias in use, an unreadable archive) gets no summary: there is no
     * archive content to describe. */
    bool dep_conflict = false;
    for (size_t i = 0; i < rep.n_deps; i++)
        dep_conflict |= rep.deps[i].action == PACKAGE_DEP_CONFLICT;
    if (rc == 0 || (ctx->err.status == IB_ECONFLICT && dep_conflict)) {
        char size[32];
        cli_format_size((long long)rep.bytes, size, sizeof size);
        printf("%s: device %s, %llu members, %s of data, %s\n", pos[0], rep.alias,
               (unsigned long long)rep.entries, size,
               rep.verified ? "verified against its manifest" : "not verified (no manifest)");
        for (size_t i = 0; i < rep.n_deps; i++)
            printf("  %-7s %-44s %s\n", package_dep_label(rep.deps[i].kind), rep.deps[i].name,
                   action_text(rep.deps[i].action, o.dry_run, rc != 0));
    }
    if (rc == 0)
        printf(o.dry_run ? "dry run: device %s would be added; nothing was changed\n"
                         : "device %s added\n",
               rep.alias);
    package_report_free(&rep);
    return rc == 0 ? 0 : ctx->err.status;
}

const struct cli_command cli_package_commands[] = {
    {"device", "create", "NAME [--from DEVICE]",
     "make a device folder (commented config.yaml, init.sh), or copy one exactly", cmd_create},
    {"device", "export", "NAME FILE [--force]",
     "write a device and the stock parts it uses to one .piotr archive", cmd_export},
    {"device", "add", "FILE [--name ALIAS] [--dry-run] [--max-size SIZE] [--max-files N]",
     "import a .piotr archive (iotbench's or Piotr's) as a device", cmd_add},
    {NULL, NULL, NULL, NULL, NULL},
};
