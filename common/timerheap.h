/* One deadline min-heap for every timer of the coordinator: attempt
 * deadlines, retry backoffs, orphaned jobs after a restart. Entries are
 * never removed one by one: each carries the generation of its target, and
 * a stale entry (generation changed) is skipped when it comes due, or
 * dropped in bulk by timerheap_compact. */
#ifndef TIMERHEAP_H
#define TIMERHEAP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TIMER_JOB_DEADLINE = 1, /* running attempt timed out */
    TIMER_JOB_RETRY,        /* scheduled job is due */
    TIMER_JOB_ORPHAN,       /* running job nobody re-attached after recovery */
    TIMER_JOB_CANCEL_GRACE, /* a cancelled running job is forced cancelled */
} timer_kind_t;

typedef struct {
    int64_t due_ms;  /* clock_mono_ms() */
    int64_t job_id;
    uint32_t gen;
    uint8_t kind;
} timer_entry_t;

typedef struct timerheap timerheap_t;

timerheap_t *timerheap_new(void);
void timerheap_destroy(timerheap_t **th);
void timerheap_push(timerheap_t *th, timer_entry_t e);
/* Earliest entry without removing it; false when empty. */
bool timerheap_peek(const timerheap_t *th, timer_entry_t *out);
/* Removes and returns the earliest entry; false when empty. */
bool timerheap_pop(timerheap_t *th, timer_entry_t *out);
size_t timerheap_count(const timerheap_t *th);
/* Drops every entry keep() refuses (stale ones the owner would skip when
 * they came due) and restores the heap in O(n); returns how many went.
 * Lets an owner with lazy deletion bound the heap to its live timers. */
size_t timerheap_compact(timerheap_t *th, bool (*keep)(const timer_entry_t *e, void *arg),
                         void *arg);
void timerheap_clear(timerheap_t *th);

#endif
