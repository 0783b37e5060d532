/* theme.c - see theme.h. */
#include "widgets/theme.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "widgets/palette.h"

static const char *const NAMES[TH_N] = {
    [TH_NORMAL] = "normal",
    [TH_DIM] = "dim",
    [TH_APP_TITLE] = "app.title",
    [TH_BORDER] = "border",
    [TH_BORDER_FOCUS] = "border.focus",
    [TH_TITLE] = "title",
    [TH_TITLE_FOCUS] = "title.focus",
    [TH_SECTION] = "section",
    [TH_COUNT] = "count",
    [TH_SELECTION] = "selection",
    [TH_SELECTION_FOCUS] = "selection.focus",
    [TH_MATCH] = "match",
    [TH_TABLE_HEADER] = "table.header",
    [TH_TABLE_HEADER_SORT] = "table.header.sort",
    [TH_LABEL] = "label",
    [TH_VALUE] = "value",
    [TH_OK] = "ok",
    [TH_WARN] = "warn",
    [TH_ERROR] = "error",
    [TH_DEAD] = "dead",
    [TH_TIMELINE_DONE] = "timeline.done",
    [TH_TIMELINE_NOW] = "timeline.now",
    [TH_TIMELINE_TODO] = "timeline.todo",
    [TH_STATUS_BAR] = "status.bar",
    [TH_STATUS_KEY] = "status.key",
    [TH_STATUS_MESSAGE] = "status.message",
    [TH_STATUS_ERROR] = "status.error",
    [TH_PROMPT] = "prompt",
    [TH_INPUT] = "input",
    [TH_HELP_KEY] = "help.key",
    [TH_CONSOLE_TITLE] = "console.title",
    [TH_CONSOLE_TITLE_FOCUS] = "console.title.focus",
    [TH_CONSOLE_SELECTION] = "console.selection",
    [TH_CONSOLE_SCROLLED] = "console.scrolled",
    [TH_TAB] = "tab",
    [TH_TAB_ACTIVE] = "tab.active",
    [TH_PROC_DEVICE] = "process.device",
    [TH_PROC_KERNEL] = "process.kernel",
    [TH_CHANGED] = "changed",
    [TH_CODE_PC] = "code.pc",
    [TH_CODE_BREAK] = "code.break",
    [TH_CODE_SYMBOL] = "code.symbol",
    [TH_PROGRESS_DONE] = "progress.done",
    [TH_PROGRESS_TODO] = "progress.todo",
};

/* Legible with attributes alone: the base of every theme and the fallback
 * of colour-only elements on terminals without colour. */
static const attr_t MONO[TH_N] = {
    [TH_DIM] = A_DIM,
    [TH_APP_TITLE] = A_BOLD | A_REVERSE,
    [TH_BORDER_FOCUS] = A_BOLD,
    [TH_TITLE] = A_NORMAL,
    [TH_TITLE_FOCUS] = A_BOLD | A_REVERSE,
    [TH_SECTION] = A_BOLD,
    [TH_COUNT] = A_NORMAL,
    [TH_SELECTION] = A_UNDERLINE,
    [TH_SELECTION_FOCUS] = A_REVERSE,
    [TH_MATCH] = A_UNDERLINE,
    [TH_TABLE_HEADER] = A_BOLD | A_UNDERLINE,
    [TH_TABLE_HEADER_SORT] = A_BOLD | A_REVERSE,
    [TH_LABEL] = A_BOLD,
    [TH_OK] = A_NORMAL,
    [TH_WARN] = A_BOLD,
    [TH_ERROR] = A_BOLD | A_UNDERLINE,
    [TH_DEAD] = A_BOLD | A_UNDERLINE,
    [TH_TIMELINE_DONE] = A_BOLD,
    [TH_TIMELINE_NOW] = A_REVERSE,
    [TH_TIMELINE_TODO] = A_DIM,
    [TH_STATUS_BAR] = A_REVERSE,
    [TH_STATUS_KEY] = A_BOLD,
    [TH_STATUS_MESSAGE] = A_REVERSE,
    [TH_STATUS_ERROR] = A_BOLD | A_REVERSE,
    [TH_PROMPT] = A_BOLD,
    [TH_INPUT] = A_UNDERLINE,
    [TH_HELP_KEY] = A_BOLD,
    [TH_CONSOLE_TITLE] = A_REVERSE,
    [TH_CONSOLE_TITLE_FOCUS] = A_BOLD | A_REVERSE,
    [TH_CONSOLE_SELECTION] = A_REVERSE,
    [TH_CONSOLE_SCROLLED] = A_BOLD | A_REVERSE,
    [TH_TAB] = A_NORMAL,
    [TH_TAB_ACTIVE] = A_BOLD | A_REVERSE,
    [TH_PROC_DEVICE] = A_BOLD,
    [TH_PROC_KERNEL] = A_DIM,
    [TH_CHANGED] = A_BOLD | A_UNDERLINE,
    [TH_CODE_PC] = A_REVERSE,
    [TH_CODE_BREAK] = A_BOLD,
    [TH_CODE_SYMBOL] = A_NORMAL,
    [TH_PROGRESS_DONE] = A_REVERSE,
    [TH_PROGRESS_TODO] = A_DIM,
};

static struct theme current;
static bool current_set;

const char *theme_element_name(enum th_element e)
{
    return (e >= 0 && e < TH_N) ? NAMES[e] : "?";
}

int theme_element_parse(const char *name)
{
    for (int i = 0; i < TH_N; i++)
        if (strcmp(NAMES[i], name) == 0)
            return i;
    return -1;
}

void theme_init_mono(struct theme *th)
{
    memset(th, 0, sizeof *th);
    snprintf(th->name, sizeof th->name, "mono");
    for (int i = 0; i < TH_N; i++)
        th->st[i] = (struct th_style){-1, -1, MONO[i], false};
}

static const char *const COLOUR_NAMES[8] = {"black", "red",     "green", "yellow",
                                            "blue",  "magenta", "cyan",  "white"};

static int parse_colour(const char *tok, int *out)
{
    if (strcmp(tok, "default") == 0) {
        *out = -1;
        return 0;
    }
    for (int i = 0; i < 8; i++) {
        if (strcmp(tok, COLOUR_NAMES[i]) == 0) {
            *out = i;
            return 0;
        }
        if (strncmp(tok, "bright-", 7) == 0 && strcmp(tok + 7, COLOUR_NAMES[i]) == 0) {
            *out = 8 + i;
            return 0;
        }
    }
    if (tok[0] == '#' && strlen(tok) == 7) {
        char *end;
        long v = strtol(tok + 1, &end, 16);
        if (*end != '\0')
            return -1;
        *out = palette_rgb_to_256((int)(v >> 16) & 255, (int)(v >> 8) & 255, (int)v & 255);
        return 0;
    }
    if (isdigit((unsigned char)tok[0])) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end != '\0' || v > 255)
            return -1;
        *out = (int)v;
        return 0;
    }
    return -1;
}

static int parse_attr(const char *tok, attr_t *out)
{
    static const struct {
        const char *name;
        attr_t attr;
    } A[] = {{"bold", A_BOLD},       {"dim", A_DIM},       {"underline", A_UNDERLINE},
             {"reverse", A_REVERSE}, {"italic", A_ITALIC}, {"standout", A_STANDOUT},
             {"normal", A_NORMAL}};
    for (size_t i = 0; i < IB_ARRAY_LEN(A); i++)
        if (strcmp(tok, A[i].name) == 0) {
            *out |= A[i].attr;
            return 0;
        }
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int parse_style(char *value, struct th_style *st, const char **bad)
{
    struct th_style s = {-1, -1, A_NORMAL, false};
    int colours = 0;
    bool after_on = false;
    for (char *save = NULL, *tok = strtok_r(value, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save)) {
        int c;
        if (strcmp(tok, "on") == 0) {
            after_on = true;
            continue;
        }
        if (parse_colour(tok, &c) == 0) {
            if (after_on || colours == 1)
                s.bg = c;
            else
                s.fg = c;
            colours++;
            s.colour = true;
            after_on = false;
            continue;
        }
        if (parse_attr(tok, &s.attrs) == 0)
            continue;
        *bad = tok;
        return -1;
    }
    *st = s;
    return 0;
}

int theme_parse(struct theme *th, const char *text, const char *display, struct ib_error *err)
{
    theme_init_mono(th);
    const char *base = ib_path_base(display);
    snprintf(th->name, sizeof th->name, "%.*s",
             (int)(strchr(base, '.') ? (size_t)(strchr(base, '.') - base) : strlen(base)), base);
    char *copy = xstrdup(text);
    int line_no = 0, rc = 0;
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char *hash = strchr(line, '#');
        /* '#' starts a comment unless it begins a #rrggbb colour. */
        while (hash && isxdigit((unsigned char)hash[1]) && hash > line && hash[-1] == ' ' &&
               strspn(hash + 1, "0123456789abcdefABCDEF") == 6)
            hash = strchr(hash + 1, '#');
        if (hash)
            *hash = '\0';
        char *l = trim(line);
        if (*l == '\0')
            continue;
        char *eq = strchr(l, '=');
        if (eq == NULL) {
            rc = ib_err(err, IB_EINPUT, "%s:%d: expected \"element = style\"", display, line_no);
            break;
        }
        *eq = '\0';
        char *key = trim(l), *value = trim(eq + 1);
        if (strcmp(key, "name") == 0) {
            snprintf(th->name, sizeof th->name, "%s", value);
            continue;
        }
        int e = theme_element_parse(key);
        if (e < 0) {
            rc = ib_err(err, IB_EINPUT, "%s:%d: unknown element \"%s\"", display, line_no, key);
            break;
        }
        const char *bad = NULL;
        if (parse_style(value, &th->st[e], &bad) < 0) {
            rc = ib_err(err, IB_EINPUT,
                        "%s:%d: %s: \"%s\" is neither a colour (name, 0-255, #rrggbb) "
                        "nor an attribute (bold, dim, underline, reverse, italic)",
                        display, line_no, key, bad);
            break;
        }
    }
    free(copy);
    return rc;
}

int theme_load_file(struct theme *th, const char *path, struct ib_error *err)
{
    char *text;
    size_t len;
    if (ib_read_file(path, 1 << 20, &text, &len, err) < 0)
        return -1;
    int rc = theme_parse(th, text, path, err);
    free(text);
    return rc;
}

void theme_set_current(const struct theme *th)
{
    current = *th;
    current_set = true;
}

const struct theme *theme_current(void)
{
    if (!current_set) {
        theme_init_mono(&current);
        current_set = true;
    }
    return &current;
}

static int luminance(int c)
{
    int r, g, b;
    palette_256_to_rgb(c, &r, &g, &b);
    return (299 * r + 587 * g + 114 * b) / 1000;
}

/* On 8 (or 16) colours the greys of a theme fold to black or white, and a
 * dim grey can land on its own background (245 on 231: white on white; 240
 * on a dark terminal: black on black). Such a foreground is moved to black
 * or white, away from the background in the direction the theme meant. A
 * default background is the theme's own (normal), and when that is the
 * terminal's too, a dark one is assumed (themes for light terminals set it). */
static int contrast_fg(const struct theme *th, const struct th_style *s, int fg)
{
    if (fg < 0)
        return fg;
    int bg_raw = s->bg >= 0 ? s->bg : th->st[TH_NORMAL].bg >= 0 ? th->st[TH_NORMAL].bg : 0;
    int bg = palette_fold(bg_raw);
    if (fg != bg)
        return fg;
    bool lighter = luminance(s->fg) >= luminance(bg_raw);
    int first = lighter ? 7 : 0, second = lighter ? 0 : 7;
    return first != bg ? first : second;
}

void theme_colours(enum th_element e, int *fg, int *bg)
{
    const struct th_style *s = &theme_current()->st[e];
    *fg = palette_fold(s->fg);
    *bg = palette_fold(s->bg);
    if (palette_depth() > 0 && palette_depth() < 256)
        *fg = contrast_fg(theme_current(), s, *fg);
}

void theme_cell(enum th_element e, attr_t *attr, int *pair)
{
    const struct th_style *s = &theme_current()->st[e];
    if (palette_depth() == 0) {
        *pair = 0;
        *attr = s->colour ? (s->attrs | MONO[e]) : s->attrs;
        return;
    }
    *attr = s->attrs;
    int fg, bg;
    theme_colours(e, &fg, &bg);
    *pair = palette_pair(fg, bg);
}

void theme_use(WINDOW *w, enum th_element e)
{
    attr_t a;
    int pair;
    theme_cell(e, &a, &pair);
    wattr_set(w, a, (short)(pair < 32767 ? pair : 0), &pair);
}
