/*
 * hexview.h - bytes of memory as hex and ASCII, 16 (or 8, or 4 when
 * narrow) a row, under their addresses; one range may be marked (the stack
 * pointer, a searched symbol). The widget shows what it was given: the
 * owner reads memory and calls hexview_set; scrolling asks the owner for
 * other bytes by returning HV_SCROLL with the address wanted in ->want.
 *
 *     struct hexview *hv = hexview_new();
 *     hexview_set(hv, 0x7efff9f0, bytes, 256);
 *     hexview_mark(hv, sp, 4);
 *     if (widget_mouse(&hv->base, &ev) == HV_SCROLL)
 *         read_memory(hv->want, hexview_capacity(hv));
 */
#ifndef IB_HEXVIEW_H
#define IB_HEXVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "widgets/widget.h"

enum { HV_SCROLL = WR_USER + 200 };

struct hexview {
    struct widget base;
    uint64_t addr; /* address of data[0] */
    uint8_t *data;
    size_t len;
    uint64_t mark, mark_len; /* highlighted bytes (mark_len 0: none) */
    uint64_t want;           /* after HV_SCROLL: the first address to show */
    const char *empty;       /* shown when there are no bytes (not owned) */
};

struct hexview *hexview_new(void);
void hexview_set(struct hexview *hv, uint64_t addr, const uint8_t *data, size_t len);
void hexview_mark(struct hexview *hv, uint64_t addr, uint64_t len);
/* Bytes per row at the current width (16, 8 or 4). */
int hexview_per_row(const struct hexview *hv);
/* Bytes that fill the widget: rows x bytes per row. */
size_t hexview_capacity(const struct hexview *hv);
/* One row as text: "7efff9f0  01 02 ... |..|" (tests and copying). */
void hexview_format_row(const uint8_t *bytes, size_t n, uint64_t addr, int per_row, char *out,
                        size_t cap);

#endif
