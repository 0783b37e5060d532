/*
 * cmd.h - run a program (usually the iotbench binary under test) with its
 * output captured, for tests of the CLI's messages and exit statuses.
 *
 *     struct cmd_result r;
 *     ib_run(&r, home, "kernel", "list", NULL);
 *     CHECK_INT(r.status, 0);
 *     CHECK_CONTAINS(r.out, "virt.cortex-a15");
 *     cmd_result_free(&r);
 */
#ifndef TEST_CMD_H
#define TEST_CMD_H

struct cmd_result {
    int status; /* exit status, or 128 + signal number */
    char *out;
    char *err;
};

/* env_extra: NULL or a NULL-terminated list of "NAME=value" added to (or
 * replacing in) the environment; "NAME=" with nothing after unsets. */
int cmd_run(char *const argv[], char *const env_extra[], const char *input, int timeout_s,
            struct cmd_result *r);
void cmd_result_free(struct cmd_result *r);

/* The binary under test: $IOTBENCH_BIN, default build/asan/iotbench. */
const char *ib_bin(void);

/* Runs ib_bin() with IOTBENCH_HOME=home and the NULL-terminated arguments. */
int ib_run(struct cmd_result *r, const char *home, ...) __attribute__((sentinel));
/* Same with standard input. */
int ib_run_input(struct cmd_result *r, const char *home, const char *input, ...)
    __attribute__((sentinel));

#endif
