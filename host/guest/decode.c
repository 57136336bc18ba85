/*
** decode.c: the return areas the guest's exports hand back, decoded from
** bytes already copied out of guest memory (eryx__guest_decode_*).  Pure:
** no engine behind it, so tests/fuzz drives it directly.
*/
#include <string.h>

#include "guest/guest.h"

static eryx_abi_string
str_at(const uint8_t *p)
{
    eryx_abi_string s = {(uint32_t)eryx__le_get(p, 4),
                         (uint32_t)eryx__le_get(p + 4, 4)};
    return s;
}

/* option<string> at p: a discriminant byte, then the string at p + 4. */
static eryx_status
option_at(const uint8_t *p, bool *is_some, eryx_abi_string *s)
{
    if (p[0] > ERYX_ABI_SOME)
        return ERYX_E_ABI;
    *is_some = p[0] == ERYX_ABI_SOME;
    *s = str_at(p + 4);
    return ERYX_OK;
}

eryx_status
eryx__guest_decode_execute(const uint8_t *b, eryx__execute_ret *out)
{
    memset(out, 0, sizeof *out);
    out->tag = b[0];
    const uint8_t *payload = b + offsetof(eryx_abi_execute_ret, u);
    if (out->tag == ERYX_ABI_OK) {
        if (option_at(payload, &out->has_json, &out->json) != ERYX_OK ||
            option_at(payload + 12, &out->has_json_error, &out->json_error) !=
                ERYX_OK)
            return ERYX_E_ABI;
        return ERYX_OK;
    }
    if (out->tag == ERYX_ABI_ERR || out->tag == ERYX_ABI_ERR_MEMORY ||
        out->tag == ERYX_ABI_ERR_INCOMPLETE) {
        out->message = str_at(payload);
        return ERYX_OK;
    }
    return ERYX_E_ABI;
}

eryx_status
eryx__guest_decode_snapshot(const uint8_t *b,
                            uint8_t *tag,
                            eryx_abi_string *a,
                            eryx_abi_string *c)
{
    *tag = b[0];
    *a = str_at(b + 4);
    *c = str_at(b + 12);
    return b[0] <= ERYX_ABI_ERR ? ERYX_OK : ERYX_E_ABI;
}

eryx_status
eryx__guest_decode_unit(const uint8_t *b,
                        uint8_t *tag,
                        eryx_abi_string *err_text)
{
    *tag = b[0];
    *err_text = str_at(b + 4);
    return b[0] <= ERYX_ABI_ERR ? ERYX_OK : ERYX_E_ABI;
}

void
eryx__guest_decode_interrupt(const uint8_t *b, eryx_abi_interrupt_target *out)
{
    out->breaker = (uint32_t)eryx__le_get(b, 4);
    out->mask = (uint32_t)eryx__le_get(b + 4, 4);
    out->slot = (uint32_t)eryx__le_get(b + 8, 4);
    out->value = (uint32_t)eryx__le_get(b + 12, 4);
}
