/*
 * test_tui_inside.c - the workbench's process table and debugger view with
 * a real demo guest (QEMU, TCG), driven in a pty like a user would: the
 * processes of the running demo with demod marked as a device process, a
 * header click sorting by RSS, `/demod`, a click on its row, kill with
 * confirmation and its row gone, the target restarted; attach to demod:
 * registers and disassembly at pc with a symbol name, a breakpoint on
 * handle_request, a request from the host, the stop with the changed
 * registers highlighted, a step, continue, detach - and demod still
 * answers; maps and sockets with real content; the failures (target killed
 * while attached, gdbserver killed, a hung agent) each in its pane, Ctrl-C
 * on a running target, a snapshot refused and explained, and a warm start
 * next to a cold one with the stale warm state's notice.
 *
 * One guest ("tui_p", target started) is booted once and shared; every
 * instance is stopped when the binary ends; port offsets of their own.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/guest.h"
#include "tests/lib/harness.h"
#include "tests/lib/tdcheck.h"
#include "tests/lib/tuidrive.h"

#define NAME "tui_p"
#define PREFIX "\002"

static int offset = -1;
static char offset_env[64];

static const char *home(void)
{
    const char *h = guest_home();
    if (offset >= 0)
        return h;
    offset = guest_free_offset();
    snprintf(offset_env, sizeof offset_env, "IOTBENCH_PORT_OFFSET=%d", offset);
    char *err = NULL;
    if (guest_start(h, "demo", NAME, offset, NULL, &err) != 0) {
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
    /* target-start returns before demod listens. */
    char *page = guest_http_get(8080 + offset, "/status", 60000);
    free(page);
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

static int demod_pid(void);

/* demod answering; started again in the device when a test ended it (not
 * when it is there but slow to listen: a second one would find the port taken). */
static bool ensure_demod(void)
{
    if (demod_answers(3000))
        return true;
    if (demod_pid() > 0 && demod_answers(30000))
        return true;
    int st = 0;
    free(guest_sh(home(), NAME,
                  "chroot /target /bin/sh -c 'setsid /usr/bin/demod </dev/null >/dev/null 2>&1 &'",
                  &st));
    for (int i = 0; i < 40; i++)
        if (demod_answers(1000))
            return true;
    return false;
}

static int demod_pid(void)
{
    int st = 0;
    char *out = guest_sh(home(), NAME, "pidof demod", &st);
    int pid = out ? atoi(out) : -1;
    free(out);
    return pid;
}

static struct td *open_tui(void)
{
    home();
    return td_start(&(struct td_opts){
        .home = home(), .rows = 45, .cols = 150, .env = (const char *[]){offset_env, NULL}});
}

#define WAITT(t, text, ms) TD_WAIT_TEXT(t, text, ms)
#define WAIT(t, text) WAITT(t, text, 15000)

#define TCHECK(t, cond) TD_CHECK(t, cond)


/* The process table of tui_p, filtered to demod. */
static struct td *open_demod(void)
{
    struct td *t = open_tui();
    if (td_wait_text(t, NAME " (demo)", 15000)) {
        td_type(t, ":procs " NAME "\r");
        if (td_wait_text(t, "/usr/bin/demod", 20000)) {
            td_type(t, "/demod\r");
            td_wait_text(t, "processes match /demod", 5000);
        }
    }
    return t;
}

/* Is the value of register `name` shown highlighted (changed)? -1: not found. */
static int reg_changed(struct td *t, const char *name)
{
    char label[16];
    snprintf(label, sizeof label, "│ %-5s", name); /* the regs column starts the pane */
    int r, c;
    if (!td_find(t, label, &r, &c))
        return -1;
    VTermScreenCell cell;
    td_cell(t, r, c + 2 + 5, &cell);
    return cell.attrs.underline ? 1 : 0;
}

static int changed_count(struct td *t)
{
    static const char *const R[] = {"r0", "r1",  "r2",  "r3",  "r4", "r5", "r6", "r7",  "r8",
                                    "r9", "r10", "r11", "r12", "sp", "lr", "pc", "cpsr"};
    int n = 0;
    for (size_t i = 0; i < sizeof R / sizeof R[0]; i++)
        n += reg_changed(t, R[i]) == 1;
    return n;
}


TEST(processes_of_demo_sort_filter_kill_and_restart)
{
    test_set_timeout(240);
    CHECK(ensure_demod());
    struct td *t = open_tui();
    WAIT(t, NAME " (demo)");
    td_type(t, ":procs " NAME "\r");
    WAIT(t, "processes of " NAME);
    WAITT(t, "/usr/bin/demod", 20000);
    WAIT(t, "qemu-ga");
    /* demod is a device process: its row says so, in the device style. */
    int r, c;
    TCHECK(t, td_find(t, "/usr/bin/demod", &r, &c));
    char *row = td_row(t, r);
    bool marked = strstr(row, " device ") != NULL;
    free(row);
    TCHECK(t, marked);
    VTermScreenCell cell;
    td_cell(t, r, c, &cell);
    TCHECK(t, cell.attrs.bold);
    /* Sort by RSS with a header click: qemu-ga (MiBs) above demod (KiBs). */
    TCHECK(t, td_find(t, "RSS", &r, &c));
    td_click(t, r, c + 1);
    WAIT(t, "RSS▼");
    const char *ga_first[] = {"qemu-ga", "/usr/bin/demod"};
    TCHECK(t, td_wait(t, td_above, (void *)ga_first, 5000));
    /* Filter, click the row, kill with confirmation: the row goes. */
    td_type(t, "/demod");
    WAIT(t, "processes match /demod");
    TCHECK(t, td_wait_gone(t, "qemu-ga", 5000));
    td_type(t, "\r");
    TCHECK(t, td_find(t, "/usr/bin/demod", &r, &c));
    td_click(t, r, c + 2);
    int pid = demod_pid();
    TCHECK(t, pid > 0);
    td_type(t, "k");
    char want[64];
    snprintf(want, sizeof want, "Kill %d (demod) with signal", pid);
    if (!td_wait_text(t, want, 5000)) {
        td_dump(t, want);
        td_free(t);
        CHECK_MSG(0, "no \"%s\" (pidof demod said %d)", want, pid);
    }
    td_type(t, "\r");
    snprintf(want, sizeof want, "sent SIGTERM to %d (demod)", pid);
    TCHECK(t, td_wait_text(t, want, 10000));
    TCHECK(t, td_wait_gone(t, "/usr/bin/demod", 10000));
    TCHECK(t, !demod_answers(2000));
    /* Restart the target from its console: demod is back in the table. */
    td_type(t, ":console " NAME "\r");
    WAIT(t, "1:" NAME);
    td_type(t, "\rrm -f /run/iotbench/target-started; target-start --background\r");
    WAITT(t, "device started in the background", 20000);
    WAITT(t, "/usr/bin/demod", 20000);
    TCHECK(t, demod_answers(20000));
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(debugger_attach_break_request_step_continue_detach)
{
    test_set_timeout(300);
    CHECK(ensure_demod());
    struct td *t = open_demod();
    WAITT(t, "/usr/bin/demod", 20000);
    td_type(t, "a");
    WAITT(t, "attached at", 60000);
    /* Registers, and the disassembly around pc with a symbol name. */
    WAIT(t, "cpsr");
    int r, c;
    TCHECK(t, td_find(t, "▶ ", &r, &c));
    char *row = td_row(t, r);
    char *after = strstr(row, "▶ ");
    /* "▶ 00011494 __libc_do_syscall+0x4  svc #0": a name after the address. */
    bool named = after && strlen(after) > 16 &&
                 ((after[13] >= 'a' && after[13] <= 'z') || after[13] == '_' ||
                  (after[13] >= 'A' && after[13] <= 'Z'));
    free(row);
    TCHECK(t, named);
    TCHECK(t, changed_count(t) == 0); /* nothing to compare with yet */
    /* A breakpoint by name. */
    td_type(t, "b");
    WAIT(t, "Break at");
    td_type(t, "handle_request\r");
    WAIT(t, "breakpoint at handle_request (0x");
    WAIT(t, "breakpoints handle_request 0x");
    td_type(t, "c");
    WAIT(t, "▶ running");
    /* While it runs, the workbench answers. */
    td_type(t, "?");
    WAITT(t, "key bindings", 2000);
    td_type(t, "\033");
    TCHECK(t, td_wait_gone(t, "key bindings", 2000));
    pid_t child = guest_http_get_in_child(http_port());
    WAITT(t, "stopped: breakpoint at handle_request", 60000);
    unsigned long addr = 0;
    TCHECK(t, td_find(t, "breakpoints handle_request 0x", &r, &c));
    row = td_row(t, r);
    char *hex = strstr(row, "handle_request 0x");
    TCHECK(t, hex && sscanf(hex + 17, "%lx", &addr) == 1 && addr > 0);
    free(row);
    /* The whole frame is there once pc shows the breakpoint's address. */
    char pcline[32];
    snprintf(pcline, sizeof pcline, "pc   %08lx", addr);
    TCHECK(t, td_wait_text(t, pcline, 10000));
    /* pc changed since the attach stop: highlighted; not everything did. */
    TCHECK(t, reg_changed(t, "pc") == 1);
    int n = changed_count(t);
    TCHECK(t, n >= 1 && n < 17);
    /* Memory: go to a symbol; the wheel scrolls it; f follows sp again. */
    td_type(t, "g");
    WAIT(t, "Memory at (address, symbol, or sp to follow sp):");
    td_type(t, "\025handle_request\r");
    WAIT(t, "memory at handle_request (0x");
    char first[32];
    snprintf(first, sizeof first, "%08lx  ", addr); /* the first row: the code's bytes */
    TCHECK(t, td_wait_text(t, first, 10000));
    TCHECK(t, td_find(t, "memory at handle_request", &r, &c));
    td_wheel(t, r + 2, c + 10, false);
    snprintf(first, sizeof first, "memory at 0x%lx", addr + 3 * 16);
    TCHECK(t, td_wait_text(t, first, 10000));
    td_type(t, "f");
    WAIT(t, "memory at sp 0x");
    /* A step: pc and sp (push) change, r0 does not. */
    td_type(t, "s");
    WAITT(t, "step to handle_request+0x4", 20000);
    snprintf(pcline, sizeof pcline, "pc   %08lx", addr + 4);
    TCHECK(t, td_wait_text(t, pcline, 10000));
    TCHECK(t, reg_changed(t, "pc") == 1);
    TCHECK(t, reg_changed(t, "sp") == 1);
    TCHECK(t, reg_changed(t, "r0") == 0);
    /* Continue: the request completes. */
    td_type(t, "c");
    WAIT(t, "▶ running");
    TCHECK(t, guest_child_ok(child, 30000));
    /* Detach (it runs): demod answers, the breakpoint is out of its code. */
    td_type(t, "d");
    WAITT(t, "detached from", 20000);
    TCHECK(t, demod_answers(10000));
    TCHECK(t, demod_answers(10000));
    int st = 0;
    char *out = guest_sh(home(), NAME, "pidof gdbserver || echo none", &st);
    TCHECK(t, out && strstr(out, "none"));
    free(out);
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(maps_and_sockets_of_demod_show_real_content)
{
    test_set_timeout(120);
    CHECK(ensure_demod());
    struct td *t = open_demod();
    WAITT(t, "/usr/bin/demod", 20000);
    td_type(t, "m");
    WAIT(t, "memory maps of");
    WAIT(t, "r-xp");
    WAIT(t, "[stack]");
    WAIT(t, "exe      /usr/bin/demod");
    td_type(t, "\033");
    td_type(t, "o");
    WAIT(t, "open sockets of");
    WAIT(t, "0.0.0.0:80");
    WAIT(t, "LISTEN");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(ctrl_c_interrupts_a_running_target)
{
    test_set_timeout(180);
    CHECK(ensure_demod());
    struct td *t = open_demod();
    WAITT(t, "/usr/bin/demod", 20000);
    /* Attach with the status line's action this time. */
    int r, c;
    TCHECK(t, td_find(t, "a Attach", &r, &c));
    td_click(t, r, c + 2);
    WAITT(t, "attached at", 60000);
    /* A breakpoint set and cleared again. */
    td_type(t, "bhandle_request\r");
    WAIT(t, "breakpoints handle_request 0x");
    td_type(t, "B");
    WAIT(t, "Clear breakpoint (symbol, address, * for all): handle_request");
    td_type(t, "\r");
    WAIT(t, "breakpoint at handle_request cleared");
    WAIT(t, "none (b sets one)");
    td_type(t, "c");
    WAIT(t, "▶ running");
    td_type(t, "\003");
    WAITT(t, "stopped: signal SIGINT", 10000);
    td_type(t, "d");
    WAITT(t, "detached from", 20000);
    TCHECK(t, demod_answers(10000));
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(target_killed_while_attached_ends_the_session_in_its_pane)
{
    test_set_timeout(180);
    CHECK(ensure_demod());
    struct td *t = open_demod();
    WAITT(t, "/usr/bin/demod", 20000);
    td_type(t, "a");
    WAITT(t, "attached at", 60000);
    td_type(t, "c");
    WAIT(t, "▶ running");
    int st = 0;
    free(guest_sh(home(), NAME, "kill -9 $(pidof demod)", &st));
    WAITT(t, "killed by signal 9", 20000);
    WAIT(t, "ended");
    /* The rest goes on: back to the table, which no longer lists it. */
    td_type(t, "\033");
    WAIT(t, "processes of " NAME);
    TCHECK(t, td_wait_gone(t, "/usr/bin/demod", 10000));
    CHECK_INT(td_quit(t, 5000), 0);
    CHECK(ensure_demod());
}

TEST(gdbserver_dying_is_shown_and_the_target_runs_on)
{
    test_set_timeout(180);
    CHECK(ensure_demod());
    struct td *t = open_demod();
    WAITT(t, "/usr/bin/demod", 20000);
    td_type(t, "a");
    WAITT(t, "attached at", 60000);
    int st = 0;
    free(guest_sh(home(), NAME, "kill -9 $(pidof gdbserver)", &st));
    WAITT(t, "the connection to gdbserver is gone", 20000);
    /* demod had been stopped by the attach: it was woken and answers. */
    TCHECK(t, demod_answers(15000));
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(hung_agent_shows_in_the_process_table_only)
{
    test_set_timeout(180);
    CHECK(ensure_demod());
    struct td *t = open_tui();
    WAIT(t, NAME " (demo)");
    td_type(t, ":procs " NAME "\r");
    WAITT(t, "/usr/bin/demod", 20000);
    /* Stop the agent from the console (it cannot be asked to stop itself). */
    td_type(t, ":console " NAME "\r");
    WAIT(t, "1:" NAME);
    td_type(t, "\rkill -STOP $(pidof qemu-ga)\r");
    WAITT(t, "agent not responding", 30000);
    /* The last rows stay and keys still answer at once. */
    TCHECK(t, td_row_of(t, "/usr/bin/demod") >= 0);
    td_type(t, PREFIX "?");
    WAITT(t, "key bindings", 1000);
    td_type(t, "\033");
    TCHECK(t, td_wait_gone(t, "key bindings", 1000));
    td_type(t, "\rkill -CONT $(pidof qemu-ga)\r");
    TCHECK(t, td_wait_gone(t, "agent not responding", 40000));
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(snapshot_refused_on_a_running_virtfs_target_is_explained)
{
    test_set_timeout(120);
    struct td *t = open_tui();
    WAIT(t, NAME " (demo)");
    td_type(t, ":snapshots " NAME "\r");
    WAIT(t, "snapshots of " NAME);
    WAITT(t, "0 snapshots", 15000);
    td_type(t, "n");
    WAIT(t, "Save a snapshot of " NAME " as:");
    td_type(t, "\025s1\r");
    WAITT(t, "cannot save snapshot s1", 30000);
    CHECK(ensure_demod());
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(warm_start_shows_its_date_and_a_stale_one_its_notice)
{
    test_set_timeout(400);
    const char *h = home();
    struct cmd_result r;
    ib_run(&r, h, "device", "warm", "demo", "--level", "agent", NULL);
    if (r.status != 0)
        printf("device warm: %s\n", r.err);
    CHECK(r.status == 0);
    cmd_result_free(&r);
    struct td *t = open_tui();
    WAIT(t, "DEVICES");
    char cmd[128];
    snprintf(cmd, sizeof cmd, ":device start demo tui_w --port-offset %d\r", offset + 3);
    td_type(t, cmd);
    guest_stop_at_exit(h, "tui_w");
    WAITT(t, "tui_w started warm", 60000);
    WAIT(t, "1:tui_w");
    WAIT(t, "warm (");
    td_type(t, PREFIX ":procs tui_w\r\033");
    WAIT(t, "warm: restored from the warm state made");
    td_type(t, ":stop tui_w\r");
    WAITT(t, "tui_w stopped", 30000);
    /* The device changes: its warm state is stale, the next start cold. */
    char cfg[4300];
    snprintf(cfg, sizeof cfg, "%s/devices/demo/config.yaml", h);
    char *text = test_read_file(cfg);
    size_t len = strlen(text);
    char *more = xasprintf("%s# touched by test_tui_inside\n", text);
    test_write_file(cfg, more);
    snprintf(cmd, sizeof cmd, ":device start demo tui_c --port-offset %d\r", offset + 4);
    td_type(t, cmd);
    guest_stop_at_exit(h, "tui_c");
    WAITT(t, "is stale", 60000);
    WAIT(t, "1:tui_c");
    WAIT(t, "cold (stale warm state)");
    td_type(t, PREFIX ":procs tui_c\r\033");
    WAIT(t, "cold: booted");
    WAIT(t, "notice");
    td_type(t, ":stop tui_c\r");
    WAITT(t, "tui_c stopped", 30000);
    text[len] = '\0';
    test_write_file(cfg, text);
    free(text);
    free(more);
    ib_run(&r, h, "device", "warm", "demo", "--clear", NULL);
    cmd_result_free(&r);
    CHECK_INT(td_quit(t, 5000), 0);
}
