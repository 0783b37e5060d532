/*
 * guestproc.h - the processes of a running guest, through its agent:
 * list (with CPU %, memory, user, host system vs device), exec on the host
 * system or inside the device, kill, find a pid, memory maps, sockets.
 *
 * Every operation is ONE guest-exec of a busybox sh script whose output is
 * parsed here, on the host, as untrusted bytes (a guest process chooses its
 * own command line and name). The list uses only grep and stat - never ps,
 * which the host system may not have - and asks for NUL-separated records,
 * so a name holding newlines, ')' or spaces cannot forge another line.
 *
 * A process belongs to the device when its /proc/PID/root is the device
 * root /target (compared by device and inode number, not by name).
 *
 *     struct guestproc_lister *ls = guestproc_lister_new();
 *     guestproc_refresh(ls, lp, g, 5000, on_list, pane);    // qga g on loop lp
 *     static void on_list(struct guestproc_snapshot *s, const struct ib_error *err,
 *                         void *arg)
 *     {
 *         for (size_t i = 0; s && i < s->n; i++)
 *             show(arg, s->procs[i].pid, s->procs[i].cpu, s->procs[i].cmdline);
 *     }                                 // s is freed after the callback unless stolen
 *     guestproc_lister_free(ls);
 *
 *     struct guestproc_snapshot snap;                         // blocking, CLI
 *     guestproc_list_sync(info.qga_sock, 5000, &snap, &err);
 *     guestproc_snapshot_free(&snap);
 *
 *     const char *argv[] = {"cat", "/etc/hostname", NULL};
 *     struct guestproc_exec_opts o = {.target = true, .timeout_ms = 10000};
 *     struct guestproc_exec_result r;
 *     guestproc_exec_sync(info.qga_sock, argv, &o, &r, &err);
 *     guestproc_exec_result_free(&r);
 *
 * CPU % is of one CPU (like top). The first snapshot of a lister (and every
 * guestproc_list_sync) gives the average since each process started; later
 * refreshes give the usage since the previous one. Times are the guest's
 * own (/proc/uptime), so a paused VM does not dilute them.
 */
#ifndef IB_GUESTPROC_H
#define IB_GUESTPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/loop.h"
#include "core/qga.h"

/* Where the device's rootfs is mounted in the host system. */
#define GUESTPROC_TARGET_ROOT "/target"

enum guestproc_where {
    GUESTPROC_UNKNOWN, /* the root could not be read (the process ended meanwhile) */
    GUESTPROC_HOST,    /* the host system: / */
    GUESTPROC_DEVICE,  /* the device: /target */
    GUESTPROC_OTHER,   /* some other chroot */
};

#define GUESTPROC_UID_UNKNOWN UINT32_MAX

struct guestproc {
    int pid, ppid;
    uint32_t uid;  /* owner of /proc/PID (the effective uid) */
    char user[33]; /* from the guest's passwd, else the number */
    char state;    /* R S D Z T t I X ... */
    char comm[64]; /* the kernel's name (raw bytes, NUL-terminated) */
    char **argv;   /* the command line's arguments (raw bytes) */
    size_t argc;
    char *cmdline; /* argv joined with spaces; "[comm]" when empty */
    char *exe;     /* /proc/PID/exe as the host system sees it (a device's
                    * "/target/usr/bin/demod"); NULL when unreadable */
    bool kthread;
    enum guestproc_where where;
    int threads, nice;
    uint64_t utime, stime; /* clock ticks (USER_HZ = 100) */
    uint64_t start_ticks;  /* since boot */
    uint64_t vsize;        /* bytes */
    uint64_t rss_kb;
    double cpu; /* percent of one CPU */
};

struct guestproc_snapshot {
    struct guestproc *procs; /* sorted by pid */
    size_t n;
    double uptime;       /* guest seconds since boot */
    bool cpu_is_average; /* cpu is the average since start */
    size_t skipped;      /* records that could not be parsed */
};

void guestproc_snapshot_free(struct guestproc_snapshot *s);
/* The process with this pid, or NULL. */
const struct guestproc *guestproc_snapshot_get(const struct guestproc_snapshot *s, int pid);
/* Sets cur's cpu from the ticks used since prev (same pid and start time;
 * the average since start for processes prev does not have). */
void guestproc_snapshot_cpu(struct guestproc_snapshot *cur, const struct guestproc_snapshot *prev);
const char *guestproc_where_name(enum guestproc_where w);

/* uid -> name tables of the host system and of the device (/etc/passwd of
 * each, read once per lister). */
struct guestproc_users;

/* ---- listing ---- */

struct guestproc_lister;
typedef void (*guestproc_list_fn)(struct guestproc_snapshot *snap, const struct ib_error *err,
                                  void *arg);

struct guestproc_lister *guestproc_lister_new(void);
void guestproc_lister_free(struct guestproc_lister *ls);
/* One guest-exec on g (whose loop is lp); cb runs once from the loop.
 * One refresh at a time per lister: -1 while one is in flight. The snapshot
 * is freed after cb returns: to keep it, copy the struct and set
 * snap->procs = NULL. Cancel (or free the lister) BEFORE closing g. */
int guestproc_refresh(struct guestproc_lister *ls, struct loop *lp, struct qga *g, int timeout_ms,
                      guestproc_list_fn cb, void *arg);
bool guestproc_refreshing(const struct guestproc_lister *ls);
/* Forgets the refresh in flight: its callback will not run. */
void guestproc_lister_cancel(struct guestproc_lister *ls);
int guestproc_refresh_sync(struct guestproc_lister *ls, const char *qga_sock, int timeout_ms,
                           struct guestproc_snapshot *out, struct ib_error *err);
int guestproc_list_sync(const char *qga_sock, int timeout_ms, struct guestproc_snapshot *out,
                        struct ib_error *err);

/* The script's output to a snapshot (exposed for tests). users may be NULL;
 * passwd records in the output fill it. Unparsable records are skipped and
 * counted; -1 only when the output is not a listing at all. */
int guestproc_parse_list(const char *out, size_t len, struct guestproc_users *users,
                         struct guestproc_snapshot *snap, struct ib_error *err);
struct guestproc_users *guestproc_users_new(void);
void guestproc_users_free(struct guestproc_users *u);
/* The name of uid in the device's (device true) or host system's passwd. */
const char *guestproc_users_name(const struct guestproc_users *u, bool device, uint32_t uid);

/* Pids whose name matches what: an absolute path matches argv[0] or the
 * executable's path (/proc/PID/exe; for a device process also as the
 * device sees it, without /target); a plain name matches comm or the base
 * name of argv[0]. Kernel threads only match by comm. Returns the count (all of
 * them, even beyond cap). */
size_t guestproc_find(const struct guestproc_snapshot *s, const char *what, int *pids, size_t cap);
/* Exactly one match, else an error naming what was found. */
int guestproc_find_one(const struct guestproc_snapshot *s, const char *what, int *pid,
                       struct ib_error *err);

/* Forgets a request of guestproc_exec, _kill, _maps or _sockets (its id;
 * 0: all of them on g): its callback will not run. Call it before
 * qga_close for requests still in flight. */
void guestproc_cancel(struct qga *g, long id);

/* ---- exec, kill ---- */

struct guestproc_exec_opts {
    bool target;            /* inside the device (chroot /target), else the host system */
    const char *stdin_data; /* NULL: no input */
    size_t stdin_len;
    int timeout_ms; /* killed (SIGKILL) in the guest after this; <= 0: 30 s */
};

struct guestproc_exec_result {
    int exit_code;   /* -1 when a signal ended it */
    int signal;      /* 0 when it exited */
    bool timed_out;  /* killed because timeout_ms passed */
    char *out, *err; /* malloc'd, NUL-terminated (may hold NULs: use the lengths) */
    size_t out_len, err_len;
    bool out_truncated, err_truncated;
};
typedef void (*guestproc_exec_fn)(struct guestproc_exec_result *res, const struct ib_error *err,
                                  void *arg);

/* The command runs under busybox `timeout -s KILL` so that it cannot
 * outlive the request. Output buffers are freed after cb returns (steal
 * by setting them to NULL). */
long guestproc_exec(struct qga *g, const char *const argv[], const struct guestproc_exec_opts *o,
                    guestproc_exec_fn cb, void *arg);
int guestproc_exec_sync(const char *qga_sock, const char *const argv[],
                        const struct guestproc_exec_opts *o, struct guestproc_exec_result *res,
                        struct ib_error *err);
void guestproc_exec_result_free(struct guestproc_exec_result *r);

/* "9", "KILL", "SIGKILL", "kill" -> 9; -1 when unknown. */
int guestproc_signal_parse(const char *s);
/* "KILL" for 9; NULL when unknown. */
const char *guestproc_signal_name(int sig);

typedef void (*guestproc_done_fn)(const struct ib_error *err, void *arg);
long guestproc_kill(struct qga *g, int pid, int sig, int timeout_ms, guestproc_done_fn cb,
                    void *arg);
int guestproc_kill_sync(const char *qga_sock, int pid, int sig, int timeout_ms,
                        struct ib_error *err);

/* ---- memory maps ---- */

struct guestproc_map {
    uint64_t start, end, offset;
    char perms[5]; /* "r-xp" */
    unsigned dev_major, dev_minor;
    uint64_t inode;
    char *path;   /* host system view: "/target/usr/bin/demod" for a device file, "[stack]", "" */
    bool deleted; /* the file was deleted (" (deleted)" removed from path) */
};

struct guestproc_maps {
    int pid;
    enum guestproc_where where; /* how to read the paths: host system or device */
    char *exe;                  /* /proc/PID/exe as the process sees it, or NULL */
    struct guestproc_map *v;
    size_t n;
    size_t skipped; /* lines that could not be parsed */
};

typedef void (*guestproc_maps_fn)(struct guestproc_maps *maps, const struct ib_error *err,
                                  void *arg);
long guestproc_maps(struct qga *g, int pid, int timeout_ms, guestproc_maps_fn cb, void *arg);
int guestproc_maps_sync(const char *qga_sock, int pid, int timeout_ms, struct guestproc_maps *out,
                        struct ib_error *err);
/* /proc/PID/maps text (plus the script's header lines) to maps. */
int guestproc_parse_maps(const char *text, size_t len, struct guestproc_maps *out,
                         struct ib_error *err);
void guestproc_maps_free(struct guestproc_maps *m);

/* ---- sockets ---- */

enum guestproc_sock_proto {
    GUESTPROC_TCP,
    GUESTPROC_TCP6,
    GUESTPROC_UDP,
    GUESTPROC_UDP6,
    GUESTPROC_UNIX,
    GUESTPROC_SOCK_OTHER, /* netlink, packet...: only the inode is known */
};

struct guestproc_socket {
    int fd;
    uint64_t inode;
    enum guestproc_sock_proto proto;
    char local[64], remote[64]; /* "0.0.0.0", "::1"; "" for unix and other */
    int local_port, remote_port;
    char state[16]; /* "LISTEN", "ESTABLISHED", "UNCONN"... */
    char *path;     /* unix: the bound path ("" when unnamed; '@' abstract) */
};

struct guestproc_sockets {
    int pid;
    struct guestproc_socket *v; /* by fd */
    size_t n;
};

typedef void (*guestproc_sockets_fn)(struct guestproc_sockets *socks, const struct ib_error *err,
                                     void *arg);
long guestproc_sockets(struct qga *g, int pid, int timeout_ms, guestproc_sockets_fn cb, void *arg);
int guestproc_sockets_sync(const char *qga_sock, int pid, int timeout_ms,
                           struct guestproc_sockets *out, struct ib_error *err);
int guestproc_parse_sockets(const char *text, size_t len, struct guestproc_sockets *out,
                            struct ib_error *err);
void guestproc_sockets_free(struct guestproc_sockets *s);
const char *guestproc_sock_proto_name(enum guestproc_sock_proto p);

#endif
