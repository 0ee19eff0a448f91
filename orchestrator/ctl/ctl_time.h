/* Wall-clock times as the operator types and reads them: ISO 8601 in UTC
 * (or with an explicit offset) and Unix seconds, converted to and from the
 * protocol's microseconds since the Unix epoch. Pure functions. */
#ifndef CTL_TIME_H
#define CTL_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Parses one of
 *   2026-11-22T10:00:00Z          seconds optional (10:00Z), T or t, Z or z
 *   2026-11-22T10:00:00.250Z      1..9 fractional digits (kept to the µs)
 *   2026-11-22T12:00:00+02:00     offset +HH:MM, -HH:MM, +HHMM or +HH
 *   @1795342800                   Unix seconds, optionally with a fraction
 * A time without a zone is refused: it would be read as UTC by some and
 * as local time by others. Years 1970..9999. Returns 0 and stores µs since
 * the epoch, or ORCH_EINVAL. */
int ctl_time_parse_us(const char *text, int64_t *out_us);

/* Writes us (µs since the epoch) as "2026-11-22T10:00:00Z", with digits
 * (0, 3 or 6) fractional digits before the Z. buf gets "" when len is too
 * small for the result. */
void ctl_time_format_us(int64_t us, int digits, char *buf, size_t len);

#endif
