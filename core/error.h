/*
 * error.h - how core/ reports what went wrong.
 *
 * Every fallible function in core/ returns 0 (or a pointer) on success and
 * -1 (or NULL) on failure, after filling a caller-owned struct ib_error with
 * one specific, human-readable sentence and a suggested exit status. The CLI
 * prints the sentence and exits with the status; the TUI shows it in the
 * pane that asked. Nothing in core/ prints.
 *
 *     struct ib_error err = {0};
 *     if (store_open(&store, NULL, &err) < 0)
 *         fprintf(stderr, "iotbench: %s\n", err.msg), exit(err.status);
 */
#ifndef IB_ERROR_H
#define IB_ERROR_H

#include <stddef.h>

/* Exit statuses, documented in the man page: scripts may rely on them. */
enum ib_status {
    IB_OK = 0,
    IB_EFAIL = 1,     /* the operation was valid but failed */
    IB_EINPUT = 2,    /* bad input: usage, names, config files, archives */
    IB_ENOTFOUND = 3, /* a named kernel, device, instance... does not exist */
    IB_ETIMEOUT = 4,  /* a peer (QEMU, agent, gdbserver) did not answer in time */
    IB_ECONFLICT = 5, /* exists already, in use, or depended upon */
};

struct ib_error {
    int status;
    char msg[1024];
};

/* Sets the message (printf-style) and status; always returns -1. */
int ib_err(struct ib_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like ib_err(), appending ": strerror(errno)" of the saved errno. */
int ib_err_sys(struct ib_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends context ("while adding kernel: ") to an existing message. */
int ib_err_prefix(struct ib_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void ib_err_clear(struct ib_error *err);

#endif
