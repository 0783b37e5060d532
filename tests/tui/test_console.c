/*
 * test_console.c - console panes against a stand-in for QEMU's console
 * chardev (td_fakecon: a socket plus console.log, no guest needed): log
 * replay then live output, typing, terminal queries answered, two consoles
 * side by side, zoom, scrollback, the one-client lock, history after a
 * restart of the workbench, stty, copying, and a flooding console that must
 * not slow the keyboard down.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/harness.h"
#include "tests/lib/tdcheck.h"
#include "tests/lib/tuidrive.h"

#define PREFIX "\002" /* C-b */

static const char *home(void)
{
    static char h[4096];
    if (!h[0]) {
        snprintf(h, sizeof h, "%s", test_path("home"));
        mkdir(h, 0700);
    }
    return h;
}

static const char *fake_dir(const char *name)
{
    const char *d = test_path(name);
    mkdir(d, 0700);
    return d;
}

static struct td *open_tui(int rows, int cols)
{
    return td_start(&(struct td_opts){.home = home(), .rows = rows, .cols = cols});
}

static void open_console(struct td *t, const char *dir, bool from_console)
{
    char cmd[4300];
    /* `:instance console` is the CLI's spelling of the same command. */
    snprintf(cmd, sizeof cmd, "%s:%sconsole %s\r", from_console ? PREFIX : "",
             from_console ? "instance " : "", dir);
    td_type(t, cmd);
}

#define WAIT(t, text) TD_WAIT_TEXT(t, text, 8000)

#define WAIT_GONE(t, text) TD_WAIT_GONE(t, text, 8000)

#define TCHECK(t, cond) TD_CHECK(t, cond)

TEST(console_replays_the_log_then_goes_live)
{
    const char *dir = fake_dir("c1");
    struct td_fakecon *f = td_fakecon_start(dir, "FAKE BOOT: kernel banner line");
    struct td *t = open_tui(40, 120);
    WAIT(t, "INSTANCES");
    open_console(t, dir, false);
    WAIT(t, "FAKE BOOT: kernel banner line"); /* from console.log */
    WAIT(t, " connected ");
    td_type(t, "hello\r");
    WAIT(t, "echo: hello");
    /* The live prompt's ESC[6n was answered; the replayed one was not. */
    td_type(t, "dsr\r");
    WAIT(t, "dsr answers: 1");
    CHECK_INT(td_quit(t, 5000), 0);
    td_fakecon_stop(f);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Screen conditions are waited for, not checked once: a frame may arrive
 * in several reads. */
struct two {
    const char *a, *b;
    int how; /* 0: b right of a on the same row, 1: b below a */
};

static bool placed(struct td *t, void *arg)
{
    struct two *w = arg;
    int r1, c1, r2, c2;
    if (!td_find(t, w->a, &r1, &c1) || !td_find(t, w->b, &r2, &c2))
        return false;
    return w->how == 0 ? (r1 == r2 && c2 > c1 + 20) : (r2 > r1 + 3);
}

static bool zoomed(struct td *t, void *arg)
{
    (void)arg;
    int r, c;
    return td_find(t, "1:left", &r, &c) && r == 1 && c <= 1;
}

TEST(two_consoles_side_by_side_typing_into_each_and_zoom)
{
    const char *d1 = fake_dir("left"), *d2 = fake_dir("right");
    struct td_fakecon *f1 = td_fakecon_start(d1, "LEFT GUEST");
    struct td_fakecon *f2 = td_fakecon_start(d2, "RIGHT GUEST");
    struct td *t = open_tui(40, 140);
    WAIT(t, "INSTANCES");
    open_console(t, d1, false);
    WAIT(t, "LEFT GUEST");
    open_console(t, d2, true);
    WAIT(t, "RIGHT GUEST");
    int r1, c1, r2, c2;
    struct two side = {"1:left", "2:right", 0}, stacked = {"1:left", "2:right", 1};
    TCHECK(t, td_wait(t, placed, &side, 5000)); /* side by side */
    TCHECK(t, td_find(t, "1:left", &r1, &c1));
    TCHECK(t, td_find(t, "2:right", &r2, &c2));
    /* The newest console has the focus. */
    td_type(t, "to-right\r");
    WAIT(t, "echo: to-right");
    int er, ec;
    TCHECK(t, td_find(t, "echo: to-right", &er, &ec) && ec >= c2 - 2);
    /* A click focuses the left one. */
    td_click(t, r1 + 3, c1 + 5);
    td_type(t, "to-left\r");
    WAIT(t, "echo: to-left");
    TCHECK(t, td_find(t, "echo: to-left", &er, &ec) && ec < c2 - 2);
    /* Stacked, then back. */
    td_type(t, PREFIX ":layout stack\r");
    WAIT(t, "layout stack");
    TCHECK(t, td_wait(t, placed, &stacked, 5000));
    TCHECK(t, td_find(t, "1:left", &r1, &c1));
    /* Zoom: the focused console over the whole body, no navigator. */
    td_type(t, PREFIX "z");
    WAIT_GONE(t, "Navigator");
    WAIT_GONE(t, "2:right");
    TCHECK(t, td_wait(t, zoomed, NULL, 5000));
    td_type(t, PREFIX "z");
    WAIT(t, "Navigator");
    WAIT(t, "2:right");
    /* Keyboard focus moves with the prefix: o goes to the next pane. */
    td_type(t, PREFIX "2");
    td_type(t, "again\r");
    WAIT(t, "echo: again");
    TCHECK(t, td_find(t, "echo: again", &er, &ec) && er > r1 + 3);
    CHECK_INT(td_quit(t, 5000), 0);
    td_fakecon_stop(f1);
    td_fakecon_stop(f2);
}

/* Clicks a status-line hint by its label (on the last row). */
static bool click_hint(struct td *t, const char *label)
{
    int rows, cols;
    td_size(t, &rows, &cols);
    char *row = td_row(t, rows - 1);
    char want[64];
    snprintf(want, sizeof want, " %s", label);
    char *p = strstr(row, want);
    int col = p ? (int)(p - row) + 1 : -1;
    free(row);
    if (col < 0)
        return false;
    td_click(t, rows - 1, col);
    return true;
}

/* The prefix's "C-b ..." reminder goes once the next key is handled, not
 * seconds later. */
TEST(prefix_reminder_goes_with_the_next_key)
{
    const char *dir = fake_dir("remind");
    struct td_fakecon *f = td_fakecon_start(dir, "REMIND BOOT");
    struct td *t = open_tui(30, 100);
    WAIT(t, "INSTANCES");
    open_console(t, dir, false);
    WAIT(t, " connected ");
    td_type(t, PREFIX);
    WAIT(t, "C-b ... (? for the keys)");
    td_type(t, "z");
    WAIT_GONE(t, "Navigator");
    /* Well before the 4 s a message stays. */
    TCHECK(t, td_wait_gone(t, "(? for the keys)", 1000));
    td_type(t, PREFIX);
    WAIT(t, "C-b ... (? for the keys)");
    td_type(t, "\033");
    TCHECK(t, td_wait_gone(t, "(? for the keys)", 1000));
    CHECK_INT(td_quit(t, 5000), 0);
    td_fakecon_stop(f);
}

TEST(scrollback_by_keys_and_wheel)
{
    const char *dir = fake_dir("scroll");
    struct td_fakecon *f = td_fakecon_start(dir, "SCROLL BOOT BANNER");
    struct td *t = open_tui(30, 100);
    WAIT(t, "INSTANCES");
    open_console(t, dir, false);
    WAIT(t, "SCROLL BOOT BANNER");
    td_type(t, "seq 400\r");
    WAIT(t, "seq line 400");
    WAIT_GONE(t, "SCROLL BOOT BANNER");
    /* Scroll mode, to the top: the boot banner is back. */
    td_type(t, PREFIX "[");
    td_type(t, "g");
    WAIT(t, "SCROLL BOOT BANNER");
    WAIT_GONE(t, "seq line 400");
    td_type(t, "q");
    WAIT(t, "seq line 400");
    /* The scroll-mode hints are buttons: a click on each does what its key does. */
    td_type(t, PREFIX "[");
    WAIT(t, "PgUp Older");
    TCHECK(t, !td_find(t, "PgUp PgUp", NULL, NULL));
    TCHECK(t, click_hint(t, "Top"));
    WAIT(t, "SCROLL BOOT BANNER");
    WAIT_GONE(t, "seq line 400");
    TCHECK(t, click_hint(t, "Bottom"));
    WAIT(t, "seq line 400");
    WAIT_GONE(t, "SCROLL BOOT BANNER");
    TCHECK(t, click_hint(t, "Older"));
    WAIT_GONE(t, "seq line 400");
    TCHECK(t, click_hint(t, "Newer"));
    WAIT(t, "seq line 400");
    TCHECK(t, click_hint(t, "Exit"));
    WAIT_GONE(t, "PgUp Older");
    /* The wheel scrolls too, and the title says where we are. */
    int r, c;
    TCHECK(t, td_find(t, "seq line 399", &r, &c));
    td_wheel(t, r, c, true);
    WAIT(t, "[3/");
    td_wheel(t, r, c, false);
    WAIT_GONE(t, "[3/");
    CHECK_INT(td_quit(t, 5000), 0);
    td_fakecon_stop(f);
}

TEST(console_lock_one_client_and_history_after_restart)
{
    const char *dir = fake_dir("held");
    struct td_fakecon *f = td_fakecon_start(dir, "HELD BOOT");
    struct td *a = open_tui(30, 100);
    WAIT(a, "INSTANCES");
    open_console(a, dir, false);
    WAIT(a, " connected ");
    td_type(a, "marker-4711\r");
    WAIT(a, "echo: marker-4711");
    struct td *b = open_tui(30, 100);
    WAIT(b, "INSTANCES");
    open_console(b, dir, false);
    char held[64];
    snprintf(held, sizeof held, "console held by pid %d", td_pid(a));
    WAIT(b, held);
    /* The first workbench quits (even kill -9 would do): the second takes over. */
    CHECK_INT(td_quit(a, 5000), 0);
    WAIT(b, " connected ");
    /* ... and sees the history from console.log. */
    WAIT(b, "echo: marker-4711");
    td_type(b, "after\r");
    WAIT(b, "echo: after");
    CHECK_INT(td_quit(b, 5000), 0);
    td_fakecon_stop(f);
}

TEST(stty_tells_the_guest_the_pane_size)
{
    const char *dir = fake_dir("stty");
    struct td_fakecon *f = td_fakecon_start(dir, "STTY BOOT");
    struct td *t = open_tui(40, 120);
    WAIT(t, "INSTANCES");
    open_console(t, dir, false);
    WAIT(t, " connected ");
    int r, c;
    TCHECK(t, td_find(t, " connected ", &r, &c));
    td_type(t, PREFIX "S");
    WAIT(t, "stty: rows");
    /* The numbers are the tile's: the title line shows them too ("COLSxROWS"). */
    char *screen = td_screen(t);
    char *p = strstr(screen, "stty: rows ");
    int rows = 0, cols = 0;
    TCHECK(t, p && sscanf(p, "stty: rows %d cols %d", &rows, &cols) == 2);
    char size[32];
    snprintf(size, sizeof size, " %dx%d", cols, rows);
    TCHECK(t, strstr(screen, size) != NULL);
    free(screen);
    TCHECK(t, cols > 40 && rows > 10);
    CHECK_INT(td_quit(t, 5000), 0);
    td_fakecon_stop(f);
}

struct cells {
    int row, from, to;
};

/* The selection is drawn in reverse video. */
static bool reversed(struct td *t, void *arg)
{
    const struct cells *w = arg;
    VTermScreenCell cell;
    for (int col = w->from; col <= w->to; col++) {
        td_cell(t, w->row, col, &cell);
        if (!cell.attrs.reverse)
            return false;
    }
    return true;
}

/* Drags over columns from..to of a console's row and waits until it shows
 * selected. ncurses folds a press and a release read together into the
 * release alone, as no hand makes them: so the focus goes to the navigator
 * first, and the release is sent once the press has focused the console
 * again (its status-line hints are back). */
static bool select_text(struct td *t, int row, int from, int to)
{
    td_type(t, PREFIX "o");
    if (!td_wait_gone(t, "prefix:", 3000))
        return false;
    td_press(t, row, from);
    if (!td_wait_text(t, "prefix:", 3000))
        return false;
    td_release(t, row, to);
    return td_wait(t, reversed, &(struct cells){row, from, to}, 3000);
}

TEST(selection_copies_to_a_file)
{
    const char *dir = fake_dir("copy");
    struct td_fakecon *f = td_fakecon_start(dir, "COPY BOOT");
    struct td *t = open_tui(30, 100);
    WAIT(t, "INSTANCES");
    open_console(t, dir, false);
    WAIT(t, " connected ");
    td_type(t, "copy-me-please\r");
    WAIT(t, "echo: copy-me-please");
    int r, c;
    TCHECK(t, td_find(t, "echo: copy-me-please", &r, &c));
    TCHECK(t, select_text(t, r, c + 6, c + 19));
    char cmd[4300];
    const char *out = test_path("copied.txt");
    snprintf(cmd, sizeof cmd, PREFIX ":copy %s\r", out);
    td_type(t, cmd);
    WAIT(t, "selection written to");
    char *text = test_read_file(out);
    CHECK_STR(text, "copy-me-please");
    free(text);
    CHECK_INT(td_quit(t, 5000), 0);
    td_fakecon_stop(f);
}

/* C-b y writes OSC 52 with the selection to the workbench's terminal: the
 * workbench runs under script(1), which records every byte it writes. */
TEST(selection_copies_to_the_clipboard_with_osc_52)
{
    const char *dir = fake_dir("osc52");
    struct td_fakecon *f = td_fakecon_start(dir, "OSC BOOT");
    const char *bin = getenv("IOTBENCH_BIN");
    CHECK(bin != NULL);
    const char *rec = test_path("typescript");
    const char *argv[] = {"script", "-q", "-f", "-e", "-c", bin, rec, NULL};
    struct td *t = td_start_cmd(&(struct td_opts){.home = home(), .rows = 30, .cols = 100}, argv);
    WAIT(t, "INSTANCES");
    open_console(t, dir, false);
    WAIT(t, " connected ");
    td_type(t, "copy-me-please\r");
    WAIT(t, "echo: copy-me-please");
    int r, c;
    TCHECK(t, td_find(t, "echo: copy-me-please", &r, &c));
    TCHECK(t, select_text(t, r, c + 6, c + 19));
    td_type(t, PREFIX "y");
    WAIT(t, "14 bytes copied to the clipboard (OSC 52)");
    char *bytes = test_read_file(rec);
    /* base64("copy-me-please"), ended by BEL. */
    bool found = strstr(bytes, "\033]52;c;Y29weS1tZS1wbGVhc2U=\a") != NULL;
    free(bytes);
    TCHECK(t, found);
    CHECK_INT(td_quit(t, 5000), 0);
    td_fakecon_stop(f);
}

struct help_arg {
    const char *text;
};

TEST(flooding_console_keeps_keys_fast)
{
    const char *d1 = fake_dir("flood"), *d2 = fake_dir("calm");
    struct td_fakecon *f1 = td_fakecon_start(d1, "FLOOD BOOT");
    struct td_fakecon *f2 = td_fakecon_start(d2, "CALM BOOT");
    struct td *t = open_tui(40, 140);
    WAIT(t, "INSTANCES");
    open_console(t, d2, false);
    WAIT(t, "CALM BOOT");
    open_console(t, d1, true);
    WAIT(t, "FLOOD BOOT");
    td_type(t, "flood\r");
    WAIT(t, "drwxr-xr-x root root");
    /* Key to screen while the console floods: open and close the help. */
    int64_t worst = 0, total = 0;
    for (int i = 0; i < 6; i++) {
        int64_t t0 = now_ms();
        td_type(t, PREFIX "?");
        TCHECK(t, td_wait_text(t, "key bindings", 3000));
        int64_t dt = now_ms() - t0;
        td_type(t, "\033");
        TCHECK(t, td_wait_gone(t, "key bindings", 3000));
        total += dt;
        if (dt > worst)
            worst = dt;
    }
    printf("  key-to-screen while flooding: mean %lld ms, worst %lld ms\n", (long long)(total / 6),
           (long long)worst);
    /* The other console still answers. */
    td_type(t, PREFIX "1");
    td_type(t, "still-here\r");
    TCHECK(t, td_wait_text(t, "echo: still-here", 3000));
    /* Stop the flood (Ctrl-C to the flooding guest). */
    td_type(t, PREFIX "2");
    td_type(t, "\003");
    WAIT(t, "^C");
    /* Every sample, not the mean: one slow frame is what a user feels. */
    TCHECK(t, worst < 100);
    CHECK_INT(td_quit(t, 5000), 0);
    td_fakecon_stop(f1);
    td_fakecon_stop(f2);
}

struct size_arg {
    int rows, cols;
};

/* The tile's title shows the emulator's size as " COLSxROWS". */
static bool tile_size_is(struct td *t, void *arg)
{
    struct size_arg *s = arg;
    char want[32];
    snprintf(want, sizeof want, " %dx%d", s->cols, s->rows);
    return td_find(t, want, NULL, NULL);
}

static bool any_tile_size(struct td *t, struct size_arg *out)
{
    char *screen = td_screen(t);
    char *p = strstr(screen, " connected ");
    bool ok = false;
    if (p) {
        char *line_end = strchr(p, '\n');
        char *x = line_end;
        while (x > p && x[-1] != ' ')
            x--;
        ok = sscanf(x, "%dx%d", &out->cols, &out->rows) == 2;
    }
    free(screen);
    return ok;
}

/* The tile's size is shown and smaller than arg[0] in both directions; it
 * goes to arg[1]. */
static bool tile_shrank(struct td *t, void *arg)
{
    struct size_arg *s = arg;
    return any_tile_size(t, &s[1]) && s[1].cols < s[0].cols && s[1].rows < s[0].rows;
}

TEST(resizes_relayout_consoles_and_tell_the_guest_when_asked)
{
    const char *dir = fake_dir("resize");
    struct td_fakecon *f = td_fakecon_start(dir, "RESIZE BOOT");
    struct td *t = open_tui(40, 120);
    WAIT(t, "INSTANCES");
    open_console(t, dir, false);
    WAIT(t, " connected ");
    td_type(t, PREFIX ":stty auto\r");
    WAIT(t, "stty is sent on every resize");
    struct size_arg big;
    TCHECK(t, any_tile_size(t, &big));
    td_resize(t, 24, 80);
    struct size_arg sizes[2] = {big};
    TCHECK(t, td_wait(t, tile_shrank, sizes, 3000));
    struct size_arg small = sizes[1];
    /* The guest was told the new size. */
    char told[64];
    snprintf(told, sizeof told, "stty: rows %d cols %d", small.rows, small.cols);
    WAIT(t, told);
    TCHECK(t, td_wait(t, tile_size_is, &small, 3000));
    td_resize(t, 12, 40);
    WAIT(t, "Terminal too small");
    td_resize(t, 40, 120);
    TCHECK(t, td_wait(t, tile_size_is, &big, 3000));
    WAIT(t, "RESIZE BOOT"); /* the history is still there */
    CHECK_INT(td_quit(t, 5000), 0);
    td_fakecon_stop(f);
}
