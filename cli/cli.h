/*
 * cli.h - what the command modules of the CLI share.
 *
 * `iotbench NOUN VERB [ARGS] [OPTIONS]`: main.c finds the command in the
 * tables of the cmd_*.c files and calls it with the arguments after the
 * verb. A command returns an exit status; on failure it has filled
 * ctx->err, which main prints as "iotbench: <message>".
 */
#ifndef IB_CLI_H
#define IB_CLI_H

#include <stdbool.h>

#include <jansson.h>

#include "core/error.h"
#include "core/store.h"

struct cli_ctx {
    struct store store;
    bool store_open;
    struct ib_error err;
};

struct cli_command {
    const char *noun;
    const char *verb;
    const char *usage;   /* arguments and options, after "iotbench NOUN VERB" */
    const char *summary; /* one line */
    int (*run)(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv);
};

/* An option of a command; value receives the argument (or "1" for flags). */
struct cli_opt {
    const char *name;    /* "--name" */
    bool takes_value;
    const char **value;
};

/* Parses argv against opts; the remaining arguments go to pos (at most
 * max_pos, else an error). -h/--help returns 1. "--" ends the options; with
 * rest != NULL everything after it is returned there instead. */
int cli_parse(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv,
              const struct cli_opt *opts, char **pos, int min_pos, int max_pos, int *n_pos);

/* Opens the store on first use. */
struct store *cli_store(struct cli_ctx *ctx);

/* Prints a JSON value to stdout (indented) and frees it. */
void cli_print_json(json_t *value);

/* "1.5 MiB" */
void cli_format_size(long long bytes, char *buf, size_t cap);

/* Asks "question [y/N]" on the terminal; false when stdin is not a tty. */
bool cli_confirm(const char *question);

void cli_print_usage(const struct cli_command *cmd);

extern const struct cli_command cli_store_commands[];
extern const struct cli_command cli_device_commands[];
extern const struct cli_command cli_package_commands[];
extern const struct cli_command cli_instance_commands[];
extern const struct cli_command cli_guest_commands[];

#endif
