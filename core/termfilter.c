/* termfilter.c - see termfilter.h. A small ECMA-48 state machine. */
#include "core/termfilter.h"

#include <string.h>

/* ST_CSI_SKIP swallows the rest of a CSI sequence that grew too long, up
 * to its final byte, so none of it leaks out as text. */
enum { ST_TEXT, ST_ESC, ST_CSI, ST_CSI_SKIP, ST_STRING, ST_STRING_ESC, ST_CHARSET, ST_C2 };

#define CSI_MAX_PARAMS 16

void termfilter_init(struct termfilter *tf)
{
    memset(tf, 0, sizeof *tf);
}

static size_t emit_seq(struct termfilter *tf, unsigned char *out)
{
    memcpy(out, tf->seq, tf->seq_len);
    size_t n = tf->seq_len;
    tf->seq_len = 0;
    return n;
}

static void drop(struct termfilter *tf)
{
    tf->seq_len = 0;
    tf->dropped++;
    tf->state = ST_TEXT;
}

static void collect(struct termfilter *tf, unsigned char c)
{
    if (tf->seq_len < sizeof tf->seq)
        tf->seq[tf->seq_len++] = (char)c;
}

/* A CSI sequence ends with its final byte; keep it unless it is a window
 * operation (which can resize the user's terminal or make it report its
 * title back), REP (it repeats a character the guest may never have
 * printed - the user's terminal's last one - up to a count the guest
 * chooses: 13 bytes in, a gigabyte of text out) or it grew too long. */
static size_t finish_csi(struct termfilter *tf, unsigned char final, unsigned char *out)
{
    collect(tf, final);
    tf->state = ST_TEXT;
    if (final == 't' || final == 'b' || tf->params > CSI_MAX_PARAMS ||
        tf->seq_len >= sizeof tf->seq) {
        drop(tf);
        return 0;
    }
    return emit_seq(tf, out);
}

static size_t on_esc(struct termfilter *tf, unsigned char c, unsigned char *out)
{
    switch (c) {
    case '[':
        collect(tf, c);
        tf->params = 0;
        tf->state = ST_CSI;
        return 0;
    case ']': /* OSC */
    case 'P': /* DCS */
    case '_': /* APC */
    case '^': /* PM */
    case 'X': /* SOS */
        tf->seq_len = 0;
        tf->state = ST_STRING;
        return 0;
    case '(':
    case ')':
        collect(tf, c);
        tf->state = ST_CHARSET;
        return 0;
    case '7': case '8': case 'M': case 'D': case 'E': case '=': case '>':
        collect(tf, c);
        tf->state = ST_TEXT;
        return emit_seq(tf, out);
    default:
        drop(tf);
        return 0;
    }
}

/* Bytes from 0x80 up. C1 controls (U+0080..U+009F) are dropped in both
 * forms: UTF-8 (C2 80..C2 9F: a UTF-8 terminal decodes U+009B as CSI and
 * U+009D as OSC) and raw bytes outside a UTF-8 sequence (an 8-bit
 * terminal reads 0x9B as CSI). A C2 lead is held until the next byte
 * says which it is; 0xC0, 0xC1 and 0xF5.. never occur in UTF-8. */
static size_t on_high(struct termfilter *tf, unsigned char c, unsigned char *out)
{
    if (c >= 0x80 && c <= 0xbf) {
        if (tf->utf8_left > 0) {
            tf->utf8_left--;
            out[0] = c;
            return 1;
        }
        if (c <= 0x9f) {
            tf->dropped++;
            return 0;
        }
        out[0] = c; /* a Latin-1 letter, harmless either way */
        return 1;
    }
    tf->utf8_left = 0;
    if (c == 0xc2) {
        tf->state = ST_C2;
        return 0;
    }
    if (c < 0xc2 || c > 0xf4) {
        tf->dropped++;
        return 0;
    }
    tf->utf8_left = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
    out[0] = c;
    return 1;
}

size_t termfilter_feed(struct termfilter *tf, const unsigned char *in, size_t len,
                       unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = in[i];
        if (tf->state == ST_C2) {
            tf->state = ST_TEXT;
            if (c >= 0x80 && c <= 0x9f) {
                tf->dropped++; /* U+0080..U+009F */
                continue;
            }
            out[o++] = 0xc2;
            if (c >= 0xa0 && c <= 0xbf) {
                out[o++] = c;
                continue;
            }
            /* not a continuation: c starts afresh below */
        }
        if (tf->state == ST_TEXT && c < 0x80)
            tf->utf8_left = 0;
        switch (tf->state) {
        case ST_TEXT:
            if (c == 0x1b) {
                tf->seq_len = 0;
                collect(tf, c);
                tf->state = ST_ESC;
            } else if (c >= 0x80) {
                o += on_high(tf, c, out + o);
            } else if (c >= 0x20 && c != 0x7f) {
                out[o++] = c;
            } else if (c == '\r' || c == '\n' || c == '\t' || c == '\b') {
                out[o++] = c;
            } else {
                tf->dropped++; /* NUL, BEL, SO/SI, other C0 controls */
            }
            break;
        case ST_ESC:
            o += on_esc(tf, c, out + o);
            break;
        case ST_CSI:
            if (c >= 0x40 && c <= 0x7e) {
                o += finish_csi(tf, c, out + o);
            } else if (c >= 0x20 && c <= 0x3f) {
                if (c == ';' || c == ':')
                    tf->params++;
                collect(tf, c);
                if (tf->seq_len >= sizeof tf->seq || tf->params > CSI_MAX_PARAMS) {
                    drop(tf);
                    tf->state = ST_CSI_SKIP;
                }
            } else if (c == 0x1b) {
                drop(tf);
                collect(tf, c);
                tf->state = ST_ESC;
            } else {
                drop(tf); /* a control inside CSI: abandon the sequence */
            }
            break;
        case ST_CSI_SKIP:
            if (c >= 0x40 && c <= 0x7e)
                tf->state = ST_TEXT;
            else if (c < 0x20 || c > 0x7e)
                tf->state = ST_TEXT; /* broken sequence: resume text after it */
            break;
        case ST_STRING:
            if (c == 0x07)
                drop(tf); /* BEL ends OSC */
            else if (c == 0x1b)
                tf->state = ST_STRING_ESC;
            break;
        case ST_STRING_ESC:
            if (c == '\\')
                drop(tf); /* ST */
            else if (c != 0x1b)
                tf->state = ST_STRING;
            break;
        case ST_CHARSET:
            collect(tf, c);
            tf->state = ST_TEXT;
            if (c >= 0x30 && c <= 0x7e)
                o += emit_seq(tf, out + o);
            else
                drop(tf);
            break;
        }
    }
    return o;
}
