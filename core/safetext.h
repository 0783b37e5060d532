/*
 * safetext.h - guest bytes made safe to show on the user's terminal.
 *
 * Text a guest chose (an agent's error description, a stub's reply, a
 * process's stderr, a symbol name from an imported ELF file) ends up in
 * error messages and listings that the CLI prints and the TUI draws. Left
 * raw, an ESC in it could set the window title, write the clipboard
 * (OSC 52) or clear the screen. safetext keeps valid printable UTF-8 and
 * writes every other byte as \xHH: C0 controls, DEL, C1 controls (raw or
 * encoded as UTF-8) and bytes that are not valid UTF-8.
 *
 *     char *s = safetext_escape(reply, len);
 *     ib_err(err, IB_EFAIL, "the stub answered %s", s);
 *     free(s);
 */
#ifndef IB_SAFETEXT_H
#define IB_SAFETEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
size_t safetext_utf8_len(const unsigned char *s, size_t n);

/* The n bytes at s (NUL bytes included) escaped; malloc'd, NUL-terminated. */
char *safetext_escape(const char *s, size_t n);

/* safetext_escape() of a NUL-terminated string. */
char *safetext_str(const char *s);

/* Bytes of the printable character at s (at most n bytes), 0 when s[0]
 * is one that safetext_escape() writes as \xHH. */
size_t safetext_printable_len(const unsigned char *s, size_t n);

/* The n bytes at s with every byte safetext_escape() would escape replaced
 * by `with` (for one-line displays where \xHH would be noise); malloc'd. */
char *safetext_mask(const char *s, size_t n, char with);

/* True when s holds nothing safetext_escape() would change. */
bool safetext_is_safe(const char *s, size_t n);

#endif
