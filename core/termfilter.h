/*
 * termfilter.h - makes a guest's console bytes safe for the user's real
 * terminal (used by `instance console`; the TUI renders through libvterm
 * and never passes bytes through).
 *
 * Kept: printable text and UTF-8, CR LF TAB BS, CSI sequences with sane
 * parameters (colours, cursor motion, erase, modes, DSR queries), ESC 7/8,
 * ESC M/D/E, charset selection. Dropped whole: OSC (window titles, OSC 52
 * clipboard writes, hyperlinks), DCS, APC, PM, SOS strings, CSI window
 * operations ('t'), REP ('b'), C1 controls (raw 0x80-0x9F outside UTF-8,
 * and U+0080-U+009F written as UTF-8), oversized CSI parameter lists, BEL
 * floods.
 *
 *     struct termfilter tf;
 *     termfilter_init(&tf);
 *     size_t n = termfilter_feed(&tf, in, len, out);   // out: len + TERMFILTER_SLACK
 */
#ifndef IB_TERMFILTER_H
#define IB_TERMFILTER_H

#include <stddef.h>

/* A sequence begun in an earlier call may be emitted now: out needs room
 * for it on top of this call's bytes. */
#define TERMFILTER_SLACK 80

struct termfilter {
    int state;
    char seq[TERMFILTER_SLACK];    /* the escape sequence being collected */
    size_t seq_len;
    int params;      /* CSI parameter separators seen */
    int utf8_left;   /* continuation bytes the current UTF-8 character still has */
    unsigned long dropped; /* sequences removed so far */
};

void termfilter_init(struct termfilter *tf);
/* Filters len bytes of in into out (capacity >= len + TERMFILTER_SLACK);
 * returns bytes written. */
size_t termfilter_feed(struct termfilter *tf, const unsigned char *in, size_t len,
                       unsigned char *out);

#endif
