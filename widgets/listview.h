/*
 * listview.h - a scrollable list or table with optional section headers
 * (htop's Panel): selection, filter, sort by column, mouse.
 *
 *     static const struct lv_column COLS[] = {{"NAME", 0, false}, {"SIZE", 9, true}};
 *     struct listview *lv = listview_new(COLS, 2, true);
 *     listview_begin(lv);                         // keeps the selected key
 *     listview_add(lv, LV_HEADER, 0, NULL, (const char *[]){"KERNELS", ""});
 *     listview_add(lv, LV_ITEM, KIND_KERNEL, "k:virt...", (const char *[]){"virt...", "4 MiB"});
 *     listview_end(lv);                           // filters, sorts, restores the selection
 *     int r = widget_key(&lv->base, key);         // LV_MOVED, LV_ACTIVATE, ...
 *
 * A header row shows its label and how many items follow it ("DEVICES (3)",
 * or "(1/3)" while a filter hides some). Filtering keeps the headers and
 * the items any cell of which contains the text (case-insensitive).
 * Sorting orders the items within each section.
 */
#ifndef IB_LISTVIEW_H
#define IB_LISTVIEW_H

#include "widgets/theme.h"
#include "widgets/widget.h"

enum { LV_MOVED = WR_USER, LV_ACTIVATE, LV_SORTED };
enum lv_kind { LV_ITEM, LV_HEADER };

struct lv_column {
    const char *title;
    int width;  /* 0: takes what the fixed columns leave */
    bool right; /* right-aligned (numbers) */
};

struct lv_row {
    enum lv_kind kind;
    int tag;   /* the caller's kind of row */
    char *key; /* identifies the row across rebuilds */
    char **cells;
    enum th_element el; /* style when not selected */
    double *sortv;      /* per column: what sorting compares, when set */
    unsigned sortv_set; /* bit c: sortv[c] is set */
};

struct listview {
    struct widget base;
    struct lv_column *cols;
    int n_cols;
    bool show_header;
    struct lv_row *rows;
    int n_rows, cap_rows;
    int *vis; /* indexes of rows shown, in order */
    int n_vis;
    int sel;        /* index into vis, -1 when nothing selectable */
    int top;        /* first shown entry of vis */
    char *keep_key; /* selection to restore after a rebuild */
    char filter[128];
    int sort_col; /* -1: insertion order */
    bool sort_desc;
    const char *empty; /* shown when there is no row at all */
};

struct listview *listview_new(const struct lv_column *cols, int n_cols, bool show_header);

void listview_begin(struct listview *lv);
/* cells: n_cols strings (copied). Returns the row's index. */
int listview_add(struct listview *lv, enum lv_kind kind, int tag, const char *key,
                 const char *const *cells);
void listview_set_element(struct listview *lv, int row, enum th_element el);
/* Sorting by column col compares v instead of the cell's text (sizes shown
 * as "3.1 MiB" sort by their bytes). Columns 0-31. */
void listview_set_sort_value(struct listview *lv, int row, int col, double v);
void listview_end(struct listview *lv);

const struct lv_row *listview_selected(const struct listview *lv);
bool listview_select_key(struct listview *lv, const char *key);
void listview_set_filter(struct listview *lv, const char *text);
void listview_sort(struct listview *lv, int col, bool desc);
/* Items shown / items in all, of the section starting at row header (or of
 * the whole list with header -1). */
void listview_counts(const struct listview *lv, int header, int *shown, int *total);

#endif
