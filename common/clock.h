/* One monotonic clock for deadlines and timers; wall clock only for
 * timestamps that leave the process. */
#ifndef CLOCK_H
#define CLOCK_H
#include <stdint.h>

int64_t clock_mono_us(void);
int64_t clock_mono_ms(void);
int64_t clock_mono_ns(void);
int64_t clock_real_us(void);

/* Parses "250ms", "30s", "5m", "2h", "1d" or a plain integer (milliseconds).
 * Returns 0 and stores milliseconds, or ORCH_EINVAL. */
int clock_parse_duration_ms(const char *text, int64_t *out_ms);

#endif
