/* test_termfilter.c - what `instance console` lets through to the user's
 * terminal, and what it removes. */
#include "core/termfilter.h"
#include "tests/lib/harness.h"

static char out[1 << 21];

static const char *filter(const char *in, size_t len)
{
    struct termfilter tf;
    termfilter_init(&tf);
    size_t n = termfilter_feed(&tf, (const unsigned char *)in, len, (unsigned char *)out);
    out[n] = '\0';
    return out;
}

#define F(s) filter(s, sizeof(s) - 1)

TEST(text_colours_and_cursor_pass)
{
    CHECK_STR(F("hello\r\n"), "hello\r\n");
    CHECK_STR(F("\x1b[1;31mred\x1b[0m"), "\x1b[1;31mred\x1b[0m");
    CHECK_STR(F("\x1b[6n"), "\x1b[6n");
    CHECK_STR(F("\x1b[?1049h\x1b[2J\x1b[H"), "\x1b[?1049h\x1b[2J\x1b[H");
    CHECK_STR(F("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93");
    CHECK_STR(F("\x1b(B\x1b" "7\x1b" "8"), "\x1b(B\x1b" "7\x1b" "8");
}

TEST(osc_dcs_and_window_ops_dropped)
{
    /* Title change, OSC 52 clipboard write (BEL and ST terminated). */
    CHECK_STR(F("a\x1b]0;pwned\x07" "b"), "ab");
    CHECK_STR(F("a\x1b]52;c;ZWNobyBoaQ==\x1b\\b"), "ab");
    CHECK_STR(F("a\x1bPq#0;2;0;0;0#0~~\x1b\\b"), "ab");
    CHECK_STR(F("a\x1b_apc\x1b\\b\x1b^pm\x1b\\c"), "abc");
    /* Window resize/report and title report: CSI ... t */
    CHECK_STR(F("a\x1b[8;100;300tb\x1b[21tc"), "abc");
    CHECK_STR(F("a\x07\x07\x07" "b\x00" "c\x0e"), "abc");
}

TEST(huge_parameters_dropped_without_overflow)
{
    static char big[200000];
    size_t n = 0;
    big[n++] = '\x1b';
    big[n++] = '[';
    while (n < sizeof big - 10)
    {
        big[n] = n % 2 ? '9' : ';';
        n++;
    }
    big[n++] = 'm';
    big[n++] = 'o';
    big[n++] = 'k';
    CHECK_STR(filter(big, n), "ok");
}

TEST(sequences_split_across_reads)
{
    struct termfilter tf;
    termfilter_init(&tf);
    const char *a = "x\x1b[3", *b = "1my\x1b]0;t", *c = "itle\x07z";
    size_t n = termfilter_feed(&tf, (const unsigned char *)a, strlen(a), (unsigned char *)out);
    n += termfilter_feed(&tf, (const unsigned char *)b, strlen(b), (unsigned char *)out + n);
    n += termfilter_feed(&tf, (const unsigned char *)c, strlen(c), (unsigned char *)out + n);
    out[n] = '\0';
    CHECK_STR(out, "x\x1b[31myz");
    CHECK(tf.dropped >= 1);
}

TEST(long_line_passes_whole)
{
    static char line[1 << 20];
    memset(line, 'A', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    const char *r = filter(line, sizeof line);
    CHECK_INT(strlen(r), sizeof line);
}

TEST(c1_controls_and_rep_dropped_in_every_form)
{
    /* U+009D (OSC) and U+009B (CSI) written as UTF-8, and as raw 8-bit
     * bytes outside any UTF-8 character; what follows them is plain text. */
    CHECK_STR(F("a\xc2\x9d" "0;t\x07" "b"), "a0;tb");
    CHECK_STR(F("a\xc2\x9b" "8;1;1tb"), "a8;1;1tb");
    CHECK_STR(F("a\x9b" "5n\x90q\x9c" "b"), "a5nqb");
    /* Other two-byte characters, a C2 not followed by a continuation, and
     * multi-byte characters whose continuation bytes fall in 0x80-0x9F. */
    CHECK_STR(F("\xc2\xa9 \xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"),
              "\xc2\xa9 \xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
    CHECK_STR(F("\xc2" "A\xc0\xaf"), "\xc2" "A\xaf");
    /* REP repeats a character the guest need not have printed. */
    CHECK_STR(F("\x1b[1000000000b" "x\x1b[3bz"), "xz");
    /* A C2 at the end of one read, its C1 byte at the start of the next. */
    struct termfilter tf;
    termfilter_init(&tf);
    size_t n = termfilter_feed(&tf, (const unsigned char *)"p\xc2", 2, (unsigned char *)out);
    n += termfilter_feed(&tf, (const unsigned char *)"\x9dq", 2, (unsigned char *)out + n);
    out[n] = '\0';
    CHECK_STR(out, "pq");
}
