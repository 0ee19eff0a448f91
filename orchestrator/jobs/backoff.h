/* Retry delay: exponential with "equal jitter" (a uniform value in the
 * upper half), so retries of many jobs failing together spread out but a
 * retry never comes sooner than half the nominal delay. */
#ifndef BACKOFF_H
#define BACKOFF_H
#include <stdint.h>

/* attempt: the attempt that just failed (1 = first). rand01: a uniform
 * value in [0,1). Returns milliseconds:
 *   d = min(max_ms, base_ms * 2^(attempt-1));  result = d/2 + rand01 * d/2 */
int64_t backoff_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, double rand01);

#endif
