/*
** policy.c: network policies.  eryx_netconfig is the public builder;
** eryx_config_set_network freezes a copy into an eryx__netpolicy that
** sandboxes share.  Host names are checked against patterns before
** anything is resolved, and every address a name resolves to is checked
** against the networks before it is connected to.
*/
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "net/net.h"

struct eryx_netconfig {
    eryx__netpolicy p;
};

/* The reference's defaults (pyeryx 0.11 NetConfig()). */
static const char *const default_blocked_hosts[] = {
    "localhost", "*.localhost", "127.*",    "10.*",     "172.16.*",
    "172.17.*",  "172.18.*",    "172.19.*", "172.20.*", "172.21.*",
    "172.22.*",  "172.23.*",    "172.24.*", "172.25.*", "172.26.*",
    "172.27.*",  "172.28.*",    "172.29.*", "172.30.*", "172.31.*",
    "192.168.*", "169.254.*",   "[::1]",
};
static const char *const default_blocked_networks[] = {
    "0.0.0.0/8",      "10.0.0.0/8",    "100.64.0.0/10",  "127.0.0.0/8",
    "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",   "192.168.0.0/16",
    "198.18.0.0/15",  "224.0.0.0/4",   "240.0.0.0/4",    "::/128",
    "::1/128",        "2002::/16",     "64:ff9b:1::/48", "fc00::/7",
    "fe80::/10",      "ff00::/8",
};

/* ------------------------------------------------------------ matching */

bool
eryx__net_host_match(const char *pat, const char *host)
{
    /* Iterative glob: '*' matches any run of characters (dots too). */
    const char *star = NULL, *resume = NULL;
    while (*host != '\0') {
        if (*pat == '*') {
            star = pat++;
            resume = host;
        } else if (*pat != '\0' && tolower((unsigned char)*pat) ==
                                       tolower((unsigned char)*host)) {
            pat++;
            host++;
        } else if (star != NULL) {
            pat = star + 1;
            host = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

/* Does `host`, or "[host]" for an IPv6 literal, match a pattern of `l`? */
static const char *
list_match(const eryx__strlist *l, const char *host)
{
    char bracketed[260];
    bool v6 = strchr(host, ':') != NULL && strlen(host) < 256;
    if (v6)
        snprintf(bracketed, sizeof bracketed, "[%s]", host);
    for (size_t i = 0; i < l->count; i++) {
        if (eryx__net_host_match(l->items[i], host) ||
            (v6 && eryx__net_host_match(l->items[i], bracketed)))
            return l->items[i];
    }
    return NULL;
}

bool
eryx__netpolicy_host_ok(const eryx__netpolicy *p,
                        const char *host,
                        char *why,
                        size_t why_len)
{
    const char *m = list_match(&p->blocked_hosts, host);
    if (m != NULL) {
        snprintf(why, why_len,
                 "host '%.200s' is blocked by the network policy (%.64s)", host,
                 m);
        return false;
    }
    if (p->allowed_hosts.count > 0 &&
        list_match(&p->allowed_hosts, host) == NULL) {
        snprintf(why, why_len,
                 "host '%.200s' is not among the network policy's allowed "
                 "hosts",
                 host);
        return false;
    }
    return true;
}

bool
eryx__cidr_parse(const char *text, eryx__cidr *out)
{
    char buf[64];
    const char *slash = strchr(text, '/');
    size_t n = slash ? (size_t)(slash - text) : strlen(text);
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, text, n);
    buf[n] = '\0';
    unsigned max;
    memset(out->addr, 0, sizeof out->addr);
    struct in_addr v4;
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        out->addr[10] = out->addr[11] = 0xff;
        memcpy(out->addr + 12, &v4, 4);
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        max = 128;
    } else {
        return false;
    }
    unsigned bits = max;
    if (slash != NULL) {
        const char *d = slash + 1;
        if (*d == '\0' || strlen(d) > 3)
            return false;
        bits = 0;
        for (; *d; d++) {
            if (!isdigit((unsigned char)*d))
                return false;
            bits = bits * 10 + (unsigned)(*d - '0');
        }
        if (bits > max)
            return false;
    }
    out->bits = bits + (max == 32 ? 96 : 0);
    return true;
}

static bool
cidr_contains(const eryx__cidr *c, const uint8_t a[16])
{
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, a, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (c->addr[full] & mask) == (a[full] & mask);
}

/* The 16-byte form of `sa`; an IPv6 address that carries an IPv4 one
   (mapped ::ffff:0:0/96, compatible ::/96, NAT64 64:ff9b::/96) becomes
   that IPv4 address, so that it meets the IPv4 networks. */
static bool
addr16(const struct sockaddr *sa, uint8_t out[16])
{
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
    memset(out, 0, 16);
    if (sa->sa_family == AF_INET) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    static const uint8_t zero[12];
    bool compat = memcmp(out, zero, 12) == 0 &&
                  (out[12] | out[13] | out[14] | (out[15] & 0xfe)) != 0;
    if (compat || memcmp(out, nat64, 12) == 0) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
    }
    return true;
}

static void
addr_text(const uint8_t a[16], char *buf, size_t len)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0)
        inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
    else
        inet_ntop(AF_INET6, a, buf, (socklen_t)len);
}

bool
eryx__netpolicy_addr_ok(const eryx__netpolicy *p,
                        const char *host,
                        const struct sockaddr *sa,
                        char *why,
                        size_t why_len)
{
    uint8_t a[16];
    if (!addr16(sa, a)) {
        snprintf(why, why_len,
                 "host '%.200s' has an address of no known "
                 "family",
                 host);
        return false;
    }
    if (list_match(&p->internal_hosts, host) != NULL)
        return true;
    for (size_t i = 0; i < p->nallowed; i++) {
        if (cidr_contains(&p->allowed[i], a))
            return true;
    }
    for (size_t i = 0; i < p->nblocked; i++) {
        if (cidr_contains(&p->blocked[i], a)) {
            char text[INET6_ADDRSTRLEN], net[INET6_ADDRSTRLEN];
            const eryx__cidr *c = &p->blocked[i];
            addr_text(a, text, sizeof text);
            addr_text(c->addr, net, sizeof net);
            bool v4 = c->bits >= 96 && strchr(net, ':') == NULL;
            snprintf(why, why_len,
                     "host '%.200s' resolves to %s, in the blocked network "
                     "%s/%u",
                     host, text, net, v4 ? c->bits - 96 : c->bits);
            return false;
        }
    }
    return true;
}

const char *
eryx__netpolicy_resolved(const eryx__netpolicy *p, const char *host)
{
    for (size_t i = 0; i < p->resolve_names.count; i++) {
        if (strcasecmp(p->resolve_names.items[i], host) == 0)
            return p->resolve_addrs.items[i];
    }
    return NULL;
}

/* ------------------------------------------------------------- lists */

static bool
strlist_add(eryx__strlist *l, const char *s)
{
    char *copy = eryx__strdup(s);
    char **items =
        copy ? eryx__realloc(l->items, (l->count + 1) * sizeof *items) : NULL;
    if (items == NULL) {
        eryx__free(copy);
        return false;
    }
    items[l->count++] = copy;
    l->items = items;
    return true;
}

static void
strlist_clear(eryx__strlist *l)
{
    for (size_t i = 0; i < l->count; i++)
        eryx__free(l->items[i]);
    eryx__free(l->items);
    l->items = NULL;
    l->count = 0;
}

static bool
strlist_copy(eryx__strlist *dst, const eryx__strlist *src)
{
    memset(dst, 0, sizeof *dst);
    for (size_t i = 0; i < src->count; i++) {
        if (!strlist_add(dst, src->items[i]))
            return false;
    }
    return true;
}

static bool
cidrs_add(eryx__cidr **list, size_t *n, const eryx__cidr *c)
{
    eryx__cidr *l = eryx__realloc(*list, (*n + 1) * sizeof *l);
    if (l == NULL)
        return false;
    l[(*n)++] = *c;
    *list = l;
    return true;
}

static void
policy_clear(eryx__netpolicy *p)
{
    strlist_clear(&p->allowed_hosts);
    strlist_clear(&p->blocked_hosts);
    strlist_clear(&p->internal_hosts);
    strlist_clear(&p->resolve_names);
    strlist_clear(&p->resolve_addrs);
    eryx__free(p->blocked);
    eryx__free(p->allowed);
    eryx__tls_ctx_free(p->tls_ctx);
    eryx__tls_roots_free(p->tls_roots);
}

eryx__netpolicy *
eryx__netpolicy_ref(eryx__netpolicy *p)
{
    if (p != NULL)
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    return p;
}

void
eryx__netpolicy_unref(eryx__netpolicy *p)
{
    if (p == NULL || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    policy_clear(p);
    eryx__free(p);
}

/* ------------------------------------------------------ eryx_netconfig */

static bool
host_pattern_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (; *s; s++) {
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    }
    return true;
}

eryx_status
eryx_netconfig_new(eryx_netconfig **out, eryx_error *err)
{
    if (out == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "out is NULL");
    eryx__alloc_init();
    eryx_netconfig *nc = eryx__calloc(1, sizeof *nc);
    *out = NULL;
    if (nc == NULL)
        return eryx__fail_nomem(err);
    nc->p.refs = 1;
    nc->p.max_connections = 10;
    nc->p.connect_timeout_ms = 30000;
    nc->p.io_timeout_ms = 60000;
    bool ok = true;
    for (size_t i = 0; ok && i < ERYX__COUNT(default_blocked_hosts); i++)
        ok = strlist_add(&nc->p.blocked_hosts, default_blocked_hosts[i]);
    for (size_t i = 0; ok && i < ERYX__COUNT(default_blocked_networks); i++) {
        eryx__cidr c;
        ok = eryx__cidr_parse(default_blocked_networks[i], &c) &&
             cidrs_add(&nc->p.blocked, &nc->p.nblocked, &c);
    }
    if (!ok) {
        eryx_netconfig_free(nc);
        return eryx__fail_nomem(err);
    }
    *out = nc;
    return ERYX_OK;
}

void
eryx_netconfig_free(eryx_netconfig *nc)
{
    if (nc == NULL)
        return;
    policy_clear(&nc->p);
    eryx__free(nc);
}

eryx_status
eryx_netconfig_add(eryx_netconfig *nc,
                   eryx_net_list list,
                   const char *item,
                   eryx_error *err)
{
    if (nc == NULL || item == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "netconfig or item is NULL");
    eryx__netpolicy *p = &nc->p;
    bool ok;
    switch (list) {
    case ERYX_NET_BLOCKED_NETWORKS:
    case ERYX_NET_ALLOWED_NETWORKS: {
        eryx__cidr c;
        if (!eryx__cidr_parse(item, &c))
            return eryx__fail(err, ERYX_E_INVALID_ARG,
                              "'%.100s' is not a network (CIDR)", item);
        ok = list == ERYX_NET_BLOCKED_NETWORKS
                 ? cidrs_add(&p->blocked, &p->nblocked, &c)
                 : cidrs_add(&p->allowed, &p->nallowed, &c);
        break;
    }
    case ERYX_NET_ALLOWED_HOSTS:
    case ERYX_NET_BLOCKED_HOSTS:
    case ERYX_NET_INTERNAL_HOSTS:
        if (!host_pattern_ok(item))
            return eryx__fail(err, ERYX_E_INVALID_ARG,
                              "'%.100s' is not a host pattern", item);
        ok = strlist_add(list == ERYX_NET_ALLOWED_HOSTS   ? &p->allowed_hosts
                         : list == ERYX_NET_BLOCKED_HOSTS ? &p->blocked_hosts
                                                          : &p->internal_hosts,
                         item);
        break;
    default:
        return eryx__fail(err, ERYX_E_INVALID_ARG, "no such list");
    }
    return ok ? ERYX_OK : eryx__fail_nomem(err);
}

eryx_status
eryx_netconfig_clear(eryx_netconfig *nc, eryx_net_list list, eryx_error *err)
{
    if (nc == NULL)
        return eryx__fail(err, ERYX_E_INVALID_ARG, "netconfig is NULL");
    eryx__netpolicy *p = &nc->p;
    switch (list) {
    case ERYX_NET_ALLOWED_HOSTS:
        strlist_clear(&p->allowed_hosts);
        break;
    case ERYX_NET_BLOCKED_HOSTS:
        strlist_clear(&p->blocked_hosts);
        break;
    case ERYX_NET_INTERNAL_HOSTS:
        strlist_clear(&p->internal_hosts);
        break;
    case ERYX_NET_BLOCKED_NETWORKS:
        eryx__free(p->blocked);
        p->blocked = NULL;
        p->nblocked = 0;
        break;
    case ERYX_NET_ALLOWED_NETWORKS:
        eryx__free(p->allowed);
        p->allowed = NULL;
        p->nallowed = 0;
        break;
    default:
        return eryx__fail(err, ERYX_E_INVALID_ARG, "no such list");
    }
    return ERYX_OK;
}

eryx_status
eryx_netconfig_set_limits(eryx_netconfig *nc,
                          uint32_t max_connections,
                          uint32_t connect_timeout_ms,
                          uint32_t io_timeout_ms,
                          eryx_error *err)
{
    if (nc == NULL || max_connections == 0 || connect_timeout_ms == 0 ||
        io_timeout_ms == 0)
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "network limits must be at least 1");
    nc->p.max_connections = max_connections;
    nc->p.connect_timeout_ms = connect_timeout_ms;
    nc->p.io_timeout_ms = io_timeout_ms;
    return ERYX_OK;
}

eryx_status
eryx_netconfig_add_root_cert(eryx_netconfig *nc,
                             const void *cert,
                             size_t len,
                             eryx_error *err)
{
    if (nc == NULL || cert == NULL || len == 0 || len > (1u << 20))
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "a certificate of 1 byte to 1 MiB is needed");
    char why[160];
    if (!eryx__tls_roots_add(&nc->p.tls_roots, cert, len, why, sizeof why))
        return eryx__fail(err, ERYX_E_INVALID_ARG, "%s", why);
    return ERYX_OK;
}

eryx_status
eryx_netconfig_resolve(eryx_netconfig *nc,
                       const char *host,
                       const char *address,
                       eryx_error *err)
{
    eryx__cidr c;
    if (nc == NULL || host == NULL || address == NULL ||
        !host_pattern_ok(host) || strchr(host, '*') != NULL ||
        strchr(address, '/') != NULL || !eryx__cidr_parse(address, &c))
        return eryx__fail(err, ERYX_E_INVALID_ARG,
                          "resolve needs a host name and an IP address");
    if (!strlist_add(&nc->p.resolve_names, host))
        return eryx__fail_nomem(err);
    if (!strlist_add(&nc->p.resolve_addrs, address)) {
        eryx__free(nc->p.resolve_names.items[--nc->p.resolve_names.count]);
        return eryx__fail_nomem(err);
    }
    return ERYX_OK;
}

eryx__netpolicy *
eryx__netconfig_freeze(const eryx_netconfig *nc)
{
    const eryx__netpolicy *src = &nc->p;
    eryx__netpolicy *p = eryx__calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->refs = 1;
    p->max_connections = src->max_connections;
    p->connect_timeout_ms = src->connect_timeout_ms;
    p->io_timeout_ms = src->io_timeout_ms;
    bool ok = strlist_copy(&p->allowed_hosts, &src->allowed_hosts) &&
              strlist_copy(&p->blocked_hosts, &src->blocked_hosts) &&
              strlist_copy(&p->internal_hosts, &src->internal_hosts) &&
              strlist_copy(&p->resolve_names, &src->resolve_names) &&
              strlist_copy(&p->resolve_addrs, &src->resolve_addrs);
    for (size_t i = 0; ok && i < src->nblocked; i++)
        ok = cidrs_add(&p->blocked, &p->nblocked, &src->blocked[i]);
    for (size_t i = 0; ok && i < src->nallowed; i++)
        ok = cidrs_add(&p->allowed, &p->nallowed, &src->allowed[i]);
    if (ok && src->tls_roots != NULL)
        ok = (p->tls_roots = eryx__tls_roots_copy(src->tls_roots)) != NULL;
    if (!ok) {
        eryx__netpolicy_unref(p);
        return NULL;
    }
    return p;
}
