#include "timerheap.h"
#include "xalloc.h"
#include <stdlib.h>

struct timerheap {
    timer_entry_t *a;
    size_t n, cap;
};

timerheap_t *timerheap_new(void)
{
    timerheap_t *th = xcalloc(1, sizeof *th);
    th->cap = 256;
    th->a = xmalloc(th->cap * sizeof *th->a);
    return th;
}

void timerheap_destroy(timerheap_t **th)
{
    if (!th || !*th)
        return;
    free((*th)->a);
    free(*th);
    *th = NULL;
}

static bool s_less(const timer_entry_t *x, const timer_entry_t *y)
{
    return x->due_ms < y->due_ms;
}

void timerheap_push(timerheap_t *th, timer_entry_t e)
{
    if (th->n == th->cap) {
        th->cap *= 2;
        th->a = xrealloc(th->a, th->cap * sizeof *th->a);
    }
    size_t i = th->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!s_less(&e, &th->a[parent]))
            break;
        th->a[i] = th->a[parent];
        i = parent;
    }
    th->a[i] = e;
}

bool timerheap_peek(const timerheap_t *th, timer_entry_t *out)
{
    if (th->n == 0)
        return false;
    *out = th->a[0];
    return true;
}

/* Moves a[i] down to its place (the heap below it is valid). */
static void s_sift_down(timerheap_t *th, size_t i)
{
    timer_entry_t e = th->a[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const timer_entry_t *best = &e;
        if (l < th->n && s_less(&th->a[l], best)) {
            m = l;
            best = &th->a[l];
        }
        if (r < th->n && s_less(&th->a[r], best))
            m = r;
        if (m == i)
            break;
        th->a[i] = th->a[m];
        i = m;
    }
    th->a[i] = e;
}

bool timerheap_pop(timerheap_t *th, timer_entry_t *out)
{
    if (th->n == 0)
        return false;
    *out = th->a[0];
    th->a[0] = th->a[--th->n];
    if (th->n > 0)
        s_sift_down(th, 0);
    return true;
}

size_t timerheap_compact(timerheap_t *th, bool (*keep)(const timer_entry_t *e, void *arg),
                         void *arg)
{
    size_t kept = 0;
    for (size_t i = 0; i < th->n; i++)
        if (keep(&th->a[i], arg))
            th->a[kept++] = th->a[i];
    size_t dropped = th->n - kept;
    th->n = kept;
    for (size_t i = kept / 2; i-- > 0;)
        s_sift_down(th, i); /* Floyd's heapify */
    /* give memory back once the array is mostly empty */
    if (th->cap > 1024 && th->n < th->cap / 4) {
        th->cap = th->n * 2 > 256 ? th->n * 2 : 256;
        th->a = xrealloc(th->a, th->cap * sizeof *th->a);
    }
    return dropped;
}

size_t timerheap_count(const timerheap_t *th)
{
    return th->n;
}

void timerheap_clear(timerheap_t *th)
{
    th->n = 0;
}
