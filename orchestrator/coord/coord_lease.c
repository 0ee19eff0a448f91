/* High availability: the leader lease (docs/operations.md, "High
 * availability"; the SQL and its locking in store migration 008).
 *
 * A connected coordinator either holds the lease (UP: it recovers and
 * dispatches) or is a STANDBY that polls it every ha.renew. The leader's
 * every pipeline starts with the fence, which renews the lease only while
 * its epoch still holds it, so a deposed leader commits nothing; with no
 * commit for ha.renew it sends a fence alone. Besides, the leader watches
 * the lease on its own monotonic clock: a fence committed by a pipeline
 * sent at t proves the lease ours until t + ha.lease at least (the
 * database set it from its transaction start, later than t), so past that
 * it stops (a SIGSTOP, a stalled commit) before dispatching a job a
 * successor may dispatch too. */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void coord_lease_init(coord_t *c)
{
    coord_lease_t *l = &c->lease;
    if (c->cfg->ha_name && c->cfg->ha_name[0]) {
        snprintf(l->name, sizeof l->name, "%s", c->cfg->ha_name);
    } else {
        /* unique per live process: one host cannot bind one endpoint twice */
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        snprintf(l->name, sizeof l->name, "%s %s", host, c->cfg->listen_clients);
    }
    l->advertise = c->cfg->ha_advertise && c->cfg->ha_advertise[0] ? c->cfg->ha_advertise
                                                                    : c->cfg->listen_clients;
}

const char *coord_standby_text(coord_t *c)
{
    static char text[512];
    const store_lease_t *s = &c->lease.seen;
    if (s->holder[0] && s->expires_in_ms > 0)
        snprintf(text, sizeof text, "standby: the leader is %s at %s", s->holder,
                 s->advertise[0] ? s->advertise : "an unknown endpoint");
    else
        snprintf(text, sizeof text, "standby: no coordinator holds the leader lease yet; retry"
                                    " later");
    return text;
}

/* Leading starts with a recovery: its reads run in a thread while the
 * loop keeps serving workers (coord_recover.c); UP once applied. */
static int s_became_leader(coord_t *c, int64_t t0)
{
    coord_lease_t *l = &c->lease;
    l->epoch = l->seen.epoch;
    l->sent_ms = t0;
    l->until_ms = t0 + c->cfg->ha_lease_ms;
    l->inflight_sent_ms = 0;
    if (coord_recover_start(c) != ORCH_OK)
        return ORCH_EDB;
    LOG_INFO("leader lease acquired, recovering name=\"%s\" epoch=%lld", l->name,
             (long long)l->epoch);
    return ORCH_OK;
}

int coord_lease_try(coord_t *c, int64_t now_ms)
{
    coord_lease_t *l = &c->lease;
    int64_t t0 = clock_mono_ms();
    if (store_lease_acquire(c->store, l->name, l->advertise, c->cfg->ha_lease_ms, &l->seen) !=
        ORCH_OK)
        return ORCH_EDB;
    if (l->seen.held)
        return s_became_leader(c, t0);
    if (c->mode != COORD_STANDBY || strcmp(c->down_reason, coord_standby_text(c)) != 0)
        LOG_INFO("standby: the leader lease is held holder=\"%s\" endpoint=%s epoch=%lld"
                 " expires_in_ms=%lld",
                 l->seen.holder, l->seen.advertise, (long long)l->seen.epoch,
                 (long long)l->seen.expires_in_ms);
    c->mode = COORD_STANDBY;
    snprintf(c->down_reason, sizeof c->down_reason, "%s", coord_standby_text(c));
    /* poll again at the renew interval, or right when it expires if sooner */
    int64_t wait = c->cfg->ha_renew_ms;
    if (l->seen.expires_in_ms >= 0 && l->seen.expires_in_ms + 1 < wait)
        wait = l->seen.expires_in_ms + 1;
    l->poll_at_ms = now_ms + wait;
    return ORCH_OK;
}

bool coord_lease_renew_due(const coord_t *c, int64_t now_ms)
{
    return c->mode == COORD_UP && now_ms - c->lease.sent_ms >= c->cfg->ha_renew_ms;
}

int64_t coord_lease_next_ms(const coord_t *c)
{
    if (c->mode == COORD_UP || c->mode == COORD_RECOVERING)
        return c->lease.sent_ms + c->cfg->ha_renew_ms;
    if (c->mode == COORD_STANDBY)
        return c->lease.poll_at_ms;
    return -1;
}

/* Forgets the jobs and the workers (they go to the new leader) the way a
 * database outage does, connection included (a pipeline in flight is not
 * ours to finish any more); the reconnect reads the lease again. */
static void s_step_down(coord_t *c, const char *reason)
{
    LOG_WARN("leader lease lost, stepping down to standby epoch=%lld reason=\"%s\"",
             (long long)c->lease.epoch, reason);
    coord_go_down(c, reason);
    coord_workers_redirect(c, "standby: this coordinator lost the leader lease; register at"
                              " another endpoint");
}

void coord_lease_check(coord_t *c, int64_t now_ms)
{
    if ((c->mode != COORD_UP && c->mode != COORD_RECOVERING) || now_ms < c->lease.until_ms)
        return;
    char reason[160];
    snprintf(reason, sizeof reason, "the leader lease (epoch %lld) expired before it was renewed",
             (long long)c->lease.epoch);
    s_step_down(c, reason);
}

void coord_lease_lost(coord_t *c, const char *reason)
{
    s_step_down(c, reason);
}

void coord_lease_recovering(coord_t *c, int64_t now_ms)
{
    coord_lease_t *l = &c->lease;
    if (c->mode != COORD_RECOVERING || now_ms - l->sent_ms < c->cfg->ha_renew_ms)
        return;
    l->sent_ms = now_ms;
    if (store_lease_renew(c->store, l->epoch, c->cfg->ha_lease_ms) == ORCH_OK) {
        l->until_ms = now_ms + c->cfg->ha_lease_ms;
        return;
    }
    if (store_lease_lost(c->store))
        s_step_down(c, store_errmsg(c->store));
    else
        coord_go_down(c, store_errmsg(c->store));
}

void coord_lease_release(coord_t *c)
{
    if ((c->mode != COORD_UP && c->mode != COORD_RECOVERING) || c->inflight_active ||
        !store_connected(c->store))
        return;
    if (store_lease_release(c->store, c->lease.epoch) == ORCH_OK)
        LOG_INFO("leader lease released epoch=%lld", (long long)c->lease.epoch);
}
