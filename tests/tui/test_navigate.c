/*
 * test_navigate.c - the workbench without guests, driven in a pty with a
 * libvterm oracle (tests/lib/tuidrive.h): the navigator and its counts,
 * --device, filtering, help, the command line, themes, NO_COLOR, resizes
 * down to a too-small terminal, and the mouse.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/lib/cmd.h"
#include "tests/lib/harness.h"
#include "tests/lib/tdcheck.h"
#include "tests/lib/tuidrive.h"

#define KERNEL "virt.cortex-a15.little-6.1.176"
#define HOSTFS "virt.cortex-a15.little-6.1.176.ext2"

/* A store with one kernel, one host filesystem and the demo device. */
static const char *make_home(void)
{
    static char home[4096];
    if (home[0])
        return home;
    snprintf(home, sizeof home, "%s", test_path("home"));
    test_write_file(test_path("src/zImage"), "not really a kernel\n");
    test_write_file(test_path("src/fs.img"), "not really a filesystem\n");
    struct cmd_result r;
    ib_run(&r, home, "kernel", "add", test_path("src/zImage"), "--name", KERNEL, NULL);
    if (r.status != 0)
        printf("kernel add: %s\n", r.err);
    cmd_result_free(&r);
    ib_run(&r, home, "fs", "add", test_path("src/fs.img"), "--name", HOSTFS, NULL);
    if (r.status != 0)
        printf("fs add: %s\n", r.err);
    cmd_result_free(&r);
    char dev[8300];
    snprintf(dev, sizeof dev, "%s/devices/demo/config.yaml", home);
    char src[8300];
    snprintf(src, sizeof src, "%s/devices/demo/config.yaml", test_src_dir());
    char *cfg = test_read_file(src);
    test_write_file(dev, cfg);
    free(cfg);
    snprintf(dev, sizeof dev, "%s/devices/demo/rootfs/.keep", home);
    test_write_file(dev, "");
    return home;
}

static struct td *open_tui(int rows, int cols, const char *const *args, const char *const *env)
{
    return td_start(&(struct td_opts){
        .home = make_home(), .rows = rows, .cols = cols, .args = args, .env = env});
}

#define WAIT(t, text) TD_WAIT_TEXT(t, text, 5000)

#define WAIT_GONE(t, text) TD_WAIT_GONE(t, text, 5000)

TEST(navigator_shows_sections_with_counts)
{
    struct td *t = open_tui(40, 120, NULL, NULL);
    WAIT(t, "KERNELS (1)");
    WAIT(t, "HOST FS (1)");
    WAIT(t, "DTBS (0)");
    WAIT(t, "DEVICES (1)");
    WAIT(t, "INSTANCES (0)");
    WAIT(t, "virt.cortex-a15");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(device_option_preselects_and_checks)
{
    struct td *t = open_tui(40, 120, (const char *[]){"--device", "demo", NULL}, NULL);
    WAIT(t, "Device demo");
    WAIT(t, "iotbench demo device");
    WAIT(t, "ready to start");
    WAIT(t, KERNEL);
    /* The status line offers the device's actions. */
    WAIT(t, "Start");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(arrows_move_the_selection_and_the_detail_follows)
{
    struct td *t = open_tui(40, 120, NULL, NULL);
    WAIT(t, "KERNELS (1)");
    /* The first item (the kernel) is selected at start. */
    WAIT(t, "Kernel " KERNEL);
    td_key(t, VTERM_KEY_DOWN, 0);
    WAIT(t, "Host filesystem " HOSTFS);
    td_key(t, VTERM_KEY_DOWN, 0);
    WAIT(t, "Device demo");
    td_key(t, VTERM_KEY_UP, 0);
    WAIT(t, "Host filesystem");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(slash_filters_the_navigator)
{
    struct td *t = open_tui(40, 120, NULL, NULL);
    WAIT(t, "DEVICES (1)");
    td_type(t, "/dem");
    WAIT(t, "KERNELS (0/1)");
    WAIT(t, "DEVICES (1/1)");
    WAIT(t, "Device demo"); /* the selection moved to what is left */
    td_type(t, "\r");
    WAIT(t, "Navigator  /dem");
    td_type(t, "\033");
    WAIT(t, "KERNELS (1)");
    WAIT_GONE(t, "/dem");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(question_mark_shows_every_binding)
{
    struct td *t = open_tui(40, 120, NULL, NULL);
    WAIT(t, "DEVICES (1)");
    td_type(t, "?");
    WAIT(t, "key bindings");
    td_key(t, VTERM_KEY_PAGEDOWN, 0);
    WAIT(t, "After the prefix key");
    WAIT(t, "C-b z");
    td_type(t, "\033");
    WAIT_GONE(t, "key bindings");
    WAIT(t, "DEVICES (1)");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(command_line_runs_verbs)
{
    struct td *t = open_tui(40, 120, NULL, NULL);
    WAIT(t, "DEVICES (1)");
    td_type(t, ":device check demo\r");
    WAIT(t, "demo: ok, ready to start");
    WAIT(t, "Device demo");
    td_type(t, ":frobnicate\r");
    WAIT(t, "unknown command: frobnicate");
    td_type(t, ":stop nosuch\r");
    WAIT(t, "no instance named nosuch");
    td_type(t, ":device remove demo\r");
    WAIT(t, "DEVICES (0)");
    /* Put the device back for the other tests. */
    char src[8300], dst[8300];
    snprintf(src, sizeof src, "%s/devices/demo/config.yaml", test_src_dir());
    snprintf(dst, sizeof dst, "%s/devices/demo/config.yaml", make_home());
    char *cfg = test_read_file(src);
    test_write_file(dst, cfg);
    free(cfg);
    snprintf(dst, sizeof dst, "%s/devices/demo/rootfs/.keep", make_home());
    test_write_file(dst, "");
    td_type(t, ":refresh\r");
    WAIT(t, "DEVICES (1)");
    CHECK_INT(td_quit(t, 5000), 0);
}

/* The status bar's background colour (row 0 is the header, drawn with it). */
static int header_bg(struct td *t)
{
    VTermScreenCell c;
    td_cell(t, 0, 30, &c);
    if (VTERM_COLOR_IS_DEFAULT_BG(&c.bg))
        return -1;
    return VTERM_COLOR_IS_INDEXED(&c.bg) ? c.bg.indexed.idx : -2;
}

struct bg_arg {
    int want;
};

static bool bg_is(struct td *t, void *arg)
{
    return header_bg(t) == ((struct bg_arg *)arg)->want;
}

TEST(theme_switches_at_runtime)
{
    struct td *t = open_tui(40, 120, NULL, NULL);
    WAIT(t, "theme dark");
    struct bg_arg want = {236}; /* themes/dark.theme: status.bar = 252 on 236 */
    CHECK(td_wait(t, bg_is, &want, 3000));
    td_type(t, ":theme light\r");
    WAIT(t, "theme light");
    want.want = 253;
    CHECK(td_wait(t, bg_is, &want, 3000));
    td_type(t, ":theme mono\r");
    WAIT(t, "theme mono");
    want.want = -1;
    CHECK(td_wait(t, bg_is, &want, 3000));
    VTermScreenCell c;
    td_cell(t, 0, 30, &c);
    CHECK(c.attrs.reverse); /* mono: the status bar is reverse video */
    td_type(t, ":theme nosuch\r");
    WAIT(t, "no theme \"nosuch\"");
    CHECK_INT(td_quit(t, 5000), 0);
}

static bool no_colour_anywhere(struct td *t, void *arg)
{
    (void)arg;
    int rows, cols;
    td_size(t, &rows, &cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            VTermScreenCell cell;
            td_cell(t, r, c, &cell);
            if (!VTERM_COLOR_IS_DEFAULT_FG(&cell.fg) || !VTERM_COLOR_IS_DEFAULT_BG(&cell.bg))
                return false;
        }
    return true;
}

TEST(no_color_shows_no_colour_but_stays_legible)
{
    struct td *t = open_tui(40, 120, NULL, (const char *[]){"NO_COLOR=1", NULL});
    WAIT(t, "DEVICES (1)");
    CHECK(td_wait(t, no_colour_anywhere, NULL, 2000));
    /* The selection still shows, in reverse video. */
    int row;
    /* The navigator's row (it starts the line), not a title or the detail. */
    row = -1;
    for (int r = 0; r < 40 && row < 0; r++) {
        char *line = td_row(t, r);
        if (strncmp(line, "  virt.cortex", 13) == 0)
            row = r;
        free(line);
    }
    CHECK(row > 0);
    VTermScreenCell c;
    td_cell(t, row, 4, &c);
    CHECK(c.attrs.reverse);
    td_type(t, ":theme light\r");
    /* The status line is drawn last in a frame: once it says so, the frame is whole. */
    CHECK(td_wait_row(t, 39, "theme light", 5000));
    CHECK(no_colour_anywhere(t, NULL));
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(resizes_relayout_and_too_small_says_so)
{
    struct td *t = open_tui(40, 120, NULL, NULL);
    WAIT(t, "DEVICES (1)");
    WAIT(t, "prefix C-b");
    td_resize(t, 24, 80);
    WAIT(t, "INSTANCES (0)");
    /* The status line moved to the new last row. */
    CHECK(td_wait_row(t, 23, "Help", 3000));
    /* A narrower header drops the store's path, never "? help" or the prefix. */
    CHECK(td_wait_row(t, 0, "? help", 3000));
    CHECK(td_wait_row(t, 0, "prefix C-b", 3000));
    td_resize(t, 12, 40);
    WAIT(t, "Terminal too small: 40x12");
    WAIT_GONE(t, "DEVICES");
    /* Tiny: shorter words, but the size is still there whole. */
    td_resize(t, 6, 20);
    WAIT(t, "Too small: 20x6");
    WAIT(t, "needs ");
    td_resize(t, 30, 100);
    WAIT(t, "DEVICES (1)");
    CHECK(td_wait_row(t, 29, "Help", 3000));
    td_resize(t, 40, 120);
    WAIT(t, "DEVICES (1)");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(mouse_selects_rows_and_presses_status_actions)
{
    struct td *t = open_tui(40, 120, NULL, NULL);
    WAIT(t, "DEVICES (1)");
    /* The section's count can be on screen a frame before its rows. */
    WAIT(t, "  demo");
    int row, col;
    CHECK(td_find(t, "  demo", &row, &col));
    td_click(t, row, col + 3);
    WAIT(t, "Device demo");
    /* A double click on a device asks for an instance name. */
    td_click(t, row, col + 3);
    td_click(t, row, col + 3);
    WAIT(t, "Start demo as:");
    td_type(t, "\033");
    WAIT_GONE(t, "Start demo as:");
    /* The "Help" hint of the status line is a button. */
    CHECK(td_find(t, "? Help", &row, &col));
    td_click(t, row, col + 3);
    WAIT(t, "key bindings");
    td_wheel(t, 10, 10, false);
    td_type(t, "q");
    WAIT_GONE(t, "key bindings");
    /* The wheel moves the selection in the navigator. */
    td_wheel(t, 5, 5, true);
    WAIT(t, "Kernel " KERNEL);
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(start_prompt_offers_a_generated_name)
{
    struct td *t = open_tui(40, 120, (const char *[]){"--device", "demo", NULL}, NULL);
    WAIT(t, "Device demo");
    td_type(t, "s");
    WAIT(t, "Start demo as: ");
    int row, col;
    CHECK(td_find(t, "Start demo as: ", &row, &col));
    char *line = td_row(t, row);
    /* adjective_surname */
    const char *name = strstr(line, "as: ") + 4;
    CHECK(strchr(name, '_') != NULL);
    free(line);
    td_type(t, "\033");
    WAIT_GONE(t, "Start demo as:");
    CHECK_INT(td_quit(t, 5000), 0);
}

/* Row of the screen that starts with text (the navigator's column). */
static int row_starting(struct td *t, const char *text)
{
    int rows, cols;
    td_size(t, &rows, &cols);
    for (int r = 0; r < rows; r++) {
        char *line = td_row(t, r);
        bool yes = strncmp(line, text, strlen(text)) == 0;
        free(line);
        if (yes)
            return r;
    }
    return -1;
}

struct order {
    const char *first, *second;
};

static bool in_order(struct td *t, void *arg)
{
    struct order *o = arg;
    int a = row_starting(t, o->first), b = row_starting(t, o->second);
    return a >= 0 && b >= 0 && a < b;
}

TEST(clicking_a_column_header_sorts)
{
    char dst[8300];
    snprintf(dst, sizeof dst, "%s/devices/zeta/config.yaml", make_home());
    test_write_file(dst, "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a7\n"
                         "  bootargs: \"console=ttyAMA0\"\n");
    struct td *t = open_tui(40, 120, NULL, NULL);
    WAIT(t, "DEVICES (2)");
    struct order demo_first = {"  demo", "  zeta"}, zeta_first = {"  zeta", "  demo"};
    CHECK(td_wait(t, in_order, &demo_first, 3000));
    int row, col;
    CHECK(td_find(t, "NAME", &row, &col));
    td_click(t, row, col + 1); /* ascending */
    WAIT(t, "NAME▲");
    td_click(t, row, col + 1); /* descending */
    WAIT(t, "NAME▼");
    CHECK(td_wait(t, in_order, &zeta_first, 3000));
    CHECK(td_find(t, "INFO", &row, &col));
    td_click(t, row, col + 1); /* "missing" sorts before "ok" */
    WAIT(t, "INFO▲");
    CHECK(td_wait(t, in_order, &zeta_first, 3000));
    snprintf(dst, sizeof dst, "%s/devices/zeta", make_home());
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dst);
    CHECK(system(cmd) == 0);
    CHECK_INT(td_quit(t, 5000), 0);
}

/* Every colour is one of the 8, and no character is drawn in its own
 * background's colour (a default background counts as the dark theme's
 * black; the light theme paints every background). */
static bool only_8_colours(struct td *t, void *arg)
{
    (void)arg;
    int rows, cols, coloured = 0;
    td_size(t, &rows, &cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            VTermScreenCell cell;
            td_cell(t, r, c, &cell);
            bool fg_def = VTERM_COLOR_IS_DEFAULT_FG(&cell.fg);
            bool bg_def = VTERM_COLOR_IS_DEFAULT_BG(&cell.bg);
            if ((VTERM_COLOR_IS_RGB(&cell.fg) && !fg_def) ||
                (VTERM_COLOR_IS_RGB(&cell.bg) && !bg_def))
                return false;
            if (VTERM_COLOR_IS_INDEXED(&cell.fg) && !fg_def) {
                if (cell.fg.indexed.idx > 7)
                    return false;
                coloured++;
            }
            if (VTERM_COLOR_IS_INDEXED(&cell.bg) && !bg_def) {
                if (cell.bg.indexed.idx > 7)
                    return false;
                coloured++;
            }
            int fg = fg_def ? -1 : cell.fg.indexed.idx;
            int bg = bg_def ? 0 : cell.bg.indexed.idx;
            if (cell.chars[0] > ' ' && !cell.attrs.reverse && fg == bg)
                return false;
        }
    return coloured > 0; /* still in colour, folded to the 8 the terminal has */
}

/* Readable on screen in each theme: header, navigator, detail, status line
 * (test_theme.c checks every element of every theme file). */
TEST(eight_colour_terminal_gets_folded_colours)
{
    struct td *t = open_tui(40, 120, NULL, (const char *[]){"TERM=xterm", NULL});
    WAIT(t, "DEVICES (1)");
    if (!td_wait(t, only_8_colours, NULL, 3000)) {
        td_dump(t, "dark: not 8 colours, or a cell in its background's colour");
        CHECK(0);
    }
    td_type(t, ":theme light\r");
    /* The status line is drawn last in a frame: once it says so, the frame is whole. */
    CHECK(td_wait_row(t, 39, "theme light", 5000));
    if (!only_8_colours(t, NULL)) {
        td_dump(t, "light: not 8 colours, or a cell in its background's colour");
        CHECK(0);
    }
    CHECK_INT(td_quit(t, 5000), 0);
}

/* Enter, Tab, line feed and Backspace arrive as C-m, C-i, C-j and C-h: none
 * of them may become the prefix, from the environment or from `:prefix`. */
TEST(prefix_refuses_keys_the_guest_needs)
{
    struct td *t = open_tui(40, 200, NULL, (const char *const[]){"IOTBENCH_PREFIX=C-m", NULL});
    WAIT(t, "IOTBENCH_PREFIX ignored, the prefix is C-b: C-m is the key Enter sends");
    WAIT(t, "prefix C-b");
    static const char *const BAD[][2] = {{"C-m", "C-m is the key Enter sends"},
                                         {"C-i", "C-i is the key Tab sends"},
                                         {"C-j", "C-j is the key Enter (line feed) sends"},
                                         {"^H", "^H is the key Backspace sends"},
                                         {"x", "\"x\" is not a prefix key"}};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, ":prefix %s\r", BAD[i][0]);
        td_type(t, cmd);
        if (!td_wait_text(t, BAD[i][1], 5000)) {
            td_dump(t, BAD[i][1]);
            td_free(t);
            CHECK_MSG(0, "no refusal of %s", BAD[i][0]);
        }
        WAIT(t, "prefix C-b");
    }
    td_type(t, ":prefix C-a\r");
    WAIT(t, "prefix C-a");
    td_free(t);
}
