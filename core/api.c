/*
 * api.c - the public C API of iotbench.h over core/.
 */
#include "core/iotbench.h"

#include <stdlib.h>
#include <string.h>

#include "core/debugger.h"
#include "core/guestproc.h"
#include "core/instance.h"
#include "core/store.h"
#include "core/util.h"

#define AGENT_TIMEOUT_MS 10000

struct ib_bench {
    struct store st;
};

struct ib_instance {
    ib_bench *b;
    struct instance_info info;
};

struct ib_debugger {
    struct debugger *d;
};

/* ---- the store ---- */

ib_bench *ib_bench_open(const char *home, struct ib_error *err)
{
    ib_bench *b = xcalloc(1, sizeof *b);
    if (store_open(&b->st, home, err) < 0) {
        free(b);
        return NULL;
    }
    return b;
}

void ib_bench_close(ib_bench *b)
{
    if (b == NULL)
        return;
    store_close(&b->st);
    free(b);
}

/* ---- instances ---- */

ib_instance *ib_device_run(ib_bench *b, const char *device, const struct ib_run_opts *o,
                           struct ib_error *err)
{
    static const struct ib_run_opts none = {0};
    if (o == NULL)
        o = &none;
    struct instance_start_opts so = {.name = o->name,
                                     .port_offset = o->port_offset,
                                     .gdbstub = o->gdbstub,
                                     .start_target = o->start_target,
                                     .wait = o->start_target ? INSTANCE_READY_TARGET
                                                             : INSTANCE_READY_AGENT,
                                     .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 90000};
    ib_instance *i = xcalloc(1, sizeof *i);
    i->b = b;
    if (instance_start(&b->st, device, &so, &i->info, err) < 0) {
        if (i->info.name != NULL) {
            /* Started but never ready: do not leave it behind. */
            instance_stop(&b->st, i->info.name, 0, true, NULL);
            instance_info_free(&i->info);
        }
        free(i);
        return NULL;
    }
    return i;
}

int ib_instances(ib_bench *b, ib_instance ***list, size_t *n, struct ib_error *err)
{
    struct instance_info *infos;
    size_t count;
    if (instance_list(&b->st, &infos, &count, err) < 0)
        return -1;
    *list = xcalloc(count + 1, sizeof **list);
    *n = 0;
    for (size_t k = 0; k < count; k++) {
        if (infos[k].state != INSTANCE_RUNNING) {
            instance_info_free(&infos[k]);
            continue;
        }
        ib_instance *i = xcalloc(1, sizeof *i);
        i->b = b;
        i->info = infos[k]; /* taken over */
        (*list)[(*n)++] = i;
    }
    free(infos);
    return 0;
}

void ib_instances_free(ib_instance **list, size_t n)
{
    for (size_t k = 0; list && k < n; k++)
        ib_instance_free(list[k]);
    free(list);
}

ib_instance *ib_instance_get(ib_bench *b, const char *name, struct ib_error *err)
{
    ib_instance *i = xcalloc(1, sizeof *i);
    i->b = b;
    if (instance_get(&b->st, name, &i->info, err) < 0) {
        free(i);
        return NULL;
    }
    return i;
}

void ib_instance_free(ib_instance *i)
{
    if (i == NULL)
        return;
    instance_info_free(&i->info);
    free(i);
}

const char *ib_instance_name(const ib_instance *i)
{
    return i->info.name;
}

const char *ib_instance_device(const ib_instance *i)
{
    return i->info.device;
}

int ib_instance_host_port(const ib_instance *i, int guest_port)
{
    for (size_t k = 0; k < i->info.n_forwards; k++)
        if (i->info.forwards[k].proto == CONFIG_TCP && i->info.forwards[k].guest_port == guest_port)
            return i->info.forwards[k].host_port;
    return 0;
}

int ib_instance_start_target(ib_instance *i, struct ib_error *err)
{
    return instance_start_target(&i->info, 15000, err);
}

int ib_instance_stop(ib_instance *i, struct ib_error *err)
{
    return instance_stop(&i->b->st, i->info.name, 0, true, err);
}

/* ---- inside the guest ---- */

static int exec_in(ib_instance *i, bool target, const char *const argv[],
                   const struct ib_exec_opts *o, struct ib_exec_result *res, struct ib_error *err)
{
    memset(res, 0, sizeof *res);
    if (argv == NULL || argv[0] == NULL)
        return ib_err(err, IB_EINPUT, "exec: no command given");
    struct guestproc_exec_opts go = {.target = target};
    if (o != NULL) {
        go.stdin_data = o->stdin_data;
        go.stdin_len = o->stdin_len;
        go.timeout_ms = o->timeout_ms;
    }
    struct guestproc_exec_result r;
    if (guestproc_exec_sync(i->info.qga_sock, argv, &go, &r, err) < 0)
        return -1;
    *res = (struct ib_exec_result){.exit_code = r.exit_code,
                                   .signal = r.signal,
                                   .timed_out = r.timed_out,
                                   .out = r.out,
                                   .err = r.err,
                                   .out_len = r.out_len,
                                   .err_len = r.err_len};
    return 0;
}

int ib_instance_exec_host(ib_instance *i, const char *const argv[], const struct ib_exec_opts *o,
                          struct ib_exec_result *res, struct ib_error *err)
{
    return exec_in(i, false, argv, o, res, err);
}

int ib_instance_exec_target(ib_instance *i, const char *const argv[], const struct ib_exec_opts *o,
                            struct ib_exec_result *res, struct ib_error *err)
{
    return exec_in(i, true, argv, o, res, err);
}

void ib_exec_result_free(struct ib_exec_result *res)
{
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
}

int ib_instance_ps(ib_instance *i, struct ib_process **procs, size_t *n, struct ib_error *err)
{
    struct guestproc_snapshot s;
    if (guestproc_list_sync(i->info.qga_sock, AGENT_TIMEOUT_MS, &s, err) < 0)
        return -1;
    *procs = xcalloc(s.n + 1, sizeof **procs);
    for (size_t k = 0; k < s.n; k++) {
        const struct guestproc *p = &s.procs[k];
        struct ib_process *q = &(*procs)[k];
        q->pid = p->pid;
        q->ppid = p->ppid;
        memcpy(q->user, p->user, sizeof q->user);
        q->state = p->state;
        q->cpu = p->cpu;
        q->rss_kb = p->rss_kb;
        q->device = p->where == GUESTPROC_DEVICE;
        q->kernel = p->kthread;
        q->name = xstrdup(p->comm);
        q->cmdline = xstrdup(p->cmdline);
    }
    *n = s.n;
    guestproc_snapshot_free(&s);
    return 0;
}

void ib_processes_free(struct ib_process *procs, size_t n)
{
    for (size_t k = 0; procs && k < n; k++) {
        free(procs[k].name);
        free(procs[k].cmdline);
    }
    free(procs);
}

int ib_instance_pid(ib_instance *i, const char *name, struct ib_error *err)
{
    struct guestproc_snapshot s;
    if (guestproc_list_sync(i->info.qga_sock, AGENT_TIMEOUT_MS, &s, err) < 0)
        return -1;
    int pid = -1;
    if (guestproc_find_one(&s, name, &pid, err) < 0)
        pid = -1;
    guestproc_snapshot_free(&s);
    return pid;
}

int ib_instance_kill(ib_instance *i, int pid, int sig, struct ib_error *err)
{
    return guestproc_kill_sync(i->info.qga_sock, pid, sig, AGENT_TIMEOUT_MS, err);
}

/* ---- debugging ---- */

ib_debugger *ib_instance_debug(ib_instance *i, int pid, struct ib_error *err)
{
    struct debugger *d;
    if (debugger_attach(&i->b->st, &i->info, pid, NULL, &d, err) < 0)
        return NULL;
    ib_debugger *g = xcalloc(1, sizeof *g);
    g->d = d;
    return g;
}

ib_debugger *ib_instance_debug_system(ib_instance *i, struct ib_error *err)
{
    struct debugger *d;
    if (debugger_attach_system(&i->info, NULL, &d, err) < 0)
        return NULL;
    ib_debugger *g = xcalloc(1, sizeof *g);
    g->d = d;
    return g;
}

int ib_debugger_read_register(ib_debugger *d, const char *name, uint64_t *val, struct ib_error *err)
{
    return debugger_reg_read(d->d, name, val, err);
}

int ib_debugger_write_register(ib_debugger *d, const char *name, uint64_t val, struct ib_error *err)
{
    return debugger_reg_write(d->d, name, val, err);
}

int ib_debugger_registers(ib_debugger *d, uint32_t regs[17], struct ib_error *err)
{
    struct rsp_arm_regs r;
    if (debugger_regs(d->d, &r, err) < 0)
        return -1;
    memcpy(regs, r.r, sizeof r.r);
    regs[16] = r.cpsr;
    return 0;
}

int ib_debugger_read_memory(ib_debugger *d, uint64_t addr, void *buf, size_t len,
                            struct ib_error *err)
{
    size_t got = 0;
    if (debugger_mem_read(d->d, addr, buf, len, &got, err) < 0)
        return -1;
    if (got < len)
        return ib_err(err, IB_EFAIL, "only %zu of %zu bytes at 0x%llx are readable", got, len,
                      (unsigned long long)addr);
    return 0;
}

int ib_debugger_write_memory(ib_debugger *d, uint64_t addr, const void *data, size_t len,
                             struct ib_error *err)
{
    return debugger_mem_write(d->d, addr, data, len, err);
}

int ib_debugger_set_breakpoint(ib_debugger *d, const char *where, uint64_t *addr,
                               struct ib_error *err)
{
    struct debugger_bp bp;
    if (debugger_break(d->d, where, &bp, err) < 0)
        return -1;
    if (addr != NULL)
        *addr = bp.addr;
    return 0;
}

int ib_debugger_clear_breakpoint(ib_debugger *d, const char *where, struct ib_error *err)
{
    return debugger_unbreak(d->d, where, err);
}

static void copy_stop(const struct debugger_stop *s, struct ib_stop *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    out->reason = (enum ib_stop_reason)s->reason;
    out->signal = s->signal;
    out->exit_code = s->exit_code;
    out->pc = s->pc;
    memcpy(out->where, s->where, sizeof out->where);
}

int ib_debugger_cont(ib_debugger *d, struct ib_error *err)
{
    return debugger_cont(d->d, err);
}

int ib_debugger_wait(ib_debugger *d, int timeout_ms, struct ib_stop *stop, struct ib_error *err)
{
    struct debugger_stop s;
    if (debugger_wait(d->d, timeout_ms, &s, err) < 0)
        return -1;
    copy_stop(&s, stop);
    return 0;
}

int ib_debugger_step(ib_debugger *d, struct ib_stop *stop, struct ib_error *err)
{
    struct debugger_stop s;
    if (debugger_step(d->d, &s, err) < 0)
        return -1;
    copy_stop(&s, stop);
    return 0;
}

int ib_debugger_interrupt(ib_debugger *d, struct ib_error *err)
{
    return debugger_interrupt(d->d, err);
}

int ib_debugger_lookup(ib_debugger *d, const char *name, uint64_t *addr, struct ib_error *err)
{
    struct symbol s;
    if (symbols_lookup(debugger_symbols(d->d), name, &s) < 0)
        return ib_err(err, IB_ENOTFOUND, "no symbol \"%s\"", name);
    *addr = s.addr;
    return 0;
}

void ib_debugger_where(ib_debugger *d, uint64_t addr, char *buf, size_t cap)
{
    symbols_format(debugger_symbols(d->d), addr, buf, cap);
}

int ib_debugger_stop(ib_debugger *d, struct ib_error *err)
{
    if (d == NULL)
        return 0;
    int rc = debugger_detach(d->d, err);
    free(d);
    return rc;
}
