/*
 * guest.h - what real-guest tests share: a store with the stock images,
 * started instances that are always stopped at exit, HTTP through a
 * forward, and the serial console driven over its socket.
 */
#ifndef TEST_GUEST_H
#define TEST_GUEST_H

#include <stdbool.h>
#include <stddef.h>

/* A fresh $IOTBENCH_HOME under the test's temporary folder with the stock
 * kernel, initrd, host filesystem and demo device registered (from
 * build/stock, made by `make stock-images`). Returns its path. */
const char *guest_home(void);

/* A port offset under which the demo's forward (8080 + offset) is free. */
int guest_free_offset(void);

/* `iotbench device start DEVICE NAME --port-offset N [extra...]`; the
 * instance is stopped (--now) when the test binary ends. Returns the exit
 * status; the CLI's stderr goes to err (may be NULL). */
int guest_start(const char *home, const char *device, const char *name, int offset,
                const char *extra, char **err);
void guest_stop_at_exit(const char *home, const char *name);

/* GET path from 127.0.0.1:port; the whole response (malloc'd) or NULL. */
char *guest_http_get(int port, const char *path, int timeout_ms);
/* The demo's web service answers /status with 200 OK on 127.0.0.1:port. */
bool guest_demod_answers(int port, int timeout_ms);
/* A GET of / in a child process (it blocks while the debugger holds
 * demod); guest_child_ok() waits for it: true when a 200 came back, and
 * kills it after timeout_ms. */
int guest_http_get_in_child(int port);
bool guest_child_ok(int pid, int timeout_ms);

/* Connects to an instance's console socket, sends input (may be NULL) and
 * reads until want appears or timeout; returns true when it did. The
 * bytes read are returned in *seen when not NULL (malloc'd). */
bool guest_console_expect(const char *home, const char *name, const char *input,
                          const char *want, int timeout_ms, char **seen);

/* Runs a shell command in the guest's host system through the agent; its
 * stdout (malloc'd) or NULL on failure, exit status in *status. */
char *guest_sh(const char *home, const char *name, const char *command, int *status);

/* The path of a file of the instance's runtime folder. */
const char *guest_run_file(const char *home, const char *name, const char *file);

/* True when the pid is alive and not a zombie. */
bool guest_pid_alive(int pid);
int guest_pid_of(const char *home, const char *name);

#endif
