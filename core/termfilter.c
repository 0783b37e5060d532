/* termfilter.c - see termfilter.h. A small ECMA-48 state machine. */
#include "core/termfilter.h"

#include <string.h>

/* ST_CSI_SKIP swallows the rest of a CSI sequence that grew too long, up
 * to its final byte, so none of it leaks out as text. */
enum { ST_TEXT, ST_ESC, ST_CSI, ST_CSI_SKIP, ST_STRING, ST_STRING_ESC, ST_CHARSET };

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
 * title back) or it grew too long. */
static size_t finish_csi(struct termfilter *tf, unsigned char final, unsigned char *out)
{
    collect(tf, final);
    tf->state = ST_TEXT;
    if (final == 't' || tf->params > CSI_MAX_PARAMS || tf->seq_len >= sizeof tf->seq) {
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

size_t termfilter_feed(struct termfilter *tf, const unsigned char *in, size_t len,
                       unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = in[i];
        switch (tf->state) {
        case ST_TEXT:
            if (c == 0x1b) {
                tf->seq_len = 0;
                collect(tf, c);
                tf->state = ST_ESC;
            } else if (c >= 0x20 && c != 0x7f) {
                /* UTF-8 continuation bytes and lead bytes are >= 0x80; the
                 * C1 range 0x80-0x9f only means control when it is not
                 * part of a UTF-8 sequence, and the terminal is in UTF-8. */
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
