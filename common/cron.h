/* Cron expressions of recurring schedules, evaluated in UTC.
 *
 * Syntax: five fields separated by blanks,
 *   minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or jan..dec)
 *   day-of-week (0-7, 0 and 7 are Sunday, or sun..sat)
 * each a comma separated list of `*`, `n` or `a-b`, any of them with a step
 * suffix `/n` (every n-th value; `a/n` runs from a to the field's maximum);
 * names are case-insensitive and may be range ends. Day-of-month and
 * day-of-week follow Vixie cron: when both fields are restricted (neither
 * starts with `*`), a day matches if EITHER matches; otherwise both must (a
 * stepped star counts as unrestricted here, as in Vixie cron).
 * Macros: @yearly (@annually) = "0 0 1 1 *", @monthly = "0 0 1 * *",
 * @weekly = "0 0 * * 0", @daily (@midnight) = "0 0 * * *",
 * @hourly = "0 * * * *", and `@every <duration>` ("30s", "10m", "1h", "1d"
 * as clock_parse_duration_ms reads them; 1s..366d).
 *
 * An @every schedule has no calendar: cron_next(after) is simply after plus
 * the interval, so the caller decides the phase by what it passes as after
 * (the coordinator passes the last scheduled slot, not the firing time, so a
 * late firing does not shift every later one). */
#ifndef CRON_H
#define CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cron cron_t;

/* Parses text. Returns 0 and a new expression (caller owns, cron_destroy)
 * or ORCH_EINVAL with a lowercase message in err naming the field and value,
 * e.g. `cron: minute field "61" out of range 0-59`. An expression that can
 * never fire (day 30 of February only) is rejected too. */
int cron_parse(const char *text, cron_t **out, char *err, size_t errlen);
void cron_destroy(cron_t **c);

/* The first firing time strictly after after_us (microseconds since the
 * epoch, UTC; calendar firings fall on whole minutes), or -1 when there is
 * none before the end of the fifth year after after_us's year, or on
 * overflow. (30 February is rejected by cron_parse; a rare day under the
 * AND rule, such as the 29th of February that is also a Monday, can still
 * give -1.) */
int64_t cron_next(const cron_t *c, int64_t after_us);

/* Whether c is an `@every` interval, and that interval in milliseconds
 * (0 for calendar expressions). */
bool cron_is_every(const cron_t *c);
int64_t cron_every_ms(const cron_t *c);

#endif
