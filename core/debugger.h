/*
 * debugger.h - a debugging session on one guest process (through
 * gdbserver) or on the whole VM (through QEMU's gdbstub).
 *
 * Attaching to a process:
 *   1. picks a free loopback port P and forwards 127.0.0.1:P to guest port
 *      P on the instance's first user-mode NIC (QMP: HMP hostfwd_add);
 *   2. starts `gdbserver --once --attach :P PID` with guest-exec, without
 *      waiting for it (it runs until we detach), and reads the process's
 *      maps in the same agent connection;
 *   3. connects with the rsp client (TCP_NODELAY, qSupported, no-ack mode,
 *      target description) - retrying while gdbserver is not listening yet,
 *      and reporting gdbserver's own message if it exited;
 *   4. loads the symbols of the process's ELF files from the device rootfs
 *      folder (see symbols.h), at the load addresses of its maps.
 * Detaching sends D (the process runs on; gdbserver exits), removes the
 * forward and lets the agent forget gdbserver. If iotbench dies instead,
 * gdbserver --once sees the connection close and detaches by itself.
 *
 * A lost session says why: a request that finds the connection gone
 * reports "instance NAME died" when QEMU is gone, else that gdbserver
 * ended. gdbserver killed in the guest leaves its breakpoints in the
 * process's code, where the next hit kills the process with SIGTRAP: the
 * detach that follows puts the original code back through the agent
 * (/proc/PID/mem) and fails with the process's fate ("process 163 runs
 * on..." or "process 163 is gone..."). A process stopped or stepping when
 * gdbserver died is usually gone before anything can be done.
 *
 * The whole-system view connects to QEMU's gdbstub (`device start
 * --gdbstub`): the VM pauses while attached; detaching (D;1) resumes it.
 *
 *     struct debugger *d;
 *     if (debugger_attach(&st, &info, pid, NULL, &d, &err) < 0) ...   // blocking
 *     debugger_break(d, "handle_request", NULL, &err);
 *     debugger_cont(d, &err);
 *     struct debugger_stop stop;
 *     debugger_wait(d, 30000, &stop, &err);       // stop.where "handle_request"
 *     struct rsp_arm_regs regs;
 *     debugger_regs(d, &regs, &err);
 *     debugger_step(d, &stop, &err);
 *     debugger_detach(d, &err);                   // frees d
 *
 *     // on the TUI's loop: the same attach without blocking
 *     debugger_attach_start(lp, &st, &info, pid, NULL, on_attached, pane);
 *     ... then rsp calls on debugger_rsp(d) (async), and
 *     debugger_detach_start(d, on_detached, pane).
 *
 * The blocking operations run the debugger's loop themselves: never call
 * them from inside a loop callback.
 */
#ifndef IB_DEBUGGER_H
#define IB_DEBUGGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/disasm.h"
#include "core/error.h"
#include "core/instance.h"
#include "core/loop.h"
#include "core/rsp.h"
#include "core/store.h"
#include "core/symbols.h"

struct debugger;

struct debugger_opts {
    int timeout_ms;     /* attach as a whole (forward, gdbserver, handshake); default 20000 */
    int op_timeout_ms;  /* each later request; default 5000 */
    const char *rootfs; /* the device's rootfs folder; NULL: the store's device folder */
    bool keep_server;   /* no --once: gdbserver waits for another client after ours
                         * closes without detaching (the benchmark hands it to gdb) */
};

enum debugger_stop_reason {
    DEBUGGER_STOP_BREAKPOINT, /* one of our breakpoints */
    DEBUGGER_STOP_STEP,       /* a single step ended */
    DEBUGGER_STOP_SIGNAL,     /* a signal (an interrupt is SIGINT, attach SIGSTOP...) */
    DEBUGGER_STOP_EXITED,     /* the process exited: exit_code */
    DEBUGGER_STOP_KILLED,     /* the process was killed by signal */
};

struct debugger_stop {
    enum debugger_stop_reason reason;
    int signal; /* GDB's numbering (5 SIGTRAP, 2 SIGINT, 19 SIGSTOP...) */
    int exit_code;
    uint64_t pc; /* valid when have_pc */
    bool have_pc;
    char where[160]; /* pc as "symbol+off" */
    struct rsp_stop raw;
};

struct debugger_bp {
    uint64_t addr;
    bool thumb;
    int kind; /* the Z0 kind used: RSP_BP_ARM, RSP_BP_THUMB or RSP_BP_THUMB2 */
    char where[160];
    uint8_t orig[4]; /* the code under it, put back through the agent if gdbserver is lost */
    size_t orig_len; /* 0: unknown */
};

/* ---- attaching ---- */

int debugger_attach(const struct store *st, const struct instance_info *info, int pid,
                    const struct debugger_opts *o, struct debugger **out, struct ib_error *err);
/* QEMU's gdbstub of an instance started with --gdbstub. */
int debugger_attach_system(const struct instance_info *info, const struct debugger_opts *o,
                           struct debugger **out, struct ib_error *err);

typedef void (*debugger_attach_fn)(struct debugger *d, const struct ib_error *err, void *arg);
struct debugger_attach;
/* The same on lp; cb runs once, from the loop. Returns NULL (err filled)
 * only for errors known at once (no user-mode NIC, bad pid...). */
struct debugger_attach *debugger_attach_start(struct loop *lp, const struct store *st,
                                              const struct instance_info *info, int pid,
                                              const struct debugger_opts *o, debugger_attach_fn cb,
                                              void *arg, struct ib_error *err);
/* Gives up an attach in progress (cb does not run; what was set up is undone). */
void debugger_attach_cancel(struct debugger_attach *a);

/* ---- the session ---- */

struct rsp *debugger_rsp(struct debugger *d);
const struct symbols *debugger_symbols(const struct debugger *d);
int debugger_pid(const struct debugger *d); /* 0 for the system view */
bool debugger_is_system(const struct debugger *d);
int debugger_port(const struct debugger *d); /* the loopback port of the stub */
/* What symbol loading could not do ("libc.so.6: not found..."), or NULL. */
const char *debugger_notes(const struct debugger *d);
/* The stop the session is in (attach's, or the latest). */
bool debugger_last_stop(const struct debugger *d, struct debugger_stop *out);

int debugger_regs(struct debugger *d, struct rsp_arm_regs *regs, struct ib_error *err);
/* By name: r0-r12, sp/r13, lr/r14, pc/r15, cpsr, fp, ip, or any register
 * of the target description up to 64 bits. */
int debugger_reg_read(struct debugger *d, const char *name, uint64_t *val, struct ib_error *err);
int debugger_reg_write(struct debugger *d, const char *name, uint64_t val, struct ib_error *err);
int debugger_mem_read(struct debugger *d, uint64_t addr, void *buf, size_t len, size_t *got,
                      struct ib_error *err);
int debugger_mem_write(struct debugger *d, uint64_t addr, const void *data, size_t len,
                       struct ib_error *err);

/* where: a symbol, "symbol+off", or an address ("0x10548"; bit 0 set means
 * Thumb). ARM or Thumb breakpoint kind from the symbol, the mapping
 * symbols or the address. */
int debugger_break(struct debugger *d, const char *where, struct debugger_bp *out,
                   struct ib_error *err);
int debugger_unbreak(struct debugger *d, const char *where, struct ib_error *err);
size_t debugger_breakpoints(const struct debugger *d, const struct debugger_bp **list);

/* Resumes and returns at once; debugger_wait() gets the stop. */
int debugger_cont(struct debugger *d, struct ib_error *err);
/* The next stop; IB_ETIMEOUT leaves the process running. */
int debugger_wait(struct debugger *d, int timeout_ms, struct debugger_stop *stop,
                  struct ib_error *err);
int debugger_step(struct debugger *d, struct debugger_stop *stop, struct ib_error *err);
/* Stops a running process (the stop comes through debugger_wait). */
int debugger_interrupt(struct debugger *d, struct ib_error *err);
bool debugger_running(const struct debugger *d);

/* Instructions around addr (0: the current pc, in the mode of the cpsr T
 * bit); memory the stub cannot read falls back to the ELF file's bytes. */
size_t debugger_disasm(struct debugger *d, uint64_t addr, size_t before, size_t after,
                       struct disasm_insn *out, size_t max, size_t *pc_index, struct ib_error *err);

/* Fills stop->where etc. from a raw stop reply (for async users). */
void debugger_describe_stop(struct debugger *d, const struct rsp_stop *raw, bool stepping,
                            struct debugger_stop *out);

/* Detaches (the process keeps running; the VM resumes), removes the
 * forward and frees d - also when something on the way failed. */
int debugger_detach(struct debugger *d, struct ib_error *err);
typedef void (*debugger_done_fn)(const struct ib_error *err, void *arg);
/* The same without blocking; d is freed before cb runs. */
void debugger_detach_start(struct debugger *d, debugger_done_fn cb, void *arg);
/* Closes without D: gdbserver --once detaches by itself; with
 * keep_server it waits for another client (the forward stays). */
void debugger_close(struct debugger *d);

/* The netdev id ("net0") of the first user-mode NIC in a QEMU argv, or
 * NULL (exposed for tests). */
const char *debugger_user_netdev(char *const *argv, size_t argc, char *buf, size_t cap);

#endif
