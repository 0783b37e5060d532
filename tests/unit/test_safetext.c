/* test_safetext.c - guest text on the user's terminal: what core/safetext
 * escapes and keeps, and the CLI printing an error that quotes hostile
 * bytes escaped. */
#include <stdlib.h>

#include "core/safetext.h"
#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/harness.h"

TEST(safetext_escapes_controls_and_keeps_printable_utf8)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"plain text", 10, "plain text"},
        {"\x1b]52;c;aGk=\x07", 12, "\\x1b]52;c;aGk=\\x07"},
        {"\x1b[2J", 4, "\\x1b[2J"},
        {"a\tb\nc\rd", 7, "a\\x09b\\x0ac\\x0dd"},
        {"del\x7f", 4, "del\\x7f"},
        {"nul\0x", 5, "nul\\x00x"},
        {"raw c1 \x9b", 8, "raw c1 \\x9b"},           /* 8-bit CSI */
        {"utf8 c1 \xc2\x9b", 10, "utf8 c1 \\xc2\\x9b"}, /* U+009B */
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7", 14,
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7"},
        {"nbsp\xc2\xa0", 6, "nbsp\xc2\xa0"},
        {"bad \xc3", 5, "bad \\xc3"},              /* cut sequence */
        {"over \xc0\xaf", 7, "over \\xc0\\xaf"},   /* overlong '/' */
        {"sur \xed\xa0\x80", 7, "sur \\xed\\xa0\\x80"}, /* surrogate */
    };
    for (size_t i = 0; i < IB_ARRAY_LEN(cases); i++) {
        char *got = safetext_escape(cases[i].in, cases[i].len);
        CHECK_MSG(strcmp(got, cases[i].out) == 0, "case %zu: \"%s\", expected \"%s\"", i, got,
                  cases[i].out);
        bool unchanged = cases[i].len == strlen(cases[i].in) && strcmp(cases[i].in, got) == 0;
        CHECK_MSG(safetext_is_safe(cases[i].in, cases[i].len) == unchanged,
                  "case %zu: is_safe disagrees", i);
        free(got);
    }
    char *s = safetext_str("\x1b[31mred");
    CHECK_STR(s, "\\x1b[31mred");
    free(s);
}

/* The one-line form the workbench and death reports use: the same bytes
 * as safetext_escape() would escape, each a '?'. */
TEST(safetext_mask_replaces_what_escape_would_escape)
{
    char *m = safetext_mask("a\x1b[2J caf\xc3\xa9 \xc2\x9b \xf8\x88\x80 x", 20, '?');
    CHECK_STR(m, "a?[2J caf\xc3\xa9 ?? ??? x");
    free(m);
    m = safetext_mask("cut \xe2\x82", 6, '?');
    CHECK_STR(m, "cut ??");
    free(m);
}

/* The last line of defence: whatever an error quotes, the CLI escapes. A
 * path is the easiest message text to choose from outside. */
TEST(cli_prints_error_messages_escaped)
{
    const char *home = test_path("safetext-home");
    struct cmd_result r;
    ib_run(&r, home, "kernel", "add", "/nonexistent/\x1b]52;c;aGk=\x07\x1b[2J\x9b.img", NULL);
    CHECK_INT(r.status, 3); /* a missing input file is "not found" */
    CHECK_CONTAINS(r.err, "/nonexistent/\\x1b]52;c;aGk=\\x07\\x1b[2J\\x9b.img");
    for (const char *p = r.err; *p; p++)
        CHECK_MSG(*p == '\n' || ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f),
                  "raw byte 0x%02x on stderr", (unsigned char)*p);
    cmd_result_free(&r);
}
