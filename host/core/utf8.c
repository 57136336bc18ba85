/*
** utf8.c: UTF-8 of untrusted bytes: strict validation of code, and where
** a cut keeps characters whole (eryx__utf8_*).
*/
#include "core/internal.h"

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing past
   U+10FFFF. */
bool
eryx__utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        unsigned cp = c & (0x3Fu >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

size_t
eryx__utf8_incomplete_tail(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    /* Walk back over at most three continuation bytes to a lead byte. */
    for (size_t back = 1; back <= 4 && back <= len; back++) {
        unsigned c = s[len - back];
        if ((c & 0xC0) == 0x80)
            continue; /* a continuation byte: keep looking */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0; /* not UTF-8 here: nothing to keep whole */
}
