/*
 * tuidrive.h - drives the real iotbench binary in a pseudo-terminal, with a
 * libvterm screen as the oracle of what a user would see.
 *
 * The program runs under forkpty() with TERM=xterm-256color (LINES and
 * COLUMNS unset, a UTF-8 locale); everything it prints is fed to the
 * oracle, which also answers its terminal queries. Tests type keys, click
 * with SGR-1006 mouse reports, resize with TIOCSWINSZ, and wait for screen
 * conditions with a timeout - never fixed sleeps.
 *
 *     struct td *t = td_start(&(struct td_opts){.home = home, .rows = 40, .cols = 120,
 *                                                .args = (const char *[]){"--device", "demo",
 * NULL}}); CHECK(td_wait_text(t, "DEVICES (1)", 5000)); td_type(t, ":theme light\r"); td_click(t,
 * row, col); td_resize(t, 24, 80); CHECK_INT(td_quit(t, 5000), 0);      // sends q, waits, frees
 */
#ifndef TEST_TUIDRIVE_H
#define TEST_TUIDRIVE_H

#include <stdbool.h>
#include <stddef.h>

#include <vterm.h>

struct td_opts {
    const char *home;        /* IOTBENCH_HOME */
    int rows, cols;          /* default 40 x 120 */
    const char *const *args; /* after the binary, NULL-terminated (or NULL) */
    const char *const *env;  /* "NAME=value" added, "NAME=" removes; NULL-terminated */
};

struct td;

struct td *td_start(const struct td_opts *o);
/* The same for any program (argv[0] looked up in PATH): tmux, for example. */
struct td *td_start_cmd(const struct td_opts *o, const char *const *argv);
/* Reads and throws away what the program printed for up to ms, without the
 * oracle (benchmarks: the driver must not be the bottleneck). */
void td_drain(struct td *t, int ms);
/* Kills the program if it still runs (SIGTERM, then SIGKILL) and frees. */
void td_free(struct td *t);
/* Sends Esc, then the prefix C-b and d (quit from any pane), and waits for the exit; returns the
 * status, or -1 on timeout. Frees t. */
int td_quit(struct td *t, int timeout_ms);
/* The exit status once the program has exited within timeout_ms, else -1. */
int td_wait_exit(struct td *t, int timeout_ms);
int td_pid(const struct td *t);

/* Reads what the program printed for up to ms (0: what is there now). */
void td_pump(struct td *t, int ms);

void td_type(struct td *t, const char *bytes);
void td_send(struct td *t, const char *bytes, size_t len);
void td_key(struct td *t, VTermKey key, VTermModifier mod);
/* Mouse, 0-based screen coordinates, SGR 1006 reports. */
void td_click(struct td *t, int row, int col);
void td_press(struct td *t, int row, int col);
void td_release(struct td *t, int row, int col);
void td_wheel(struct td *t, int row, int col, bool up);
void td_resize(struct td *t, int rows, int cols);

/* Screen contents now (malloc'd; trailing spaces trimmed). */
char *td_row(struct td *t, int row);
char *td_screen(struct td *t);
/* Position of the first occurrence of text (false when absent). */
bool td_find(struct td *t, const char *text, int *row, int *col);
/* Row of the first occurrence of text, -1 when absent. */
int td_row_of(struct td *t, const char *text);
/* A td_wait() predicate: arg is const char *[2], both on screen and the
 * first on a row above the second (a sorted table's order). */
bool td_above(struct td *t, void *arg);
void td_cell(struct td *t, int row, int col, VTermScreenCell *cell);
void td_size(struct td *t, int *rows, int *cols);
bool td_cursor(struct td *t, int *row, int *col);

/* Waits until the text is on screen (anywhere / in a row) or gone. */
bool td_wait_text(struct td *t, const char *text, int timeout_ms);
bool td_wait_row(struct td *t, int row, const char *text, int timeout_ms);
bool td_wait_gone(struct td *t, const char *text, int timeout_ms);
/* Waits for a predicate on the screen. */
bool td_wait(struct td *t, bool (*pred)(struct td *t, void *arg), void *arg, int timeout_ms);

/* Prints the screen to stdout (for failing tests). */
void td_dump(struct td *t, const char *why);

#endif

/*
 * A stand-in for QEMU's serial console, for tests and benchmarks that need
 * no guest: a child process serving DIR/console.sock to one client and
 * appending all it prints to DIR/console.log (as QEMU's chardev logfile=).
 * It behaves like a tiny shell: prints the banner, then a prompt "# "
 * followed by ESC[6n (as busybox ash does), echoes what is typed, and runs:
 *   seq N       prints "seq line 1" .. "seq line N"
 *   flood       prints coloured lines as fast as the socket takes them, until
 *               Ctrl-C arrives
 *   dsr         prints "dsr answers: N" (cursor reports the client sent)
 *   catfile F   prints file F, then ESC[6n, and once the client answers (its
 *               emulator has parsed everything before) "catfile: N bytes in
 *               T ms = R MB/s" (the throughput benchmark)
 *   stty ...    prints "stty: ..." (what the client asked)
 *   other       prints "echo: <line>"
 */
struct td_fakecon;
struct td_fakecon *td_fakecon_start(const char *dir, const char *banner);
void td_fakecon_stop(struct td_fakecon *f);
