/* safetext.c - escaping guest text for a terminal; see safetext.h. */
#include "core/safetext.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

size_t safetext_utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned long cp, min;
    if (n == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, min = 0x80, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, min = 0x800, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, min = 0x10000, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t safetext_printable_len(const unsigned char *s, size_t n)
{
    size_t l = safetext_utf8_len(s, n);
    if (l == 1 && (s[0] < 0x20 || s[0] == 0x7f))
        return 0;
    if (l == 2 && s[0] == 0xc2 && s[1] < 0xa0) /* U+0080-U+009F: C1 controls */
        return 0;
    return l;
}

char *safetext_escape(const char *s, size_t n)
{
    char *out = xmalloc(n * 4 + 1), *w = out;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = safetext_printable_len(p + i, n - i);
        if (l == 0) {
            snprintf(w, 5, "\\x%02x", p[i]);
            w += 4;
            i++;
            continue;
        }
        memcpy(w, p + i, l);
        w += l;
        i += l;
    }
    *w = '\0';
    return out;
}

char *safetext_mask(const char *s, size_t n, char with)
{
    char *out = xmalloc(n + 1), *w = out;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = safetext_printable_len(p + i, n - i);
        if (l == 0) {
            *w++ = with;
            i++;
            continue;
        }
        memcpy(w, p + i, l);
        w += l;
        i += l;
    }
    *w = '\0';
    return out;
}

char *safetext_str(const char *s)
{
    return safetext_escape(s, strlen(s));
}

bool safetext_is_safe(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = safetext_printable_len(p + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}
