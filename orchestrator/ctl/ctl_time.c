#include "ctl_time.h"
#include "orch_error.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define S_US_PER_SEC INT64_C(1000000)

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): no timegm(), which is neither C11 nor POSIX. */
static int64_t s_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void s_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int s_days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Exactly n digits at *p, advancing it. */
static bool s_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool s_char(const char **p, const char *set)
{
    if (**p == '\0' || !strchr(set, **p))
        return false;
    (*p)++;
    return true;
}

/* ".ddd": up to 9 digits, kept to the microsecond. */
static bool s_fraction(const char **p, int64_t *us)
{
    *us = 0;
    if (**p != '.' && **p != ',')
        return true;
    (*p)++;
    int n = 0;
    int64_t scale = 100000;
    for (; isdigit((unsigned char)**p); (*p)++, n++) {
        if (n >= 9)
            return false;
        *us += (**p - '0') * scale;
        scale /= 10;
    }
    return n > 0;
}

/* Z, +HH, +HHMM or +HH:MM: the offset in seconds east of UTC. */
static bool s_zone(const char **p, int64_t *offset)
{
    *offset = 0;
    if (s_char(p, "Zz"))
        return true;
    int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
    int hh, mm = 0;
    if (sign == 0)
        return false;
    (*p)++;
    if (!s_digits(p, 2, &hh) || hh > 23)
        return false;
    if (**p != '\0') {
        s_char(p, ":");
        if (!s_digits(p, 2, &mm) || mm > 59)
            return false;
    }
    *offset = sign * (hh * 3600 + mm * 60);
    return true;
}

static int s_parse_iso(const char *p, int64_t *out_us)
{
    int y, mo, d, h, mi, s = 0;
    int64_t frac = 0, offset;
    if (!s_digits(&p, 4, &y) || !s_char(&p, "-") || !s_digits(&p, 2, &mo) || !s_char(&p, "-") ||
        !s_digits(&p, 2, &d) || !s_char(&p, "Tt") || !s_digits(&p, 2, &h) || !s_char(&p, ":") ||
        !s_digits(&p, 2, &mi))
        return ORCH_EINVAL;
    if (s_char(&p, ":") && (!s_digits(&p, 2, &s) || !s_fraction(&p, &frac)))
        return ORCH_EINVAL;
    if (!s_zone(&p, &offset) || *p != '\0')
        return ORCH_EINVAL;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > s_days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59)
        return ORCH_EINVAL;
    int64_t secs = s_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
    if (secs < 0)
        return ORCH_EINVAL;
    *out_us = secs * S_US_PER_SEC + frac;
    return 0;
}

/* "@1795342800" or "@1795342800.5": at most 11 integer digits keeps the
 * product far from overflow (year 5138). */
static int s_parse_unix(const char *p, int64_t *out_us)
{
    int64_t secs = 0, frac;
    int n = 0;
    for (; isdigit((unsigned char)*p); p++, n++) {
        if (n >= 11)
            return ORCH_EINVAL;
        secs = secs * 10 + (*p - '0');
    }
    if (n == 0 || !s_fraction(&p, &frac) || *p != '\0')
        return ORCH_EINVAL;
    *out_us = secs * S_US_PER_SEC + frac;
    return 0;
}

int ctl_time_parse_us(const char *text, int64_t *out_us)
{
    if (!text)
        return ORCH_EINVAL;
    return text[0] == '@' ? s_parse_unix(text + 1, out_us) : s_parse_iso(text, out_us);
}

void ctl_time_format_us(int64_t us, int digits, char *buf, size_t len)
{
    int64_t secs = us / S_US_PER_SEC, sub = us % S_US_PER_SEC;
    if (sub < 0) {
        secs--;
        sub += S_US_PER_SEC;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        days--;
        rem += 86400;
    }
    int64_t y;
    int m, d;
    s_civil_from_days(days, &y, &m, &d);
    char frac[16] = "";
    if (digits == 3)
        snprintf(frac, sizeof frac, ".%03d", (int)(sub / 1000));
    else if (digits == 6)
        snprintf(frac, sizeof frac, ".%06d", (int)sub);
    int n = snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d%sZ", (long long)y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), frac);
    if (n < 0 || (size_t)n >= len) {
        if (len > 0)
            buf[0] = '\0';
    }
}
