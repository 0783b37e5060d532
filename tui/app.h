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
 *   procs.c    the live process table of an instance (agent, never blocking),
 *              its kill/attach actions, maps and sockets
 *   debug.c    the debugger view; the session itself runs in a job
 *   snaps.c    the snapshot list of an instance (save/load/delete in jobs)
 *   tasks.c    device export and import in a job, with a progress bar
 *   clirun.c   any other CLI verb from the `:` line: the binary run in a job
 *
 * The detail pane shows one of several views of the selected item: its
 * details (Info), and for an instance its Processes, Snapshots and the
 * Debugger - tabs in the pane's title.
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
enum prompt_kind {
    PROMPT_NONE,
    PROMPT_START_NAME,
    PROMPT_STOP,
    PROMPT_STOP_ALL,
    PROMPT_KILL,      /* signal for the selected process */
    PROMPT_BREAK,     /* debugger: where to break */
    PROMPT_UNBREAK,   /* debugger: which breakpoint to clear */
    PROMPT_GOTO,      /* debugger: memory address */
    PROMPT_SNAP_SAVE, /* snapshot name */
    PROMPT_SNAP_LOAD,
    PROMPT_SNAP_DELETE,
    PROMPT_EXPORT,         /* archive path */
    PROMPT_EXPORT_REPLACE, /* y/n: the archive exists */
    PROMPT_IMPORT,         /* archive path [alias] */
};

/* What the detail pane shows. */
enum detail_view { VIEW_INFO, VIEW_PROCS, VIEW_SNAPS, VIEW_DEBUG, VIEW_N };

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
    ACT_SCROLL_PAGE_DOWN,
    ACT_SCROLL_TOP,
    ACT_SCROLL_BOTTOM,
    /* detail views */
    ACT_VIEW_INFO,
    ACT_VIEW_PROCS,
    ACT_VIEW_SNAPS,
    ACT_VIEW_DEBUG,
    ACT_BACK,
    /* the process table */
    ACT_PROC_KILL,
    ACT_PROC_ATTACH,
    ACT_PROC_MAPS,
    ACT_PROC_SOCKETS,
    ACT_PROC_SORT_NEXT,
    ACT_PROC_SORT_PREV,
    ACT_PROC_SORT_INVERT,
    ACT_PROC_SORT_CPU,
    ACT_PROC_SORT_MEM,
    ACT_PROC_SORT_PID,
    ACT_PROC_KTHREADS,
    ACT_PROC_REFRESH,
    /* the debugger */
    ACT_DBG_CONT,
    ACT_DBG_STEP,
    ACT_DBG_BREAK,
    ACT_DBG_UNBREAK,
    ACT_DBG_GOTO,
    ACT_DBG_FOLLOW_SP,
    ACT_DBG_INT,
    ACT_DBG_DETACH,
    /* snapshots */
    ACT_SNAP_SAVE,
    ACT_SNAP_LOAD,
    ACT_SNAP_DELETE,
    ACT_SNAP_REFRESH,
    /* packages */
    ACT_EXPORT,
    ACT_IMPORT,
    ACT_TASK_CANCEL,
    ACT_TARGET_START,
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
    int cmd_fd; /* duplex jobs: lines for the child (its fd JOB_CMD_FD), else -1 */
    struct job *next;
};

/* In a duplex job's child, the workbench's commands arrive on this fd. */
#define JOB_CMD_FD 4

/* Readiness as the monitor job last reported it, per instance. */
struct watch {
    char *name;
    enum instance_ready level, max;
    int64_t reached_ms[INSTANCE_READY_TARGET + 1]; /* wall ms, 0: not yet */
    bool agent_down;
    bool dead;
    char *dead_reason;
    bool monitored;
    bool stopping;   /* a stop was asked: QEMU going away is no death */
    char *error;     /* a start that failed */
    bool start_seen; /* this workbench started it: warm_ms and notice are known */
    int64_t warm_ms; /* restored from the warm state made then; 0: cold */
    char *notice;    /* why its warm state was not used */
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

enum {
    BIND_NAV = 1,
    BIND_DETAIL = 2,
    BIND_PREFIX = 4,
    BIND_SCROLL = 8,
    BIND_CONSOLE = 16,
    BIND_PROCS = 32, /* the process table has the focus (these win over BIND_DETAIL) */
    BIND_DEBUG = 64, /* the debugger view */
    BIND_SNAPS = 128 /* the snapshot list */
};

struct procs;
struct dbg;
struct snaps;
struct task;

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
    enum detail_view view;
    bool zoom_detail;
    struct rect tabs[VIEW_N]; /* where the title's tabs were drawn (clicks) */
    struct procs *procs;
    struct dbg *dbg;
    struct snaps *snaps;
    struct task *task;
    struct clirun *clirun;
    struct listview *filter_lv; /* what the `/` line filters */
    struct textview *help;
    bool help_output; /* the pop-up shows a command's output, not the keys */
    struct statusbar *status;
    struct lineedit *line;

    enum focus focus;
    enum input_mode mode;
    enum prompt_kind prompt;
    char prompt_arg[4608];
    bool prefix_pending;
    bool prefix_msg_shown; /* the status line shows the prefix's reminder */
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
/* A line in the IOTBENCH_TUI_TRACE file, when set (debugging tests). */
void app_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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
/* The same with a pipe the other way: job_send() lines reach the child on
 * JOB_CMD_FD. */
struct job *job_spawn_duplex(struct app *a, const char *name, job_child_fn child, void *arg,
                             job_line_fn on_line, job_done_fn on_done);
int job_send(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool job_alive(struct app *a, const struct job *j);
/* A line to the workbench, from a child (flattened to one line). */
void job_say(int out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
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

/* app.c: the detail views */
void app_set_view(struct app *a, enum detail_view v);
/* The instance the detail pane is about (the navigator's selection), or NULL. */
const char *app_view_instance(struct app *a);
void app_prompt(struct app *a, enum prompt_kind kind, const char *arg, const char *prompt,
                const char *initial);

/* procs.c */
void procs_show(struct app *a, const char *instance);
void procs_close(struct app *a);
void procs_place(struct app *a, struct rect body);
void procs_draw(struct app *a, WINDOW *win);
int procs_key(struct app *a, int key);
int procs_mouse(struct app *a, const struct wmouse *ev); /* ev relative to the body */
void procs_title(struct app *a, char *buf, size_t cap);
void procs_action(struct app *a, enum action act);
void procs_prompt_done(struct app *a, enum prompt_kind k, const char *text);
struct listview *procs_list(struct app *a);
bool procs_in_table(struct app *a); /* the table, not maps or sockets */

/* debug.c */
void dbg_attach(struct app *a, const char *instance, int pid, const char *comm);
bool dbg_active(struct app *a); /* a session exists (attaching, stopped or running) */
const char *dbg_instance(struct app *a);
void dbg_close(struct app *a);
void dbg_place(struct app *a, struct rect body);
void dbg_draw(struct app *a, WINDOW *win);
int dbg_key(struct app *a, int key);
int dbg_mouse(struct app *a, const struct wmouse *ev);
void dbg_title(struct app *a, char *buf, size_t cap);
void dbg_header(struct app *a, char *buf, size_t cap); /* "" when no session */
void dbg_action(struct app *a, enum action act);
void dbg_prompt_done(struct app *a, enum prompt_kind k, const char *text);

/* snaps.c */
void snaps_show(struct app *a, const char *instance);
void snaps_close(struct app *a);
void snaps_place(struct app *a, struct rect body);
void snaps_draw(struct app *a, WINDOW *win);
int snaps_key(struct app *a, int key);
int snaps_mouse(struct app *a, const struct wmouse *ev);
void snaps_title(struct app *a, char *buf, size_t cap);
void snaps_action(struct app *a, enum action act);
void snaps_prompt_done(struct app *a, enum prompt_kind k, const char *text);
bool snaps_busy(struct app *a);

/* tasks.c */
void task_export_prompt(struct app *a, const char *device);
void task_import_prompt(struct app *a);
void task_prompt_done(struct app *a, enum prompt_kind k, const char *arg, const char *text);
void task_cancel(struct app *a);
bool task_running(struct app *a);
/* Lines about the task for the detail pane of that device ("export -> ..."). */
void task_fill_detail(struct app *a, struct textview *tv, const char *device);
void task_free(struct app *a);

/* clirun.c */
/* Runs `iotbench ARGV...` (the same binary) in a job; its output, made
 * printable, goes to the status line (one line) or a pop-up. */
void clirun_start(struct app *a, int argc, char *const *argv);
bool clirun_running(struct app *a);
bool clirun_cancel(struct app *a);
/* The last command's output in the pop-up again. */
void clirun_show(struct app *a);
/* A copy of text with controls, C1 and broken UTF-8 made '?' (malloc'd). */
char *clirun_sanitise(const char *text);
void clirun_free(struct app *a);

/* keys.c */
extern const struct binding key_bindings[];
const char *keyname_of(int key, char *buf, size_t cap);
int key_parse(const char *s);
/* A key usable as the prefix, or -1 with why it is not. */
int key_parse_prefix(const char *s, char *why, size_t cap);
void keys_fill_help(struct app *a, struct textview *tv);
void keys_status_hints(struct app *a);
enum action keys_lookup(int key, unsigned where);

#endif
