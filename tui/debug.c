/*
 * debug.c - the debugger view: a session on one guest process, shown as
 * its stop reason, registers (those changed since the previous stop
 * highlighted), disassembly around pc with symbol names, a hex+ASCII memory
 * view (an address, a symbol, or following sp) and the breakpoint list.
 *
 * The session runs in a forked job (job_spawn_duplex), using core/debugger's
 * blocking calls there: they already step over our own breakpoint at pc
 * (gdbserver leaves that to the client), pick Thumb or ARM breakpoint kinds
 * and fall back to the ELF file's bytes for code the stub cannot read. The
 * workbench sends one command a line ("step", "cont", "int", "break X",
 * "unbreak X", "view EXPR LEN", "detach", "refresh") and the job answers
 * with the whole state after each stop, between BEGIN and END:
 *
 *   ATTACHED pid port | FAIL why | NOTE text
 *   BEGIN seq running            seq counts stops: a new one means a new stop
 *   STOP reason signal code pc where
 *   REG n hex | REGERR why       n: 0-15, 16 cpsr
 *   DIS addr flags where<TAB>text   flags: p pc, b breakpoint, - none
 *   BP addr where
 *   MEMAT addr sp | MEM addr hex | MEMERR why
 *   END
 *   MSG text | ERR text          a command's outcome
 *   GONE why | LOST why | DETACHED   the session is over (the job exits)
 *
 * So a target that runs after `c` never holds the UI: the job waits for
 * its stop (polling for Ctrl-C in between), the workbench draws and reads
 * keys as ever. If the workbench quits or dies, the job detaches (SIGTERM),
 * and if it dies too, gdbserver --once detaches by itself when the
 * connection closes.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/debugger.h"
#include "core/guestproc.h"
#include "core/util.h"
#include "tui/app.h"
#include "widgets/draw.h"
#include "widgets/hexview.h"

#define N_REGS 17
#define MAX_DIS 40
#define MAX_BPS 32
#define MEM_MAX 2048
#define MEM_LINE 256 /* bytes per MEM line */

static const char *const REG_NAMES[N_REGS] = {"r0",  "r1", "r2", "r3", "r4",  "r5",
                                              "r6",  "r7", "r8", "r9", "r10", "r11",
                                              "r12", "sp", "lr", "pc", "cpsr"};

/* ==== the session, in the job ==== */

struct session {
    int out;
    struct debugger *d;
    struct instance_info info;
    int pid;
    unsigned seq;
    bool running;
    struct debugger_stop stop;
    bool have_stop;
    char view[128];
    size_t view_len;
};

static volatile sig_atomic_t session_term;
static FILE *session_trace; /* IOTBENCH_TUI_TRACE: what the session did (debugging tests) */

static void session_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void session_log(const char *fmt, ...)
{
    if (session_trace == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(session_trace, "[debug %lld] ", (long long)ib_now_ms());
    vfprintf(session_trace, fmt, ap);
    fputc('\n', session_trace);
    fflush(session_trace);
    va_end(ap);
}

static void on_session_term(int sig)
{
    (void)sig;
    session_term = 1;
}

static const char *reason_word(enum debugger_stop_reason r)
{
    switch (r) {
    case DEBUGGER_STOP_BREAKPOINT:
        return "breakpoint";
    case DEBUGGER_STOP_STEP:
        return "step";
    case DEBUGGER_STOP_SIGNAL:
        return "signal";
    case DEBUGGER_STOP_EXITED:
        return "exited";
    case DEBUGGER_STOP_KILLED:
        return "killed";
    }
    return "?";
}

static void send_memory(struct session *s, const struct rsp_arm_regs *regs, bool regs_ok)
{
    struct ib_error err = {0};
    uint64_t addr = 0, sp = regs_ok ? regs->r[13] : 0;
    if (strcmp(s->view, "sp") == 0) {
        if (!regs_ok) {
            job_say(s->out, "MEMERR no registers, so no sp");
            return;
        }
        addr = sp & ~(uint64_t)15;
    } else {
        bool thumb;
        if (symbols_parse_location(debugger_symbols(s->d), s->view, &addr, &thumb, &err) < 0) {
            job_say(s->out, "MEMERR %s", err.msg);
            return;
        }
    }
    size_t len = s->view_len ? s->view_len : 256, got = 0;
    uint8_t *buf = xmalloc(len);
    if (debugger_mem_read(s->d, addr, buf, len, &got, &err) < 0 || got == 0) {
        job_say(s->out, "MEMERR cannot read memory at 0x%08" PRIx64 ": %s", addr,
                err.msg[0] ? err.msg : "nothing readable");
        free(buf);
        return;
    }
    job_say(s->out, "MEMAT %" PRIx64 " %" PRIx64, addr, sp);
    for (size_t off = 0; off < got; off += MEM_LINE) {
        char hex[MEM_LINE * 2 + 1];
        size_t n = got - off < MEM_LINE ? got - off : MEM_LINE;
        for (size_t i = 0; i < n; i++)
            snprintf(hex + 2 * i, 3, "%02x", buf[off + i]);
        job_say(s->out, "MEM %" PRIx64 " %s", addr + off, hex);
    }
    free(buf);
}

static void report(struct session *s)
{
    job_say(s->out, "BEGIN %u %d", s->seq, s->running ? 1 : 0);
    if (s->have_stop)
        job_say(s->out, "STOP %s %d %d %s%" PRIx64 " %s", reason_word(s->stop.reason),
                s->stop.signal, s->stop.exit_code, s->stop.have_pc ? "" : "-",
                s->stop.have_pc ? s->stop.pc : 0, s->stop.where);
    const struct debugger_bp *bps;
    size_t nb = debugger_breakpoints(s->d, &bps);
    if (!s->running) {
        struct ib_error err = {0};
        struct rsp_arm_regs regs;
        bool regs_ok = debugger_regs(s->d, &regs, &err) == 0;
        if (regs_ok) {
            for (int i = 0; i < 16; i++)
                job_say(s->out, "REG %d %08" PRIx32, i, regs.r[i]);
            job_say(s->out, "REG 16 %08" PRIx32, regs.cpsr);
        } else {
            job_say(s->out, "REGERR %s", err.msg);
        }
        struct disasm_insn insn[MAX_DIS];
        size_t at = 0;
        size_t n = regs_ok ? debugger_disasm(s->d, 0, 8, 24, insn, MAX_DIS, &at, &err) : 0;
        for (size_t i = 0; i < n; i++) {
            char where[160];
            symbols_format(debugger_symbols(s->d), insn[i].addr, where, sizeof where);
            bool bp = false;
            for (size_t k = 0; k < nb; k++)
                bp |= bps[k].addr == insn[i].addr;
            char flags[3] = {i == at ? 'p' : '-', bp ? 'b' : '-', 0};
            job_say(s->out, "DIS %" PRIx64 " %s %s\t%s", insn[i].addr, flags, where, insn[i].text);
        }
        send_memory(s, &regs, regs_ok);
    }
    for (size_t k = 0; k < nb; k++)
        job_say(s->out, "BP %" PRIx64 " %s", bps[k].addr, bps[k].where);
    job_say(s->out, "END");
}

/* The connection is gone (gdbserver died) or the process is: tidy up. */
static bool session_lost(struct session *s, const struct ib_error *err)
{
    struct ib_error e;
    if (!rsp_failed(debugger_rsp(s->d), &e))
        return false;
    job_say(s->out, "LOST the connection to gdbserver is gone: %s",
            e.msg[0] ? e.msg
            : err    ? err->msg
                     : "?");
    return true;
}

static void new_stop(struct session *s, const struct debugger_stop *stop)
{
    session_log("stop: %s, signal %d, %s", reason_word(stop->reason), stop->signal, stop->where);
    s->seq++;
    s->stop = *stop;
    s->have_stop = true;
    s->running = false;
    report(s);
}

static bool stop_is_final(const struct debugger_stop *st)
{
    return st->reason == DEBUGGER_STOP_EXITED || st->reason == DEBUGGER_STOP_KILLED;
}

/* Stops the running process (the core falls back to a SIGINT through the
 * agent when gdbserver's interrupt cannot reach it). */
static int interrupt_now(struct session *s, struct debugger_stop *stop, struct ib_error *err)
{
    debugger_interrupt(s->d, err);
    int rc = debugger_wait(s->d, 3500, stop, err);
    session_log("interrupt: %d %s", rc, rc < 0 ? err->msg : "stopped");
    return rc;
}

/* Stops the running process for a moment; true when it stopped by our
 * interrupt (then *stop is that stop), false when something else stopped it
 * first (reported) or it failed. */
static bool pause_for(struct session *s, struct debugger_stop *stop, struct ib_error *err)
{
    if (interrupt_now(s, stop, err) < 0)
        return false;
    s->running = false;
    if (stop->reason == DEBUGGER_STOP_SIGNAL && stop->signal == 2)
        return true;
    new_stop(s, stop);
    return false;
}

static void set_breakpoint(struct session *s, const char *where, bool clear)
{
    struct ib_error err = {0};
    struct debugger_stop st;
    bool resume = false;
    if (s->running) {
        if (!pause_for(s, &st, &err)) {
            if (err.msg[0])
                job_say(s->out, "ERR %s", err.msg);
            return;
        }
        resume = true;
    }
    int rc = 0;
    if (clear && strcmp(where, "*") == 0) {
        const struct debugger_bp *bps;
        while (rc == 0 && debugger_breakpoints(s->d, &bps) > 0) {
            char w[32];
            snprintf(w, sizeof w, "0x%" PRIx64, bps[0].addr);
            rc = debugger_unbreak(s->d, w, &err);
        }
        if (rc == 0)
            job_say(s->out, "MSG every breakpoint cleared");
    } else if (clear) {
        rc = debugger_unbreak(s->d, where, &err);
        if (rc == 0)
            job_say(s->out, "MSG breakpoint at %s cleared", where);
    } else {
        struct debugger_bp bp;
        rc = debugger_break(s->d, where, &bp, &err);
        if (rc == 0)
            job_say(s->out, "MSG breakpoint at %s (0x%08" PRIx64 "%s)", bp.where, bp.addr,
                    bp.thumb ? ", Thumb" : "");
    }
    if (rc < 0)
        job_say(s->out, "ERR %s", err.msg);
    if (resume && debugger_cont(s->d, &err) == 0)
        s->running = true;
    report(s);
}

/* One command from the workbench; false ends the session. */
static bool session_command(struct session *s, char *line)
{
    struct ib_error err = {0};
    struct debugger_stop stop;
    session_log("command: %s", line);
    char *arg = strchr(line, ' ');
    if (arg)
        *arg++ = '\0';
    if (strcmp(line, "step") == 0) {
        if (s->running) {
            job_say(s->out, "ERR the process runs: Ctrl-C stops it first");
        } else if (debugger_step(s->d, &stop, &err) < 0) {
            if (session_lost(s, &err))
                return false;
            job_say(s->out, "ERR step: %s", err.msg);
            report(s);
        } else {
            new_stop(s, &stop);
            if (stop_is_final(&stop)) {
                job_say(s->out, "GONE process %d %s", s->pid, stop.where);
                return false;
            }
        }
    } else if (strcmp(line, "cont") == 0) {
        if (s->running)
            return true;
        if (debugger_cont(s->d, &err) < 0) {
            if (session_lost(s, &err))
                return false;
            job_say(s->out, "ERR continue: %s", err.msg);
            return true;
        }
        s->running = true;
        report(s);
    } else if (strcmp(line, "int") == 0) {
        if (!s->running)
            return true;
        if (interrupt_now(s, &stop, &err) < 0) {
            if (session_lost(s, &err))
                return false;
            job_say(s->out, "ERR interrupt: %s", err.msg);
            return true;
        }
        new_stop(s, &stop);
        if (stop_is_final(&stop)) {
            job_say(s->out, "GONE process %d %s", s->pid, stop.where);
            return false;
        }
    } else if ((strcmp(line, "break") == 0 || strcmp(line, "unbreak") == 0) && arg && *arg) {
        set_breakpoint(s, arg, line[0] == 'u');
    } else if (strcmp(line, "view") == 0 && arg) {
        char *len = strrchr(arg, ' ');
        if (len) {
            *len++ = '\0';
            long n = atol(len);
            s->view_len = n < 16 ? 16 : n > MEM_MAX ? MEM_MAX : (size_t)n;
        }
        snprintf(s->view, sizeof s->view, "%s", arg);
        if (s->running)
            job_say(s->out, "ERR memory cannot be read while the process runs: Ctrl-C first");
        else
            report(s);
    } else if (strcmp(line, "refresh") == 0) {
        report(s);
    } else if (strcmp(line, "detach") == 0) {
        return false;
    } else {
        job_say(s->out, "ERR unknown debugger command \"%s\"", line);
    }
    return true;
}

/* Stopped and idle: is the process still there, and gdbserver? */
static bool session_alive(struct session *s)
{
    if (!s->have_stop || !s->stop.have_pc)
        return true;
    uint8_t b[4];
    size_t got = 0;
    struct ib_error err = {0};
    int rc = rsp_read_memory_sync(debugger_rsp(s->d), s->stop.pc, b, 4, 3000, &got, &err);
    if (session_lost(s, &err))
        return false;
    if (rc < 0 || got == 0) {
        job_say(s->out, "GONE process %d is gone (killed while stopped?): %s", s->pid, err.msg);
        return false;
    }
    return true;
}

static void session_loop(struct session *s)
{
    char buf[4096];
    size_t len = 0;
    int idle = 0;
    for (;;) {
        if (session_term)
            return;
        struct pollfd pf = {.fd = JOB_CMD_FD, .events = POLLIN};
        int r = poll(&pf, 1, s->running ? 0 : 250);
        if (r < 0 && errno != EINTR)
            return;
        if (r > 0) {
            ssize_t n = read(JOB_CMD_FD, buf + len, sizeof buf - 1 - len);
            if (n <= 0)
                return; /* the workbench is gone: detach */
            len += (size_t)n;
            buf[len] = '\0';
            char *start = buf, *nl;
            while ((nl = strchr(start, '\n')) != NULL) {
                *nl = '\0';
                if (!session_command(s, start))
                    return;
                start = nl + 1;
            }
            len -= (size_t)(start - buf);
            memmove(buf, start, len);
            if (len == sizeof buf - 1)
                len = 0;
            idle = 0;
        }
        if (s->running) {
            struct debugger_stop stop;
            struct ib_error err = {0};
            if (debugger_wait(s->d, 30, &stop, &err) == 0) {
                new_stop(s, &stop);
                if (stop_is_final(&stop)) {
                    job_say(s->out, "GONE process %d %s", s->pid, stop.where);
                    return;
                }
            } else if (err.status != IB_ETIMEOUT) {
                if (!session_lost(s, &err))
                    job_say(s->out, "LOST waiting for the process: %s", err.msg);
                return;
            }
        } else if (r == 0 && ++idle >= 4) {
            idle = 0;
            if (!session_alive(s))
                return;
        }
    }
}

struct session_args {
    char instance[256];
    int pid;
};

static void child_session(int out, void *arg)
{
    const struct session_args *x = arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_session_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    const char *tr = getenv("IOTBENCH_TUI_TRACE");
    session_trace = tr && tr[0] ? fopen(tr, "a") : NULL;
    struct session s = {.out = out, .pid = x->pid, .view = "sp", .view_len = 256};
    struct store st;
    struct ib_error err = {0};
    if (store_open(&st, NULL, &err) < 0 || instance_get(&st, x->instance, &s.info, &err) < 0) {
        job_say(out, "FAIL %s", err.msg);
        return;
    }
    struct debugger_opts o = {.timeout_ms = 20000, .op_timeout_ms = 5000};
    if (debugger_attach(&st, &s.info, x->pid, &o, &s.d, &err) < 0) {
        job_say(out, "FAIL %s", err.msg);
        instance_info_free(&s.info);
        store_close(&st);
        return;
    }
    job_say(out, "ATTACHED %d %d", x->pid, debugger_port(s.d));
    const char *notes = debugger_notes(s.d);
    for (const char *p = notes; p && *p;) {
        size_t n = strcspn(p, "\n");
        if (n > 0)
            job_say(out, "NOTE %.*s", (int)n, p);
        p += n + (p[n] == '\n');
    }
    s.have_stop = debugger_last_stop(s.d, &s.stop);
    report(&s);
    session_loop(&s);
    bool lost = rsp_failed(debugger_rsp(s.d), NULL);
    /* Detach from a stopped process: our breakpoints come out of its code
     * only then (gdbserver would leave them in, and the next hit kills it). */
    if (s.running && !lost) {
        struct debugger_stop st;
        if (interrupt_now(&s, &st, &err) == 0)
            s.running = false;
        lost = rsp_failed(debugger_rsp(s.d), NULL);
    }
    /* Detaching also removes the port forward, even when the rest fails. */
    if (debugger_detach(s.d, &err) == 0)
        job_say(out, "DETACHED");
    else if (!lost && !session_term)
        job_say(out, "MSG detach: %s", err.msg);
    if (lost) {
        /* gdbserver died with the process stopped by the attach: wake it. */
        struct ib_error e2 = {0};
        guestproc_kill_sync(s.info.qga_sock, s.pid, SIGCONT, 3000, &e2);
    }
    instance_info_free(&s.info);
    store_close(&st);
}

/* ==== the view, in the workbench ==== */

struct dis_line {
    uint64_t addr;
    bool pc, bp;
    char where[128];
    char text[256];
};

struct dbg_state {
    unsigned seq;
    bool running;
    bool have_stop, have_pc;
    char reason[16];
    int signal, exit_code;
    uint64_t pc;
    char where[160];
    bool regs_ok;
    uint32_t regs[N_REGS];
    char regs_err[200];
    struct dis_line dis[MAX_DIS];
    int n_dis;
    struct {
        uint64_t addr;
        char where[128];
    } bps[MAX_BPS];
    int n_bps;
    uint64_t mem_addr, sp;
    uint8_t mem[MEM_MAX];
    size_t mem_len;
    char mem_err[200];
};

enum phase { PH_ATTACHING, PH_LIVE, PH_ENDED };

struct dbg {
    struct app *a;
    char *inst;
    int pid, port;
    char comm[64];
    struct job *job;
    enum phase phase;
    bool got_state;
    bool busy; /* a command is out: its state has not come back yet */
    char busy_what[32];
    struct dbg_state cur, next;
    uint32_t prev_regs[N_REGS]; /* at the stop before the current one */
    bool have_prev;
    uint32_t stop_regs[N_REGS]; /* at the current stop */
    unsigned stop_seq;
    bool have_stop_regs;
    char end_msg[400];
    bool end_error;
    char notes[600];
    char view[128];
    size_t view_len;
    struct hexview *hv;
    struct rect body, code_r;
    int code_first; /* index into cur.dis of the first line shown */
    int64_t sent_ms;
    double last_ms; /* the last command's key-to-state time */
};

static struct dbg *D(struct app *a)
{
    return a->dbg;
}

bool dbg_active(struct app *a)
{
    return D(a) && D(a)->phase != PH_ENDED;
}

const char *dbg_instance(struct app *a)
{
    return D(a) ? D(a)->inst : NULL;
}

/* A hex number at s (after spaces); *used is how many bytes it took. */
static uint64_t hex64(const char *s, size_t *used)
{
    size_t i = 0;
    while (s[i] == ' ')
        i++;
    uint64_t v = 0;
    for (;; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            break;
        v = v << 4 | (uint64_t)d;
    }
    if (used)
        *used = i;
    return v;
}

static void commit(struct dbg *g)
{
    /* Registers are compared with the previous stop, not with a refresh
     * of the same one (nor with the "running" state in between). */
    if (g->next.regs_ok && (!g->have_stop_regs || g->next.seq != g->stop_seq)) {
        if (g->have_stop_regs) {
            memcpy(g->prev_regs, g->stop_regs, sizeof g->prev_regs);
            g->have_prev = true;
        }
        memcpy(g->stop_regs, g->next.regs, sizeof g->stop_regs);
        g->stop_seq = g->next.seq;
        g->have_stop_regs = true;
    }
    g->cur = g->next;
    g->got_state = true;
    if (g->busy && g->sent_ms)
        g->last_ms = (double)(ib_now_ms() - g->sent_ms);
    g->busy = false;
    if (!g->cur.running) {
        hexview_set(g->hv, g->cur.mem_addr, g->cur.mem, g->cur.mem_len);
        hexview_mark(g->hv, g->cur.sp, g->cur.mem_len ? 4 : 0);
    }
    g->hv->empty = g->cur.running      ? "(the process runs: memory is read at the next stop)"
                   : g->cur.mem_err[0] ? g->cur.mem_err
                                       : "(no memory read)";
    g->code_first = -1;
}

static void end_session(struct dbg *g, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void end_session(struct dbg *g, bool error, const char *fmt, ...)
{
    if (g->phase == PH_ENDED)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->end_msg, sizeof g->end_msg, fmt, ap);
    va_end(ap);
    g->phase = PH_ENDED;
    g->end_error = error;
    g->busy = false;
    app_message(g->a, error, "%s", g->end_msg);
}

static void on_dbg_line(struct job *j, const char *line)
{
    struct app *a = j->app;
    struct dbg *g = D(a);
    if (g == NULL || g->job != j)
        return;
    struct dbg_state *n = &g->next;
    size_t used = 0;
    if (strncmp(line, "ATTACHED ", 9) == 0) {
        g->phase = PH_LIVE;
        sscanf(line + 9, "%*d %d", &g->port);
        /* The session reads 256 bytes until told how many the pane shows. */
        if (g->view_len != 256)
            job_send(g->job, "view %s %zu", g->view, g->view_len);
        app_message(a, false, "attached to %d (%s)", g->pid, g->comm);
    } else if (strncmp(line, "FAIL ", 5) == 0) {
        end_session(g, true, "cannot debug %d (%s): %s", g->pid, g->comm, line + 5);
    } else if (strncmp(line, "NOTE ", 5) == 0) {
        size_t l = strlen(g->notes);
        snprintf(g->notes + l, sizeof g->notes - l, "%s%s", l ? "; " : "", line + 5);
    } else if (strncmp(line, "BEGIN ", 6) == 0) {
        memset(n, 0, sizeof *n);
        unsigned seq = 0;
        int running = 0;
        sscanf(line + 6, "%u %d", &seq, &running);
        n->seq = seq;
        n->running = running != 0;
    } else if (strncmp(line, "STOP ", 5) == 0) {
        char pc[32] = "";
        int off = 0;
        if (sscanf(line + 5, "%15s %d %d %31s %n", n->reason, &n->signal, &n->exit_code, pc,
                   &off) >= 4) {
            n->have_stop = true;
            n->have_pc = pc[0] != '-';
            n->pc = n->have_pc ? hex64(pc, NULL) : 0;
            snprintf(n->where, sizeof n->where, "%s", off > 0 ? line + 5 + off : "");
        }
    } else if (strncmp(line, "REG ", 4) == 0) {
        int i = atoi(line + 4);
        const char *v = strchr(line + 4, ' ');
        if (i >= 0 && i < N_REGS && v) {
            n->regs[i] = (uint32_t)hex64(v + 1, NULL);
            n->regs_ok = true;
        }
    } else if (strncmp(line, "REGERR ", 7) == 0) {
        snprintf(n->regs_err, sizeof n->regs_err, "%s", line + 7);
    } else if (strncmp(line, "DIS ", 4) == 0 && n->n_dis < MAX_DIS) {
        struct dis_line *d = &n->dis[n->n_dis];
        d->addr = hex64(line + 4, &used);
        const char *e = line + 4 + used;
        if (e[0] == ' ' && e[1] && e[2] && e[3] == ' ') {
            d->pc = e[1] == 'p';
            d->bp = e[2] == 'b';
            const char *w = e + 4, *tab = strchr(w, '\t');
            if (tab) {
                snprintf(d->where, sizeof d->where, "%.*s", (int)(tab - w), w);
                snprintf(d->text, sizeof d->text, "%s", tab + 1);
                n->n_dis++;
            }
        }
    } else if (strncmp(line, "BP ", 3) == 0 && n->n_bps < MAX_BPS) {
        n->bps[n->n_bps].addr = hex64(line + 3, &used);
        const char *e = line + 3 + used;
        snprintf(n->bps[n->n_bps].where, sizeof n->bps[0].where, "%s", *e ? e + 1 : "");
        n->n_bps++;
    } else if (strncmp(line, "MEMAT ", 6) == 0) {
        n->mem_addr = hex64(line + 6, &used);
        n->sp = hex64(line + 6 + used, NULL);
    } else if (strncmp(line, "MEM ", 4) == 0) {
        uint64_t at = hex64(line + 4, &used);
        const char *e = line + 4 + used;
        if (at == n->mem_addr + n->mem_len && *e == ' ')
            for (const char *h = e + 1; h[0] && h[1] && n->mem_len < MEM_MAX; h += 2) {
                char two[3] = {h[0], h[1], 0};
                n->mem[n->mem_len++] = (uint8_t)strtoul(two, NULL, 16);
            }
    } else if (strncmp(line, "MEMERR ", 7) == 0) {
        snprintf(n->mem_err, sizeof n->mem_err, "%s", line + 7);
    } else if (strcmp(line, "END") == 0) {
        commit(g);
    } else if (strncmp(line, "MSG ", 4) == 0) {
        app_message(a, false, "%s", line + 4);
    } else if (strncmp(line, "ERR ", 4) == 0) {
        g->busy = false;
        app_message(a, true, "%s", line + 4);
    } else if (strncmp(line, "GONE ", 5) == 0) {
        end_session(g, false, "%s", line + 5);
    } else if (strncmp(line, "LOST ", 5) == 0) {
        end_session(g, true, "%s", line + 5);
    } else if (strcmp(line, "DETACHED") == 0) {
        end_session(g, false, "detached from %d (%s): it runs on", g->pid, g->comm);
    }
    app_dirty(a);
}

static void on_dbg_done(struct job *j, int status)
{
    struct app *a = j->app;
    struct dbg *g = D(a);
    if (g == NULL || g->job != j)
        return;
    g->job = NULL;
    end_session(g, true, "the debugger session ended unexpectedly (status %d)", status);
    app_dirty(a);
}

static void free_dbg(struct dbg *g)
{
    widget_free(&g->hv->base);
    free(g->inst);
    free(g);
}

void dbg_close(struct app *a)
{
    struct dbg *g = D(a);
    if (g == NULL)
        return;
    /* The job detaches on its own when its command pipe closes or it gets
     * SIGTERM (job_kill_all); the view only asks it first. */
    if (g->job && job_alive(a, g->job))
        job_send(g->job, "detach");
    free_dbg(g);
    a->dbg = NULL;
}

void dbg_attach(struct app *a, const char *instance, int pid, const char *comm)
{
    struct dbg *g = D(a);
    if (g && g->phase != PH_ENDED) {
        if (g->pid == pid && strcmp(g->inst, instance) == 0) {
            app_set_view(a, VIEW_DEBUG);
            return;
        }
        app_message(a, true, "already debugging %d (%s) on %s: detach from it first (d)", g->pid,
                    g->comm, g->inst);
        return;
    }
    if (g)
        free_dbg(g);
    g = xcalloc(1, sizeof *g);
    g->a = a;
    g->inst = xstrdup(instance);
    g->pid = pid;
    snprintf(g->comm, sizeof g->comm, "%s", comm ? comm : "?");
    snprintf(g->view, sizeof g->view, "sp");
    g->view_len = 256;
    g->hv = hexview_new();
    g->hv->empty = "(attaching)";
    g->code_first = -1;
    a->dbg = g;
    struct session_args x = {.pid = pid};
    snprintf(x.instance, sizeof x.instance, "%s", instance);
    g->job = job_spawn_duplex(a, instance, child_session, &x, on_dbg_line, on_dbg_done);
    if (g->job == NULL)
        end_session(g, true, "cannot start the debugger session");
    else
        app_message(a, false, "attaching to %d (%s)...", pid, g->comm);
    app_set_view(a, VIEW_DEBUG);
}

/* ---- layout and drawing ---- */

static int code_rows(struct rect b)
{
    int avail = b.h - 2; /* state line, breakpoints line */
    if (avail < 3)
        return avail > 0 ? avail : 0;
    /* The memory view wants a header and at least 4 rows. */
    int t = avail - 5 >= 17 ? 17 : avail - 5;
    if (t < 6)
        t = avail >= 10 ? avail - 5 : avail;
    return t;
}

static void place_memory(struct dbg *g)
{
    struct rect b = g->body;
    int t = code_rows(b);
    int y = b.y + 2 + t + 1;
    int h = b.y + b.h - y;
    widget_place(&g->hv->base, (struct rect){y, b.x + 1, h > 0 ? h : 0, b.w - 1});
}

void dbg_place(struct app *a, struct rect body)
{
    struct dbg *g = D(a);
    if (g == NULL)
        return;
    bool resized = body.w != g->body.w || body.h != g->body.h;
    g->body = body;
    place_memory(g);
    size_t cap = hexview_capacity(g->hv);
    if (cap > MEM_MAX)
        cap = MEM_MAX;
    if (resized && cap != g->view_len && g->hv->base.r.h > 0) {
        g->view_len = cap;
        if (g->phase == PH_LIVE && g->got_state && !g->cur.running)
            job_send(g->job, "view %s %zu", g->view, g->view_len);
    }
}

void dbg_title(struct app *a, char *buf, size_t cap)
{
    struct dbg *g = D(a);
    if (g == NULL)
        snprintf(buf, cap, "no debugger session");
    else
        snprintf(buf, cap, "%d (%s) on %s", g->pid, g->comm, g->inst);
}

void dbg_header(struct app *a, char *buf, size_t cap)
{
    struct dbg *g = D(a);
    if (g == NULL || g->phase == PH_ENDED) {
        snprintf(buf, cap, "%s", "");
        return;
    }
    snprintf(buf, cap, "debugging %s@%s (%s)", g->comm, g->inst,
             g->phase == PH_ATTACHING ? "attaching"
             : g->cur.running         ? "running"
                                      : "stopped");
}

/* GDB's own signal numbers (the stub's), which differ from Linux's past 15. */
static const char *gdb_signal_name(int sig)
{
    static const char *const N[] = {
        "0",    "HUP", "INT",  "QUIT", "ILL",    "TRAP", "ABRT",  "EMT",  "FPE",  "KILL", "BUS",
        "SEGV", "SYS", "PIPE", "ALRM", "TERM",   "URG",  "STOP",  "TSTP", "CONT", "CHLD", "TTIN",
        "TTOU", "IO",  "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "LOST", "USR1", "USR2", "PWR"};
    return sig >= 0 && sig < (int)(sizeof N / sizeof N[0]) ? N[sig] : "?";
}

static void draw_state_line(struct dbg *g, WINDOW *win, int y)
{
    struct rect b = g->body;
    int x = b.x + 1, end = b.x + b.w;
    char buf[512];
    draw_fill(win, y, b.x, b.w, TH_NORMAL);
    if (g->phase == PH_ENDED) {
        x += draw_text(win, y, x, end - x, g->end_error ? TH_ERROR : TH_WARN, "■ ended ");
        draw_text(win, y, x, end - x, g->end_error ? TH_ERROR : TH_VALUE, g->end_msg);
        return;
    }
    if (g->phase == PH_ATTACHING || !g->got_state) {
        snprintf(buf, sizeof buf, "attaching to %d (%s): gdbserver, port forward, symbols...",
                 g->pid, g->comm);
        draw_text(win, y, x, end - x, TH_DIM, buf);
        return;
    }
    if (g->cur.running) {
        x += draw_text(win, y, x, end - x, TH_TIMELINE_NOW, " ▶ running ");
        draw_text(win, y, x, end - x, TH_DIM, "  Ctrl-C interrupts · d detaches");
        return;
    }
    x += draw_text(win, y, x, end - x, TH_WARN, "● stopped: ");
    const struct dbg_state *c = &g->cur;
    if (strcmp(c->reason, "breakpoint") == 0)
        snprintf(buf, sizeof buf, "breakpoint at %s", c->where);
    else if (strcmp(c->reason, "step") == 0)
        snprintf(buf, sizeof buf, "step to %s", c->where);
    else if (strcmp(c->reason, "signal") == 0 && c->seq == 0)
        snprintf(buf, sizeof buf, "attached at %s", c->where);
    else if (strcmp(c->reason, "signal") == 0)
        snprintf(buf, sizeof buf, "signal SIG%s at %s", gdb_signal_name(c->signal), c->where);
    else
        snprintf(buf, sizeof buf, "%s", c->where[0] ? c->where : "attached");
    x += draw_text(win, y, x, end - x, TH_VALUE, buf);
    if (g->busy)
        snprintf(buf, sizeof buf, "   %s...", g->busy_what);
    else if (g->last_ms > 0)
        snprintf(buf, sizeof buf, "   (%.0f ms)", g->last_ms);
    else
        buf[0] = '\0';
    draw_text(win, y, x, end - x, TH_DIM, buf);
}

static void draw_bps_line(struct dbg *g, WINDOW *win, int y)
{
    struct rect b = g->body;
    int x = b.x + 1, end = b.x + b.w;
    draw_fill(win, y, b.x, b.w, TH_NORMAL);
    x += draw_text(win, y, x, end - x, TH_LABEL, "breakpoints ");
    if (g->phase == PH_ENDED) {
        draw_text(win, y, x, end - x, TH_DIM,
                  "none (the session is over: its state is shown "
                  "as it was last)");
        return;
    }
    if (g->cur.n_bps == 0) {
        draw_text(win, y, x, end - x, TH_DIM, "none (b sets one)");
        return;
    }
    for (int i = 0; i < g->cur.n_bps && x < end; i++) {
        char buf[200];
        snprintf(buf, sizeof buf, "%s%s", i ? " · " : "", g->cur.bps[i].where);
        x += draw_text(win, y, x, end - x, TH_CODE_BREAK, buf);
        snprintf(buf, sizeof buf, " 0x%08" PRIx64, g->cur.bps[i].addr);
        x += draw_text(win, y, x, end - x, TH_DIM, buf);
    }
}

static void draw_regs(struct dbg *g, WINDOW *win, int y0, int rows, int *width)
{
    struct rect b = g->body;
    int cols = rows > 0 ? (N_REGS + rows - 1) / rows : 1;
    *width = cols * 15;
    if (!g->cur.regs_ok) {
        draw_text(win, y0, b.x + 1, *width, TH_DIM,
                  g->cur.running       ? "(running)"
                  : g->cur.regs_err[0] ? "(no registers)"
                                       : "");
        return;
    }
    for (int i = 0; i < N_REGS; i++) {
        int col = i / rows, row = i % rows;
        int x = b.x + 1 + col * 15;
        draw_text(win, y0 + row, x, 5, TH_LABEL, REG_NAMES[i]);
        char v[16];
        snprintf(v, sizeof v, "%08" PRIx32, g->cur.regs[i]);
        bool changed = g->have_prev && g->prev_regs[i] != g->cur.regs[i];
        draw_text(win, y0 + row, x + 5, 9, changed ? TH_CHANGED : TH_VALUE, v);
    }
}

static void draw_code(struct dbg *g, WINDOW *win, int y0, int rows, int x0)
{
    struct rect b = g->body;
    int end = b.x + b.w;
    const struct dbg_state *c = &g->cur;
    g->code_r = (struct rect){y0, x0, rows, end - x0};
    if (c->n_dis == 0) {
        draw_text(win, y0, x0, end - x0, TH_DIM, c->running ? "" : "(no code to show)");
        return;
    }
    int pc = 0;
    for (int i = 0; i < c->n_dis; i++)
        if (c->dis[i].pc)
            pc = i;
    /* pc a third of the way down. */
    int first = pc - rows / 3;
    if (first > c->n_dis - rows)
        first = c->n_dis - rows;
    if (first < 0)
        first = 0;
    g->code_first = first;
    int ww = 0;
    for (int i = first; i < c->n_dis && i < first + rows; i++) {
        int w = draw_text_width(c->dis[i].where);
        ww = w > ww ? w : ww;
    }
    /* Names take at most a third of a narrow pane, 32 columns of a wide one. */
    int wmax = (end - x0 - 11) / 3 < 32 ? (end - x0 - 11) / 3 : 32;
    if (ww > wmax)
        ww = wmax > 8 ? wmax : 8;
    for (int r = 0; r < rows && first + r < c->n_dis; r++) {
        const struct dis_line *d = &c->dis[first + r];
        int y = y0 + r, x = x0;
        enum th_element base = d->pc ? TH_CODE_PC : TH_NORMAL;
        draw_fill(win, y, x0, end - x0, base);
        draw_text(win, y, x, 2, d->bp ? TH_CODE_BREAK : base, d->bp ? "●" : d->pc ? "▶" : " ");
        x += 2;
        char addr[24];
        snprintf(addr, sizeof addr, "%08" PRIx64 " ", d->addr);
        x += draw_text(win, y, x, end - x, d->pc ? base : TH_DIM, addr);
        draw_text(win, y, x, ww < end - x ? ww : end - x, d->pc ? base : TH_CODE_SYMBOL, d->where);
        x += ww + 2;
        if (x < end)
            draw_text(win, y, x, end - x, d->pc ? base : TH_VALUE, d->text);
    }
}

void dbg_draw(struct app *a, WINDOW *win)
{
    struct dbg *g = D(a);
    if (g == NULL || g->body.h <= 0)
        return;
    struct rect b = g->body;
    for (int y = b.y; y < b.y + b.h; y++)
        draw_fill(win, y, b.x, b.w, TH_NORMAL);
    draw_state_line(g, win, b.y);
    if (b.h < 2)
        return;
    draw_bps_line(g, win, b.y + 1);
    int t = code_rows(b);
    if (t <= 0 || !g->got_state) {
        if (g->notes[0] && b.h > 3)
            draw_text(win, b.y + 3, b.x + 1, b.w - 1, TH_DIM, g->notes);
        return;
    }
    int rw = 0;
    draw_regs(g, win, b.y + 2, t, &rw);
    draw_code(g, win, b.y + 2, t, b.x + 1 + rw + 1);
    int my = b.y + 2 + t;
    if (g->hv->base.r.h > 0 && my < b.y + b.h) {
        char buf[256];
        int x = b.x + 1;
        if (strcmp(g->view, "sp") == 0)
            snprintf(buf, sizeof buf, "memory at sp 0x%08" PRIx64 " ", g->cur.sp);
        else
            snprintf(buf, sizeof buf, "memory at %s (0x%08" PRIx64 ") ", g->view, g->cur.mem_addr);
        x += draw_text(win, my, x, b.x + b.w - x, TH_SECTION, buf);
        draw_text(win, my, x, b.x + b.w - x, TH_DIM,
                  " g: go to an address or symbol · f: follow sp · wheel/PgUp/PgDn scroll");
        widget_draw(&g->hv->base, win);
    }
}

/* ---- commands ---- */

static bool live(struct dbg *g)
{
    if (g == NULL) {
        return false;
    }
    if (g->phase == PH_ENDED) {
        app_message(g->a, true, "the session is over: %s (a in the process table attaches again)",
                    g->end_msg);
        return false;
    }
    if (g->phase == PH_ATTACHING || g->job == NULL) {
        app_message(g->a, true, "still attaching...");
        return false;
    }
    return true;
}

/* One command line to the session; what: shown while its answer is awaited. */
static void send_cmd(struct dbg *g, const char *what, const char *line)
{
    if (job_send(g->job, "%s", line) < 0) {
        app_message(g->a, true, "the debugger session does not take commands");
        return;
    }
    if (what) {
        g->busy = true;
        snprintf(g->busy_what, sizeof g->busy_what, "%s", what);
        g->sent_ms = ib_now_ms();
    }
    app_dirty(g->a);
}

static void request_view(struct dbg *g)
{
    if (g->view_len == 0)
        g->view_len = 256;
    char line[200];
    snprintf(line, sizeof line, "view %s %zu", g->view, g->view_len);
    if (g->cur.running)
        app_message(g->a, false, "memory at %s is read at the next stop", g->view);
    else
        send_cmd(g, "reading memory", line);
}

void dbg_action(struct app *a, enum action act)
{
    struct dbg *g = D(a);
    if (act == ACT_BACK) {
        if (g)
            procs_show(a, g->inst);
        app_set_view(a, VIEW_PROCS);
        return;
    }
    if (!live(g))
        return;
    char def[160];
    switch (act) {
    case ACT_DBG_STEP:
        if (g->cur.running)
            app_message(a, true, "the process runs: Ctrl-C stops it first");
        else if (!g->busy)
            send_cmd(g, "stepping", "step");
        break;
    case ACT_DBG_CONT:
        if (g->cur.running)
            app_message(a, false, "already running (Ctrl-C interrupts)");
        else {
            send_cmd(g, "continuing", "cont");
            g->sent_ms = 0;
            g->last_ms = 0;
        }
        break;
    case ACT_DBG_INT:
        if (g->cur.running)
            send_cmd(g, "interrupting", "int");
        else
            app_message(a, false, "the process is stopped already");
        break;
    case ACT_DBG_BREAK:
        app_prompt(a, PROMPT_BREAK, "", "Break at (symbol, symbol+off or address): ", "");
        break;
    case ACT_DBG_UNBREAK:
        if (g->cur.n_bps == 0) {
            app_message(a, true, "no breakpoint to clear");
            break;
        }
        snprintf(def, sizeof def, "%s", g->cur.n_bps == 1 ? g->cur.bps[0].where : "*");
        app_prompt(a, PROMPT_UNBREAK, "", "Clear breakpoint (symbol, address, * for all): ", def);
        break;
    case ACT_DBG_GOTO:
        app_prompt(a, PROMPT_GOTO, "",
                   "Memory at (address, symbol, or sp to follow sp): ", g->view);
        break;
    case ACT_DBG_FOLLOW_SP:
        snprintf(g->view, sizeof g->view, "sp");
        request_view(g);
        break;
    case ACT_DBG_DETACH:
        send_cmd(g, "detaching", "detach");
        break;
    default:
        break;
    }
}

void dbg_prompt_done(struct app *a, enum prompt_kind k, const char *text)
{
    struct dbg *g = D(a);
    if (!live(g))
        return;
    while (*text == ' ')
        text++;
    if (*text == '\0')
        return;
    if (strchr(text, ' ') && k != PROMPT_GOTO) {
        app_message(a, true, "one location please: a symbol, symbol+off or an address");
        return;
    }
    char line[300];
    if (k == PROMPT_BREAK) {
        snprintf(line, sizeof line, "break %.200s", text);
        send_cmd(g, "setting a breakpoint", line);
    } else if (k == PROMPT_UNBREAK) {
        snprintf(line, sizeof line, "unbreak %.200s", text);
        send_cmd(g, "clearing", line);
    } else if (k == PROMPT_GOTO) {
        snprintf(g->view, sizeof g->view, "%.*s", (int)strcspn(text, " "), text);
        request_view(g);
    }
}

int dbg_key(struct app *a, int key)
{
    struct dbg *g = D(a);
    if (g == NULL)
        return WR_IGNORED;
    int r = widget_key(&g->hv->base, key);
    if (r == HV_SCROLL && live(g)) {
        snprintf(g->view, sizeof g->view, "0x%" PRIx64, g->hv->want);
        request_view(g);
    }
    return r;
}

int dbg_mouse(struct app *a, const struct wmouse *ev)
{
    struct dbg *g = D(a);
    if (g == NULL)
        return WR_IGNORED;
    struct rect b = g->body;
    int y = ev->y + b.y, x = ev->x + b.x;
    struct rect m = g->hv->base.r;
    if (rect_contains(m, y, x) || (ev->kind != WM_PRESS && ev->kind != WM_DOUBLE && y >= m.y)) {
        struct wmouse rel = *ev;
        rel.y = y - m.y, rel.x = x - m.x;
        int r = widget_mouse(&g->hv->base, &rel);
        if (r == HV_SCROLL && live(g)) {
            snprintf(g->view, sizeof g->view, "0x%" PRIx64, g->hv->want);
            request_view(g);
        }
        return WR_HANDLED;
    }
    /* A double click on an instruction sets or clears a breakpoint there. */
    if (ev->kind == WM_DOUBLE && rect_contains(g->code_r, y, x) && g->code_first >= 0) {
        int i = g->code_first + (y - g->code_r.y);
        if (i < g->cur.n_dis && live(g)) {
            char line[64];
            snprintf(line, sizeof line, "%s 0x%" PRIx64, g->cur.dis[i].bp ? "unbreak" : "break",
                     g->cur.dis[i].addr);
            send_cmd(g, g->cur.dis[i].bp ? "clearing" : "setting a breakpoint", line);
        }
    }
    return WR_HANDLED;
}
