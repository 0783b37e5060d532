/*
 * main.c - the iotbench binary: no arguments opens the workbench (TUI);
 * `iotbench NOUN VERB ...` runs one core action for scripts and tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/safetext.h"
#include "core/util.h"
#include "tui/tui.h"

static const struct cli_command *const TABLES[] = {
    cli_store_commands, cli_device_commands, cli_instance_commands, cli_package_commands,
    cli_guest_commands};

static const char *const NOUN_HELP[][2] = {
    {"kernel", "kernels of the store (zImage files)"},
    {"fs", "host filesystems of the store (ext2/3/4 images)"},
    {"dtb", "device trees of the store"},
    {"device", "devices: folders with config.yaml and rootfs/; start, stop"},
    {"instance", "running devices: console, wait, info, stop"},
};

static void print_main_usage(FILE *out)
{
    fprintf(out, "usage: iotbench                      open the workbench (TUI)\n"
                 "       iotbench [--device NAME]      ... with NAME selected\n"
                 "       iotbench NOUN VERB [ARGS]     run one action\n\nnouns:\n");
    for (size_t i = 0; i < IB_ARRAY_LEN(NOUN_HELP); i++)
        fprintf(out, "  %-8s %s\n", NOUN_HELP[i][0], NOUN_HELP[i][1]);
    fprintf(out, "\n`iotbench NOUN -h` lists a noun's verbs; `iotbench NOUN VERB -h` explains "
                 "one.\nThe store is $IOTBENCH_HOME (default ~/.iotbench). Exit status: 0 ok, "
                 "1 failed, 2 bad input,\n3 not found, 4 timeout, 5 conflict.\n");
}

static void print_noun_usage(const char *noun)
{
    printf("usage: iotbench %s VERB ...\n\n", noun);
    for (size_t t = 0; t < IB_ARRAY_LEN(TABLES); t++)
        for (const struct cli_command *c = TABLES[t]; c->noun; c++)
            if (strcmp(c->noun, noun) == 0)
                printf("  %-10s %s\n", c->verb, c->summary);
}

static bool noun_exists(const char *noun)
{
    for (size_t t = 0; t < IB_ARRAY_LEN(TABLES); t++)
        for (const struct cli_command *c = TABLES[t]; c->noun; c++)
            if (strcmp(c->noun, noun) == 0)
                return true;
    return false;
}

static const struct cli_command *find_command(const char *noun, const char *verb)
{
    for (size_t t = 0; t < IB_ARRAY_LEN(TABLES); t++)
        for (const struct cli_command *c = TABLES[t]; c->noun; c++)
            if (strcmp(c->noun, noun) == 0 && strcmp(c->verb, verb) == 0)
                return c;
    return NULL;
}

static int run_tui(int argc, char **argv)
{
    struct tui_options opts = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            opts.device = argv[++i];
        } else if (strcmp(argv[i], "--theme") == 0 && i + 1 < argc) {
            opts.theme = argv[++i];
        } else {
            fprintf(stderr, "iotbench: unknown option %s\n", argv[i]);
            print_main_usage(stderr);
            return IB_EINPUT;
        }
    }
    return tui_run(&opts);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        print_main_usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("iotbench 0.1\n");
        return 0;
    }
    if (argc < 2 || argv[1][0] == '-')
        return run_tui(argc, argv);

    const char *noun = argv[1];
    if (!noun_exists(noun)) {
        fprintf(stderr, "iotbench: unknown command \"%s\"\n", noun);
        print_main_usage(stderr);
        return IB_EINPUT;
    }
    if (argc < 3 || strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0) {
        print_noun_usage(noun);
        return argc < 3 ? IB_EINPUT : 0;
    }
    const struct cli_command *cmd = find_command(noun, argv[2]);
    if (cmd == NULL) {
        fprintf(stderr, "iotbench: %s has no verb \"%s\"\n", noun, argv[2]);
        print_noun_usage(noun);
        return IB_EINPUT;
    }
    struct cli_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    int status = cmd->run(&ctx, cmd, argc - 3, argv + 3);
    if (status < 0) /* a command returned ib_err()'s -1: the status is in err */
        status = ctx.err.status ? ctx.err.status : IB_EFAIL;
    if (status != 0 && ctx.err.msg[0]) {
        /* The last line of defence: a message may quote guest bytes that
         * were not escaped where they were captured. */
        char *msg = safetext_str(ctx.err.msg);
        fprintf(stderr, "iotbench: %s\n", msg);
        free(msg);
    }
    if (ctx.store_open)
        store_close(&ctx.store);
    return status;
}
