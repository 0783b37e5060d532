/*
 * keys.c - every key binding of the workbench, in one table that drives
 * dispatch, the status-line hints and the `?` help page, so the three can
 * never disagree. The prefix key (default Ctrl-B, as tmux; set with
 * IOTBENCH_PREFIX=C-a or `:prefix C-a`) is how keys reach the workbench while
 * a console has the focus.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tui/app.h"

#define W (BIND_NAV | BIND_DETAIL)
#define P BIND_PREFIX
#define S BIND_SCROLL
#define PR BIND_PROCS
#define DB BIND_DEBUG
#define SN BIND_SNAPS
#define VIEWS (BIND_PROCS | BIND_DEBUG | BIND_SNAPS)

const struct binding key_bindings[] = {
    {'?', "Help", ACT_HELP, W | P, "show this help"},
    {WK_FN(KEY_F(1)), "Help", ACT_HELP, W, "show this help"},
    {':', "Cmd", ACT_CMDLINE, W | P, "command line (:device start demo, :stop NAME, :help)"},
    {'/', "Filter", ACT_FILTER, W | P, "filter the navigator (Enter keeps, Esc clears)"},
    {'\t', "Pane", ACT_NEXT_PANE, W, "next pane (navigator, detail, consoles)"},
    {WK_FN(KEY_BTAB), "", ACT_PREV_PANE, W, "previous pane"},
    {'o', "Next", ACT_NEXT_PANE, P, "next pane"},
    {'\t', "", ACT_NEXT_PANE, P, "next pane"},
    {WK_FN(KEY_LEFT), "", ACT_FOCUS_LEFT, P, "focus the pane on the left"},
    {WK_FN(KEY_RIGHT), "", ACT_FOCUS_RIGHT, P, "focus the pane on the right"},
    {WK_FN(KEY_UP), "", ACT_FOCUS_UP, P, "focus the pane above"},
    {WK_FN(KEY_DOWN), "", ACT_FOCUS_DOWN, P, "focus the pane below"},
    {'1', "", ACT_TILE_1, P, "focus console tile 1"},
    {'2', "", ACT_TILE_2, P, "focus console tile 2"},
    {'3', "", ACT_TILE_3, P, "focus console tile 3"},
    {'4', "", ACT_TILE_4, P, "focus console tile 4"},
    {'s', "Start", ACT_START, W, "start the selected device (asks for an instance name)"},
    {'p', "Procs", ACT_VIEW_PROCS, W | P, "the selected instance's live process table"},
    {'S', "Snaps", ACT_VIEW_SNAPS, W, "the selected instance's snapshots"},
    {'A', "Debugger", ACT_VIEW_DEBUG, W | P, "back to the debugger view of the session"},
    {'e', "Export", ACT_EXPORT, W, "export the selected device to a .piotr archive"},
    {'i', "Import", ACT_IMPORT, W, "import a .piotr archive as a new device"},
    {'C', "Cancel", ACT_TASK_CANCEL, W, "cancel the export or import that runs"},
    {'\r', "Console", ACT_OPEN_CONSOLE, W, "open / focus the selected instance's console"},
    {'x', "Stop", ACT_STOP, W | P, "stop the selected (or focused console's) instance"},
    {'X', "StopAll", ACT_STOP_ALL, W, "stop every instance"},
    {'c', "Check", ACT_CHECK, W, "check the selected device again"},
    {'T', "Target", ACT_TARGET_START, W,
     "start the device's services in the instance (target-start)"},
    {'a', "Argv", ACT_ARGV, W | P, "show the instance's exact QEMU command line"},
    {'z', "Zoom", ACT_ZOOM, W | P, "zoom the focused console to the whole screen, and back"},
    {' ', "Layout", ACT_LAYOUT_NEXT, P, "next tile layout: side, stack, grid, one"},
    {'l', "Layout", ACT_LAYOUT_NEXT, W, "next tile layout: side, stack, grid, one"},
    {'[', "Scroll", ACT_SCROLL_MODE, P, "scroll mode: browse the console's history"},
    {WK_FN(KEY_PPAGE), "", ACT_SCROLL_PAGE_UP, P, "scroll mode, one page up"},
    {'S', "Stty", ACT_STTY, P, "tell the guest the pane size (types stty rows R cols C)"},
    {'y', "Copy", ACT_COPY, P | S, "copy the mouse selection to the clipboard (OSC 52)"},
    {'c', "Close", ACT_CLOSE_CONSOLE, P, "close the console pane (the instance keeps running)"},
    {'n', "", ACT_TOGGLE_NAV, W | P, "show / hide the navigator"},
    {'D', "", ACT_TOGGLE_DETAIL, W | P, "show / hide the detail pane above consoles"},
    {'t', "Theme", ACT_THEME_NEXT, W | P, "next theme (dark, light, mono)"},
    {'r', "", ACT_REFRESH, W | P, "refresh from the store and the runtime folders"},
    {WK_FN(KEY_F(5)), "", ACT_REFRESH, W, "refresh"},
    {'d', "Detach", ACT_QUIT, P, "quit the workbench (instances keep running)"},
    {'q', "Quit", ACT_QUIT, W | P, "quit the workbench (instances keep running)"},
    {WK_FN(KEY_F(10)), "", ACT_QUIT, W, "quit"},
    /* the process table (detail pane) */
    {'k', "Kill", ACT_PROC_KILL, PR, "kill the selected process (asks for the signal)"},
    {'a', "Attach", ACT_PROC_ATTACH, PR, "attach the debugger to the selected process"},
    {'m', "Maps", ACT_PROC_MAPS, PR, "its memory maps (Enter and a double click too)"},
    {'o', "Sockets", ACT_PROC_SOCKETS, PR, "its open sockets"},
    {'/', "Filter", ACT_FILTER, PR, "filter the table (Enter keeps, Esc clears)"},
    {'>', "Sort", ACT_PROC_SORT_NEXT, PR, "sort by the next column (or click a header)"},
    {'<', "", ACT_PROC_SORT_PREV, PR, "sort by the previous column"},
    {WK_FN(KEY_F(6)), "", ACT_PROC_SORT_NEXT, PR, "sort by the next column"},
    {'I', "", ACT_PROC_SORT_INVERT, PR, "invert the sort order"},
    {'P', "", ACT_PROC_SORT_CPU, PR, "sort by CPU %"},
    {'M', "", ACT_PROC_SORT_MEM, PR, "sort by memory (RSS)"},
    {'N', "", ACT_PROC_SORT_PID, PR, "sort by pid"},
    {'K', "", ACT_PROC_KTHREADS, PR, "show / hide kernel threads"},
    {'r', "", ACT_PROC_REFRESH, PR, "refresh now (it refreshes every second)"},
    {WK_FN(KEY_F(5)), "", ACT_PROC_REFRESH, PR, "refresh now"},
    /* the debugger view */
    {'s', "Step", ACT_DBG_STEP, DB, "one instruction (over a breakpoint at pc)"},
    {'c', "Cont", ACT_DBG_CONT, DB, "continue; the workbench stays usable while it runs"},
    {WK_CTRL('c'), "Int", ACT_DBG_INT, DB, "Ctrl-C: interrupt the running process"},
    {'b', "Break", ACT_DBG_BREAK, DB, "break at a symbol, symbol+off or address"},
    {'B', "Clear", ACT_DBG_UNBREAK, DB, "clear a breakpoint (* clears all)"},
    {'g', "GoTo", ACT_DBG_GOTO, DB, "show memory at an address or symbol (sp follows sp)"},
    {'f', "FollowSP", ACT_DBG_FOLLOW_SP, DB, "memory view follows sp again"},
    {'d', "Detach", ACT_DBG_DETACH, DB, "detach: the process runs on"},
    /* the snapshot list */
    {'n', "Save", ACT_SNAP_SAVE, SN, "save a snapshot (asks for a name)"},
    {'l', "Load", ACT_SNAP_LOAD, SN, "load the selected snapshot (also Enter)"},
    {'x', "Delete", ACT_SNAP_DELETE, SN, "delete the selected snapshot"},
    {'r', "", ACT_SNAP_REFRESH, SN, "read the list again"},
    {WK_ESC, "Back", ACT_BACK, VIEWS, "back (maps/sockets to the table, table to details)"},
    {WK_FN(KEY_UP), "", ACT_NONE, S, "scroll up one line (also k, mouse wheel)"},
    {WK_FN(KEY_DOWN), "", ACT_NONE, S, "scroll down one line (also j)"},
    {WK_FN(KEY_PPAGE), "Older", ACT_SCROLL_PAGE_UP, S, "scroll up one page"},
    {WK_FN(KEY_NPAGE), "Newer", ACT_SCROLL_PAGE_DOWN, S, "scroll down one page"},
    {'g', "Top", ACT_SCROLL_TOP, S, "oldest line (also Home)"},
    {'G', "Bottom", ACT_SCROLL_BOTTOM, S, "newest line (also End)"},
    {'q', "Exit", ACT_SCROLL_EXIT, S, "leave scroll mode (also Esc)"},
    {WK_FN(KEY_SPREVIOUS), "", ACT_SCROLL_PAGE_UP, BIND_CONSOLE,
     "Shift-PgUp in a console: scroll back a page"},
    {0, NULL, ACT_NONE, 0, NULL},
};

const char *keyname_of(int key, char *buf, size_t cap)
{
    if (WK_IS_FN(key)) {
        int k = key & ~WK_FN_BIT;
        if (k >= KEY_F(1) && k <= KEY_F(12)) {
            snprintf(buf, cap, "F%d", k - KEY_F0);
            return buf;
        }
        static const struct {
            int k;
            const char *n;
        } N[] = {{KEY_UP, "Up"},       {KEY_DOWN, "Down"},
                 {KEY_LEFT, "Left"},   {KEY_RIGHT, "Right"},
                 {KEY_PPAGE, "PgUp"},  {KEY_NPAGE, "PgDn"},
                 {KEY_HOME, "Home"},   {KEY_END, "End"},
                 {KEY_BTAB, "S-Tab"},  {KEY_SPREVIOUS, "S-PgUp"},
                 {KEY_SNEXT, "S-PgDn"}};
        for (size_t i = 0; i < sizeof N / sizeof N[0]; i++)
            if (N[i].k == k) {
                snprintf(buf, cap, "%s", N[i].n);
                return buf;
            }
        snprintf(buf, cap, "key%d", k);
        return buf;
    }
    if (key == '\t')
        snprintf(buf, cap, "Tab");
    else if (key == '\r')
        snprintf(buf, cap, "Enter");
    else if (key == ' ')
        snprintf(buf, cap, "Space");
    else if (key == WK_ESC)
        snprintf(buf, cap, "Esc");
    else if (key > 0 && key < 0x20)
        snprintf(buf, cap, "C-%c", key + 'a' - 1);
    else
        snprintf(buf, cap, "%lc", (wint_t)key);
    return buf;
}

int key_parse(const char *s)
{
    if ((s[0] == 'C' || s[0] == 'c' || s[0] == '^') && (s[1] == '-' || s[0] == '^')) {
        const char *k = s[0] == '^' ? s + 1 : s + 2;
        if (k[0] && !k[1]) {
            char c = k[0] >= 'A' && k[0] <= 'Z' ? (char)(k[0] + 32) : k[0];
            if (c >= 'a' && c <= 'z')
                return c - 'a' + 1;
            if (c == ']')
                return 0x1d;
            if (c == '\\')
                return 0x1c;
        }
    }
    return -1;
}

int key_parse_prefix(const char *s, char *why, size_t cap)
{
    int k = key_parse(s);
    /* These control keys are what terminals send for Enter, Tab, Return
     * and Backspace: as the prefix they would never reach the guest. */
    static const struct {
        int key;
        const char *is;
    } TAKEN[] = {{WK_CTRL('m'), "Enter"},
                 {WK_CTRL('j'), "Enter (line feed)"},
                 {WK_CTRL('i'), "Tab"},
                 {WK_CTRL('h'), "Backspace"}};
    if (k < 0) {
        snprintf(why, cap, "\"%.40s\" is not a prefix key: use a control key, C-a ... C-z", s);
        return -1;
    }
    for (size_t i = 0; i < sizeof TAKEN / sizeof TAKEN[0]; i++)
        if (TAKEN[i].key == k) {
            snprintf(why, cap,
                     "%.20s is the key %s sends: as the prefix, %s would no longer reach the "
                     "guest (pick another, e.g. C-a)",
                     s, TAKEN[i].is, TAKEN[i].is);
            return -1;
        }
    return k;
}

enum action keys_lookup(int key, unsigned where)
{
    for (const struct binding *b = key_bindings; b->help; b++)
        if (b->key == key && (b->where & where) && b->act != ACT_NONE)
            return b->act;
    return ACT_NONE;
}

static void help_section(struct app *a, struct textview *tv, const char *title, unsigned where)
{
    char kb[32], pb[16];
    keyname_of(a->prefix_key, pb, sizeof pb);
    textview_line(tv);
    textview_line(tv);
    textview_add(tv, TH_SECTION, "%s", title);
    for (const struct binding *b = key_bindings; b->help; b++) {
        if (!(b->where & where))
            continue;
        textview_line(tv);
        char both[48];
        keyname_of(b->key, kb, sizeof kb);
        if (where == BIND_PREFIX)
            snprintf(both, sizeof both, "%s %s", pb, kb);
        else
            snprintf(both, sizeof both, "%s", kb);
        textview_add(tv, TH_HELP_KEY, "  %-12s", both);
        textview_add(tv, TH_NORMAL, " %s", b->help);
        textview_set_indent(tv, 15);
    }
}

void keys_fill_help(struct app *a, struct textview *tv)
{
    char pb[16];
    keyname_of(a->prefix_key, pb, sizeof pb);
    textview_clear(tv, false);
    textview_line(tv);
    textview_add(tv, TH_TITLE_FOCUS, " iotbench workbench - key bindings ");
    textview_line(tv);
    textview_add(tv, TH_DIM, "Esc, q or ? closes this page; arrows/PgUp/PgDn scroll it.");
    help_section(a, tv, "Navigator and detail panes", BIND_NAV | BIND_DETAIL);
    textview_line(tv);
    textview_add(tv, TH_NORMAL,
                 "  Up/Down/PgUp/PgDn/Home/End (j/k/g/G) move; a click selects, "
                 "the wheel scrolls.");
    textview_line(tv);
    textview_line(tv);
    textview_add(tv, TH_SECTION, "Consoles");
    textview_line(tv);
    textview_add(tv, TH_NORMAL,
                 "  Every key typed in a focused console goes to the guest, except the prefix "
                 "key %s. %s then a key reaches the workbench; %s %s sends %s itself.",
                 pb, pb, pb, pb, pb);
    textview_set_indent(tv, 2);
    help_section(a, tv, "After the prefix key", BIND_PREFIX);
    help_section(a, tv, "Scroll mode", BIND_SCROLL);
    help_section(a, tv, "In a console", BIND_CONSOLE);
    help_section(a, tv, "Process table (p; keys while it has the focus)", BIND_PROCS);
    textview_line(tv);
    textview_add(tv, TH_NORMAL,
                 "  It refreshes every second; device processes are marked. Click a row to "
                 "select it, a header to sort by that column (again: reverse), the wheel "
                 "scrolls.");
    textview_set_indent(tv, 2);
    help_section(a, tv, "Debugger view (a in the process table)", BIND_DEBUG);
    textview_line(tv);
    textview_add(tv, TH_NORMAL,
                 "  Registers changed since the previous stop are highlighted. Up/Down/PgUp/PgDn "
                 "and the wheel scroll the memory view; a double click on an instruction sets or "
                 "clears a breakpoint there.");
    textview_set_indent(tv, 2);
    help_section(a, tv, "Snapshot list (S)", BIND_SNAPS);
    textview_line(tv);
    textview_line(tv);
    textview_add(tv, TH_SECTION, "Mouse");
    textview_line(tv);
    textview_add(tv, TH_NORMAL,
                 "  Click a pane to focus it, a row to select it (double-click opens), a "
                 "status-line hint to run it, a table header to sort. The wheel scrolls lists "
                 "and console history. Drag in a console to select text, then %s y copies it "
                 "(OSC 52) or :copy FILE writes it.",
                 pb);
    textview_set_indent(tv, 2);
    textview_line(tv);
    textview_line(tv);
    textview_add(tv, TH_SECTION, "Commands (:)");
    static const char *const CMDS[][2] = {
        {"device start ALIAS [NAME] [--port-offset N] [--target]", "start an instance"},
        {"start ALIAS [NAME]", "the same"},
        {"device check ALIAS", "resolve a device and show what is missing"},
        {"device remove ALIAS", "remove a device folder"},
        {"stop NAME | stop --all", "stop an instance, or all (also :instance stop)"},
        {"console NAME|DIR", "open an instance's console (or DIR/console.sock)"},
        {"argv NAME", "show an instance's QEMU command line"},
        {"kernel|fs|dtb remove NAME", "remove an item from the store"},
        {"kernel|fs|dtb add FILE [NAME]", "copy a file into the store (in the background)"},
        {"NOUN VERB ...", "any other command of the CLI (instance info NAME, instance target-start "
                          "NAME, device warm demo ...): runs in the background, its output in a "
                          "pop-up"},
        {"output", "the last command's output again"},
        {"theme dark|light|mono|FILE", "switch the theme"},
        {"layout side|stack|grid|one", "arrange the console tiles"},
        {"zoom", "zoom / unzoom the focused console"},
        {"stty [auto|off]", "send stty rows/cols now, or on every resize"},
        {"copy [FILE]", "copy the selection to FILE, or the clipboard"},
        {"prefix C-a", "change the prefix key"},
        {"filter TEXT", "filter the navigator"},
        {"procs [INSTANCE]", "the live process table (also :ps)"},
        {"debug PID", "attach the debugger to a process of the selected instance"},
        {"snapshots [INSTANCE]", "the snapshot list"},
        {"snapshot save|load|delete NAME", "a snapshot operation on the selected instance"},
        {"export DEVICE [FILE]", "export a device (also :device export)"},
        {"import FILE [ALIAS]", "import a .piotr archive (also :device add)"},
        {"cancel", "end the command, export or import that runs"},
        {"info", "back to the detail pane's details"},
        {"refresh", "reload the store and the instances"},
        {"quit", "leave (instances keep running)"},
    };
    for (size_t i = 0; i < sizeof CMDS / sizeof CMDS[0]; i++) {
        textview_line(tv);
        textview_add(tv, TH_HELP_KEY, "  :%s", CMDS[i][0]);
        textview_add(tv, TH_NORMAL, "  %s", CMDS[i][1]);
        textview_set_indent(tv, 4);
    }
}

void keys_status_hints(struct app *a)
{
    struct statusbar *sb = a->status;
    statusbar_clear_hints(sb);
    char kb[32], pb[16];
    keyname_of(a->prefix_key, pb, sizeof pb);
    if (a->mode == MODE_HELP) {
        statusbar_hint(sb, "Esc", a->help_output ? "Close" : "Close help", ACT_HELP);
        return;
    }
    if (a->focus == FOCUS_CONSOLE && a->focus_con) {
        if (a->focus_con->scroll_mode) {
            for (const struct binding *b = key_bindings; b->help; b++)
                if ((b->where & BIND_SCROLL) && b->label[0])
                    statusbar_hint(sb, keyname_of(b->key, kb, sizeof kb), b->label, b->act);
            return;
        }
        char k[40];
        snprintf(k, sizeof k, "%s", pb);
        statusbar_hint(sb, k, "prefix:", ACT_NONE);
        static const int SHOW[] = {'?', ':', 'o', 'z', ' ', '[', 'S', 'c', 'd'};
        for (size_t i = 0; i < sizeof SHOW / sizeof SHOW[0]; i++)
            for (const struct binding *b = key_bindings; b->help; b++)
                if (b->key == SHOW[i] && (b->where & BIND_PREFIX) && b->label[0]) {
                    statusbar_hint(sb, keyname_of(b->key, kb, sizeof kb), b->label, b->act);
                    break;
                }
        return;
    }
    if (a->focus == FOCUS_DETAIL && a->view != VIEW_INFO) {
        static const unsigned WHERE[VIEW_N] = {0, BIND_PROCS, BIND_SNAPS, BIND_DEBUG};
        statusbar_hint(sb, "?", "Help", ACT_HELP);
        for (const struct binding *b = key_bindings; b->help; b++)
            if ((b->where & WHERE[a->view]) && b->label[0])
                statusbar_hint(sb, keyname_of(b->key, kb, sizeof kb), b->label, b->act);
        statusbar_hint(sb, "z", "Zoom", ACT_ZOOM);
        statusbar_hint(sb, "Tab", "Pane", ACT_NEXT_PANE);
        return;
    }
    int tag = 0;
    nav_selected(a, &tag);
    static const int COMMON_HEAD[] = {'?', ':', '/'};
    for (size_t i = 0; i < 3; i++)
        for (const struct binding *b = key_bindings; b->help; b++)
            if (b->key == COMMON_HEAD[i] && (b->where & BIND_NAV)) {
                statusbar_hint(sb, keyname_of(b->key, kb, sizeof kb), b->label, b->act);
                break;
            }
    if (task_running(a))
        statusbar_hint(sb, "C", "Cancel", ACT_TASK_CANCEL);
    if (tag == NAV_DEVICE) {
        statusbar_hint(sb, "s", "Start", ACT_START);
        statusbar_hint(sb, "c", "Check", ACT_CHECK);
        statusbar_hint(sb, "e", "Export", ACT_EXPORT);
        statusbar_hint(sb, "i", "Import", ACT_IMPORT);
    } else if (tag == NAV_INSTANCE) {
        statusbar_hint(sb, "Enter", "Console", ACT_OPEN_CONSOLE);
        statusbar_hint(sb, "p", "Procs", ACT_VIEW_PROCS);
        statusbar_hint(sb, "S", "Snaps", ACT_VIEW_SNAPS);
        statusbar_hint(sb, "T", "Target", ACT_TARGET_START);
        if (a->dbg)
            statusbar_hint(sb, "A", "Debugger", ACT_VIEW_DEBUG);
        statusbar_hint(sb, "x", "Stop", ACT_STOP);
        statusbar_hint(sb, "a", "Argv", ACT_ARGV);
    }
    if (a->n_inst > 0)
        statusbar_hint(sb, "X", "StopAll", ACT_STOP_ALL);
    statusbar_hint(sb, "Tab", "Pane", ACT_NEXT_PANE);
    if (a->consoles)
        statusbar_hint(sb, "z", "Zoom", ACT_ZOOM);
    statusbar_hint(sb, "t", "Theme", ACT_THEME_NEXT);
    statusbar_hint(sb, "q", "Quit", ACT_QUIT);
}
