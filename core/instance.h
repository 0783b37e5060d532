/*
 * instance.h - running devices: QEMU processes started detached
 * (-daemonize, -pidfile), each with a runtime folder $IOTBENCH_HOME/run/<name>/
 * (mode 0700) holding:
 *
 *   meta.json      device, start time, pid, forwards, argv (written atomically)
 *   qemu.pid       QEMU's pid
 *   qmp.sock       QMP (one client at a time: connect, command, close)
 *   qga.sock       the guest agent (one client at a time; take qga.lock first)
 *   console.sock   the serial console (one client; the holder takes console.lock)
 *   console.log    everything the console printed since boot
 *   qemu.err       QEMU's own messages (why it refused to start or why it quit)
 *   overlay.qcow2  the instance's writable layer over the host filesystem
 *
 * Instances outlive the process that started them; any later iotbench
 * process finds them by listing run/. Nothing here keeps state in memory
 * that the folder does not hold.
 *
 *     struct instance_start_opts o = {.name = NULL, .wait = INSTANCE_READY_BANNER,
 *                                     .timeout_ms = 60000};
 *     struct instance_info info;
 *     if (instance_start(&st, "demo", &o, &info, &err) < 0) ...
 *     printf("%s started, console log %s\n", info.name, info.console_log);
 *     instance_info_free(&info);
 *     instance_stop(&st, "brave_turing", 10000, false, &err);
 */
#ifndef IB_INSTANCE_H
#define IB_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "core/error.h"
#include "core/store.h"

/* Readiness levels, in the order a boot reaches them. */
enum instance_ready {
    INSTANCE_READY_NONE,   /* QEMU runs */
    INSTANCE_READY_KERNEL, /* the kernel printed its first lines */
    INSTANCE_READY_BANNER, /* the host system printed "Host system ready" */
    INSTANCE_READY_AGENT,  /* the guest agent answers a ping */
    INSTANCE_READY_TARGET, /* the device's init script runs (target started) */
};

enum instance_state { INSTANCE_RUNNING, INSTANCE_DEAD };

struct instance_forward {
    enum config_proto proto;
    int host_port;
    int guest_port;
    char name[64];
};

struct instance_info {
    char *name;
    char *device;
    char *dir;            /* runtime folder */
    char *qmp_sock, *qga_sock, *console_sock, *console_log;
    pid_t pid;
    enum instance_state state;
    char *dead_reason;    /* when DEAD: one line, what the console or QEMU said last */
    char *last_console;   /* when DEAD: the last console lines, or NULL */
    int64_t started_ms;   /* wall clock, ms since the epoch */
    struct instance_forward *forwards;
    size_t n_forwards;
    int gdbstub_port;     /* QEMU's own gdbstub on 127.0.0.1, 0 when not asked */
    int64_t warm_made_ms; /* restored from a warm state made then; 0: cold boot */
    char *notice;         /* from the start: why a warm state was not used, or NULL */
    char **argv;          /* the exact QEMU command line */
    size_t argc;
};

struct instance_start_opts {
    const char *name;          /* NULL: a generated adjective_surname */
    int port_offset;           /* added to every redirect's host port */
    enum instance_ready wait;  /* return once reached (NONE: as soon as QEMU runs) */
    int timeout_ms;            /* for wait; default 60000 */
    bool gdbstub;              /* also start QEMU's gdbstub on a free loopback port */
    bool start_target;         /* run target-start --background once the agent answers
                                * (implied by wait == INSTANCE_READY_TARGET) */
    bool cold;                 /* boot even when the device has a valid warm state */
};

int instance_start(const struct store *st, const char *device,
                   const struct instance_start_opts *opts, struct instance_info *out,
                   struct ib_error *err);

/* All instances, sorted by name. An instance whose QEMU is gone is
 * reported DEAD once, with its reason, and its folder is removed. */
int instance_list(const struct store *st, struct instance_info **list, size_t *n,
                  struct ib_error *err);
void instance_list_free(struct instance_info *list, size_t n);

/* One instance by name (IB_ENOTFOUND when there is none). */
int instance_get(const struct store *st, const char *name, struct instance_info *out,
                 struct ib_error *err);
void instance_info_free(struct instance_info *info);

/* Clean power-down through the agent, then QMP quit after timeout_ms
 * (now: quit at once); removes the overlay and the runtime folder. */
int instance_stop(const struct store *st, const char *name, int timeout_ms, bool now,
                  struct ib_error *err);

/* How a stop went, for the CLI to say. */
enum instance_stop_way {
    INSTANCE_STOP_POWERED_OFF, /* the guest powered off (through the agent) */
    INSTANCE_STOP_QUIT,        /* QMP quit: --now, no agent, or no power-off in time */
    INSTANCE_STOP_KILLED,      /* QEMU ignored quit: SIGKILL */
    INSTANCE_STOP_WAS_DEAD,    /* QEMU was gone already: only the folder removed */
};

/* instance_stop() that also says how it went (way may be NULL). The clean
 * way pings the agent first (500 ms): without one it quits at once. */
int instance_stop_how(const struct store *st, const char *name, int timeout_ms, bool now,
                      enum instance_stop_way *way, struct ib_error *err);

/* The highest readiness level reached now (cheap: reads console.log,
 * pings the agent with a short timeout only when the banner is there). */
enum instance_ready instance_readiness(const struct instance_info *info);
int instance_wait(const struct instance_info *info, enum instance_ready level, int timeout_ms,
                  struct ib_error *err);
const char *instance_ready_name(enum instance_ready level);
int instance_ready_parse(const char *s, enum instance_ready *out);

/* Runs target-start --background in the guest through the agent. */
int instance_start_target(const struct instance_info *info, int timeout_ms,
                          struct ib_error *err);

#endif
