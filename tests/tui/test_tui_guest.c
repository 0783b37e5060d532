/*
 * test_tui_guest.c - the workbench with real demo guests (QEMU, TCG), driven
 * in a pty like a user would: start from the navigator with the readiness
 * timeline and the banner in the console, target-start, a second instance
 * from the command line side by side, zoom, the boot log in the scrollback,
 * quit and reopen (the instance and its history are found again), a
 * flooding guest while keys stay fast, a hung agent, a killed QEMU, stop.
 *
 * One guest ("tui_a") is booted once and shared by the scenarios that only
 * look at it; every instance is stopped at exit (guest_stop_at_exit) and
 * uses a port offset of its own.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/cmd.h"
#include "tests/lib/guest.h"
#include "tests/lib/harness.h"
#include "tests/lib/tdcheck.h"
#include "tests/lib/tuidrive.h"

#define PREFIX "\002"

static int offset_a = -1;
static char offset_env[64];

static struct td *open_tui(const char *const *args)
{
    if (offset_a < 0) {
        offset_a = guest_free_offset();
        snprintf(offset_env, sizeof offset_env, "IOTBENCH_PORT_OFFSET=%d", offset_a);
    }
    return td_start(&(struct td_opts){.home = guest_home(),
                                      .rows = 45,
                                      .cols = 150,
                                      .args = args,
                                      .env = (const char *[]){offset_env, NULL}});
}

#define WAITT(t, text, ms) TD_WAIT_TEXT(t, text, ms)
#define WAIT(t, text) WAITT(t, text, 10000)

#define TCHECK(t, cond) TD_CHECK(t, cond)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool a_started;

/* Waited for, not checked once: a frame may come in several reads. */
static bool side_by_side(struct td *t, void *arg)
{
    (void)arg;
    int r1, c1, r2, c2;
    return td_find(t, "1:tui_a", &r1, &c1) && td_find(t, "2:tui_b", &r2, &c2) && r1 == r2 &&
           c2 > c1 + 30;
}

TEST(start_demo_from_the_navigator_with_timeline_banner_and_target)
{
    test_set_timeout(240);
    struct td *t = open_tui((const char *[]){"--device", "demo", NULL});
    WAIT(t, "Device demo");
    WAIT(t, "ready to start");
    td_type(t, "s");
    WAIT(t, "Start demo as: ");
    td_type(t, "\025tui_a\r"); /* Ctrl-U clears the generated name */
    guest_stop_at_exit(guest_home(), "tui_a");
    a_started = true;
    /* The console opens with the readiness timeline in its title. */
    WAIT(t, "1:tui_a");
    WAIT(t, "✓qemu");
    WAITT(t, "✓kernel", 60000);
    WAITT(t, "Host system ready", 90000);
    WAITT(t, "✓agent", 60000);
    /* The detail pane shows the same timeline with times. */
    WAIT(t, "✓ QEMU started");
    WAIT(t, "✓ banner");
    td_type(t, "target-start\r");
    WAITT(t, "[Guest]#", 30000);
    WAITT(t, "✓target", 30000);
    /* The boot log is in the scrollback: scroll mode, to the top. */
    td_type(t, PREFIX "[");
    td_type(t, "g");
    WAIT(t, "Booting Linux");
    td_type(t, "q");
    WAIT(t, "[Guest]#");
    /* The exact QEMU command line. */
    td_type(t, PREFIX "a");
    WAIT(t, "QEMU command line");
    WAIT(t, "qemu-system-arm");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(quit_and_reopen_finds_the_instance_and_its_history)
{
    test_set_timeout(120);
    CHECK(a_started);
    int pid = guest_pid_of(guest_home(), "tui_a");
    CHECK(pid > 0 && guest_pid_alive(pid)); /* quitting left it running */
    struct td *t = open_tui(NULL);
    WAIT(t, "INSTANCES (1)");
    WAIT(t, "tui_a (demo)");
    td_type(t, ":console tui_a\r");
    WAIT(t, "1:tui_a");
    WAIT(t, "[Guest]#"); /* replayed from console.log */
    WAIT(t, "✓agent");
    td_type(t, "echo reopened-$((6*7))\r");
    WAIT(t, "reopened-42");
    /* kill -9 of the workbench also leaves it running, and frees the console. */
    kill(td_pid(t), SIGKILL);
    td_wait_exit(t, 5000);
    td_free(t);
    CHECK(guest_pid_alive(pid));
    char *seen = NULL;
    CHECK(guest_console_expect(guest_home(), "tui_a", "echo free-$((1+1))\r", "free-2", 10000,
                               &seen));
    free(seen);
}

TEST(second_instance_from_the_command_line_side_by_side_and_zoom)
{
    test_set_timeout(240);
    CHECK(a_started);
    struct td *t = open_tui(NULL);
    WAIT(t, "INSTANCES (1)");
    td_type(t, ":console tui_a\r");
    WAIT(t, "1:tui_a");
    char cmd[128];
    snprintf(cmd, sizeof cmd, PREFIX ":device start demo tui_b --port-offset %d\r", offset_a + 1);
    td_type(t, cmd);
    guest_stop_at_exit(guest_home(), "tui_b");
    WAIT(t, "2:tui_b");
    /* Its own banner (tui_a's console shows one already). */
    WAITT(t, "2:tui_b ✓qemu ✓kernel ✓banner", 90000);
    int r1, c1, r2, c2;
    TCHECK(t, td_wait(t, side_by_side, NULL, 5000));
    TCHECK(t, td_find(t, "1:tui_a", &r1, &c1) && td_find(t, "2:tui_b", &r2, &c2));
    /* The new console has the focus: type into it. */
    td_type(t, "echo in-b-$((2*21))\r");
    WAIT(t, "in-b-42");
    int er, ec;
    TCHECK(t, td_find(t, "in-b-42", &er, &ec) && ec > c2 - 3);
    /* Click into the first, type there. */
    td_click(t, r1 + 4, c1 + 4);
    td_type(t, "echo in-a-$((3*3))\r");
    WAIT(t, "in-a-9");
    TCHECK(t, td_find(t, "in-a-9", &er, &ec) && ec < c2 - 3);
    /* Zoom and unzoom. */
    td_type(t, PREFIX "z");
    TCHECK(t, td_wait_gone(t, "2:tui_b", 5000));
    TCHECK(t, td_wait_gone(t, "Navigator", 5000));
    td_type(t, PREFIX "z");
    WAIT(t, "2:tui_b");
    WAIT(t, "Navigator");
    /* Stop the second from the command line: its pane goes. */
    td_type(t, PREFIX ":stop tui_b\r");
    WAITT(t, "tui_b stopped", 30000);
    TCHECK(t, td_wait_gone(t, "2:tui_b", 5000));
    WAIT(t, "INSTANCES (1)");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(flooding_guest_keeps_the_keyboard_fast)
{
    test_set_timeout(120);
    CHECK(a_started);
    struct td *t = open_tui(NULL);
    WAIT(t, "tui_a (demo)");
    td_type(t, ":console tui_a\r");
    WAIT(t, "1:tui_a");
    td_type(t, "\rwhile :; do echo flood-line-0123456789abcdefghijklmnopqrstuvwxyz; done\r");
    WAIT(t, "flood-line-0123456789");
    int64_t total = 0, worst = 0;
    for (int i = 0; i < 5; i++) {
        int64_t a = now_ms();
        td_type(t, PREFIX "?");
        TCHECK(t, td_wait_text(t, "key bindings", 3000));
        int64_t d = now_ms() - a;
        total += d;
        worst = d > worst ? d : worst;
        td_type(t, "\033");
        TCHECK(t, td_wait_gone(t, "key bindings", 3000));
    }
    printf("  key-to-screen with a flooding guest: mean %lld ms, worst %lld ms\n",
           (long long)(total / 5), (long long)worst);
    td_type(t, "\003");
    td_type(t, "\rclear; echo flood-stopped-$((5*5))\r");
    WAITT(t, "flood-stopped-25", 30000);
    /* Every sample, not the mean: one slow frame is what a user feels. */
    TCHECK(t, worst < 100);
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(hung_agent_shows_in_that_pane_only)
{
    test_set_timeout(120);
    CHECK(a_started);
    struct td *t = open_tui(NULL);
    WAIT(t, "tui_a (demo)");
    td_type(t, ":console tui_a\r");
    WAIT(t, "✓agent");
    /* Stop the agent without killing it: it hangs. */
    td_type(t, "kill -STOP $(pidof qemu-ga)\r");
    WAITT(t, "agent not responding", 30000);
    td_type(t, "kill -CONT $(pidof qemu-ga)\r");
    TCHECK(t, td_wait_gone(t, "agent not responding", 30000));
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(killed_qemu_shows_dead_with_its_reason)
{
    test_set_timeout(240);
    int off = guest_free_offset() + 2;
    struct td *t = open_tui(NULL);
    WAIT(t, "INSTANCES");
    char cmd[128];
    snprintf(cmd, sizeof cmd, ":device start demo tui_c --port-offset %d\r", off);
    td_type(t, cmd);
    guest_stop_at_exit(guest_home(), "tui_c");
    WAIT(t, "1:tui_c");
    WAITT(t, "✓kernel", 60000);
    int pid = guest_pid_of(guest_home(), "tui_c");
    TCHECK(t, pid > 0);
    kill(pid, SIGKILL);
    WAITT(t, "dead: QEMU is gone", 20000);
    /* x dismisses the dead instance. */
    td_type(t, PREFIX "x");
    TCHECK(t, td_wait_gone(t, "1:tui_c", 5000));
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(stop_with_confirmation)
{
    test_set_timeout(120);
    CHECK(a_started);
    struct td *t = open_tui(NULL);
    WAIT(t, "tui_a (demo)");
    int r, c;
    TCHECK(t, td_find(t, "tui_a (demo)", &r, &c));
    td_click(t, r, c + 1);
    WAIT(t, "Instance tui_a");
    td_type(t, "x");
    WAIT(t, "Stop tui_a? (y/n)");
    td_type(t, "n");
    WAIT(t, "cancelled");
    td_type(t, "x");
    WAIT(t, "Stop tui_a? (y/n)");
    td_type(t, "y");
    WAITT(t, "tui_a stopped", 30000);
    WAIT(t, "INSTANCES (0)");
    CHECK_INT(td_quit(t, 5000), 0);
}
