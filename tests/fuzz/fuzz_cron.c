/* libFuzzer driver for the cron parser and cron_next.
 *
 * Input: the expression text (NUL-terminated here; an embedded NUL ends it
 * early, as it would for the C string a caller passes). A rejected
 * expression must give ORCH_EINVAL, no object and a printable message
 * starting "cron: " that fits the buffer. An accepted one is asked for its
 * next firing from fixed start times (the epoch, today, year 1, year 9999,
 * the int64 limits) and from two derived from the input, and each answer
 * must be -1 or strictly later than the start; an @every answer must be
 * exactly the start plus the interval; a calendar answer must fall on a
 * whole minute, be its own next firing from one microsecond before, and
 * also be the answer from any time between the start and itself (checked
 * at the midpoint); the same holds for the firing after it. A violated
 * invariant aborts, which the fuzzer reports. */
#include "cron.h"
#include "orch_error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_cron: invariant failed at line %d: %s\n", __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define US 1000000LL
#define MINUTE_US (60 * US)
#define ERRLEN 256
#define ERRLEN_SMALL 10 /* cuts most messages */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 0001-01-01 00:00 and 10000-01-01 00:00 UTC in microseconds. */
#define YEAR1_US (-62135596800LL * US)
#define YEAR10000_US (253402300800LL * US)

static const int64_t s_starts[] = {
    INT64_MIN,
    INT64_MIN + 1,
    YEAR1_US - 1, /* the next minute is the first of year 1 */
    YEAR1_US,
    -MINUTE_US - 1,
    -1,
    0,
    1,
    1735689600LL * US,          /* 2025-01-01 00:00 */
    1749983407LL * US + 123456, /* 2025-06-15 10:30:07.123456, a Sunday */
    4107542399LL * US,          /* 2100-02-28 23:59:59: 2100 is not a leap year */
    YEAR10000_US - MINUTE_US,   /* 9999-12-31 23:59 */
    YEAR10000_US - 1,           /* 9999-12-31 23:59:59.999999 */
    YEAR10000_US,
    (INT64_MAX / US - 366LL * 86400) * US, /* a year before the last representable second */
    (INT64_MAX / US) * US - MINUTE_US,
    INT64_MAX - 1,
    INT64_MAX,
};

static uint64_t s_fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void s_check_failure(int rc, const cron_t *c, const char *err, size_t errlen)
{
    CHECK(rc == ORCH_EINVAL);
    CHECK(c == NULL);
    CHECK(memchr(err, '\0', errlen) != NULL);
    size_t len = strlen(err);
    CHECK(len > 0 && strncmp(err, "cron: ", len < 6 ? len : 6) == 0);
    for (const char *p = err; *p; p++) /* messages reach logs and JSON replies */
        CHECK(*p >= 0x20 && *p < 0x7f);
}

/* r = cron_next(c, start) of a calendar expression, not -1. */
static void s_check_calendar(const cron_t *c, int64_t start, int64_t r)
{
    CHECK(r % MINUTE_US == 0);
    CHECK(cron_next(c, r - 1) == r);
    /* nothing fires in (start, r), and r is within the search horizon of
     * any later start */
    int64_t mid = start + (int64_t)(((uint64_t)r - (uint64_t)start) / 2);
    CHECK(cron_next(c, mid) == r);
}

static void s_check_next(const cron_t *c, int64_t start)
{
    int64_t r = cron_next(c, start);
    CHECK(r == -1 || r > start);
    if (cron_is_every(c)) {
        int64_t step = cron_every_ms(c) * 1000;
        CHECK(r == (start > INT64_MAX - step ? -1 : start + step));
        return;
    }
    if (r == -1)
        return;
    s_check_calendar(c, start, r);
    /* and the firing after that one */
    int64_t again = cron_next(c, r);
    CHECK(again == -1 || again > r);
    if (again != -1)
        s_check_calendar(c, r, again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t errlen = size % 5 == 4 ? ERRLEN_SMALL : ERRLEN;
    char *err = malloc(errlen);
    CHECK(err != NULL);
    memset(err, 'x', errlen); /* unterminated: an unwritten message shows under ASan */

    cron_t *c = (cron_t *)&s_starts; /* must be overwritten */
    int rc = cron_parse(text, &c, err, errlen);
    if (rc != 0) {
        s_check_failure(rc, c, err, errlen);
    } else {
        CHECK(c != NULL);
        CHECK(err[0] == '\0');
        int64_t every = cron_every_ms(c);
        CHECK(cron_is_every(c) ? every >= 1000 && every <= 366LL * 86400 * 1000 : every == 0);
        for (size_t i = 0; i < sizeof s_starts / sizeof s_starts[0]; i++)
            s_check_next(c, s_starts[i]);
        /* two starts that vary with the input: any 64-bit value, and a time
         * between 1900 and 2500 */
        uint64_t h = s_fnv1a(text);
        s_check_next(c, (int64_t)h);
        s_check_next(c, -2208988800LL * US + (int64_t)(h % (600ULL * 366 * 86400 * US)));
        cron_destroy(&c);
        CHECK(c == NULL);
    }
    free(err);
    free(text);
    return 0;
}
