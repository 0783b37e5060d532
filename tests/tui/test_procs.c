/*
 * test_procs.c - the process table of the workbench against a stand-in
 * instance (tests/tui/fakeguest.c: its agent answers the listing, kill,
 * maps and sockets scripts from a table the test edits), driven in a pty
 * with the libvterm oracle: device processes marked, a header click sorts,
 * `/` filters, a click selects, `k` asks for a signal and kills, a process
 * that vanished meanwhile is reported quietly, maps and sockets views, the
 * status-line actions and the wheel, and a hung agent shown in that pane
 * only. The same scenarios run against a real guest in test_tui_inside.c.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/lib/cmd.h"
#include "tests/lib/harness.h"
#include "tests/lib/tdcheck.h"
#include "tests/lib/tuidrive.h"
#include "tests/tui/fakeguest.c"

static struct fakeguest *fake;

static void stop_fake(void)
{
    fg_stop(fake);
    fake = NULL;
}

static const char *home(void)
{
    static char h[4096];
    if (h[0])
        return h;
    snprintf(h, sizeof h, "%s", test_path("home"));
    char cfg[4300], src[4300];
    snprintf(cfg, sizeof cfg, "%s/devices/demo/config.yaml", h);
    snprintf(src, sizeof src, "%s/devices/demo/config.yaml", test_src_dir());
    char *text = test_read_file(src);
    test_write_file(cfg, text);
    free(text);
    fake = fg_start(h, "fake1", 0);
    test_on_exit(stop_fake);
    return h;
}

static struct td *open_procs(void)
{
    struct td *t = td_start(&(struct td_opts){.home = home(), .rows = 40, .cols = 140});
    if (td_wait_text(t, "fake1 (demo)", 5000)) {
        td_type(t, ":procs fake1\r");
        td_wait_text(t, "processes of fake1", 5000);
    }
    return t;
}

#define WAITT(t, text, ms) TD_WAIT_TEXT(t, text, ms)
#define WAIT(t, text) WAITT(t, text, 5000)

#define TCHECK(t, cond) TD_CHECK(t, cond)


TEST(table_shows_processes_with_device_ones_marked)
{
    struct td *t = open_procs();
    WAIT(t, "/usr/bin/demod");
    WAIT(t, "qemu-ga -d -m virtio-serial");
    WAIT(t, "5 processes");
    WAIT(t, "2 device");
    WAIT(t, "1 kernel threads hidden");
    int r, c;
    TCHECK(t, td_find(t, "/usr/bin/demod", &r, &c));
    char *row = td_row(t, r);
    bool marked = strstr(row, "device") != NULL && strstr(row, "152") != NULL;
    free(row);
    TCHECK(t, marked);
    /* The device row's style is process.device (bold in the dark theme). */
    VTermScreenCell cell;
    td_cell(t, r, c, &cell);
    TCHECK(t, cell.attrs.bold);
    int hr = td_row_of(t, "qemu-ga -d");
    td_cell(t, hr, c, &cell);
    TCHECK(t, !cell.attrs.bold);
    /* K shows kernel threads. */
    td_type(t, "K");
    WAIT(t, "[kthreadd]");
    td_type(t, "K");
    TCHECK(t, td_wait_gone(t, "[kthreadd]", 5000));
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(header_click_sorts_by_rss_and_keys_sort_too)
{
    struct td *t = open_procs();
    WAIT(t, "/usr/bin/hog");
    /* By pid at first: demod (152) above hog (160). */
    const char *demod_first[] = {"/usr/bin/demod", "/usr/bin/hog"};
    const char *hog_first[] = {"/usr/bin/hog", "/usr/bin/demod"};
    TCHECK(t, td_wait(t, td_above, (void *)demod_first, 3000));
    int r, c;
    TCHECK(t, td_find(t, "RSS", &r, &c));
    td_click(t, r, c + 1);
    WAIT(t, "sorted by RSS, descending");
    WAIT(t, "RSS▼");
    TCHECK(t, td_wait(t, td_above, (void *)hog_first, 3000));
    /* Stays sorted across refreshes. */
    td_pump(t, 1500);
    TCHECK(t, td_above(t, (void *)hog_first));
    /* Again: ascending. */
    TCHECK(t, td_find(t, "RSS", &r, &c));
    td_click(t, r, c + 1);
    WAIT(t, "RSS▲");
    TCHECK(t, td_wait(t, td_above, (void *)demod_first, 3000));
    /* Keys: N by pid, M by memory. */
    td_type(t, "N");
    WAIT(t, "sorted by PID");
    td_type(t, "M");
    WAIT(t, "sorted by RSS, descending");
    TCHECK(t, td_wait(t, td_above, (void *)hog_first, 3000));
    td_type(t, "N");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(filter_click_and_kill_with_confirmation)
{
    struct td *t = open_procs();
    WAIT(t, "/usr/bin/demod");
    td_type(t, "/demod");
    WAIT(t, "1 of 5 processes match /demod");
    TCHECK(t, td_wait_gone(t, "qemu-ga -d", 3000));
    td_type(t, "\r");
    int r, c;
    TCHECK(t, td_find(t, "/usr/bin/demod", &r, &c));
    td_click(t, r, c);
    td_type(t, "k");
    WAIT(t, "Kill 152 (demod) with signal (Esc cancels): TERM");
    /* Esc cancels: nothing is sent. */
    td_type(t, "\033");
    WAIT(t, "cancelled");
    TCHECK(t, td_row_of(t, "/usr/bin/demod") >= 0);
    td_type(t, "k");
    WAIT(t, "Kill 152 (demod)");
    td_type(t, "\025KILL\r");
    WAIT(t, "sent SIGKILL to 152 (demod)");
    TCHECK(t, td_wait_gone(t, "/usr/bin/demod", 5000));
    WAIT(t, "0 of 4 processes match /demod");
    /* It comes back (restarted): the table shows it again. */
    char *table = test_read_file(fg_path(fake->dir, "procs"));
    size_t n = strlen(table);
    table = realloc(table, n + 64);
    strcpy(table + n, "152 1 0 S device 140 5 demod /usr/bin/demod\n");
    fg_procs(fake, table);
    free(table);
    WAIT(t, "/usr/bin/demod");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(a_process_that_vanished_is_reported_quietly)
{
    struct td *t = open_procs();
    WAIT(t, "/usr/bin/hog");
    td_type(t, "/hog\r");
    WAIT(t, "1 of 5 processes match /hog");
    td_type(t, "k");
    WAIT(t, "Kill 160 (hog)");
    /* It exits by itself while the prompt is open. */
    char *table = test_read_file(fg_path(fake->dir, "procs"));
    char *line = strstr(table, "160 1 1000");
    TCHECK(t, line != NULL);
    char *end = strchr(line, '\n');
    memmove(line, end + 1, strlen(end + 1) + 1);
    fg_procs(fake, table);
    free(table);
    td_type(t, "\r");
    WAIT(t, "process 160 (hog) had already exited");
    TCHECK(t, td_wait_gone(t, "/usr/bin/hog", 5000));
    /* Not an error: the message has the normal style, not status.error. */
    int r, c;
    TCHECK(t, td_find(t, "had already exited", &r, &c));
    VTermScreenCell cell;
    td_cell(t, r, c, &cell);
    TCHECK(t, !cell.attrs.bold);
    fg_procs(fake, "1 0 0 S host 8 12 init init\n"
                   "2 0 0 S kernel 0 0 kthreadd\n"
                   "140 1 0 S host 2560 300 qemu-ga qemu-ga -d -m virtio-serial\n"
                   "143 1 0 S host 4 1 sh /bin/sh -l\n"
                   "152 1 0 S device 140 5 demod /usr/bin/demod\n"
                   "160 1 1000 R device 51200 4000 hog /usr/bin/hog --eat-memory\n");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(maps_and_sockets_views)
{
    struct td *t = open_procs();
    WAIT(t, "/usr/bin/demod");
    td_type(t, "/demod\r");
    WAIT(t, "1 of 5");
    td_type(t, "m");
    WAIT(t, "memory maps of 152 (demod)");
    WAIT(t, "00010000-00056000 r-xp");
    WAIT(t, "[stack]");
    WAIT(t, "exe      /usr/bin/demod"); /* as the process sees it, not /target/... */
    td_type(t, "\033");
    WAIT(t, "processes of fake1");
    td_type(t, "o");
    WAIT(t, "open sockets of 152 (demod)");
    WAIT(t, "0.0.0.0:80");
    WAIT(t, "LISTEN");
    td_type(t, "\033");
    WAIT(t, "1 of 5");
    /* Esc clears the filter, then leaves the table for the details. */
    td_type(t, "\033");
    WAIT(t, "5 processes");
    td_type(t, "\033");
    WAIT(t, "cold: booted");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(mouse_status_actions_and_wheel)
{
    struct td *t = open_procs();
    WAIT(t, "/usr/bin/demod");
    int r, c;
    /* The status line's Kill action asks like the key does. */
    TCHECK(t, td_find(t, "k Kill", &r, &c));
    td_click(t, r, c + 2);
    WAIT(t, "Kill 1 (init) with signal");
    td_type(t, "\033");
    WAIT(t, "cancelled");
    /* The wheel moves through the table: three rows down. */
    TCHECK(t, td_find(t, "/usr/bin/demod", &r, &c));
    td_wheel(t, r, c, false);
    td_type(t, "k");
    WAIT(t, "Kill 152 (demod)");
    td_type(t, "\033");
    WAIT(t, "m Maps");
    /* Maps by the status line too. */
    TCHECK(t, td_find(t, "m Maps", &r, &c));
    td_click(t, r, c + 2);
    WAIT(t, "memory maps of 152 (demod)");
    td_type(t, "\033");
    /* The Info tab in the title goes back to the details. */
    TCHECK(t, td_find(t, " Info ", &r, &c));
    td_click(t, r, c + 2);
    WAIT(t, "cold: booted");
    TCHECK(t, td_find(t, " Processes ", &r, &c));
    td_click(t, r, c + 2);
    WAIT(t, "processes of fake1");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(hung_agent_shows_in_the_table_only)
{
    struct td *t = open_procs();
    WAIT(t, "/usr/bin/demod");
    fg_hang(fake, true);
    WAITT(t, "agent not responding", 15000);
    /* The rows stay, and the rest of the workbench answers at once. */
    TCHECK(t, td_row_of(t, "/usr/bin/demod") >= 0);
    td_type(t, "?");
    WAITT(t, "key bindings", 1000);
    td_type(t, "\033");
    TCHECK(t, td_wait_gone(t, "key bindings", 1000));
    fg_hang(fake, false);
    TCHECK(t, td_wait_gone(t, "agent not responding", 20000));
    /* The next refresh after the agent came back: allow a loaded machine. */
    WAITT(t, "updated", 15000);
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(zoom_gives_the_table_the_whole_screen)
{
    struct td *t = open_procs();
    WAIT(t, "/usr/bin/demod");
    WAIT(t, "Navigator");
    td_type(t, "z");
    TCHECK(t, td_wait_gone(t, "Navigator", 3000));
    WAIT(t, "/usr/bin/demod");
    td_type(t, "z");
    WAIT(t, "Navigator");
    CHECK_INT(td_quit(t, 5000), 0);
}

static bool console_text_shows(struct td *t, void *arg)
{
    (void)arg;
    return td_find(t, "drwxr-xr-x root root", NULL, NULL) || td_find(t, " connected ", NULL, NULL);
}

/* A zoomed table has the whole body: a console flooding meanwhile must not
 * paint its title or its output over it from the tile it had before. */
TEST(zoomed_table_is_not_overdrawn_by_a_flooding_console)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", test_path("floodcon"));
    mkdir(dir, 0700);
    struct td_fakecon *con = td_fakecon_start(dir, "FLOOD BOOT");
    struct td *t = td_start(&(struct td_opts){.home = home(), .rows = 40, .cols = 140});
    WAIT(t, "fake1 (demo)");
    char cmd[4300];
    snprintf(cmd, sizeof cmd, ":console %s\r", dir);
    td_type(t, cmd);
    WAIT(t, " connected ");
    td_type(t, "flood\r");
    WAIT(t, "drwxr-xr-x root root");
    td_type(t, "\002:procs fake1\r");
    WAIT(t, "/usr/bin/demod");
    td_type(t, "z");
    TCHECK(t, td_wait_gone(t, "Navigator", 3000));
    WAIT(t, "/usr/bin/demod");
    /* The zoomed frame may reach the terminal in several reads: once the
     * old tile is gone, it must stay gone. */
    TCHECK(t, td_wait_gone(t, "drwxr-xr-x root root", 3000));
    /* The flood goes on for the whole observation (several frames). */
    TCHECK(t, !td_wait(t, console_text_shows, NULL, 1500));
    WAIT(t, "/usr/bin/demod");
    /* Unzoomed, the console is back in its tile, still live. */
    td_type(t, "z");
    WAIT(t, "Navigator");
    WAIT(t, "drwxr-xr-x root root");
    td_type(t, "\002o");
    CHECK_INT(td_quit(t, 5000), 0);
    td_fakecon_stop(con);
}

/* Any CLI verb from the `:` line runs the binary in a job; its output
 * comes back printable, in a pop-up; a store add runs there too. */
TEST(cli_verbs_from_the_command_line_show_their_output)
{
    struct td *t = td_start(&(struct td_opts){.home = home(), .rows = 40, .cols = 140});
    WAIT(t, "fake1 (demo)");
    td_type(t, ":instance info fake1\r");
    WAIT(t, "iotbench instance info fake1");
    WAIT(t, "exit status 0 (ok)");
    WAIT(t, "state     running");
    WAIT(t, "folder    ");
    td_type(t, "\033");
    TCHECK(t, td_wait_gone(t, "exit status 0", 3000));
    /* A verb the CLI does not have: its own message, its status. */
    td_type(t, ":instance frobnicate fake1\r");
    WAIT(t, "has no verb \"frobnicate\"");
    WAIT(t, "exit status 2 (bad input)");
    td_type(t, "q");
    TCHECK(t, td_wait_gone(t, "exit status 2", 3000));
    /* :output shows the last answer again. */
    td_type(t, ":output\r");
    WAIT(t, "has no verb \"frobnicate\"");
    td_type(t, "\033");
    TCHECK(t, td_wait_gone(t, "has no verb", 3000));
    /* T on an instance: target-start, whatever the agent answers, shown. */
    td_type(t, ":filter fake1\r");
    WAIT(t, "Instance fake1");
    td_type(t, "T");
    WAIT(t, "running: iotbench instance target-start fake1");
    WAIT(t, "target of fake1 started");
    char started[4400];
    snprintf(started, sizeof started, "%s/run/fake1/target-started", home());
    TCHECK(t, access(started, F_OK) == 0);
    CHECK_INT(td_quit(t, 5000), 0);
}

/* `:kernel add` copies in a job (the UI loop never does store I/O) and the
 * navigator shows the kernel once it is in. */
TEST(kernel_add_runs_in_the_background)
{
    struct td *t = td_start(&(struct td_opts){.home = home(), .rows = 40, .cols = 140});
    WAIT(t, "KERNELS (0)");
    const char *img = test_path("zImage-test");
    char *blob = xcalloc(1, 4 << 20);
    memcpy(blob + 0x24, "\x18\x28\x6f\x01", 4); /* zImage magic */
    FILE *f = fopen(img, "w");
    fwrite(blob, 1, 4 << 20, f);
    fclose(f);
    free(blob);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, ":kernel add %s virt.cortex-a15.little-6.1.99\r", img);
    td_type(t, cmd);
    WAIT(t, "running: iotbench kernel add");
    WAITT(t, "kernel virt.cortex-a15.little-6.1.99 added", 15000);
    WAIT(t, "exit status 0 (ok)");
    td_type(t, "\033");
    WAIT(t, "KERNELS (1)");
    WAIT(t, "virt.cortex-a15.little-6.1.99");
    CHECK_INT(td_quit(t, 5000), 0);
}
