/*
 * fuzz_termfilter.c - a guest's console bytes on their way to the user's
 * real terminal (`instance console`, core/termfilter.c).
 *
 * Promises checked on every input:
 * - each call writes at most len + TERMFILTER_SLACK bytes (the output
 *   buffer is exactly that big, so ASan sees one byte more);
 * - the result does not depend on how the stream is cut into calls;
 * - what comes out is only what termfilter.h keeps: text, CR LF TAB BS,
 *   CSI sequences with at most 16 parameters and a final byte other than
 *   't', ESC 7 8 M D E = >, and charset selection. No OSC, DCS, APC, PM,
 *   SOS, other C0 controls or DEL, and no C1 control: neither raw (0x80-0x9F
 *   outside a UTF-8 sequence) nor written as UTF-8 (C2 80..C2 9F: a UTF-8
 *   terminal decodes U+009B as CSI, U+009D as OSC).
 */
#include "core/termfilter.h"
#include "tests/fuzz/fuzz.h"

/* Feeds data in chunks of the given sizes (cycled); returns the output. */
static unsigned char *tff_run(const uint8_t *data, size_t size, const size_t *chunks,
                              size_t n_chunks, size_t *out_len, unsigned long *dropped)
{
    struct termfilter tf;
    termfilter_init(&tf);
    unsigned char *all = xmalloc(size + TERMFILTER_SLACK + 1);
    size_t total = 0;
    for (size_t off = 0, k = 0; off < size; k++) {
        size_t n = chunks[k % n_chunks];
        if (n > size - off)
            n = size - off;
        unsigned char *out = xmalloc(n + TERMFILTER_SLACK);
        size_t got = termfilter_feed(&tf, data + off, n, out);
        if (got > n + TERMFILTER_SLACK)
            fuzz_fail("termfilter_feed wrote %zu bytes for %zu in", got, n);
        if (total + got > size + TERMFILTER_SLACK)
            fuzz_fail("the filter wrote more than it was given");
        memcpy(all + total, out, got);
        total += got;
        free(out);
        off += n;
    }
    *out_len = total;
    *dropped = tf.dropped;
    return all;
}

/* Fails unless out holds only what the filter promises to keep. */
static void tff_check(const unsigned char *out, size_t n)
{
    int left = 0;           /* continuation bytes the current character still has */
    unsigned char prev = 0; /* the byte before, outside sequences */
    for (size_t i = 0; i < n;) {
        unsigned char c = out[i];
        if (c == 0x1b) {
            left = 0;
            if (i + 1 >= n)
                fuzz_fail("a lone ESC at the end of the output");
            unsigned char k = out[i + 1];
            if (strchr("78MDE=>", k) && k) {
                i += 2;
            } else if (k == '(' || k == ')') {
                if (i + 2 >= n || out[i + 2] < 0x30 || out[i + 2] > 0x7e)
                    fuzz_fail("a charset selection without its charset at %zu", i);
                i += 3;
            } else if (k == '[') {
                size_t j = i + 2;
                int seps = 0;
                while (j < n && out[j] >= 0x20 && out[j] <= 0x3f)
                    seps += out[j] == ';' || out[j] == ':', j++;
                if (j >= n || out[j] < 0x40 || out[j] > 0x7e)
                    fuzz_fail("an unterminated CSI sequence at %zu", i);
                if (out[j] == 't')
                    fuzz_fail("a window operation (CSI ... t) got through at %zu", i);
                if (seps > 16)
                    fuzz_fail("a CSI sequence with %d parameters got through", seps + 1);
                i = j + 1;
            } else {
                fuzz_fail("ESC 0x%02x got through at %zu", k, i);
            }
            continue;
        }
        if (c < 0x20 && c != '\r' && c != '\n' && c != '\t' && c != '\b')
            fuzz_fail("control 0x%02x got through at %zu", c, i);
        if (c == 0x7f)
            fuzz_fail("DEL got through at %zu", i);
        /* From 0x80 up: UTF-8 as a terminal decodes it. A continuation byte
         * 0x80-0x9F outside a sequence is a C1 control to an 8-bit
         * terminal, C2 80..C2 9F one to a UTF-8 terminal; C0, C1 and F5..FF
         * never start a character. (Lone A0-BF pass as Latin-1.) */
        if (c < 0x80) {
            left = 0;
        } else if (c <= 0xbf) {
            if (left == 0 && c <= 0x9f)
                fuzz_fail("raw C1 control 0x%02x got through at %zu", c, i);
            if (left > 0 && prev == 0xc2 && c <= 0x9f)
                fuzz_fail("C1 control U+%04X (UTF-8) got through at %zu", c, i);
            left = left > 0 ? left - 1 : 0;
        } else if (c < 0xc2 || c > 0xf4) {
            fuzz_fail("byte 0x%02x, never in UTF-8, got through at %zu", c, i);
        } else {
            left = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
        }
        prev = c;
        i++;
    }
}

FUZZ_ENTRY(termfilter)
{
    static const size_t whole[] = {(size_t)-1};
    size_t len1, len2;
    unsigned long d1, d2;
    unsigned char *a = tff_run(data, size, whole, 1, &len1, &d1);
    /* Cuts taken from the data, so the fuzzer can steer them. */
    size_t cuts[4] = {1, 1, 1, 1};
    for (size_t i = 0; i < 4 && i < size; i++)
        cuts[i] = 1 + data[i] % 7;
    unsigned char *b = tff_run(data, size, cuts, 4, &len2, &d2);
    if (len1 != len2 || memcmp(a, b, len1) != 0 || d1 != d2)
        fuzz_fail("output depends on how the input is cut (%zu vs %zu bytes)", len1, len2);
    tff_check(a, len1);
    free(a);
    free(b);
    return 0;
}
