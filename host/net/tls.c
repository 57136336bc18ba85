/*
** tls.c: TLS for the guest's connections, by OpenSSL.  One client
** context per policy: TLS 1.2 or newer, the system's roots plus the
** policy's, peer verification required; each connection verifies the
** server's name (or IP address).  Nothing the guest sends changes that:
** it chooses only the name and the ALPN protocols offered.
*/
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/net.h"

bool
eryx__tls_roots_add(
    void **roots, const void *cert, size_t len, char *why, size_t why_len)
{
    STACK_OF(X509) *sk = *roots;
    if (sk == NULL && (sk = sk_X509_new_null()) == NULL) {
        snprintf(why, why_len, "out of memory");
        return false;
    }
    *roots = sk;
    int added = 0;
    BIO *bio = BIO_new_mem_buf(cert, (int)len);
    X509 *x;
    while (bio != NULL &&
           (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            break;
        }
        added++;
    }
    BIO_free(bio);
    ERR_clear_error();
    if (added == 0) {
        const unsigned char *p = cert;
        x = d2i_X509(NULL, &p, (long)len);
        if (x != NULL && sk_X509_push(sk, x) > 0)
            added++;
        else
            X509_free(x);
        ERR_clear_error();
    }
    if (added == 0)
        snprintf(why, why_len, "not a PEM or DER certificate");
    return added > 0;
}

void *
eryx__tls_roots_copy(void *roots)
{
    return sk_X509_deep_copy((STACK_OF(X509) *)roots, X509_dup, X509_free);
}

void
eryx__tls_roots_free(void *roots)
{
    if (roots != NULL)
        sk_X509_pop_free((STACK_OF(X509) *)roots, X509_free);
}

static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;

static SSL_CTX *
make_ctx(eryx__netpolicy *p)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* The system's roots; a system without them still has the policy's. */
    (void)SSL_CTX_set_default_verify_paths(ctx);
    ERR_clear_error();
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509) *sk = p->tls_roots;
    for (int i = 0; sk != NULL && i < sk_X509_num(sk); i++)
        (void)X509_STORE_add_cert(store, sk_X509_value(sk, i));
    ERR_clear_error();
    return ctx;
}

void *
eryx__tls_ctx(eryx__netpolicy *p, char *why, size_t why_len)
{
    pthread_mutex_lock(&ctx_mu);
    if (p->tls_ctx == NULL)
        p->tls_ctx = make_ctx(p);
    void *ctx = p->tls_ctx;
    pthread_mutex_unlock(&ctx_mu);
    if (ctx == NULL)
        snprintf(why, why_len, "cannot set up TLS (OpenSSL)");
    return ctx;
}

void
eryx__tls_ctx_free(void *ctx)
{
    SSL_CTX_free(ctx);
}

void *
eryx__tls_new(void *ctx,
              int fd,
              const char *name,
              const uint8_t *alpn,
              size_t alpn_len,
              bool no_h2,
              char *why,
              size_t why_len)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
        goto fail;
    unsigned char a[16];
    bool ip =
        inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1;
    if (ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1)
            goto fail;
    } else {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set_tlsext_host_name(ssl, name) != 1 ||
            SSL_set1_host(ssl, name) != 1)
            goto fail;
    }
    /* ALPN as offered, less what may not be offered; a malformed list
       offers nothing. */
    uint8_t keep[512];
    size_t kept = 0;
    for (size_t i = 0; i < alpn_len;) {
        size_t n = alpn[i];
        if (n == 0 || i + 1 + n > alpn_len) {
            kept = 0;
            break;
        }
        bool h2 = n == 2 && memcmp(alpn + i + 1, "h2", 2) == 0;
        if (!(h2 && no_h2) && kept + 1 + n <= sizeof keep) {
            memcpy(keep + kept, alpn + i, 1 + n);
            kept += 1 + n;
        }
        i += 1 + n;
    }
    if (kept > 0 && SSL_set_alpn_protos(ssl, keep, (unsigned)kept) != 0)
        goto fail;
    SSL_set_connect_state(ssl);
    return ssl;
fail:
    SSL_free(ssl);
    ERR_clear_error();
    snprintf(why, why_len, "cannot start TLS for '%.200s'", name);
    return NULL;
}

const char *
eryx__tls_version_text(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

unsigned long
eryx__tls_version_number(void)
{
    return OpenSSL_version_num();
}

/* ------------------------------------------------ the peer certificate */

/* A name as getpeercert() gives it: [[["commonName", "x"]], ...]. */
static cJSON *
name_json(X509_NAME *name)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr != NULL && i < X509_NAME_entry_count(name); i++) {
        X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        unsigned char *utf8 = NULL;
        if (ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) < 0)
            continue;
        const char *key = nid != NID_undef ? OBJ_nid2ln(nid) : "unknown";
        cJSON *pair = cJSON_CreateArray(), *rdn = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(key));
        cJSON_AddItemToArray(pair, cJSON_CreateString((char *)utf8));
        cJSON_AddItemToArray(rdn, pair);
        cJSON_AddItemToArray(arr, rdn);
        OPENSSL_free(utf8);
    }
    return arr;
}

static void
add_time(cJSON *obj, const char *key, const ASN1_TIME *t)
{
    struct tm tm;
    char buf[64];
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return;
    snprintf(buf, sizeof buf, "%s %2d %02d:%02d:%02d %d GMT",
             mon[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             tm.tm_year + 1900);
    cJSON_AddStringToObject(obj, key, buf);
}

static cJSON *
cert_json(X509 *x)
{
    cJSON *c = cJSON_CreateObject();
    if (c == NULL)
        return NULL;
    cJSON_AddItemToObject(c, "subject", name_json(X509_get_subject_name(x)));
    cJSON_AddItemToObject(c, "issuer", name_json(X509_get_issuer_name(x)));
    cJSON_AddNumberToObject(c, "version", (double)X509_get_version(x) + 1);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex != NULL)
        cJSON_AddStringToObject(c, "serialNumber", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    add_time(c, "notBefore", X509_get0_notBefore(x));
    add_time(c, "notAfter", X509_get0_notAfter(x));
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (sans != NULL) {
        cJSON *arr = cJSON_AddArrayToObject(c, "subjectAltName");
        for (int i = 0; arr != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
            char buf[INET6_ADDRSTRLEN];
            const char *kind = NULL, *value = NULL;
            if (g->type == GEN_DNS) {
                kind = "DNS";
                value = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
            } else if (g->type == GEN_IPADD) {
                int n = ASN1_STRING_length(g->d.iPAddress);
                const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);
                kind = "IP Address";
                if (n == 4 || n == 16)
                    value = inet_ntop(n == 4 ? AF_INET : AF_INET6, d, buf,
                                      sizeof buf);
            }
            if (kind == NULL || value == NULL)
                continue;
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateString(kind));
            cJSON_AddItemToArray(pair, cJSON_CreateString(value));
            cJSON_AddItemToArray(arr, pair);
        }
        GENERAL_NAMES_free(sans);
    }
    return c;
}

static void
add_der_base64(cJSON *obj, X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    if (n <= 0)
        return;
    size_t cap = 4 * (((size_t)n + 2) / 3) + 1;
    unsigned char *b64 = eryx__malloc(cap);
    if (b64 != NULL) {
        EVP_EncodeBlock(b64, der, n);
        cJSON_AddStringToObject(obj, "cert_der", (const char *)b64);
        eryx__free(b64);
    }
    OPENSSL_free(der);
}

void *
eryx__tls_info(void *ssl_)
{
    SSL *ssl = ssl_;
    cJSON *t = cJSON_CreateObject();
    if (t == NULL)
        return NULL;
    cJSON_AddStringToObject(t, "version", SSL_get_version(ssl));
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    if (c != NULL) {
        cJSON *arr = cJSON_AddArrayToObject(t, "cipher");
        int bits = SSL_CIPHER_get_bits(c, NULL);
        cJSON_AddItemToArray(arr, cJSON_CreateString(SSL_CIPHER_get_name(c)));
        cJSON_AddItemToArray(arr,
                             cJSON_CreateString(SSL_CIPHER_get_version(c)));
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(bits));
    }
    const unsigned char *proto = NULL;
    unsigned plen = 0;
    SSL_get0_alpn_selected(ssl, &proto, &plen);
    if (plen > 0) {
        char buf[256];
        memcpy(buf, proto, plen);
        buf[plen] = '\0';
        cJSON_AddStringToObject(t, "alpn", buf);
    } else {
        cJSON_AddNullToObject(t, "alpn");
    }
    X509 *peer = SSL_get1_peer_certificate(ssl);
    if (peer != NULL) {
        cJSON_AddItemToObject(t, "cert", cert_json(peer));
        add_der_base64(t, peer);
        X509_free(peer);
    }
    return t;
}

/* ------------------------------------------------------------- I/O */

/* OpenSSL writes to its socket with plain send(): a peer that closed makes
   the kernel raise SIGPIPE, whose default action ends the whole host
   process.  Around every call that may write, SIGPIPE is blocked for the
   calling thread, and one it raised is taken back before the mask is
   restored (a SIGPIPE already pending is left alone). */
typedef struct sigpipe_guard {
    sigset_t old;
    bool was_pending;
} sigpipe_guard;

/* *set becomes {SIGPIPE}; is a SIGPIPE pending for this thread? */
static bool
sigpipe_pending(sigset_t *set)
{
    sigset_t pending;
    sigemptyset(set);
    sigaddset(set, SIGPIPE);
    sigemptyset(&pending);
    (void)sigpending(&pending);
    return sigismember(&pending, SIGPIPE) == 1;
}

static void
sigpipe_block(sigpipe_guard *g)
{
    sigset_t set;
    g->was_pending = sigpipe_pending(&set);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void
sigpipe_restore(sigpipe_guard *g)
{
    sigset_t set;
    if (sigpipe_pending(&set) && !g->was_pending) {
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Why `ssl` failed after `r`, into why; the failure code
   (ERYX_ABI_NET_TLS or _TLS_VERIFY). */
static int
tls_failure(SSL *ssl, char *why, size_t why_len)
{
    long v = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_error();
    if (v != X509_V_OK) {
        snprintf(why, why_len, "certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
        ERR_clear_error();
        return ERYX_ABI_NET_TLS_VERIFY;
    }
    if (e != 0) {
        char buf[200];
        ERR_error_string_n(e, buf, sizeof buf);
        snprintf(why, why_len, "TLS error: %s", buf);
    } else {
        int en = errno;
        snprintf(why, why_len, "TLS error: the connection closed (%s)",
                 en != 0 ? strerror(en) : "by the peer");
    }
    ERR_clear_error();
    return ERYX_ABI_NET_TLS;
}

int
eryx__tls_handshake(void *ssl_, int *want, char *why, size_t why_len)
{
    SSL *ssl = ssl_;
    ERR_clear_error();
    errno = 0;
    sigpipe_guard g;
    sigpipe_block(&g);
    int r = SSL_do_handshake(ssl);
    sigpipe_restore(&g);
    if (r == 1)
        return 0;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
        *want = 1;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *want = 2;
        return -1;
    default:
        return tls_failure(ssl, why, why_len);
    }
}

/* After SSL_read_ex / SSL_write_ex gave `r` and `done`: bytes (> 0); 0
   at the end (read); -1 when the call must wait (*want: 1 readable, 2
   writable); or -(failure code + 1) with a message. */
static long
tls_result(
    SSL *ssl, bool rd, int r, size_t done, int *want, char *why, size_t why_len)
{
    if (r == 1)
        return (long)done;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want = e == SSL_ERROR_WANT_READ ? 1 : 2;
        return -1;
    }
    if (rd &&
        (e == SSL_ERROR_ZERO_RETURN ||
         (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) ||
         (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) ==
                                    SSL_R_UNEXPECTED_EOF_WHILE_READING))) {
        ERR_clear_error();
        return 0; /* the end, with or without close_notify */
    }
    return -(long)tls_failure(ssl, why, why_len) - 1;
}

long
eryx__tls_read(void *ssl, void *p, size_t n, int *want, char *why, size_t len)
{
    size_t done = 0;
    ERR_clear_error();
    errno = 0;
    sigpipe_guard g;
    sigpipe_block(&g); /* a read may send an alert or a key update */
    int r = SSL_read_ex(ssl, p, n, &done);
    sigpipe_restore(&g);
    return tls_result(ssl, true, r, done, want, why, len);
}

long
eryx__tls_write(
    void *ssl, const void *p, size_t n, int *want, char *why, size_t len)
{
    size_t done = 0;
    ERR_clear_error();
    errno = 0;
    sigpipe_guard g;
    sigpipe_block(&g);
    int r = SSL_write_ex(ssl, p, n, &done);
    sigpipe_restore(&g);
    return tls_result(ssl, false, r, done, want, why, len);
}

size_t
eryx__tls_pending(void *ssl)
{
    return (size_t)SSL_pending((SSL *)ssl);
}

void
eryx__tls_close(void *ssl)
{
    ERR_clear_error();
    sigpipe_guard g;
    sigpipe_block(&g);
    (void)SSL_shutdown((SSL *)ssl); /* close_notify, if it goes at once */
    sigpipe_restore(&g);
    ERR_clear_error();
    SSL_free(ssl);
}
