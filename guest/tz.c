/*
** tz.c: local time for the guest's C library.
**
** WASI's C library (musl underneath) has no time-zone support: its
** __secs_to_zone always answers UTC, so localtime, mktime and strftime's
** %Z/%z ignored TZ, and Python's time.tzset could not work.  This file
** replaces the three symbols of that one object of libc.a (__secs_to_zone,
** __tm_to_tzname, __utc); musl's own localtime_r, mktime and strftime call
** them, so every one of them now follows TZ:
**
**   - TZ unset or empty: UTC (the sandbox has no /etc/localtime);
**   - a POSIX rule ("EST+05EDT,M3.2.0,M11.1.0", "<+0330>-3:30", "UTC+0");
**   - a zone name ("Europe/Kyiv", ":Asia/Tokyo"): a TZif file from the
**     tzdata package in the guest's stdlib (or /usr/share/zoneinfo when a
**     mount provides it), with its footer rule for times past its table;
**   - anything else: UTC.
**
** TZ is read on every call and parsed again only when it changes, so
** os.environ["TZ"] = ...; time.tzset() works as on any POSIX system.  The
** guest is single-threaded.  Every input here (TZ, the file) comes from the
** guest's own code and data and is checked before use.
*/
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <Python.h> /* PY_MAJOR_VERSION, PY_MINOR_VERSION only */

#define STR_(x) #x
#define STR(x)  STR_(x)
#define ZONEINFO_DIR                             \
    "/lib/python" STR(PY_MAJOR_VERSION) "." STR( \
        PY_MINOR_VERSION) "/tzdata/zoneinfo/"

const char __utc[] = "UTC";

/* musl's internal interface (src/time/time_impl.h). */
void __secs_to_zone(long long t,
                    int local,
                    int *isdst,
                    long *offset,
                    long *oppoff,
                    const char **zonename);
const char *__tm_to_tzname(const struct tm *tm);

/* ------------------------------------------------------------ names */

/* Zone abbreviations are interned for the life of the instance: struct tm
   keeps pointers to them (tm_zone) past any later change of TZ. */
#define NAMES_MAX 512
#define NAME_LEN  16
static char names[NAMES_MAX][NAME_LEN];
static int nnames;

static const char *
intern(const char *s, size_t len)
{
    if (len >= NAME_LEN)
        len = NAME_LEN - 1;
    for (int i = 0; i < nnames; i++)
        if (strncmp(names[i], s, len) == 0 && names[i][len] == '\0')
            return names[i];
    if (nnames == NAMES_MAX)
        return "???";
    memcpy(names[nnames], s, len);
    names[nnames][len] = '\0';
    return names[nnames++];
}

static int
interned(const char *p)
{
    return p >= names[0] && p < names[0] + sizeof names;
}

/* ------------------------------------------------------ calendar math */

static long long
floor_div(long long a, long long b)
{
    long long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int
is_leap(long long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1..12). */
static long long
days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = floor_div(y, 400);
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static long long
year_of_days(long long z)
{
    z += 719468;
    long long era = floor_div(z, 146097);
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

static int
days_in_month(long long y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return dim[m - 1] + (m == 2 && is_leap(y));
}

/* ------------------------------------------------------- POSIX rules */

struct rule {
    char kind; /* 'J' (1..365, no Feb 29), 'D' (0..365), 'M' (month.week.day) */
    int n, m, w, d;
    long time; /* seconds after local midnight; may be negative or > 24 h */
};

struct posix {
    const char *std_name, *dst_name;
    long std_off, dst_off; /* seconds east of UTC */
    int has_dst;
    struct rule start, end;
};

struct span {
    const char *s;
    size_t len;
};

static const char *
parse_name(const char *p, struct span *name)
{
    const char *s;
    size_t len;
    if (*p == '<') {
        s = ++p;
        while (*p && *p != '>' &&
               (isalnum((unsigned char)*p) || *p == '+' || *p == '-'))
            p++;
        if (*p != '>')
            return NULL;
        len = (size_t)(p++ - s);
    } else {
        s = p;
        while (isalpha((unsigned char)*p))
            p++;
        len = (size_t)(p - s);
    }
    if (len < 3)
        return NULL;
    *name = (struct span){s, len};
    return p;
}

static const char *
parse_number(const char *p, long max, long *out)
{
    long v = 0;
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (*p++ - '0');
        if (v > max)
            return NULL;
    }
    *out = v;
    return p;
}

/* [+-]hh[:mm[:ss]], hours up to 167 (RFC 8536's extension). */
static const char *
parse_offset(const char *p, long *out)
{
    long sign = 1, h, m = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!(p = parse_number(p, 167, &h)))
        return NULL;
    if (*p == ':' && !(p = parse_number(p + 1, 59, &m)))
        return NULL;
    if (*p == ':' && !(p = parse_number(p + 1, 59, &s)))
        return NULL;
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *
parse_rule(const char *p, struct rule *r)
{
    long a, b, c;
    memset(r, 0, sizeof *r);
    if (*p == 'J') {
        if (!(p = parse_number(p + 1, 365, &a)) || a < 1)
            return NULL;
        r->kind = 'J', r->n = (int)a;
    } else if (*p == 'M') {
        if (!(p = parse_number(p + 1, 12, &a)) || a < 1 || *p != '.')
            return NULL;
        if (!(p = parse_number(p + 1, 5, &b)) || b < 1 || *p != '.')
            return NULL;
        if (!(p = parse_number(p + 1, 6, &c)))
            return NULL;
        r->kind = 'M', r->m = (int)a, r->w = (int)b, r->d = (int)c;
    } else {
        if (!(p = parse_number(p, 365, &a)))
            return NULL;
        r->kind = 'D', r->n = (int)a;
    }
    r->time = 7200;
    if (*p == '/' && !(p = parse_offset(p + 1, &r->time)))
        return NULL;
    return p;
}

static int parse_posix_spans(const char *p,
                             struct posix *z,
                             struct span *std,
                             struct span *dst);

/* A whole POSIX TZ string; 0 on success.  Names are interned only then,
   so that failed attempts do not fill the table. */
static int
parse_posix(const char *p, struct posix *z)
{
    struct span std, dst;
    memset(z, 0, sizeof *z);
    if (parse_posix_spans(p, z, &std, &dst) != 0)
        return -1;
    z->std_name = intern(std.s, std.len);
    z->dst_name = z->has_dst ? intern(dst.s, dst.len) : NULL;
    return 0;
}

static int
parse_posix_spans(const char *p,
                  struct posix *z,
                  struct span *std,
                  struct span *dst)
{
    long off;
    if (!(p = parse_name(p, std)) || !(p = parse_offset(p, &off)))
        return -1;
    z->std_off = -off;
    if (*p == '\0')
        return 0;
    if (!(p = parse_name(p, dst)))
        return -1;
    z->has_dst = 1;
    z->dst_off = z->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_offset(p, &off)))
            return -1;
        z->dst_off = -off;
    }
    if (*p == '\0') { /* no rule: the US rule, as glibc and musl assume */
        z->start = (struct rule){'M', 0, 3, 2, 0, 7200};
        z->end = (struct rule){'M', 0, 11, 1, 0, 7200};
        return 0;
    }
    if (*p != ',' || !(p = parse_rule(p + 1, &z->start)))
        return -1;
    if (*p != ',' || !(p = parse_rule(p + 1, &z->end)))
        return -1;
    return *p == '\0' ? 0 : -1;
}

/* Local seconds (at offset 0) at which rule r fires in year y. */
static long long
rule_local(long long y, const struct rule *r)
{
    long long day;
    if (r->kind == 'J') {
        day = days_from_civil(y, 1, 1) + r->n - 1 + (is_leap(y) && r->n >= 60);
    } else if (r->kind == 'D') {
        day = days_from_civil(y, 1, 1) + r->n;
    } else {
        long long first = days_from_civil(y, r->m, 1);
        int wday1 = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
        int mday = 1 + (r->d - wday1 + 7) % 7 + (r->w - 1) * 7;
        while (mday > days_in_month(y, r->m))
            mday -= 7;
        day = first + mday - 1;
    }
    return day * 86400 + r->time;
}

struct info {
    int isdst;
    long off, opp;
    const char *name;
};

static void
posix_info(const struct posix *z, long long t, struct info *out)
{
    int dst = 0;
    if (z->has_dst) {
        long long y = year_of_days(floor_div(t + z->std_off, 86400));
        long long start = rule_local(y, &z->start) - z->std_off;
        long long end = rule_local(y, &z->end) - z->dst_off;
        dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    }
    out->isdst = dst;
    out->off = dst ? z->dst_off : z->std_off;
    out->opp = !z->has_dst ? z->std_off : dst ? z->std_off : z->dst_off;
    out->name = dst ? z->dst_name : z->std_name;
}

/* -------------------------------------------------------- TZif files */

struct ttype {
    long off;
    int isdst;
    const char *name;
};

static struct {
    char *key;    /* the TZ string this zone was made from */
    int has_rule; /* POSIX rule (whole zone, or past the table) */
    struct posix rule;
    long long *times;   /* transitions, ascending */
    unsigned char *idx; /* type of each transition */
    int ntimes;
    struct ttype *types;
    int ntypes;
} zone;

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static long long
be64(const unsigned char *p)
{
    return (long long)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static void
zone_clear(void)
{
    free(zone.key);
    free(zone.times);
    free(zone.idx);
    free(zone.types);
    memset(&zone, 0, sizeof zone);
}

/* Parses a TZif file (RFC 8536) into `zone`; 0 on success. */
static int
parse_tzif(const unsigned char *b, size_t n)
{
    uint32_t cnt[6];
    size_t tsize = 4;
    if (n < 44 || memcmp(b, "TZif", 4) != 0)
        return -1;
    for (;;) {
        for (int i = 0; i < 6; i++)
            cnt[i] = be32(b + 20 + 4 * i);
        /* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
        if (cnt[3] > 100000 || cnt[4] == 0 || cnt[4] > 256 || cnt[5] > 65536 ||
            cnt[2] > 100000 || cnt[0] > 256 || cnt[1] > 256)
            return -1;
        size_t body = cnt[3] * tsize + cnt[3] + cnt[4] * 6 + cnt[5] +
                      cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
        if (n - 44 < body)
            return -1;
        if (tsize == 4 && b[4] >= '2') { /* skip to the 64-bit data */
            b += 44 + body, n -= 44 + body;
            tsize = 8;
            if (n < 44 || memcmp(b, "TZif", 4) != 0)
                return -1;
            continue;
        }
        break;
    }
    const unsigned char *p = b + 44;
    int nt = (int)cnt[3], ny = (int)cnt[4];
    zone.times = malloc(sizeof *zone.times * (size_t)(nt ? nt : 1));
    zone.idx = malloc((size_t)(nt ? nt : 1));
    zone.types = malloc(sizeof *zone.types * (size_t)ny);
    if (!zone.times || !zone.idx || !zone.types)
        return -1;
    for (int i = 0; i < nt; i++, p += tsize) {
        zone.times[i] = tsize == 8 ? be64(p) : (long long)(int32_t)be32(p);
        if (i > 0 && zone.times[i] <= zone.times[i - 1])
            return -1;
    }
    for (int i = 0; i < nt; i++, p++) {
        if (*p >= ny)
            return -1;
        zone.idx[i] = *p;
    }
    const unsigned char *chars = p + 6 * (size_t)ny;
    for (int i = 0; i < ny; i++, p += 6) {
        int32_t off = (int32_t)be32(p);
        size_t at = p[5];
        if (off < -89999 || off > 93599 || at >= cnt[5])
            return -1;
        size_t len = strnlen((const char *)chars + at, cnt[5] - at);
        zone.types[i] = (struct ttype){off, p[4] != 0,
                                       intern((const char *)chars + at, len)};
    }
    zone.ntimes = nt, zone.ntypes = ny;
    p = chars + cnt[5] + cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
    n -= (size_t)(p - b);
    /* The footer: "\n" POSIX-rule "\n" (version 2 and later). */
    if (tsize == 8 && n >= 2 && p[0] == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', n - 1);
        char rule[128];
        if (nl && (size_t)(nl - p - 1) < sizeof rule) {
            memcpy(rule, p + 1, (size_t)(nl - p - 1));
            rule[nl - p - 1] = '\0';
            zone.has_rule = rule[0] && parse_posix(rule, &zone.rule) == 0;
        }
    }
    return 0;
}

/* A zone name is looked up only below the zoneinfo directories: no "..",
   no absolute path other than a zoneinfo file. */
static int
load_file(const char *name)
{
    static const char *const dirs[] = {ZONEINFO_DIR, "/usr/share/zoneinfo/"};
    size_t len = strlen(name);
    if (len == 0 || len > 200 || name[0] == '/' || strstr(name, ".."))
        return -1;
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s%s", dirs[i], name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        enum { MAX_FILE = 1 << 16 }; /* the largest zone file is under 4 KiB */
        unsigned char *buf = malloc(MAX_FILE);
        size_t n = buf ? fread(buf, 1, MAX_FILE, f) : 0;
        int bad = !buf || !feof(f) || parse_tzif(buf, n) != 0;
        fclose(f);
        free(buf);
        if (bad)
            zone_clear();
        return bad ? -1 : 0;
    }
    return -1;
}

/* Makes `zone` follow the current TZ. */
static void
zone_update(void)
{
    const char *tz = getenv("TZ");
    if (!tz)
        tz = "";
    if (zone.key && strcmp(zone.key, tz) == 0)
        return;
    zone_clear();
    zone.key = strdup(tz);
    if (!zone.key)
        return; /* out of memory: UTC, and try again next time */
    const char *s = tz[0] == ':' ? tz + 1 : tz;
    if (!*s)
        return;
    if (parse_posix(s, &zone.rule) == 0) {
        zone.has_rule = 1;
        return;
    }
    char *key = zone.key;
    zone.key = NULL;
    if (load_file(s) != 0)
        zone_clear();
    zone.key = key;
}

/* Offset of the other kind (standard or daylight) near transition i. */
static long
tzif_opp(int i, const struct ttype *ty)
{
    for (int j = i - 1; j >= 0; j--)
        if (zone.types[zone.idx[j]].isdst != ty->isdst)
            return zone.types[zone.idx[j]].off;
    for (int j = i + 1; j < zone.ntimes; j++)
        if (zone.types[zone.idx[j]].isdst != ty->isdst)
            return zone.types[zone.idx[j]].off;
    return ty->off;
}

static void
utc_info(long long t, struct info *out)
{
    zone_update();
    if (zone.ntypes == 0 && !zone.has_rule) {
        *out = (struct info){0, 0, 0, __utc};
        return;
    }
    if (zone.has_rule &&
        (zone.ntypes == 0 ||
         (zone.ntimes > 0 && t >= zone.times[zone.ntimes - 1]))) {
        posix_info(&zone.rule, t, out);
        return;
    }
    int lo = 0, hi = zone.ntimes; /* first transition after t */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (zone.times[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    int i = lo - 1;
    const struct ttype *ty = &zone.types[i >= 0 ? zone.idx[i] : 0];
    *out = (struct info){ty->isdst, ty->off, tzif_opp(i >= 0 ? i : 0, ty),
                         ty->name};
}

void
__secs_to_zone(long long t,
               int local,
               int *isdst,
               long *offset,
               long *oppoff,
               const char **zonename)
{
    struct info a;
    utc_info(t, &a);
    if (local) { /* t is a wall-clock time: find the instant that shows it */
        struct info b;
        utc_info(t - a.off, &b);
        if (b.off != a.off) {
            struct info c;
            utc_info(t - b.off, &c);
            a = c.off == b.off ? b : c;
        }
    }
    *isdst = a.isdst;
    *offset = a.off;
    if (oppoff)
        *oppoff = a.opp;
    *zonename = a.name;
}

const char *
__tm_to_tzname(const struct tm *tm)
{
    const char *p = tm->__tm_zone;
    if (p == __utc || interned(p))
        return p;
    /* A tm filled by the program: its name if it is a known one, else the
       current zone's name for its isdst. */
    if (p) {
        for (int i = 0; i < nnames; i++)
            if (strcmp(names[i], p) == 0)
                return names[i];
    }
    zone_update();
    if (zone.has_rule && zone.ntypes == 0)
        return tm->tm_isdst > 0 && zone.rule.has_dst ? zone.rule.dst_name
                                                     : zone.rule.std_name;
    for (int i = zone.ntypes - 1; i >= 0; i--)
        if (zone.types[i].isdst == (tm->tm_isdst > 0))
            return zone.types[i].name;
    return __utc;
}
