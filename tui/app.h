/*
 * app.h - what the modules of the workbench share: the application state
 * (one struct app), and the functions each module offers the others.
 *
 *   app.c      tui_run(): the terminal, the event loop, frames, input dispatch
 *   nav.c      the navigator (store + instances) and the detail pane
 *   console.c  one console per instance: console.lock, log replay, socket
 *   job.c      forked helpers (start, readiness, stop) reporting by a pipe
 *   cmd.c      the `:` command line and the actions keys and clicks run
 *   keys.c     the key bindings (one table: dispatch, status hints, `?`)
 *
 * The workbench holds no state that the store and the runtime folders do
 * not: everything on screen is rebuilt from them (instances are found with
 * instance_list), so quitting, even with kill -9, loses nothing.
 */
#ifndef IB_TUI_APP_H
#define IB_TUI_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/instance.h"
#include "core/loop.h"
#include "core/store.h"
#include "tui/tui.h"
#include "widgets/layout.h"
#include "widgets/lineedit.h"
#include "widgets/listview.h"
#include "widgets/statusbar.h"
#include "widgets/termview.h"
#include "widgets/textview.h"
#include "widgets/theme.h"

enum focus { FOCUS_NAV, FOCUS_DETAIL, FOCUS_CONSOLE };
enum input_mode { MODE_NORMAL, MODE_CMD, MODE_FILTER, MODE_PROMPT, MODE_CONFIRM, MODE_HELP };
enum prompt_kind { PROMPT_NONE, PROMPT_START_NAME, PROMPT_STOP, PROMPT_STOP_ALL };

/* Navigator row kinds (the row's tag). */
enum nav_tag { NAV_KERNEL = 1, NAV_HOSTFS, NAV_DTB, NAV_DEVICE, NAV_INSTANCE };

/* Actions: what keys, status-line buttons and detail-pane clicks do. */
enum action {
    ACT_NONE,
    ACT_QUIT,
    ACT_HELP,
    ACT_CMDLINE,
    ACT_FILTER,
    ACT_NEXT_PANE,
    ACT_PREV_PANE,
    ACT_START,
    ACT_STOP,
    ACT_STOP_ALL,
    ACT_CHECK,
    ACT_OPEN_CONSOLE,
    ACT_CLOSE_CONSOLE,
    ACT_ARGV,
    ACT_REFRESH,
    ACT_THEME_NEXT,
    ACT_ZOOM,
    ACT_LAYOUT_NEXT,
    ACT_SCROLL_MODE,
    ACT_SCROLL_PAGE_UP,
    ACT_STTY,
    ACT_COPY,
    ACT_TOGGLE_NAV,
    ACT_TOGGLE_DETAIL,
    ACT_FOCUS_LEFT,
    ACT_FOCUS_RIGHT,
    ACT_FOCUS_UP,
    ACT_FOCUS_DOWN,
    ACT_SEND_PREFIX,
    ACT_TILE_1,
    ACT_TILE_2,
    ACT_TILE_3,
    ACT_TILE_4,
    ACT_SCROLL_EXIT,
    ACT_N
};

struct job;
typedef void (*job_line_fn)(struct job *j, const char *line);
typedef void (*job_done_fn)(struct job *j, int status);

struct job {
    struct app *app;
    pid_t pid;
    int fd;
    char buf[8192];
    size_t len;
    job_line_fn on_line;
    job_done_fn on_done;
    char *name; /* the instance it is about */
    struct job *next;
};

/* Readiness as the monitor job last reported it, per instance. */
struct watch {
    char *name;
    enum instance_ready level, max;
    int64_t reached_ms[INSTANCE_READY_TARGET + 1]; /* wall ms, 0: not yet */
    bool agent_down;
    bool dead;
    char *dead_reason;
    bool monitored;
    bool stopping; /* a stop was asked: QEMU going away is no death */
    char *error;   /* a start that failed */
    struct watch *next;
};

struct console {
    struct app *app;
    char *name;
    char *dir, *sock_path, *log_path, *lock_path;
    struct termview *tv;
    int fd; /* console.sock, -1 when not connected */
    int lock_fd;
    pid_t holder;  /* another process holds console.lock */
    bool eof;      /* the socket closed (QEMU gone) */
    char *pending; /* guest bytes not yet fed to the emulator */
    size_t plen, pcap;
    size_t skip; /* socket bytes already replayed from console.log */
    char *outq;  /* bytes for the guest that did not fit the socket */
    size_t olen, ocap;
    bool reading; /* the socket is watched for reading */
    long retry_timer;
    int tile;         /* shown in this tile, -1: not shown */
    struct rect rect; /* its tile (title row + terminal) */
    bool scroll_mode;
    uint64_t bytes; /* received from the guest */
    struct console *next;
};

struct binding {
    int key; /* WK_* value */
    const char *label;
    enum action act;
    unsigned where; /* BIND_* bits */
    const char *help;
};

enum { BIND_NAV = 1, BIND_DETAIL = 2, BIND_PREFIX = 4, BIND_SCROLL = 8, BIND_CONSOLE = 16 };

struct app {
    struct tui_options opts;
    struct loop *lp;
    struct store st;
    bool store_ok;
    bool running;
    int exit_status;

    int rows, cols;
    struct layout lay;
    bool show_nav, show_detail, zoom;
    enum tiles_mode tiles;
    bool full_redraw, ui_dirty;
    int64_t last_frame;
    long frame_timer;
    unsigned feed_turn;
    bool cursor_on;

    struct listview *nav;
    struct textview *detail;
    struct textview *help;
    struct statusbar *status;
    struct lineedit *line;

    enum focus focus;
    enum input_mode mode;
    enum prompt_kind prompt;
    char prompt_arg[256];
    bool prefix_pending;
    int prefix_key;
    bool auto_stty;
    int port_offset;

    struct console *consoles; /* open consoles, in opening order */
    struct console *focus_con;
    struct job *jobs;
    struct watch *watches;
    struct instance_info *inst;
    size_t n_inst;

    struct theme theme;
    bool no_color;
    char detail_key[300]; /* what the detail pane shows */
    bool detail_argv;     /* show the full QEMU command line */
    int64_t last_click_ms;
    int last_click_y, last_click_x;
    bool mouse_down;
    int wake_pipe[2];
};

/* app.c */
void app_dirty(struct app *a);
void app_relayout(struct app *a);
void app_focus(struct app *a, enum focus f, struct console *c);
void app_message(struct app *a, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int app_set_theme(struct app *a, const char *name, struct ib_error *err);
char *app_theme_path(const char *name);
void app_request_frame(struct app *a);

/* nav.c */
void nav_refresh(struct app *a);
void nav_fill_detail(struct app *a);
const char *nav_selected(struct app *a, int *tag);
struct instance_info *app_instance(struct app *a, const char *name);
struct watch *watch_get(struct app *a, const char *name, bool create);
void watch_forget(struct app *a, const char *name);
void nav_select(struct app *a, int tag, const char *name);

/* console.c */
struct console *console_open(struct app *a, const char *name);
struct console *console_find(struct app *a, const char *name);
void console_close(struct console *c);
void console_place(struct console *c, struct rect r);
/* Feeds pending bytes to the emulator until the deadline; true if any left. */
bool console_process(struct console *c, int64_t deadline_ms, size_t max_bytes);
void console_send(struct console *c, const char *bytes, size_t len);
void console_send_stty(struct console *c);
void console_draw_title(struct console *c, WINDOW *win, bool focused);
int console_count(struct app *a);

/* job.c */
typedef void (*job_child_fn)(int out_fd, void *arg);
struct job *job_spawn(struct app *a, const char *name, job_child_fn child, void *arg,
                      job_line_fn on_line, job_done_fn on_done);
void job_kill_all(struct app *a);
/* The readiness monitor of an instance (started once per instance). */
void job_monitor(struct app *a, const char *name);
void job_start_instance(struct app *a, const char *device, const char *name, int port_offset,
                        bool target);
void job_stop_instance(struct app *a, const char *name, bool now);

/* cmd.c */
void cmd_run_line(struct app *a, const char *line);
void cmd_action(struct app *a, enum action act);
char *cmd_default_name(struct app *a);
void cmd_complete(struct app *a);

/* keys.c */
extern const struct binding key_bindings[];
const char *keyname_of(int key, char *buf, size_t cap);
int key_parse(const char *s);
void keys_fill_help(struct app *a, struct textview *tv);
void keys_status_hints(struct app *a);
enum action keys_lookup(int key, unsigned where);

#endif
