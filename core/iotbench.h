/*
 * iotbench.h - the public C API: what Piotr's Python API offers, for C
 * programs. Thin functions over core/ with opaque handles.
 *
 *   Piotr                      iotbench
 *   -----                      --------
 *   Piotr()                    ib_bench_open(NULL, &err)          (the store, $IOTBENCH_HOME)
 *   Device.run()               ib_device_run(b, "demo", &opts, &err)
 *   Piotr.instances()          ib_instances(b, &list, &n, &err)
 *   Instance.exec_host(cmd)    ib_instance_exec_host(i, argv, NULL, &res, &err)
 *   Instance.exec_target(cmd)  ib_instance_exec_target(i, argv, NULL, &res, &err)
 *   Instance.ps()              ib_instance_ps(i, &procs, &n, &err)
 *   Instance.pid(name)         ib_instance_pid(i, "demod", &err)
 *   Instance.kill(pid)         ib_instance_kill(i, pid, SIGTERM, &err)
 *   Instance.debug(pid)        ib_instance_debug(i, pid, &err)
 *   Instance.stop()            ib_instance_stop(i, &err)
 *   Debugger.read_register     ib_debugger_read_register(d, "pc", &val, &err)
 *   Debugger.write_register    ib_debugger_write_register(d, "r0", 0, &err)
 *   Debugger.set_breakpoint    ib_debugger_set_breakpoint(d, "handle_request", NULL, &err)
 *   Debugger.cont / wait       ib_debugger_cont(d, &err); ib_debugger_wait(d, ms, &stop, &err)
 *   Debugger.step              ib_debugger_step(d, &stop, &err)
 *   Debugger.stop              ib_debugger_stop(d, &err)     (detach: the process runs on)
 *
 * Every function that can fail returns -1 (or NULL) and fills the
 * struct ib_error of core/error.h: err.msg is one sentence saying what
 * went wrong, err.status one of IB_EFAIL, IB_EINPUT, IB_ENOTFOUND,
 * IB_ETIMEOUT, IB_ECONFLICT. All calls block (for the event-loop forms,
 * use core/guestproc.h and core/debugger.h directly). Build against
 * libiotbench.a with the libraries of `pkg-config --libs jansson libelf
 * capstone` and the others of the Makefile; examples/demo_debug.c is a
 * complete program.
 *
 *     struct ib_error err = {0};
 *     ib_bench *b = ib_bench_open(NULL, &err);
 *     struct ib_run_opts o = {.port_offset = 100, .start_target = true};
 *     ib_instance *i = ib_device_run(b, "demo", &o, &err);
 *     int pid = ib_instance_pid(i, "demod", &err);
 *     ib_debugger *d = ib_instance_debug(i, pid, &err);
 *     ib_debugger_set_breakpoint(d, "handle_request", NULL, &err);
 *     ib_debugger_cont(d, &err);
 *     struct ib_stop stop;
 *     ib_debugger_wait(d, 30000, &stop, &err);           // stop.where == "handle_request"
 *     ib_debugger_stop(d, &err);
 *     ib_instance_stop(i, &err);
 *     ib_instance_free(i);
 *     ib_bench_close(b);
 */
#ifndef IOTBENCH_H
#define IOTBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct ib_bench ib_bench;       /* a store of kernels, filesystems and devices */
typedef struct ib_instance ib_instance; /* a running device (a QEMU process) */
typedef struct ib_debugger ib_debugger; /* a debugging session on one guest process */

/* ---- the store ---- */

/* home NULL: $IOTBENCH_HOME, else ~/.iotbench. */
ib_bench *ib_bench_open(const char *home, struct ib_error *err);
void ib_bench_close(ib_bench *b);

/* ---- instances ---- */

struct ib_run_opts {
    const char *name;  /* NULL: a generated name */
    int port_offset;   /* added to every forwarded host port (8080 -> 8080 + offset) */
    bool start_target; /* start the device's services and wait until they run */
    bool gdbstub;      /* also start QEMU's gdbstub (ib_instance_debug_system) */
    int timeout_ms;    /* boot; default 90000 */
};

/* Boots a device of the store and returns once the guest agent answers
 * (and, with start_target, the device's services were started). */
ib_instance *ib_device_run(ib_bench *b, const char *device, const struct ib_run_opts *o,
                           struct ib_error *err);
/* The running instances; free the list with ib_instances_free. */
int ib_instances(ib_bench *b, ib_instance ***list, size_t *n, struct ib_error *err);
void ib_instances_free(ib_instance **list, size_t n);
ib_instance *ib_instance_get(ib_bench *b, const char *name, struct ib_error *err);
/* Frees the handle only: the instance keeps running. */
void ib_instance_free(ib_instance *i);

const char *ib_instance_name(const ib_instance *i);
const char *ib_instance_device(const ib_instance *i);
/* The loopback port forwarded to guest_port (tcp), 0 when there is none. */
int ib_instance_host_port(const ib_instance *i, int guest_port);
/* Runs target-start in the guest (the device's /piotr/init.sh). */
int ib_instance_start_target(ib_instance *i, struct ib_error *err);
/* Powers the instance off at once and removes its runtime folder; the
 * handle stays valid for ib_instance_free only. */
int ib_instance_stop(ib_instance *i, struct ib_error *err);

/* ---- inside the guest ---- */

struct ib_exec_opts {
    const char *stdin_data; /* NULL: no input */
    size_t stdin_len;
    int timeout_ms; /* the command is killed in the guest after this; default 30000 */
};

struct ib_exec_result {
    int exit_code; /* -1 when a signal ended it */
    int signal;
    bool timed_out;
    char *out, *err; /* NUL-terminated, may hold NULs: use the lengths */
    size_t out_len, err_len;
};

/* argv[0] is looked up in PATH. exec_target runs it chrooted in the device. */
int ib_instance_exec_host(ib_instance *i, const char *const argv[], const struct ib_exec_opts *o,
                          struct ib_exec_result *res, struct ib_error *err);
int ib_instance_exec_target(ib_instance *i, const char *const argv[], const struct ib_exec_opts *o,
                            struct ib_exec_result *res, struct ib_error *err);
void ib_exec_result_free(struct ib_exec_result *res);

struct ib_process {
    int pid, ppid;
    char user[33];
    char state; /* R S D Z T I ... */
    double cpu; /* % of one CPU, average since the process started */
    unsigned long long rss_kb;
    bool device;   /* runs in the device (chroot /target), not the host system */
    bool kernel;   /* a kernel thread */
    char *name;    /* the kernel's name for it (comm) */
    char *cmdline; /* arguments joined by spaces ("[name]" for kernel threads) */
};

int ib_instance_ps(ib_instance *i, struct ib_process **procs, size_t *n, struct ib_error *err);
void ib_processes_free(struct ib_process *procs, size_t n);
/* The pid of the one process with this name (or executable path); -1
 * (IB_ENOTFOUND, or IB_EINPUT when several match). */
int ib_instance_pid(ib_instance *i, const char *name, struct ib_error *err);
int ib_instance_kill(ib_instance *i, int pid, int sig, struct ib_error *err);

/* ---- debugging ---- */

/* Attaches gdbserver to pid (the process stops until ib_debugger_cont)
 * with the symbols of the device's ELF files. */
ib_debugger *ib_instance_debug(ib_instance *i, int pid, struct ib_error *err);
/* The whole VM through QEMU's gdbstub (ib_run_opts.gdbstub); the VM is
 * paused while attached. */
ib_debugger *ib_instance_debug_system(ib_instance *i, struct ib_error *err);

/* Registers by name: r0-r12, sp, lr, pc, cpsr (r13-r15, fp, ip too). */
int ib_debugger_read_register(ib_debugger *d, const char *name, uint64_t *val,
                              struct ib_error *err);
int ib_debugger_write_register(ib_debugger *d, const char *name, uint64_t val,
                               struct ib_error *err);
/* r0..r15 then cpsr. */
int ib_debugger_registers(ib_debugger *d, uint32_t regs[17], struct ib_error *err);
/* Exactly len bytes, or an error. */
int ib_debugger_read_memory(ib_debugger *d, uint64_t addr, void *buf, size_t len,
                            struct ib_error *err);
int ib_debugger_write_memory(ib_debugger *d, uint64_t addr, const void *data, size_t len,
                             struct ib_error *err);

/* where: a function name, "name+0x10" or an address ("0x10548"). */
int ib_debugger_set_breakpoint(ib_debugger *d, const char *where, uint64_t *addr,
                               struct ib_error *err);
int ib_debugger_clear_breakpoint(ib_debugger *d, const char *where, struct ib_error *err);

enum ib_stop_reason {
    IB_STOP_BREAKPOINT,
    IB_STOP_STEP,
    IB_STOP_SIGNAL,
    IB_STOP_EXITED,
    IB_STOP_KILLED,
};

struct ib_stop {
    enum ib_stop_reason reason;
    int signal;    /* GDB's numbering: 5 SIGTRAP, 2 SIGINT, 11 SIGSEGV */
    int exit_code; /* IB_STOP_EXITED */
    uint64_t pc;
    char where[160]; /* pc as "symbol+0x10" */
};

/* Resumes and returns at once. */
int ib_debugger_cont(ib_debugger *d, struct ib_error *err);
/* The next stop (IB_ETIMEOUT leaves the process running). */
int ib_debugger_wait(ib_debugger *d, int timeout_ms, struct ib_stop *stop, struct ib_error *err);
int ib_debugger_step(ib_debugger *d, struct ib_stop *stop, struct ib_error *err);
/* Stops a running process; its stop comes through ib_debugger_wait. */
int ib_debugger_interrupt(ib_debugger *d, struct ib_error *err);
/* A symbol's address (Thumb bit cleared). */
int ib_debugger_lookup(ib_debugger *d, const char *name, uint64_t *addr, struct ib_error *err);
/* addr as "symbol+0x10" (or "0x..."). */
void ib_debugger_where(ib_debugger *d, uint64_t addr, char *buf, size_t cap);
/* Detaches (the process runs on, the VM resumes) and frees d. */
int ib_debugger_stop(ib_debugger *d, struct ib_error *err);

#endif
