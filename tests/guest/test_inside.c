/* test_inside.c - inside a real demo guest: processes (ps, exec, kill,
 * maps, sockets), the debugger on demod through gdbserver (breakpoint by
 * name, registers, memory against the ELF file, step, continue, detach),
 * QEMU's gdbstub, the one-shot CLI, the C API and the example program.
 *
 * One instance, "inside", is booted once (with --gdbstub) and shared; it is
 * stopped when the binary ends. Tests that disturb demod (kill, debug)
 * leave it answering again: ensure_demod() restarts it when needed - by
 * exec'ing /usr/bin/demod in the device chroot, since target-start runs
 * the device's init script only once per boot. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "core/debugger.h"
#include "core/guestproc.h"
#include "core/iotbench.h"
#include "core/qmp.h"
#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/guest.h"
#include "tests/lib/harness.h"

#define NAME "inside"

static int offset = -1;

static const char *home(void)
{
    const char *h = guest_home();
    if (offset < 0) {
        offset = guest_free_offset();
        char *err = NULL;
        if (guest_start(h, "demo", NAME, offset, "--gdbstub", &err) != 0) {
            fprintf(stderr, "cannot boot the shared instance: %s\n", err);
            exit(1);
        }
        free(err);
        struct cmd_result r;
        ib_run(&r, h, "instance", "wait", NAME, "--for", "agent", "--timeout", "90", NULL);
        if (r.status == 0) {
            cmd_result_free(&r);
            ib_run(&r, h, "instance", "target-start", NAME, NULL);
        }
        if (r.status != 0) {
            fprintf(stderr, "the shared instance did not come up: %s\n", r.err);
            exit(1);
        }
        cmd_result_free(&r);
    }
    return h;
}

static int http_port(void)
{
    return 8080 + offset;
}

static bool demod_answers(int timeout_ms)
{
    return guest_demod_answers(http_port(), timeout_ms);
}

/* demod answering; restarted in the device if a test killed it. */
static bool ensure_demod(void)
{
    const char *h = home();
    if (demod_answers(3000))
        return true;
    struct cmd_result r;
    ib_run(&r, h, "instance", "exec", NAME, "--target", "--", "/bin/sh", "-c",
           "setsid /usr/bin/demod </dev/null >/dev/null 2>&1 &", NULL);
    cmd_result_free(&r);
    return demod_answers(20000);
}

static void open_instance(struct store *st, struct instance_info *info)
{
    struct ib_error err = {0};
    if (store_open(st, home(), &err) < 0 || instance_get(st, NAME, info, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

static int demod_pid(const struct instance_info *info)
{
    struct guestproc_snapshot s;
    int pid = -1;
    if (guestproc_list_sync(info->qga_sock, 10000, &s, NULL) == 0) {
        if (guestproc_find_one(&s, "demod", &pid, NULL) < 0)
            pid = -1;
        guestproc_snapshot_free(&s);
    }
    return pid;
}

static json_t *run_json(struct cmd_result *r)
{
    json_error_t je;
    return r->out ? json_loads(r->out, 0, &je) : NULL;
}

/* ---- processes ---- */

TEST(ps_shows_demod_in_the_device_and_the_agent_in_the_host)
{
    test_set_timeout(240);
    CHECK(ensure_demod());
    struct cmd_result r;
    ib_run(&r, home(), "instance", "ps", NAME, "--json", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    json_t *arr = run_json(&r);
    CHECK(json_is_array(arr));
    bool demod = false, agent = false, kthread = false;
    size_t i;
    json_t *p;
    json_array_foreach(arr, i, p)
    {
        const char *comm = json_string_value(json_object_get(p, "comm"));
        const char *where = json_string_value(json_object_get(p, "where"));
        if (strcmp(comm, "demod") == 0) {
            demod = strcmp(where, "device") == 0;
            CHECK_STR(json_string_value(json_object_get(p, "cmdline")), "/usr/bin/demod");
            CHECK_STR(json_string_value(json_object_get(p, "user")), "root");
            CHECK(json_integer_value(json_object_get(p, "rss_kb")) > 0);
        }
        if (strcmp(comm, "qemu-ga") == 0)
            agent = strcmp(where, "host") == 0;
        if (json_is_true(json_object_get(p, "kthread")))
            kthread = true;
    }
    json_decref(arr);
    CHECK(demod);
    CHECK(agent);
    CHECK(kthread);
    cmd_result_free(&r);
    /* The table too, and our own listing script is not in it. */
    ib_run(&r, home(), "instance", "ps", NAME, "--no-kernel", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "device  /usr/bin/demod");
    CHECK_NOT_CONTAINS(r.out, "grep -H");
    CHECK_NOT_CONTAINS(r.out, "[kthreadd]");
    cmd_result_free(&r);
}

TEST(refreshes_give_cpu_since_the_last_one)
{
    struct store st;
    struct instance_info info;
    open_instance(&st, &info);
    struct guestproc_lister *ls = guestproc_lister_new();
    struct guestproc_snapshot a, b;
    struct ib_error err = {0};
    CHECK_MSG(guestproc_refresh_sync(ls, info.qga_sock, 10000, &a, &err) == 0, "%s", err.msg);
    CHECK(a.cpu_is_average);
    CHECK_MSG(guestproc_refresh_sync(ls, info.qga_sock, 10000, &b, &err) == 0, "%s", err.msg);
    CHECK(!b.cpu_is_average);
    CHECK(b.uptime > a.uptime);
    CHECK(b.n > 10);
    /* Serving the listings took CPU in the guest (the agent, the kernel). */
    double total = 0;
    for (size_t i = 0; i < b.n; i++)
        total += b.procs[i].cpu;
    CHECK_MSG(total > 0.0 && total <= 110.0, "total cpu %f", total);
    guestproc_snapshot_free(&a);
    guestproc_snapshot_free(&b);
    guestproc_lister_free(ls);
    instance_info_free(&info);
    store_close(&st);
}

TEST(exec_in_host_and_device_with_exit_codes_and_stderr)
{
    const char *h = home();
    struct cmd_result r;
    ib_run(&r, h, "instance", "exec", NAME, "--", "sh", "-c", "echo out; echo err >&2; exit 3",
           NULL);
    CHECK_INT(r.status, 3);
    CHECK_STR(r.out, "out\n");
    CHECK_STR(r.err, "err\n");
    cmd_result_free(&r);
    /* Inside the device: its own /etc/hostname ("demo"), not the host system's. */
    char *dev = xasprintf("%s/devices/demo/rootfs/etc/hostname", h);
    char *want = test_read_file(dev);
    ib_run(&r, h, "instance", "exec", NAME, "--target", "--", "cat", "/etc/hostname", NULL);
    CHECK_INT(r.status, 0);
    CHECK_STR(r.out, want);
    cmd_result_free(&r);
    ib_run(&r, h, "instance", "exec", NAME, "--", "test", "-d", "/target/usr", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    ib_run(&r, h, "instance", "exec", NAME, "--target", "--", "test", "-d", "/target/usr", NULL);
    CHECK_INT(r.status, 1); /* inside the chroot there is no /target */
    cmd_result_free(&r);
    free(dev);
    free(want);
    ib_run(&r, h, "instance", "exec", NAME, "--target", "--", "no-such-program", NULL);
    CHECK_INT(r.status, 127);
    CHECK_CONTAINS(r.err, "no-such-program");
    cmd_result_free(&r);
    /* Standard input, and a timeout that kills the command in the guest. */
    ib_run_input(&r, h, "line one\nline two\n", "instance", "exec", NAME, "--stdin-file", "-", "--",
                 "wc", "-l", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "2");
    cmd_result_free(&r);
    int64_t t0 = ib_now_ms();
    ib_run(&r, h, "instance", "exec", NAME, "--timeout", "1", "--", "sleep", "30", NULL);
    CHECK_INT(r.status, 124);
    CHECK(ib_now_ms() - t0 < 10000);
    CHECK_CONTAINS(r.err, "killed in the guest");
    cmd_result_free(&r);
    ib_run(&r, h, "instance", "exec", NAME, "--", "sh", "-c", "pidof sleep || echo none", NULL);
    CHECK_CONTAINS(r.out, "none");
    cmd_result_free(&r);
    /* Binary output comes back byte for byte. */
    ib_run(&r, h, "instance", "exec", NAME, "--", "printf", "a\\001\\033[2Jb", NULL);
    CHECK_STR(r.out, "a\001\033[2Jb");
    cmd_result_free(&r);
}

TEST(kill_removes_the_process)
{
    test_set_timeout(120);
    CHECK(ensure_demod());
    struct store st;
    struct instance_info info;
    open_instance(&st, &info);
    int pid = demod_pid(&info);
    CHECK(pid > 0);
    char spid[16];
    snprintf(spid, sizeof spid, "%d", pid);
    struct cmd_result r;
    ib_run(&r, home(), "instance", "kill", NAME, spid, "-s", "KILL", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "sent SIGKILL");
    cmd_result_free(&r);
    bool gone = false;
    for (int i = 0; i < 25 && !gone; i++) {
        struct guestproc_snapshot s;
        if (guestproc_list_sync(info.qga_sock, 10000, &s, NULL) == 0) {
            gone = guestproc_snapshot_get(&s, pid) == NULL;
            guestproc_snapshot_free(&s);
        }
        if (!gone)
            ib_sleep_ms(200);
    }
    CHECK(gone);
    /* A second kill names the problem. */
    ib_run(&r, home(), "instance", "kill", NAME, spid, NULL);
    CHECK_INT(r.status, 3);
    CHECK_CONTAINS(r.err, "No such process");
    cmd_result_free(&r);
    ib_run(&r, home(), "instance", "kill", NAME, spid, "-s", "NOPE", NULL);
    CHECK_INT(r.status, 2);
    cmd_result_free(&r);
    CHECK(ensure_demod());
    CHECK(demod_pid(&info) != pid);
    instance_info_free(&info);
    store_close(&st);
}

TEST(maps_and_sockets_of_demod)
{
    CHECK(ensure_demod());
    struct cmd_result r;
    ib_run(&r, home(), "instance", "maps", NAME, "demod", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "(device), executable /usr/bin/demod");
    CHECK_CONTAINS(r.out, "r-xp 00000000");
    CHECK_CONTAINS(r.out, "[stack]");
    cmd_result_free(&r);
    ib_run(&r, home(), "instance", "sockets", NAME, "demod", "--json", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    json_t *o = run_json(&r);
    json_t *socks = json_object_get(o, "sockets");
    bool listening = false;
    size_t i;
    json_t *s;
    json_array_foreach(socks, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "proto")), "tcp") == 0 &&
            json_integer_value(json_object_get(s, "local_port")) == 80 &&
            strcmp(json_string_value(json_object_get(s, "state")), "LISTEN") == 0)
            listening = true;
    }
    json_decref(o);
    CHECK(listening);
    cmd_result_free(&r);
    ib_run(&r, home(), "instance", "sockets", NAME, "demod", NULL);
    CHECK_CONTAINS(r.out, "0.0.0.0:80");
    CHECK_CONTAINS(r.out, "LISTEN");
    cmd_result_free(&r);
    ib_run(&r, home(), "instance", "maps", NAME, "4000000", NULL);
    CHECK_INT(r.status, 3);
    cmd_result_free(&r);
}

/* ---- the debugger ---- */


/* Bytes of the ELF file at a virtual address, read with nothing but the
 * program headers (independent of core/symbols). */
static bool elf_bytes(const char *path, uint32_t vaddr, uint8_t *out, size_t len)
{
    char *data = NULL;
    size_t size = 0;
    if (ib_read_file(path, 64 << 20, &data, &size, NULL) < 0 || size < 52)
        return false;
    uint32_t phoff, n;
    uint16_t phnum, phentsize;
    memcpy(&phoff, data + 28, 4);
    memcpy(&phentsize, data + 42, 2);
    memcpy(&phnum, data + 44, 2);
    bool ok = false;
    for (n = 0; n < phnum && !ok; n++) {
        const char *ph = data + phoff + n * phentsize;
        uint32_t type, off, va, filesz;
        memcpy(&type, ph, 4);
        memcpy(&off, ph + 4, 4);
        memcpy(&va, ph + 8, 4);
        memcpy(&filesz, ph + 16, 4);
        if (type == 1 && vaddr >= va && vaddr + len <= va + filesz && off + filesz <= size) {
            memcpy(out, data + off + (vaddr - va), len);
            ok = true;
        }
    }
    free(data);
    return ok;
}

TEST(debugger_breaks_on_handle_request_and_lets_go)
{
    test_set_timeout(180);
    CHECK(ensure_demod());
    struct store st;
    struct instance_info info;
    open_instance(&st, &info);
    int pid = demod_pid(&info);
    CHECK(pid > 0);
    struct debugger *d = NULL;
    struct ib_error err = {0};
    int64_t t0 = ib_now_ms();
    CHECK_MSG(debugger_attach(&st, &info, pid, NULL, &d, &err) == 0, "%s", err.msg);
    fprintf(stdout, "  attached in %lld ms\n", (long long)(ib_now_ms() - t0));
    struct symbol sym;
    CHECK(symbols_lookup(debugger_symbols(d), "handle_request", &sym) == 0);
    struct debugger_bp bp;
    CHECK_MSG(debugger_break(d, "handle_request", &bp, &err) == 0, "%s", err.msg);
    CHECK(bp.addr == sym.addr);
    CHECK(!bp.thumb);
    const struct debugger_bp *list;
    CHECK_INT(debugger_breakpoints(d, &list), 1);
    CHECK(debugger_cont(d, &err) == 0);
    CHECK(debugger_running(d));
    pid_t child = guest_http_get_in_child(http_port());
    struct debugger_stop stop;
    CHECK_MSG(debugger_wait(d, 60000, &stop, &err) == 0, "%s", err.msg);
    CHECK_INT(stop.reason, DEBUGGER_STOP_BREAKPOINT);
    CHECK(stop.have_pc && stop.pc == sym.addr);
    CHECK_STR(stop.where, "handle_request");
    struct rsp_arm_regs regs;
    CHECK(debugger_regs(d, &regs, &err) == 0);
    CHECK(regs.r[15] == sym.addr);
    CHECK((regs.cpsr & 0x20) == 0);    /* ARM state */
    CHECK((regs.cpsr & 0x1f) == 0x10); /* user mode */
    CHECK(regs.r[13] != 0);
    /* handle_request(fd, request, len): r1 is the request the child sent. */
    char req[15] = {0};
    size_t got = 0;
    CHECK(debugger_mem_read(d, regs.r[1], req, 14, &got, &err) == 0 && got == 14);
    CHECK_STR(req, "GET / HTTP/1.0");
    /* The code at pc is the ELF file's, byte for byte. */
    uint8_t mem[32], file[32];
    CHECK(debugger_mem_read(d, regs.r[15], mem, sizeof mem, &got, &err) == 0);
    CHECK_INT(got, sizeof mem);
    char *elf = xasprintf("%s/devices/demo/rootfs/usr/bin/demod", home());
    CHECK(elf_bytes(elf, (uint32_t)regs.r[15], file, sizeof file));
    free(elf);
    CHECK(memcmp(mem, file, sizeof mem) == 0);
    uint8_t via_symbols[32];
    CHECK_INT(symbols_read(debugger_symbols(d), regs.r[15], via_symbols, 32), 32);
    CHECK(memcmp(via_symbols, file, sizeof file) == 0);
    uint64_t r0;
    CHECK(debugger_reg_read(d, "r0", &r0, &err) == 0);
    CHECK(r0 == regs.r[0]);
    /* A step moves pc (over our own breakpoint). */
    CHECK_MSG(debugger_step(d, &stop, &err) == 0, "%s", err.msg);
    CHECK_INT(stop.reason, DEBUGGER_STOP_STEP);
    CHECK(stop.pc == sym.addr + 4);
    CHECK_STR(stop.where, "handle_request+0x4");
    struct disasm_insn insn[8];
    size_t at = 0;
    size_t n = debugger_disasm(d, 0, 2, 3, insn, 8, &at, &err);
    CHECK(n >= 3 && insn[at].addr == sym.addr + 4);
    /* Writing a register is seen by the next read (then put back). */
    uint64_t r12;
    CHECK(debugger_reg_read(d, "r12", &r12, &err) == 0);
    CHECK(debugger_reg_write(d, "ip", 0x12345678, &err) == 0);
    uint64_t back;
    CHECK(debugger_reg_read(d, "r12", &back, &err) == 0 && back == 0x12345678);
    CHECK(debugger_reg_write(d, "r12", r12, &err) == 0);
    /* Continue with the breakpoint still set: the next request stops again. */
    CHECK(debugger_cont(d, &err) == 0);
    CHECK(guest_child_ok(child, 30000));
    pid_t child2 = guest_http_get_in_child(http_port());
    CHECK_MSG(debugger_wait(d, 60000, &stop, &err) == 0, "%s", err.msg);
    CHECK_INT(stop.reason, DEBUGGER_STOP_BREAKPOINT);
    CHECK(debugger_unbreak(d, "handle_request", &err) == 0);
    CHECK(debugger_cont(d, &err) == 0);
    CHECK(guest_child_ok(child2, 30000));
    /* Detach while it runs: interrupted, detached, forward removed. */
    CHECK_MSG(debugger_detach(d, &err) == 0, "%s", err.msg);
    CHECK(demod_answers(10000));
    CHECK(demod_pid(&info) == pid);
    char *usernet = NULL;
    CHECK(qmp_hmp_call(info.qmp_sock, "info usernet", 3000, &usernet, &err) == 0);
    CHECK_CONTAINS(usernet, "HOST_FORWARD");
    /* Only the device's own forward is left. */
    const char *first = strstr(usernet, "HOST_FORWARD");
    CHECK(strstr(first + 1, "HOST_FORWARD") == NULL);
    free(usernet);
    struct cmd_result r;
    ib_run(&r, home(), "instance", "exec", NAME, "--", "sh", "-c", "pidof gdbserver || echo none",
           NULL);
    CHECK_CONTAINS(r.out, "none");
    cmd_result_free(&r);
    instance_info_free(&info);
    store_close(&st);
}

/* demod restarted as init.sh starts it: with & from a non-interactive
 * shell, so it leads no process group and gdbserver's interrupt (0x03)
 * cannot reach it. Returns its pid, or -1. */
static int demod_restart_plain(const struct instance_info *info)
{
    struct cmd_result r;
    ib_run(&r, home(), "instance", "exec", NAME, "--target", "--", "/bin/sh", "-c",
           "kill $(pidof demod) 2>/dev/null; sleep 1; "
           "/usr/bin/demod </dev/null >/dev/null 2>&1 &", NULL);
    cmd_result_free(&r);
    if (!demod_answers(20000))
        return -1;
    return demod_pid(info);
}

/* The 4 bytes of process pid's memory at addr, read through /proc in the
 * guest (gdbserver would hide its own breakpoints), as "%02x" pairs. */
static char *proc_mem_hex(int pid, uint64_t addr)
{
    char *cmd = xasprintf("dd if=/proc/%d/mem bs=4 skip=%llu count=1 2>/dev/null | "
                          "od -An -tx1 | tr -d ' \\n'",
                          pid, (unsigned long long)(addr / 4));
    int status = -1;
    char *out = guest_sh(home(), NAME, cmd, &status);
    free(cmd);
    if (status != 0) {
        free(out);
        return NULL;
    }
    return out;
}

TEST(step_into_a_blocking_call_then_detach_while_running_a_plain_background_service)
{
    test_set_timeout(240);
    CHECK(ensure_demod());
    struct store st;
    struct instance_info info;
    open_instance(&st, &info);
    int pid = demod_restart_plain(&info);
    CHECK(pid > 0);
    struct debugger *d = NULL;
    struct ib_error err = {0};
    struct debugger_opts o = {.op_timeout_ms = 2000};
    CHECK_MSG(debugger_attach(&st, &info, pid, &o, &d, &err) == 0, "%s", err.msg);
    struct symbol sym;
    CHECK(symbols_lookup(debugger_symbols(d), "handle_request", &sym) == 0);
    struct debugger_bp bp;
    CHECK_MSG(debugger_break(d, "handle_request", &bp, &err) == 0, "%s", err.msg);
    /* Attached while demod waits in accept(): a step re-enters the call
     * and does not end. The session must know the process runs on. */
    struct debugger_stop stop;
    struct debugger_stop first;
    CHECK(debugger_last_stop(d, &first));
    fprintf(stdout, "  attached at 0x%08llx %s\n", (unsigned long long)first.pc, first.where);
    CHECK_MSG(debugger_step(d, &stop, &err) < 0, "the step ended at %s", stop.where);
    CHECK_INT(err.status, IB_ETIMEOUT);
    CHECK(debugger_running(d));
    /* ... so an interrupt stops it (through the agent's SIGINT here). */
    CHECK(debugger_interrupt(d, &err) == 0);
    CHECK_MSG(debugger_wait(d, 10000, &stop, &err) == 0, "%s", err.msg);
    CHECK(!debugger_running(d));
    /* The breakpoint is back: a request stops there. */
    CHECK(debugger_cont(d, &err) == 0);
    pid_t child = guest_http_get_in_child(http_port());
    CHECK_MSG(debugger_wait(d, 60000, &stop, &err) == 0, "%s", err.msg);
    CHECK_INT(stop.reason, DEBUGGER_STOP_BREAKPOINT);
    CHECK(stop.pc == sym.addr);
    /* Detach while it runs, with the breakpoint set: the interrupt needs
     * the fallback, then the breakpoint comes out and D is sent. */
    CHECK(debugger_cont(d, &err) == 0);
    CHECK(guest_child_ok(child, 30000));
    CHECK(debugger_running(d));
    CHECK_MSG(debugger_detach(d, &err) == 0, "%s", err.msg);
    CHECK(demod_answers(10000));
    CHECK(demod_answers(10000)); /* a breakpoint left in would have killed it */
    CHECK(demod_pid(&info) == pid);
    uint8_t file[4];
    char *elf = xasprintf("%s/devices/demo/rootfs/usr/bin/demod", home());
    CHECK(elf_bytes(elf, (uint32_t)sym.addr, file, sizeof file));
    free(elf);
    char want[9];
    snprintf(want, sizeof want, "%02x%02x%02x%02x", file[0], file[1], file[2], file[3]);
    char *mem = proc_mem_hex(pid, sym.addr);
    CHECK(mem != NULL);
    CHECK_STR(mem, want);
    free(mem);
    struct cmd_result r;
    ib_run(&r, home(), "instance", "exec", NAME, "--", "sh", "-c", "pidof gdbserver || echo none",
           NULL);
    CHECK_CONTAINS(r.out, "none");
    cmd_result_free(&r);
    instance_info_free(&info);
    store_close(&st);
}

TEST(attach_failures_say_why_and_leave_nothing_behind)
{
    struct store st;
    struct instance_info info;
    open_instance(&st, &info);
    struct debugger *d = NULL;
    struct ib_error err = {0};
    CHECK(debugger_attach(&st, &info, 3999999, NULL, &d, &err) < 0);
    CHECK_CONTAINS(err.msg, "gdbserver");
    CHECK_CONTAINS(err.msg, "3999999");
    char *usernet = NULL;
    CHECK(qmp_hmp_call(info.qmp_sock, "info usernet", 3000, &usernet, &err) == 0);
    const char *first = strstr(usernet, "HOST_FORWARD");
    CHECK(first != NULL && strstr(first + 1, "HOST_FORWARD") == NULL);
    free(usernet);
    /* The gdbstub of an instance started without one is refused clearly. */
    struct instance_info fake = info;
    fake.gdbstub_port = 0;
    CHECK(debugger_attach_system(&fake, NULL, &d, &err) < 0);
    CHECK_CONTAINS(err.msg, "--gdbstub");
    instance_info_free(&info);
    store_close(&st);
    struct cmd_result r;
    ib_run(&r, home(), "instance", "debug", NAME, "no-such-process", NULL);
    CHECK_INT(r.status, 3);
    CHECK_CONTAINS(r.err, "no process named");
    cmd_result_free(&r);
    /* Stopping the agent would cut every later request off: refused. */
    ib_run(&r, home(), "instance", "debug", NAME, "qemu-ga", NULL);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.err, "is the guest agent");
    cmd_result_free(&r);
    ib_run(&r, home(), "instance", "ps", NAME, NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
}

TEST(cli_debug_one_shot)
{
    test_set_timeout(180);
    CHECK(ensure_demod());
    /* Requests keep coming from a child until the breakpoint catches one. */
    pid_t child = fork();
    if (child == 0) {
        for (int i = 0; i < 120; i++) {
            free(guest_http_get(http_port(), "/", 5000));
            usleep(250000);
        }
        _exit(0);
    }
    struct cmd_result r;
    ib_run(&r, home(), "instance", "debug", NAME, "demod", "--break", "handle_request", "--wait",
           "60", "--regs", "--step", "2", "--mem", "sp", "16", "--disasm", "6", "--json", NULL);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK_MSG(r.status == 0, "%s %s", r.out, r.err);
    json_t *o = run_json(&r);
    CHECK(o != NULL);
    json_t *stop = json_object_get(o, "stop");
    CHECK_STR(json_string_value(json_object_get(stop, "reason")), "breakpoint");
    CHECK_STR(json_string_value(json_object_get(stop, "where")), "handle_request");
    json_t *steps = json_object_get(o, "steps");
    CHECK_INT(json_array_size(steps), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(steps, 1), "where")),
              "handle_request+0x8");
    json_int_t pc = json_integer_value(json_object_get(json_object_get(o, "registers"), "pc"));
    CHECK(pc == json_integer_value(json_object_get(json_array_get(steps, 1), "pc")));
    CHECK_INT(json_integer_value(json_object_get(json_object_get(o, "memory"), "length")), 16);
    json_t *dis = json_object_get(o, "disasm");
    bool has_pc = false;
    size_t i;
    json_t *ins;
    json_array_foreach(dis, i, ins)
    {
        if (json_is_true(json_object_get(ins, "pc")))
            has_pc = json_integer_value(json_object_get(ins, "addr")) == pc;
    }
    CHECK(has_pc);
    CHECK(json_is_true(json_object_get(o, "detached")));
    json_decref(o);
    cmd_result_free(&r);
    CHECK(demod_answers(10000));
    /* The text form. */
    ib_run(&r, home(), "instance", "debug", NAME, "demod", "--regs", "--disasm", "4", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "attached to process");
    CHECK_CONTAINS(r.out, "cpsr");
    CHECK_CONTAINS(r.out, "=>");
    CHECK_CONTAINS(r.out, "detached");
    cmd_result_free(&r);
    /* Waiting for a breakpoint that nothing hits times out cleanly. */
    ib_run(&r, home(), "instance", "debug", NAME, "demod", "--break", "handle_request", "--wait",
           "1", NULL);
    CHECK_INT(r.status, 4);
    CHECK_CONTAINS(r.err, "no stop within 1 s");
    cmd_result_free(&r);
    CHECK(demod_answers(10000));
}

TEST(gdbstub_shows_whole_system_registers)
{
    test_set_timeout(60);
    struct cmd_result r;
    ib_run(&r, home(), "instance", "debug", NAME, "--system", "--regs", "--json", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    json_t *o = run_json(&r);
    json_t *regs = json_object_get(o, "registers");
    json_int_t cpsr = json_integer_value(json_object_get(regs, "cpsr"));
    int mode = (int)(cpsr & 0x1f);
    CHECK_MSG(mode == 0x10 || mode == 0x11 || mode == 0x12 || mode == 0x13 || mode == 0x17 ||
                  mode == 0x1b || mode == 0x1f,
              "cpsr %llx", (long long)cpsr);
    CHECK(json_object_get(regs, "pc") != NULL);
    CHECK(json_is_true(json_object_get(o, "system")));
    CHECK(json_is_true(json_object_get(o, "detached")));
    json_decref(o);
    cmd_result_free(&r);
    /* The VM runs again. */
    CHECK(ensure_demod());
    ib_run(&r, home(), "instance", "debug", NAME, "--system", "--regs", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "whole system");
    CHECK_CONTAINS(r.out, "the VM runs again");
    cmd_result_free(&r);
}

/* ---- the C API and the example ---- */

TEST(c_api_ps_pid_exec)
{
    CHECK(ensure_demod());
    struct ib_error err = {0};
    ib_bench *b = ib_bench_open(home(), &err);
    CHECK(b != NULL);
    ib_instance **list;
    size_t n;
    CHECK(ib_instances(b, &list, &n, &err) == 0);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= strcmp(ib_instance_name(list[i]), NAME) == 0;
    ib_instances_free(list, n);
    CHECK(found);
    ib_instance *in = ib_instance_get(b, NAME, &err);
    CHECK(in != NULL);
    CHECK_INT(ib_instance_host_port(in, 80), http_port());
    struct ib_process *procs;
    CHECK(ib_instance_ps(in, &procs, &n, &err) == 0);
    int pid = ib_instance_pid(in, "demod", &err);
    bool dev = false;
    for (size_t i = 0; i < n; i++)
        if (procs[i].pid == pid)
            dev = procs[i].device && !procs[i].kernel;
    ib_processes_free(procs, n);
    CHECK(pid > 0 && dev);
    const char *argv[] = {"sh", "-c", "cat; exit 5", NULL};
    struct ib_exec_opts o = {.stdin_data = "abc", .stdin_len = 3, .timeout_ms = 10000};
    struct ib_exec_result res;
    CHECK(ib_instance_exec_target(in, argv, &o, &res, &err) == 0);
    CHECK_INT(res.exit_code, 5);
    CHECK_STR(res.out, "abc");
    ib_exec_result_free(&res);
    CHECK(ib_instance_pid(in, "nonexistent", &err) < 0);
    CHECK_INT(err.status, IB_ENOTFOUND);
    ib_instance_free(in);
    ib_bench_close(b);
}

/* The rest of the C API, on the shared demo: exec on the host, kill, and
 * a debugging session (registers, memory, step, interrupt, symbols), then
 * the whole-system view. */
TEST(c_api_exec_host_kill_and_debugger)
{
    test_set_timeout(240);
    CHECK(ensure_demod());
    struct ib_error err = {0};
    ib_bench *b = ib_bench_open(home(), &err);
    CHECK(b != NULL);
    ib_instance *in = ib_instance_get(b, NAME, &err);
    CHECK_MSG(in != NULL, "%s", err.msg);

    /* exec_host runs in the host system (where /target is), not the device. */
    const char *sh[] = {"sh", "-c", "test -d /target && echo host; cat >&2; exit 3", NULL};
    struct ib_exec_opts eo = {.stdin_data = "in", .stdin_len = 2, .timeout_ms = 10000};
    struct ib_exec_result res;
    CHECK_MSG(ib_instance_exec_host(in, sh, &eo, &res, &err) == 0, "%s", err.msg);
    CHECK_INT(res.exit_code, 3);
    CHECK_STR(res.out, "host\n");
    CHECK_STR(res.err, "in");
    ib_exec_result_free(&res);

    /* kill: a sleeper started for it is gone after SIGTERM. */
    const char *start[] = {"sh", "-c", "sleep 300 </dev/null >/dev/null 2>&1 & echo $!", NULL};
    CHECK(ib_instance_exec_host(in, start, NULL, &res, &err) == 0);
    int sleeper = atoi(res.out);
    ib_exec_result_free(&res);
    CHECK(sleeper > 1);
    CHECK_MSG(ib_instance_kill(in, sleeper, SIGTERM, &err) == 0, "%s", err.msg);
    char spid[16];
    snprintf(spid, sizeof spid, "%d", sleeper);
    const char *probe[] = {"kill", "-0", spid, NULL};
    bool gone = false;
    for (int i = 0; i < 40 && !gone; i++) {
        CHECK(ib_instance_exec_host(in, probe, NULL, &res, &err) == 0);
        gone = res.exit_code != 0;
        ib_exec_result_free(&res);
        if (!gone)
            ib_sleep_ms(100);
    }
    CHECK(gone);
    CHECK(ib_instance_kill(in, sleeper, SIGTERM, &err) < 0);
    CHECK_INT(err.status, IB_ENOTFOUND);

    /* The listing knows demod's executable (/proc/PID/exe). */
    int pid = ib_instance_pid(in, "demod", &err);
    CHECK_MSG(pid > 0, "%s", err.msg);
    struct store st;
    struct instance_info info;
    open_instance(&st, &info);
    struct guestproc_snapshot snap;
    CHECK(guestproc_list_sync(info.qga_sock, 10000, &snap, &err) == 0);
    const struct guestproc *gp = guestproc_snapshot_get(&snap, pid);
    CHECK(gp != NULL && gp->exe != NULL);
    CHECK_STR(gp->exe, "/target/usr/bin/demod");
    guestproc_snapshot_free(&snap);
    instance_info_free(&info);
    store_close(&st);

    ib_debugger *d = ib_instance_debug(in, pid, &err);
    CHECK_MSG(d != NULL, "%s", err.msg);
    uint64_t addr = 0, bp = 0;
    CHECK(ib_debugger_lookup(d, "handle_request", &addr, &err) == 0 && addr != 0);
    CHECK(ib_debugger_lookup(d, "no_such_symbol", &bp, &err) < 0);
    CHECK_INT(err.status, IB_ENOTFOUND);
    char where[160];
    ib_debugger_where(d, addr + 8, where, sizeof where);
    CHECK_STR(where, "handle_request+0x8");
    CHECK(ib_debugger_set_breakpoint(d, "handle_request", &bp, &err) == 0);
    CHECK(bp == addr);
    CHECK(ib_debugger_cont(d, &err) == 0);
    pid_t child = guest_http_get_in_child(http_port());
    struct ib_stop stop;
    CHECK_MSG(ib_debugger_wait(d, 60000, &stop, &err) == 0, "%s", err.msg);
    CHECK_INT(stop.reason, IB_STOP_BREAKPOINT);
    CHECK(stop.pc == addr);
    CHECK_STR(stop.where, "handle_request");
    uint64_t pc = 0, sp = 0, r12 = 0, v = 0;
    CHECK(ib_debugger_read_register(d, "pc", &pc, &err) == 0 && pc == addr);
    CHECK(ib_debugger_read_register(d, "sp", &sp, &err) == 0 && sp != 0);
    uint32_t regs[17];
    CHECK(ib_debugger_registers(d, regs, &err) == 0 && regs[15] == addr && regs[13] == sp);
    /* A register written is read back, then put back. */
    CHECK(ib_debugger_read_register(d, "r12", &r12, &err) == 0);
    CHECK(ib_debugger_write_register(d, "r12", 0x5a5aa5a5, &err) == 0);
    CHECK(ib_debugger_read_register(d, "ip", &v, &err) == 0);
    CHECK(v == 0x5a5aa5a5);
    CHECK(ib_debugger_write_register(d, "r12", r12, &err) == 0);
    CHECK(ib_debugger_read_register(d, "r12", &v, &err) == 0 && v == r12);
    /* Memory below sp (unused while stopped): written, read back, restored. */
    uint8_t orig[8], pattern[8] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04}, back[8];
    CHECK(ib_debugger_read_memory(d, sp - 32, orig, sizeof orig, &err) == 0);
    CHECK(ib_debugger_write_memory(d, sp - 32, pattern, sizeof pattern, &err) == 0);
    CHECK(ib_debugger_read_memory(d, sp - 32, back, sizeof back, &err) == 0);
    CHECK(memcmp(back, pattern, sizeof back) == 0);
    CHECK(ib_debugger_write_memory(d, sp - 32, orig, sizeof orig, &err) == 0);
    CHECK(ib_debugger_read_memory(d, sp - 32, back, sizeof back, &err) == 0);
    CHECK(memcmp(back, orig, sizeof back) == 0);
    /* A step moves pc one instruction (over the breakpoint). */
    CHECK_MSG(ib_debugger_step(d, &stop, &err) == 0, "%s", err.msg);
    CHECK_INT(stop.reason, IB_STOP_STEP);
    CHECK(stop.pc == addr + 4);
    CHECK(ib_debugger_read_register(d, "pc", &pc, &err) == 0 && pc == addr + 4);
    /* Let the request go, then interrupt the idle server. */
    CHECK(ib_debugger_clear_breakpoint(d, "handle_request", &err) == 0);
    CHECK(ib_debugger_cont(d, &err) == 0);
    CHECK(guest_child_ok(child, 30000));
    CHECK(ib_debugger_interrupt(d, &err) == 0);
    CHECK_MSG(ib_debugger_wait(d, 10000, &stop, &err) == 0, "%s", err.msg);
    CHECK_INT(stop.reason, IB_STOP_SIGNAL);
    CHECK_INT(stop.signal, 2); /* SIGINT */
    CHECK_MSG(ib_debugger_stop(d, &err) == 0, "%s", err.msg);
    CHECK(demod_answers(10000));
    CHECK(ib_instance_pid(in, "demod", &err) == pid);

    /* The whole VM: paused while attached, running again after. */
    ib_debugger *sys = ib_instance_debug_system(in, &err);
    CHECK_MSG(sys != NULL, "%s", err.msg);
    CHECK(ib_debugger_read_register(sys, "pc", &pc, &err) == 0);
    CHECK(ib_debugger_read_register(sys, "cpsr", &v, &err) == 0 && (v & 0x10) != 0);
    CHECK_MSG(ib_debugger_stop(sys, &err) == 0, "%s", err.msg);
    CHECK(demod_answers(10000));
    /* target-start again: the device's services run once per boot, so
     * demod is the same process after it. */
    CHECK_MSG(ib_instance_start_target(in, &err) == 0, "%s", err.msg);
    CHECK(demod_answers(10000));
    CHECK(ib_instance_pid(in, "demod", &err) == pid);
    ib_instance_free(in);
    ib_bench_close(b);
}

TEST(example_program_builds_and_runs)
{
    test_set_timeout(300);
    char *src = xstrdup(test_src_dir());
    char *mk[] = {"make",
                  "-s",
                  "-C",
                  src,
                  "-f",
                  "Makefile",
                  "-f",
                  "examples/examples.mk",
                  "build/asan/examples/demo_debug",
                  NULL};
    struct cmd_result r;
    cmd_run(mk, NULL, NULL, 300, &r);
    CHECK_MSG(r.status == 0, "build failed: %s%s", r.out, r.err);
    cmd_result_free(&r);
    char *bin = xasprintf("%s/build/asan/examples/demo_debug", src);
    char off[16];
    snprintf(off, sizeof off, "%d", guest_free_offset());
    char *envhome = xasprintf("IOTBENCH_HOME=%s", home());
    char *env[] = {envhome, NULL};
    char *argv[] = {bin, off, NULL};
    cmd_run(argv, env, NULL, 240, &r);
    CHECK_MSG(r.status == 0, "example failed: %s%s", r.out, r.err);
    CHECK_CONTAINS(r.out, "stopped (breakpoint) at pc");
    CHECK_CONTAINS(r.out, "= handle_request");
    CHECK_CONTAINS(r.out, "the request (r1): \"GET / HTTP/1.0\"");
    CHECK_CONTAINS(r.out, "[host] the request was answered");
    CHECK_CONTAINS(r.out, "done");
    cmd_result_free(&r);
    /* It stopped its own instance. */
    ib_run(&r, home(), "instance", "list", NULL);
    CHECK_NOT_CONTAINS(r.out, "demo-debug-");
    cmd_result_free(&r);
    free(src);
    free(bin);
    free(envhome);
}
