/* Unit tests of the ready index (orchestrator/jobs/readyq.c): priority then FIFO
 * order, id-ordered insertion of retried jobs, the bounded window with its
 * overflow/bound/epoch invariant, refills, lane and queue lookups, and a
 * randomized run against a model of PostgreSQL's queued rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "job.h"
#include "readyq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static job_t *s_job(lane_t *lane, int64_t id, int priority)
{
    job_t *j = job_new(id);
    j->lane = lane;
    j->priority = (uint8_t)priority;
    j->state = JOB_QUEUED;
    return j;
}

/* Pushes and insists that the job was kept without eviction. */
static void s_push_kept(readyq_t *rq, lane_t *l, job_t *j)
{
    job_t *ev = (job_t *)0x1;
    assert_int_equal(readyq_push(rq, l, j, &ev), READYQ_KEPT);
    assert_null(ev);
    assert_true(j->in_lane);
}

/* Checks the lane's links: each priority list ascending by id, prev/next
 * consistent, nonempty bits and count matching. Returns the job count. */
static int s_check_links(const lane_t *l)
{
    int total = 0;
    for (int p = 0; p < READYQ_PRIORITIES; p++) {
        const job_t *prev = NULL;
        for (const job_t *j = l->head[p]; j; j = j->next) {
            assert_int_equal(j->priority, p);
            assert_ptr_equal(j->lane, l);
            assert_true(j->in_lane);
            assert_ptr_equal(j->prev, prev);
            if (prev)
                assert_true(prev->id < j->id);
            prev = j;
            total++;
        }
        assert_ptr_equal(l->tail[p], prev);
        assert_int_equal(!!(l->nonempty & (1u << p)), l->head[p] != NULL);
    }
    assert_int_equal(l->nonempty >> READYQ_PRIORITIES, 0);
    assert_int_equal(l->count, total);
    return total;
}

/* Pops everything through lane_peek/lane_unlink, checking the order. */
static void s_drain_expect(lane_t *l, const int64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        job_t *j = lane_peek(l);
        assert_non_null(j);
        if (j->id != ids[i]) {
            print_error("pop %zu: got id %lld, want %lld\n", i, (long long)j->id,
                        (long long)ids[i]);
            fail();
        }
        lane_unlink(l, j);
        assert_false(j->in_lane);
        assert_null(j->prev);
        assert_null(j->next);
        s_check_links(l);
    }
    assert_null(lane_peek(l));
    assert_int_equal(l->count, 0);
    assert_int_equal(l->nonempty, 0);
}

/* ---- keys ---- */

static void test_key_cmp(void **state)
{
    (void)state;
    assert_int_equal(readyq_key_cmp(0, 5, 0, 5), 0);
    assert_true(readyq_key_cmp(0, 5, 0, 6) < 0);
    assert_true(readyq_key_cmp(0, 6, 0, 5) > 0);
    /* priority dominates the id */
    assert_true(readyq_key_cmp(0, 1000, 1, 1) < 0);
    assert_true(readyq_key_cmp(1, 1, 0, 1000) > 0);
    /* the empty-lane bound (-1, 0) is below every real key */
    assert_true(readyq_key_cmp(-1, 0, 0, 1) < 0);
    assert_true(readyq_key_cmp(0, INT64_MIN, -1, 0) > 0);
    assert_true(readyq_key_cmp(9, INT64_MAX, 9, INT64_MIN) > 0);
    assert_true(readyq_key_cmp(9, INT64_MIN, 9, INT64_MAX) < 0);
}

/* ---- lookups ---- */

static void test_lookup_create_flags(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(16);
    assert_int_equal(readyq_window(rq), 16);
    assert_int_equal(readyq_nlanes(rq), 0);
    assert_int_equal(readyq_nqueues(rq), 0);

    /* no create: nothing appears, not even the queue */
    assert_null(readyq_lane(rq, "q1", "t1", NULL, false));
    assert_null(readyq_queue(rq, "q1", false));
    assert_int_equal(readyq_nqueues(rq), 0);

    lane_t *a = readyq_lane(rq, "q1", "t1", NULL, true);
    lane_t *b = readyq_lane(rq, "q1", "t2", NULL, true);
    lane_t *c = readyq_lane(rq, "q2", "t1", NULL, true);
    queue_t *q3 = readyq_queue(rq, "q3", true);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(q3);
    assert_true(a != b && a != c && b != c);
    assert_int_equal(readyq_nlanes(rq), 3);
    assert_int_equal(readyq_nqueues(rq), 3);

    /* found again, with or without create, without duplicates */
    assert_ptr_equal(readyq_lane(rq, "q1", "t1", NULL, false), a);
    assert_ptr_equal(readyq_lane(rq, "q1", "t1", NULL, true), a);
    assert_ptr_equal(readyq_lane(rq, "q2", "t1", NULL, false), c);
    assert_null(readyq_lane(rq, "q2", "t2", NULL, false));
    assert_null(readyq_lane(rq, "q3", "t1", NULL, false));
    assert_ptr_equal(readyq_queue(rq, "q3", true), q3);
    assert_int_equal(readyq_nlanes(rq), 3);
    assert_int_equal(readyq_nqueues(rq), 3);

    /* back-pointers, names, per-queue lane lists */
    queue_t *q1 = readyq_queue(rq, "q1", false);
    queue_t *q2 = readyq_queue(rq, "q2", false);
    assert_ptr_equal(a->queue, q1);
    assert_ptr_equal(b->queue, q1);
    assert_ptr_equal(c->queue, q2);
    assert_string_equal(q1->name, "q1");
    assert_string_equal(a->type, "t1");
    assert_string_equal(b->type, "t2");
    assert_int_equal(q1->nlanes, 2);
    assert_ptr_equal(q1->lanes[0], a);
    assert_ptr_equal(q1->lanes[1], b);
    assert_int_equal(q2->nlanes, 1);
    assert_int_equal(q3->nlanes, 0);
    assert_false(q1->paused);

    /* lane_at / queue_at and the index field */
    for (size_t i = 0; i < readyq_nlanes(rq); i++) {
        lane_t *l = readyq_lane_at(rq, i);
        assert_non_null(l);
        assert_int_equal(l->index, i);
    }
    assert_ptr_equal(readyq_lane_at(rq, 0), a);
    assert_ptr_equal(readyq_lane_at(rq, 2), c);
    assert_null(readyq_lane_at(rq, 3));
    assert_ptr_equal(readyq_queue_at(rq, 0), q1);
    assert_ptr_equal(readyq_queue_at(rq, 2), q3);
    assert_null(readyq_queue_at(rq, 3));

    /* a new lane starts empty, not overflowed */
    assert_null(lane_peek(a));
    assert_int_equal(a->count, 0);
    assert_false(a->overflow);
    assert_false(lane_wants_refill(rq, a));

    readyq_destroy(&rq);
    assert_null(rq);
    readyq_destroy(&rq);
    readyq_destroy(NULL);
}

static void test_default_window(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(0);
    assert_int_equal(readyq_window(rq), 4096);
    readyq_destroy(&rq);
    rq = readyq_new(-5);
    assert_int_equal(readyq_window(rq), 4096);
    readyq_destroy(&rq);
    rq = readyq_new(1);
    assert_int_equal(readyq_window(rq), 1);
    readyq_destroy(&rq);
}

/* ---- order ---- */

static void test_priority_then_fifo(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(64);
    lane_t *l = readyq_lane(rq, "q", "t", NULL, true);
    /* id, priority in submission (ascending id) order */
    static const int prio[] = {5, 0, 9, 5, 0, 3, 9, 0, 5, 3, 1, 1};
    enum { N = sizeof prio / sizeof prio[0] };
    job_t *jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = s_job(l, i + 1, prio[i]);
        s_push_kept(rq, l, jobs[i]);
        s_check_links(l);
    }
    assert_int_equal(l->count, N);
    assert_false(l->overflow);
    assert_int_equal(l->epoch, 0);
    /* priority 0 first, ids ascending inside one priority */
    static const int64_t want[] = {2, 5, 8, 11, 12, 6, 10, 1, 4, 9, 3, 7};
    s_drain_expect(l, want, N);
    for (int i = 0; i < N; i++)
        job_destroy(&jobs[i]);
    readyq_destroy(&rq);
}

static void test_retry_inserted_in_id_order(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(64);
    lane_t *l = readyq_lane(rq, "q", "t", NULL, true);
    job_t *j10 = s_job(l, 10, 2), *j20 = s_job(l, 20, 2), *j30 = s_job(l, 30, 2);
    s_push_kept(rq, l, j10);
    s_push_kept(rq, l, j20);
    s_push_kept(rq, l, j30);
    /* retried jobs keep their old ids and go back to their place */
    job_t *j15 = s_job(l, 15, 2), *j5 = s_job(l, 5, 2), *j25 = s_job(l, 25, 2);
    job_t *j40 = s_job(l, 40, 2), *j1 = s_job(l, 1, 7);
    s_push_kept(rq, l, j15);
    s_check_links(l);
    s_push_kept(rq, l, j5); /* before the head */
    s_check_links(l);
    assert_ptr_equal(lane_peek(l), j5);
    assert_ptr_equal(l->head[2], j5);
    s_push_kept(rq, l, j25);
    s_push_kept(rq, l, j40); /* after the tail */
    assert_ptr_equal(l->tail[2], j40);
    s_push_kept(rq, l, j1); /* old id, less urgent priority: still after all of priority 2 */
    s_check_links(l);
    static const int64_t want[] = {5, 10, 15, 20, 25, 30, 40, 1};
    s_drain_expect(l, want, 8);
    job_t *all[] = {j10, j20, j30, j15, j5, j25, j40, j1};
    for (size_t i = 0; i < 8; i++)
        job_destroy(&all[i]);
    readyq_destroy(&rq);
}

static void test_unlink_anywhere(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(64);
    lane_t *l = readyq_lane(rq, "q", "t", NULL, true);
    job_t *a = s_job(l, 1, 4), *b = s_job(l, 2, 4), *c = s_job(l, 3, 4), *d = s_job(l, 4, 6);
    s_push_kept(rq, l, a);
    s_push_kept(rq, l, b);
    s_push_kept(rq, l, c);
    s_push_kept(rq, l, d);
    assert_int_equal(l->nonempty, (1u << 4) | (1u << 6));
    lane_unlink(l, b); /* middle */
    s_check_links(l);
    assert_ptr_equal(a->next, c);
    assert_ptr_equal(c->prev, a);
    lane_unlink(l, c); /* tail */
    s_check_links(l);
    assert_ptr_equal(l->tail[4], a);
    lane_unlink(l, a); /* last of its priority: bit cleared */
    s_check_links(l);
    assert_int_equal(l->nonempty, 1u << 6);
    assert_ptr_equal(lane_peek(l), d);
    lane_unlink(l, d);
    assert_int_equal(l->nonempty, 0);
    assert_null(lane_peek(l));
    /* an unlinked job can be pushed again */
    s_push_kept(rq, l, b);
    assert_ptr_equal(lane_peek(l), b);
    lane_unlink(l, b);
    job_destroy(&a);
    job_destroy(&b);
    job_destroy(&c);
    job_destroy(&d);
    readyq_destroy(&rq);
}

/* ---- the window ---- */

static void test_window_evicts_least_urgent(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(4);
    lane_t *l = readyq_lane(rq, "q", "t", NULL, true);
    job_t *j[10];
    j[1] = s_job(l, 1, 0);
    j[2] = s_job(l, 2, 1);
    j[3] = s_job(l, 3, 2);
    j[4] = s_job(l, 4, 3);
    for (int i = 1; i <= 4; i++)
        s_push_kept(rq, l, j[i]);
    assert_false(l->overflow);
    assert_int_equal(l->epoch, 0);

    /* window + 1: the least urgent (priority 3) goes */
    j[5] = s_job(l, 5, 0);
    job_t *ev = NULL;
    assert_int_equal(readyq_push(rq, l, j[5], &ev), READYQ_KEPT);
    assert_ptr_equal(ev, j[4]);
    assert_false(j[4]->in_lane);
    assert_null(j[4]->prev);
    assert_null(j[4]->next);
    assert_true(j[5]->in_lane);
    assert_int_equal(l->count, 4);
    assert_true(l->overflow);
    assert_int_equal(l->epoch, 1);
    /* bound = the largest key left in memory */
    assert_int_equal(l->bound_priority, 2);
    assert_int_equal(l->bound_id, 3);
    s_check_links(l);

    /* beyond the bound: not kept, nothing changes */
    j[6] = s_job(l, 6, 2);
    ev = (job_t *)0x1;
    assert_int_equal(readyq_push(rq, l, j[6], &ev), READYQ_NOT_KEPT);
    assert_null(ev);
    assert_false(j[6]->in_lane);
    assert_int_equal(l->count, 4);
    assert_int_equal(l->epoch, 1);
    assert_int_equal(l->bound_priority, 2);
    assert_int_equal(l->bound_id, 3);
    /* the evicted job offered again (e.g. a stale copy): its key is beyond the bound */
    assert_int_equal(readyq_push(rq, l, j[4], &ev), READYQ_NOT_KEPT);
    assert_false(j[4]->in_lane);

    /* below the bound: kept, the max (2,3) is evicted, bound shrinks */
    j[7] = s_job(l, 7, 1);
    assert_int_equal(readyq_push(rq, l, j[7], &ev), READYQ_KEPT);
    assert_ptr_equal(ev, j[3]);
    assert_int_equal(l->epoch, 2);
    assert_int_equal(l->bound_priority, 1);
    assert_int_equal(l->bound_id, 7);
    s_check_links(l);

    /* same priority as the bound, larger id: beyond it */
    j[8] = s_job(l, 8, 1);
    assert_int_equal(readyq_push(rq, l, j[8], &ev), READYQ_NOT_KEPT);
    assert_int_equal(l->epoch, 2);

    /* a retried old id below the bound, when the window is full: kept, and
     * the evicted job is the max, not the one just pushed */
    j[9] = s_job(l, 0, 1);
    assert_int_equal(readyq_push(rq, l, j[9], &ev), READYQ_KEPT);
    assert_ptr_equal(ev, j[7]);
    assert_int_equal(l->bound_priority, 1);
    assert_int_equal(l->bound_id, 2);
    assert_int_equal(l->epoch, 3);

    static const int64_t want[] = {1, 5, 0, 2};
    s_drain_expect(l, want, 4);
    for (int i = 1; i <= 9; i++)
        job_destroy(&j[i]);
    readyq_destroy(&rq);
}

static void test_window_push_of_max_when_full(void **state)
{
    (void)state;
    /* Without overflow, pushing a job that is itself the least urgent into
     * a full window: the pushed job is the victim, reported NOT_KEPT with
     * no evicted job; the lane now overflows with the previous max as bound. */
    readyq_t *rq = readyq_new(3);
    lane_t *l = readyq_lane(rq, "q", "t", NULL, true);
    job_t *j[5];
    for (int i = 1; i <= 4; i++)
        j[i] = s_job(l, i, 0);
    for (int i = 1; i <= 3; i++)
        s_push_kept(rq, l, j[i]);
    job_t *ev = (job_t *)0x1;
    assert_int_equal(readyq_push(rq, l, j[4], &ev), READYQ_NOT_KEPT);
    assert_null(ev);
    assert_false(j[4]->in_lane);
    assert_null(j[4]->prev);
    assert_null(j[4]->next);
    assert_int_equal(l->count, 3);
    assert_true(l->overflow);
    assert_int_equal(l->epoch, 1);
    assert_int_equal(l->bound_priority, 0);
    assert_int_equal(l->bound_id, 3);
    s_check_links(l);
    static const int64_t want[] = {1, 2, 3};
    s_drain_expect(l, want, 3);
    for (int i = 1; i <= 4; i++)
        job_destroy(&j[i]);
    readyq_destroy(&rq);
}

static void test_window_of_one(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(1);
    lane_t *l = readyq_lane(rq, "q", "t", NULL, true);
    job_t *a = s_job(l, 10, 5), *b = s_job(l, 11, 4), *c = s_job(l, 12, 4);
    s_push_kept(rq, l, a);
    job_t *ev = NULL;
    assert_int_equal(readyq_push(rq, l, b, &ev), READYQ_KEPT);
    assert_ptr_equal(ev, a);
    assert_int_equal(l->bound_priority, 4);
    assert_int_equal(l->bound_id, 11);
    assert_int_equal(readyq_push(rq, l, c, &ev), READYQ_NOT_KEPT);
    assert_null(ev);
    assert_ptr_equal(lane_peek(l), b);
    lane_unlink(l, b);
    job_destroy(&a);
    job_destroy(&b);
    job_destroy(&c);
    readyq_destroy(&rq);
}

static void test_wants_refill_thresholds(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(8);
    lane_t *l = readyq_lane(rq, "q", "t", NULL, true);
    job_t *j[10];
    for (int i = 0; i < 10; i++)
        j[i] = s_job(l, i + 1, 0);
    for (int i = 0; i < 8; i++)
        s_push_kept(rq, l, j[i]);
    assert_false(lane_wants_refill(rq, l)); /* no overflow: PostgreSQL holds nothing more */
    job_t *ev = NULL;
    assert_int_equal(readyq_push(rq, l, j[8], &ev), READYQ_NOT_KEPT);
    assert_true(l->overflow);
    assert_int_equal(l->count, 8);
    assert_false(lane_wants_refill(rq, l)); /* full */
    /* drains to window / 2 before asking */
    for (int i = 0; i < 3; i++) {
        lane_unlink(l, lane_peek(l));
        assert_false(lane_wants_refill(rq, l));
    }
    assert_int_equal(l->count, 5);
    lane_unlink(l, lane_peek(l));
    assert_int_equal(l->count, 4);
    assert_true(lane_wants_refill(rq, l));
    l->refill_inflight = true; /* one refill at a time */
    assert_false(lane_wants_refill(rq, l));
    l->refill_inflight = false;
    while (lane_peek(l))
        lane_unlink(l, lane_peek(l));
    assert_true(lane_wants_refill(rq, l)); /* empty and overflowed */
    lane_refill_done(l, 0, false, 0, 0);
    assert_false(l->overflow);
    assert_false(lane_wants_refill(rq, l));
    for (int i = 0; i < 10; i++)
        job_destroy(&j[i]);
    readyq_destroy(&rq);
}

static void test_refill_done(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(4);
    lane_t *l = readyq_lane(rq, "q", "t", NULL, true);
    job_t *j[12];
    for (int i = 0; i < 12; i++)
        j[i] = s_job(l, i + 1, 1);
    for (int i = 0; i < 4; i++)
        s_push_kept(rq, l, j[i]);
    job_t *ev = NULL;
    assert_int_equal(readyq_push(rq, l, j[4], &ev), READYQ_NOT_KEPT); /* id 5 */
    assert_int_equal(readyq_push(rq, l, j[5], &ev), READYQ_NOT_KEPT); /* id 6 */
    assert_int_equal(readyq_push(rq, l, j[6], &ev), READYQ_NOT_KEPT); /* id 7 */
    assert_int_equal(l->bound_id, 4);
    uint32_t epoch = l->epoch;
    lane_unlink(l, j[0]);
    lane_unlink(l, j[1]);
    assert_true(lane_wants_refill(rq, l));

    /* full page of 2 after the bound: (1,5), (1,6): bound moves to the last row */
    l->refill_inflight = true;
    lane_refill_ask(l, 2);
    lane_refill_done(l, 2, true, 1, 6);
    assert_false(l->refill_inflight);
    assert_true(l->overflow);
    assert_int_equal(l->bound_priority, 1);
    assert_int_equal(l->bound_id, 6);
    assert_int_equal(l->epoch, epoch); /* a refill is not an eviction */
    s_push_kept(rq, l, j[4]);
    s_push_kept(rq, l, j[5]);
    /* (1,7) is still beyond the bound */
    assert_int_equal(readyq_push(rq, l, j[6], &ev), READYQ_NOT_KEPT);

    /* a full page whose last key is not beyond the bound leaves it alone */
    lane_refill_done(l, 1, true, 1, 3);
    assert_int_equal(l->bound_id, 6);
    assert_true(l->overflow);
    /* a full page of zero rows (a zero limit) leaves it alone too */
    lane_refill_done(l, 0, true, 9, 1000);
    assert_int_equal(l->bound_priority, 1);
    assert_int_equal(l->bound_id, 6);
    assert_true(l->overflow);

    /* a partial page: PostgreSQL has nothing more, everything is kept */
    l->refill_inflight = true;
    lane_refill_ask(l, 2);
    lane_refill_done(l, 1, false, 1, 7);
    assert_false(l->refill_inflight);
    assert_false(l->overflow);
    assert_false(lane_wants_refill(rq, l));
    lane_unlink(l, j[2]);
    lane_unlink(l, j[3]);
    s_push_kept(rq, l, j[6]);  /* (1,7) */
    s_push_kept(rq, l, j[11]); /* (1,12): far beyond the old bound, kept */
    assert_int_equal(l->count, 4);
    assert_false(l->overflow);
    /* one more evicts (1,12) again and sets a new bound */
    assert_int_equal(readyq_push(rq, l, j[7], &ev), READYQ_KEPT); /* (1,8) */
    assert_ptr_equal(ev, j[11]);
    assert_true(l->overflow);
    assert_int_equal(l->epoch, epoch + 1);
    assert_int_equal(l->bound_priority, 1);
    assert_int_equal(l->bound_id, 8);
    static const int64_t want[] = {5, 6, 7, 8};
    s_drain_expect(l, want, 4);
    for (int i = 0; i < 12; i++)
        job_destroy(&j[i]);
    readyq_destroy(&rq);
}

/* A lane whose workers take more than a quarter of its window during one
 * refill's round trip would run dry before the answer: its window grows to
 * four times what they took, its next refill asks twice that, both capped,
 * and the window shrinks back a quarter per refill once demand falls. */
static void test_window_follows_demand(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(64);
    lane_t *l = readyq_lane(rq, "q", "t", NULL, true);
    /* ids 1..120: the backlog at priority 1; from 121: newcomers at
     * priority 0, which are always kept (more urgent than the bound) */
    enum { N = 700, BACKLOG = 120 };
    job_t **j = calloc(N, sizeof *j);
    assert_non_null(j);
    for (int i = 0; i < N; i++)
        j[i] = s_job(l, i + 1, i < BACKLOG ? 1 : 0);
    int urgent = BACKLOG;
    for (int i = 0; i < 64; i++)
        s_push_kept(rq, l, j[i]);
    job_t *ev = NULL;
    assert_int_equal(readyq_push(rq, l, j[64], &ev), READYQ_NOT_KEPT); /* overflow, bound 64 */
    assert_int_equal(l->window, 64);
    for (int i = 0; i < 32; i++)
        lane_take(l, lane_peek(l));
    assert_true(lane_wants_refill(rq, l));
    /* no demand seen yet: the configured batch */
    assert_int_equal(lane_refill_ask(l, 16), 16);
    l->refill_inflight = true;
    /* the workers take 20 more (a quarter of the window is 16) before the answer */
    for (int i = 0; i < 20; i++)
        lane_take(l, lane_peek(l));
    lane_refill_done(l, 16, true, 1, 80);
    for (int i = 64; i < 80; i++)
        s_push_kept(rq, l, j[i]);
    assert_int_equal(l->demand, 20);
    assert_int_equal(l->window, 80);
    /* twice the demand, at most half the window */
    assert_int_equal(lane_refill_ask(l, 16), 40);
    l->refill_inflight = true;
    /* 200 taken during this one: the window is capped at 8 x 64 */
    for (int i = 0; i < 200; i++) {
        if (!lane_peek(l))
            s_push_kept(rq, l, j[urgent++]);
        lane_take(l, lane_peek(l));
    }
    lane_refill_done(l, 40, true, 1, BACKLOG);
    for (int i = 80; i < BACKLOG; i++)
        s_push_kept(rq, l, j[i]);
    assert_int_equal(l->demand, 200);
    assert_int_equal(l->window, 64 * READYQ_WINDOW_GROWTH);
    assert_int_equal(lane_refill_ask(l, 16), 256);
    /* evictions now start beyond the grown window, not at 64 */
    while (l->count < 300)
        s_push_kept(rq, l, j[urgent++]);
    /* demand falls to nothing: a quarter less per refill, but never below
     * what the lane holds (the first ask still wants twice the last demand) */
    assert_int_equal(lane_refill_ask(l, 16), 256);
    lane_refill_done(l, 0, true, 1, BACKLOG);
    assert_int_equal(l->window, 384);
    assert_int_equal(lane_refill_ask(l, 16), 16);
    lane_refill_done(l, 0, true, 1, BACKLOG);
    assert_int_equal(l->window, 300);
    lane_refill_done(l, 0, true, 1, BACKLOG);
    assert_int_equal(l->window, 300);
    /* the workers take 236, then refills find no demand: down to 64 */
    for (int i = 0; i < 236; i++)
        lane_take(l, lane_peek(l));
    int w = l->window, steps = 0;
    while (l->window > 64) {
        lane_refill_ask(l, 16);
        lane_refill_done(l, 0, true, 1, BACKLOG);
        int want = w - w / 4 < 64 ? 64 : w - w / 4;
        assert_int_equal(l->window, want);
        w = l->window;
        steps++;
    }
    assert_int_equal(steps, 6); /* 300 225 169 127 96 72 -> 64 */
    assert_true(l->overflow);
    /* 64 kept (24 urgent, 40 of the backlog), window 64: the next push
     * evicts the least urgent */
    assert_int_equal(l->count, 64);
    assert_int_equal(readyq_push(rq, l, j[urgent++], &ev), READYQ_KEPT);
    assert_ptr_equal(ev, j[BACKLOG - 1]);
    assert_int_equal(l->count, 64);
    /* a cancel is not demand: unlinked without counting */
    int64_t taken = l->taken;
    lane_unlink(l, lane_peek(l));
    assert_int_equal(l->taken, taken);
    /* a lane run dry: the workers took all there was, more than four
     * times what they took would say, so the window doubles */
    while (l->count > 10)
        lane_take(l, lane_peek(l));
    lane_refill_ask(l, 16);
    lane_refill_done(l, 0, true, 1, BACKLOG); /* 10 left: not dry, nothing taken */
    assert_int_equal(l->window, 64);
    lane_refill_ask(l, 16);
    while (lane_peek(l))
        lane_take(l, lane_peek(l));
    lane_refill_done(l, 0, true, 1, BACKLOG);
    assert_int_equal(l->demand, 10);
    assert_int_equal(l->window, 128);
    assert_int_equal(lane_refill_ask(l, 16), 20);
    /* run dry again with nothing taken during the round trip (the workers
     * took the answer's rows at once, before the next ask): all taken since
     * the last answer counts */
    for (int i = 0; i < 40; i++)
        s_push_kept(rq, l, j[urgent++]);
    lane_refill_done(l, 0, true, 1, BACKLOG);
    assert_int_equal(l->window, 96); /* 40 left, none taken: a quarter less */
    while (lane_peek(l))
        lane_take(l, lane_peek(l));
    lane_refill_ask(l, 16);
    lane_refill_done(l, 30, true, 1, BACKLOG);
    assert_int_equal(l->demand, 40);
    assert_int_equal(l->window, 192); /* doubled: more than 4 x 40 */
    /* a partial page: PostgreSQL's backlog is exhausted, the window goes
     * back to what the lane will hold, at least the configured one */
    lane_refill_ask(l, 16);
    lane_refill_done(l, 100, false, 1, BACKLOG);
    assert_false(l->overflow);
    assert_int_equal(l->window, 100);
    for (int i = 0; i < 100; i++)
        s_push_kept(rq, l, j[urgent++]);
    /* everything in memory: the window follows the lane down as jobs
     * leave, to the configured 64 */
    for (int i = 0; i < 20; i++)
        lane_take(l, lane_peek(l));
    assert_int_equal(l->window, 80);
    lane_unlink(l, lane_peek(l)); /* a cancel too */
    assert_int_equal(l->window, 79);
    while (l->count > 10)
        lane_take(l, lane_peek(l));
    assert_int_equal(l->window, 64);
    assert_true(urgent <= N);
    while (lane_peek(l))
        lane_take(l, lane_peek(l));
    for (int i = 0; i < N; i++)
        job_destroy(&j[i]);
    free(j);
    readyq_destroy(&rq);
}

static void test_mark_overflow_empty_lane(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(8);
    lane_t *l = readyq_lane(rq, "q", "t", NULL, true);
    uint32_t e0 = l->epoch;
    lane_mark_overflow(l);
    assert_true(l->overflow);
    assert_int_equal(l->epoch, e0 + 1);
    assert_int_equal(l->bound_priority, -1);
    assert_int_equal(l->bound_id, 0);
    assert_true(lane_wants_refill(rq, l));

    /* recovery: nothing is kept until a refill says what is in memory */
    job_t *j[6];
    static const int prio[6] = {0, 0, 0, 0, 5, 9};
    for (int i = 0; i < 6; i++) {
        j[i] = s_job(l, i + 1, prio[i]);
        job_t *ev = (job_t *)0x1;
        assert_int_equal(readyq_push(rq, l, j[i], &ev), READYQ_NOT_KEPT);
        assert_null(ev);
        assert_false(j[i]->in_lane);
    }
    job_t *neg = s_job(l, INT64_MIN, 0);
    job_t *ev = NULL;
    assert_int_equal(readyq_push(rq, l, neg, &ev), READYQ_NOT_KEPT);
    assert_int_equal(l->count, 0);

    /* first page (limit 3): (0,1) (0,2) (0,3) */
    lane_refill_done(l, 3, true, 0, 3);
    assert_true(l->overflow);
    assert_int_equal(l->bound_priority, 0);
    assert_int_equal(l->bound_id, 3);
    for (int i = 0; i < 3; i++)
        s_push_kept(rq, l, j[i]);
    assert_int_equal(readyq_push(rq, l, j[3], &ev), READYQ_NOT_KEPT);
    /* next page: (0,4) (5,5) (9,6) is full, bound = (9,6) */
    lane_refill_done(l, 3, true, 9, 6);
    for (int i = 3; i < 6; i++)
        s_push_kept(rq, l, j[i]);
    assert_int_equal(l->bound_priority, 9);
    assert_int_equal(l->bound_id, 6);
    assert_int_equal(l->epoch, e0 + 1);
    s_check_links(l);

    /* marking a non-empty lane: the bound is the largest key in memory */
    lane_mark_overflow(l);
    assert_int_equal(l->epoch, e0 + 2);
    assert_int_equal(l->bound_priority, 9);
    assert_int_equal(l->bound_id, 6);
    lane_unlink(l, j[5]);
    lane_mark_overflow(l);
    assert_int_equal(l->bound_priority, 5);
    assert_int_equal(l->bound_id, 5);
    assert_int_equal(readyq_push(rq, l, j[5], &ev), READYQ_NOT_KEPT);

    static const int64_t want[] = {1, 2, 3, 4, 5};
    s_drain_expect(l, want, 5);
    for (int i = 0; i < 6; i++)
        job_destroy(&j[i]);
    job_destroy(&neg);
    readyq_destroy(&rq);
}

static void test_lanes_are_independent(void **state)
{
    (void)state;
    readyq_t *rq = readyq_new(2);
    lane_t *a = readyq_lane(rq, "q1", "t", NULL, true);
    lane_t *b = readyq_lane(rq, "q2", "t", NULL, true);
    lane_t *c = readyq_lane(rq, "q1", "u", NULL, true);
    job_t *ja[3], *jb[2], *jc[1];
    for (int i = 0; i < 3; i++)
        ja[i] = s_job(a, 100 + i, 0);
    for (int i = 0; i < 2; i++)
        jb[i] = s_job(b, 200 + i, 0);
    jc[0] = s_job(c, 50, 0);
    job_t *ev = NULL;
    s_push_kept(rq, a, ja[0]);
    s_push_kept(rq, b, jb[0]);
    s_push_kept(rq, a, ja[1]);
    s_push_kept(rq, c, jc[0]);
    s_push_kept(rq, b, jb[1]);
    assert_int_equal(readyq_push(rq, a, ja[2], &ev), READYQ_NOT_KEPT);
    assert_true(a->overflow);
    assert_false(b->overflow);
    assert_false(c->overflow);
    assert_int_equal(b->epoch, 0);
    assert_ptr_equal(lane_peek(a), ja[0]);
    assert_ptr_equal(lane_peek(b), jb[0]);
    assert_ptr_equal(lane_peek(c), jc[0]);
    assert_int_equal(s_check_links(a), 2);
    assert_int_equal(s_check_links(b), 2);
    assert_int_equal(s_check_links(c), 1);
    /* destroy with jobs still linked: unlinked, not freed (ASan would catch either) */
    readyq_destroy(&rq);
    assert_null(rq);
    assert_false(ja[0]->in_lane);
    assert_false(ja[1]->in_lane);
    assert_false(jb[0]->in_lane);
    assert_false(jb[1]->in_lane);
    assert_false(jc[0]->in_lane);
    assert_int_equal(ja[0]->id, 100); /* still readable: not freed */
    for (int i = 0; i < 3; i++)
        job_destroy(&ja[i]);
    for (int i = 0; i < 2; i++)
        job_destroy(&jb[i]);
    job_destroy(&jc[0]);
}

/* ---- randomized run against a model of PostgreSQL ---- */

/* A small deterministic PRNG (splitmix64) so failures reproduce. */
static uint64_t s_rng;
static uint64_t s_next(void)
{
    uint64_t z = (s_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static int s_rand(int n)
{
    return (int)(s_next() % (uint64_t)n);
}

#define M_MAXID 8000

typedef struct {
    readyq_t *rq;
    lane_t *l;
    int window, page;
    int cur_page;         /* the rows the refill in flight asked for */
    job_t *jobs[M_MAXID]; /* every job ever submitted, by id */
    bool in_db[M_MAXID];  /* queued row in "PostgreSQL" */
    int64_t db[M_MAXID];  /* ids of queued rows, unordered */
    int ndb;
    int64_t done[M_MAXID]; /* dispatched ids, candidates for a retry */
    int ndone;
    int64_t next_id;
    bool refill_pending;
    uint32_t refill_epoch;
    int prios; /* priorities in use: few, so FIFO order matters */
    /* statistics, to prove the run exercised every path */
    int n_empty, max_db;
    int n_evict, n_not_kept, n_refill_full, n_refill_partial, n_refill_stale, n_retry_kept;
    int n_grow, n_shrink, max_window;
    int prev_count;
} model_t;

static int s_kcmp(const job_t *a, const job_t *b)
{
    return readyq_key_cmp(a->priority, a->id, b->priority, b->id);
}

static void s_db_add(model_t *m, int64_t id)
{
    assert_false(m->in_db[id]);
    m->in_db[id] = true;
    m->db[m->ndb++] = id;
}

static void s_db_del(model_t *m, int64_t id)
{
    assert_true(m->in_db[id]);
    m->in_db[id] = false;
    for (int i = 0; i < m->ndb; i++)
        if (m->db[i] == id) {
            m->db[i] = m->db[--m->ndb];
            return;
        }
    fail_msg("id %lld missing from db", (long long)id);
}

static job_t *s_db_min(const model_t *m)
{
    job_t *best = NULL;
    for (int i = 0; i < m->ndb; i++) {
        job_t *j = m->jobs[m->db[i]];
        if (!best || s_kcmp(j, best) < 0)
            best = j;
    }
    return best;
}

/* Largest key in memory, or NULL. */
static job_t *s_mem_max(const model_t *m)
{
    job_t *best = NULL;
    for (int i = 0; i < m->ndb; i++) {
        job_t *j = m->jobs[m->db[i]];
        if (j->in_lane && (!best || s_kcmp(j, best) > 0))
            best = j;
    }
    return best;
}

static void s_model_check(model_t *m, int step)
{
    lane_t *l = m->l;
    int n = s_check_links(l);
    /* the lane's window adapts between the configured one and its cap; a
     * shrunk window may hold more until the next push evicts */
    assert_true(l->window >= m->window && l->window <= m->window * READYQ_WINDOW_GROWTH);
    assert_true(n <= m->window * READYQ_WINDOW_GROWTH);
    assert_true(n <= l->window || n <= m->prev_count); /* a shrunk window only evicts on pushes */
    m->prev_count = n;
    int in_mem = 0;
    for (int i = 0; i < m->ndb; i++) {
        job_t *j = m->jobs[m->db[i]];
        if (j->in_lane) {
            in_mem++;
            if (l->overflow &&
                readyq_key_cmp(j->priority, j->id, l->bound_priority, l->bound_id) > 0)
                fail_msg("step %d: job %lld in memory beyond bound (%d,%lld)", step,
                         (long long)j->id, l->bound_priority, (long long)l->bound_id);
        } else {
            if (!l->overflow)
                fail_msg("step %d: queued job %lld not in memory but no overflow", step,
                         (long long)j->id);
            if (readyq_key_cmp(j->priority, j->id, l->bound_priority, l->bound_id) <= 0)
                fail_msg("step %d: job %lld only in db but <= bound (%d,%lld)", step,
                         (long long)j->id, l->bound_priority, (long long)l->bound_id);
        }
    }
    /* every job in memory is queued in the db */
    assert_int_equal(in_mem, n);
    if (n > 0 || !l->overflow) {
        job_t *want = s_db_min(m);
        job_t *got = lane_peek(l);
        if (want != got)
            fail_msg("step %d: peek %lld, db min %lld", step, got ? (long long)got->id : -1LL,
                     want ? (long long)want->id : -1LL);
    }
}

/* Offers a job (already queued in the db) to the lane and checks the push
 * result against what the model predicts. */
static void s_model_push(model_t *m, job_t *j)
{
    lane_t *l = m->l;
    bool beyond =
        l->overflow && readyq_key_cmp(j->priority, j->id, l->bound_priority, l->bound_id) > 0;
    job_t *max = s_mem_max(m);
    bool full = l->count >= l->window;
    uint32_t epoch = l->epoch;
    job_t *ev = (job_t *)0x1;
    readyq_push_result_t r = readyq_push(m->rq, l, j, &ev);
    if (beyond) {
        assert_int_equal(r, READYQ_NOT_KEPT);
        assert_null(ev);
        assert_int_equal(l->epoch, epoch);
        m->n_not_kept++;
        return;
    }
    if (!full) {
        assert_int_equal(r, READYQ_KEPT);
        assert_null(ev);
        assert_int_equal(l->epoch, epoch);
        return;
    }
    /* full window: the least urgent of memory + j goes */
    assert_int_equal(l->epoch, epoch + 1);
    assert_true(l->overflow);
    m->n_evict++;
    if (max && s_kcmp(j, max) < 0) {
        assert_int_equal(r, READYQ_KEPT);
        assert_ptr_equal(ev, max);
        assert_false(max->in_lane);
    } else {
        assert_int_equal(r, READYQ_NOT_KEPT);
        assert_null(ev);
        assert_false(j->in_lane);
    }
}

static void s_model_submit(model_t *m)
{
    if (m->next_id >= M_MAXID)
        return;
    int64_t id = m->next_id++;
    job_t *j = s_job(m->l, id, s_rand(m->prios));
    m->jobs[id] = j;
    s_db_add(m, id); /* committed first, then offered */
    s_model_push(m, j);
}

static void s_model_pop(model_t *m)
{
    job_t *j = lane_peek(m->l);
    if (!j)
        return;
    assert_ptr_equal(j, s_db_min(m));
    lane_take(m->l, j);
    s_db_del(m, j->id);
    m->done[m->ndone++] = j->id;
}

static void s_model_retry(model_t *m)
{
    if (m->ndone == 0)
        return;
    int k = s_rand(m->ndone);
    int64_t id = m->done[k];
    m->done[k] = m->done[--m->ndone];
    job_t *j = m->jobs[id];
    s_db_add(m, id);
    s_model_push(m, j);
    if (j->in_lane)
        m->n_retry_kept++;
}

/* Operator cancel of any queued job: gone from the db, and from memory. */
static void s_model_cancel(model_t *m)
{
    if (m->ndb == 0)
        return;
    int64_t id = m->db[s_rand(m->ndb)];
    job_t *j = m->jobs[id];
    if (j->in_lane)
        lane_unlink(m->l, j);
    s_db_del(m, id);
}

static void s_model_refill_issue(model_t *m)
{
    if (m->refill_pending || !lane_wants_refill(m->rq, m->l))
        return;
    m->l->refill_inflight = true;
    m->cur_page = lane_refill_ask(m->l, m->page);
    assert_true(m->cur_page >= 1 && m->cur_page <= m->l->window / 2 + 1);
    m->refill_pending = true;
    m->refill_epoch = m->l->epoch;
}

static int s_cmp_job_ptr(const void *a, const void *b)
{
    return s_kcmp(*(job_t *const *)a, *(job_t *const *)b);
}

/* The refill's answer: the next `page` queued keys after the bound, as the
 * query sees the db when it runs (results are processed in pipeline order,
 * before any later commit is applied). */
static void s_model_refill_answer(model_t *m)
{
    if (!m->refill_pending)
        return;
    lane_t *l = m->l;
    m->refill_pending = false;
    if (l->epoch != m->refill_epoch) {
        /* an eviction moved the bound: the page may skip jobs, drop it */
        l->refill_inflight = false;
        m->n_refill_stale++;
        return;
    }
    job_t *after[M_MAXID];
    int n = 0;
    for (int i = 0; i < m->ndb; i++) {
        job_t *j = m->jobs[m->db[i]];
        if (readyq_key_cmp(j->priority, j->id, l->bound_priority, l->bound_id) > 0) {
            assert_false(j->in_lane); /* the invariant says so */
            after[n++] = j;
        }
    }
    qsort(after, (size_t)n, sizeof *after, s_cmp_job_ptr);
    int rows = n < m->cur_page ? n : m->cur_page;
    bool full = rows == m->cur_page;
    if (full)
        m->n_refill_full++;
    else
        m->n_refill_partial++;
    int before = l->count, window_before = l->window;
    int64_t taken = l->taken - l->taken_at_ask;
    lane_refill_done(l, rows, full, rows ? after[rows - 1]->priority : 0,
                     rows ? after[rows - 1]->id : 0);
    assert_false(l->refill_inflight);
    int cap = m->window * READYQ_WINDOW_GROWTH;
    if (full) {
        /* the window covers four round trips of demand, within its bounds;
         * it shrinks gradually and never below what the lane will hold */
        int64_t want = 4 * taken > cap ? cap : 4 * taken;
        assert_true(l->window >= want || l->window == cap);
        if (l->window < window_before)
            assert_true(l->window >= window_before - window_before / 4 ||
                        l->window == m->window);
        assert_true(l->window >= (before + rows < window_before ? before + rows : window_before));
    } else {
        /* PostgreSQL's backlog is exhausted: what the lane will hold */
        int holds = before + rows < window_before ? before + rows : window_before;
        assert_int_equal(l->window, holds > m->window ? holds : m->window);
    }
    if (l->window > window_before)
        m->n_grow++;
    if (l->window < window_before)
        m->n_shrink++;
    if (l->window > m->max_window)
        m->max_window = l->window;
    for (int i = 0; i < rows; i++)
        s_model_push(m, after[i]);
    /* progress: with room in the window, the whole page is now in memory */
    if (before + rows <= l->window)
        for (int i = 0; i < rows; i++)
            if (!after[i]->in_lane)
                fail_msg("refill row %lld not kept (count before %d, rows %d)",
                         (long long)after[i]->id, before, rows);
}

/* Weights of submit, pop, retry, cancel, mark_overflow, refill issue and
 * refill answer, per phase (grow, balanced, drain); each row sums to 100. */
typedef int model_weights_t[3][7];

static const model_weights_t s_weights = {
    {35, 20, 5, 2, 1, 17, 20},
    {20, 30, 4, 2, 1, 20, 23},
    {4, 40, 2, 3, 1, 25, 25},
};

/* A page of one row drains slowly: submit less. */
static const model_weights_t s_weights_slow = {
    {12, 20, 3, 2, 1, 30, 32},
    {6, 30, 2, 2, 1, 29, 30},
    {1, 37, 1, 2, 1, 29, 29},
};

static void s_model_run(uint64_t seed, int window, int page, int prios, int steps,
                        const model_weights_t w)
{
    model_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    s_rng = seed;
    m->rq = readyq_new(window);
    m->l = readyq_lane(m->rq, "q", "t", NULL, true);
    m->window = window;
    m->page = page;
    m->prios = prios;
    m->next_id = 1;
    for (int step = 0; step < steps && m->next_id < M_MAXID; step++) {
        /* keep the backlog moving between empty and several windows deep
         * (grow, balanced, then drain twice as long) */
        static const int phase[4] = {0, 1, 2, 2};
        const int *pw = w[phase[(step / 400) % 4]];
        int r = s_rand(100), op = 0;
        while (op < 6 && r >= pw[op])
            r -= pw[op++];
        switch (op) {
        case 0: s_model_submit(m); break;
        case 1: s_model_pop(m); break;
        case 2: s_model_retry(m); break;
        case 3: s_model_cancel(m); break;
        case 4: lane_mark_overflow(m->l); break; /* e.g. a recovery: keeps the invariant */
        case 5: s_model_refill_issue(m); break;
        default: s_model_refill_answer(m); break;
        }
        s_model_check(m, step);
        if (m->ndb > m->max_db)
            m->max_db = m->ndb;
        if (m->ndb == 0 && !m->l->overflow)
            m->n_empty++;
    }
    /* drain to the end through refills: every queued job comes out in order */
    int guard = 0;
    for (; guard < 4 * M_MAXID; guard++) {
        s_model_refill_answer(m);
        s_model_refill_issue(m);
        s_model_refill_answer(m);
        if (!lane_peek(m->l) && !m->l->overflow)
            break;
        s_model_pop(m);
        s_model_check(m, -1);
    }
    if (guard == 4 * M_MAXID)
        fail_msg("the lane does not drain: %d queued rows left, count %d", m->ndb, m->l->count);
    assert_int_equal(m->ndb, 0);
    assert_null(lane_peek(m->l));
    assert_false(m->l->overflow);
    /* the run must have exercised the interesting paths */
    if (m->n_evict == 0 || m->n_not_kept == 0 || m->n_refill_full == 0 ||
        m->n_refill_partial == 0 || m->n_refill_stale == 0 || m->n_retry_kept == 0 ||
        m->n_empty == 0 || m->max_db < 4 * window || m->n_grow == 0 || m->n_shrink == 0)
        fail_msg("weak run: evict=%d not_kept=%d full=%d partial=%d stale=%d retry_kept=%d "
                 "grow=%d shrink=%d",
                 m->n_evict, m->n_not_kept, m->n_refill_full, m->n_refill_partial,
                 m->n_refill_stale, m->n_retry_kept, m->n_grow, m->n_shrink);
    print_message("model seed=%#llx window=%d page=%d: ids=%lld evict=%d not_kept=%d "
                  "refill full=%d partial=%d stale=%d retry_kept=%d max_db=%d empty=%d "
                  "window grew=%d shrank=%d max=%d\n",
                  (unsigned long long)seed, window, page, (long long)m->next_id - 1, m->n_evict,
                  m->n_not_kept, m->n_refill_full, m->n_refill_partial, m->n_refill_stale,
                  m->n_retry_kept, m->max_db, m->n_empty, m->n_grow, m->n_shrink, m->max_window);
    readyq_destroy(&m->rq);
    for (int i = 0; i < M_MAXID; i++)
        job_destroy(&m->jobs[i]);
    free(m);
}

static void test_model_small_window(void **state)
{
    (void)state;
    s_model_run(0x5eed0001, 8, 4, 3, 20000, s_weights);
}

static void test_model_page_smaller_than_half(void **state)
{
    (void)state;
    s_model_run(0x5eed0002, 8, 2, 2, 20000, s_weights);
}

static void test_model_all_priorities(void **state)
{
    (void)state;
    s_model_run(0x5eed0003, 16, 8, READYQ_PRIORITIES, 20000, s_weights);
}

static void test_model_window_two(void **state)
{
    (void)state;
    s_model_run(0x5eed0004, 2, 1, 2, 20000, s_weights_slow);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_cmp),
        cmocka_unit_test(test_lookup_create_flags),
        cmocka_unit_test(test_default_window),
        cmocka_unit_test(test_priority_then_fifo),
        cmocka_unit_test(test_retry_inserted_in_id_order),
        cmocka_unit_test(test_unlink_anywhere),
        cmocka_unit_test(test_window_evicts_least_urgent),
        cmocka_unit_test(test_window_push_of_max_when_full),
        cmocka_unit_test(test_window_of_one),
        cmocka_unit_test(test_wants_refill_thresholds),
        cmocka_unit_test(test_refill_done),
        cmocka_unit_test(test_window_follows_demand),
        cmocka_unit_test(test_mark_overflow_empty_lane),
        cmocka_unit_test(test_lanes_are_independent),
        cmocka_unit_test(test_model_small_window),
        cmocka_unit_test(test_model_page_smaller_than_half),
        cmocka_unit_test(test_model_all_priorities),
        cmocka_unit_test(test_model_window_two),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
