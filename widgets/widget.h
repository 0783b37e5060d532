/*
 * widget.h - what every widget shares (htop's Object/Panel idea): a
 * rectangle on the screen, and an ops table the workbench calls without
 * knowing the widget's kind.
 *
 *     struct listview *lv = listview_new(...);
 *     widget_place(&lv->base, (struct rect){1, 0, 20, 30});
 *     widget_draw(&lv->base, stdscr);
 *     int r = widget_key(&lv->base, WK_FN(KEY_DOWN));
 *
 * Keys are ints: a Unicode code point, or WK_FN(KEY_xxx) for the function
 * keys ncurses reports. Mouse events are in coordinates relative to the
 * widget's rectangle.
 */
#ifndef IB_WIDGET_H
#define IB_WIDGET_H

#include <curses.h>
#include <stdbool.h>

#define WK_FN_BIT 0x40000000
#define WK_FN(k) (WK_FN_BIT | (k))
#define WK_IS_FN(k) (((k)&WK_FN_BIT) != 0)
#define WK_CTRL(c) ((c)&0x1f)
#define WK_ESC 27

struct rect {
    int y, x, h, w;
};

static inline bool rect_contains(struct rect r, int y, int x)
{
    return y >= r.y && y < r.y + r.h && x >= r.x && x < r.x + r.w;
}

enum wmouse_kind { WM_PRESS, WM_RELEASE, WM_CLICK, WM_DOUBLE, WM_WHEEL_UP, WM_WHEEL_DOWN };

struct wmouse {
    enum wmouse_kind kind;
    int button; /* 1 left, 2 middle, 3 right */
    int y, x;   /* relative to the widget */
};

/* What a key or mouse handler did. Widgets may return their own codes
 * above WR_USER (e.g. "activate the selected row"). */
enum { WR_IGNORED = 0, WR_HANDLED = 1, WR_USER = 16 };

struct widget;
struct widget_ops {
    const char *kind;
    void (*draw)(struct widget *w, WINDOW *win);
    int (*key)(struct widget *w, int key);
    int (*mouse)(struct widget *w, const struct wmouse *ev);
    void (*place)(struct widget *w, struct rect r); /* NULL: just store it */
    void (*free)(struct widget *w);
};

struct widget {
    const struct widget_ops *ops;
    struct rect r;
    bool focused;
    bool dirty; /* needs drawing at the next frame */
};

static inline void widget_draw(struct widget *w, WINDOW *win)
{
    if (w->r.h > 0 && w->r.w > 0)
        w->ops->draw(w, win);
    w->dirty = false;
}

static inline int widget_key(struct widget *w, int key)
{
    return w->ops->key ? w->ops->key(w, key) : WR_IGNORED;
}

static inline int widget_mouse(struct widget *w, const struct wmouse *ev)
{
    return w->ops->mouse ? w->ops->mouse(w, ev) : WR_IGNORED;
}

static inline void widget_place(struct widget *w, struct rect r)
{
    if (w->ops->place)
        w->ops->place(w, r);
    else
        w->r = r;
    w->dirty = true;
}

static inline void widget_free(struct widget *w)
{
    if (w)
        w->ops->free(w);
}

#endif
