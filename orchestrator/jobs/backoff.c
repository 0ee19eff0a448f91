#include "backoff.h"

int64_t backoff_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, double rand01)
{
    if (attempt < 1)
        attempt = 1;
    if (base_ms < 0)
        base_ms = 0;
    if (max_ms < base_ms)
        max_ms = base_ms;
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < max_ms; i++)
        d = d > max_ms / 2 ? max_ms : d * 2;
    if (d > max_ms)
        d = max_ms;
    if (rand01 < 0)
        rand01 = 0;
    if (rand01 >= 1)
        rand01 = 0.999999;
    return d / 2 + (int64_t)(rand01 * (double)(d - d / 2));
}
