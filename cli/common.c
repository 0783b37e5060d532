/* common.c - option parsing and output helpers of the CLI; see cli.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/util.h"

void cli_print_usage(const struct cli_command *cmd)
{
    printf("usage: iotbench %s %s %s\n\n%s\n", cmd->noun, cmd->verb, cmd->usage, cmd->summary);
}

int cli_parse(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv,
              const struct cli_opt *opts, char **pos, int min_pos, int max_pos, int *n_pos)
{
    int n = 0;
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            cli_print_usage(cmd);
            return 1;
        }
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            const char *eq = strchr(a, '=');
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
            const struct cli_opt *o = opts;
            while (o && o->name && (strlen(o->name) != len || strncmp(o->name, a, len) != 0))
                o++;
            if (o == NULL || o->name == NULL)
                return ib_err(&ctx->err, IB_EINPUT, "unknown option %.*s for \"iotbench %s %s\" "
                              "(see -h)", (int)len, a, cmd->noun, cmd->verb);
            if (!o->takes_value) {
                if (eq)
                    return ib_err(&ctx->err, IB_EINPUT, "option %s takes no value", o->name);
                *o->value = "1";
            } else if (eq) {
                *o->value = eq + 1;
            } else if (i + 1 < argc) {
                *o->value = argv[++i];
            } else {
                return ib_err(&ctx->err, IB_EINPUT, "option %s needs a value", o->name);
            }
            continue;
        }
        if (n >= max_pos)
            return ib_err(&ctx->err, IB_EINPUT, "unexpected argument \"%s\"; usage: iotbench %s "
                          "%s %s", a, cmd->noun, cmd->verb, cmd->usage);
        pos[n++] = argv[i];
    }
    if (n < min_pos)
        return ib_err(&ctx->err, IB_EINPUT, "missing argument; usage: iotbench %s %s %s",
                      cmd->noun, cmd->verb, cmd->usage);
    if (n_pos)
        *n_pos = n;
    return 0;
}

struct store *cli_store(struct cli_ctx *ctx)
{
    if (!ctx->store_open) {
        if (store_open(&ctx->store, NULL, &ctx->err) < 0)
            return NULL;
        ctx->store_open = true;
    }
    return &ctx->store;
}

void cli_print_json(json_t *value)
{
    char *s = json_dumps(value, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(value);
}

void cli_format_size(long long bytes, char *buf, size_t cap)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u + 1 < IB_ARRAY_LEN(units)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%lld B", bytes);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
}

bool cli_confirm(const char *question)
{
    if (!isatty(0))
        return false;
    fprintf(stderr, "%s [y/N] ", question);
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL)
        return false;
    return line[0] == 'y' || line[0] == 'Y';
}
