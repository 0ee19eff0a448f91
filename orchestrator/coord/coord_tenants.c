/* Tenants (docs/operations.md, "Tenants"): who a submission is for, the
 * quotas that refuse it, and the fair share that orders dispatch.
 *
 * A submission's tenant is its client key's when the key is scoped to one
 * (security.keys[].tenant, a token line's tenant=), else what each job
 * names, else "default". Quotas are checked when the SUBMIT arrives, on
 * counts memory keeps for every job of the tenant (tenant_t.live), so a
 * refusal costs no database round trip: max_queued (jobs accepted and not
 * started), rate (a token bucket of submissions per second). max_running
 * is applied at dispatch.
 *
 * Fair share is start-time fair queueing over tenants, inside one
 * (effective) priority level: each tenant carries a finish tag; the next
 * job goes to the tenant whose tag, floored at the virtual time, is
 * smallest, and taking it advances that tag by 1/weight. The virtual time
 * is the tag of the last job dispatched, so a tenant that was idle starts
 * level with the others instead of cashing in credit for its idle time. */
#include "clock.h"
#include "coord_internal.h"
#include "proto_field.h"
#include "xalloc.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

const char *coord_spec_tenant(const proto_jobspec_t *s)
{
    return s->tenant ? s->tenant : "default";
}

const tenant_policy_t *coord_tenant_policy(coord_t *c, tenant_t *t)
{
    if (!t->policy_set) {
        t->policy = orch_config_tenant(c->cfg, t->name);
        t->policy_set = true;
    }
    return t->policy;
}

int64_t coord_tenant_pending(const tenant_t *t)
{
    return t->live[JOB_WAITING] + t->live[JOB_SCHEDULED] + t->live[JOB_QUEUED];
}

/* ---- fair share ---- */

double coord_tenant_tag(coord_t *c, const tenant_t *t)
{
    return t->finish_tag > c->fair_vtime ? t->finish_tag : c->fair_vtime;
}

void coord_tenant_started(coord_t *c, tenant_t *t)
{
    const tenant_policy_t *p = coord_tenant_policy(c, t);
    double start = coord_tenant_tag(c, t);
    c->fair_vtime = start;
    t->finish_tag = start + 1.0 / (p ? p->weight : 1);
    t->started_total++;
}

bool coord_tenant_may_dispatch(coord_t *c, tenant_t *t)
{
    const tenant_policy_t *p = coord_tenant_policy(c, t);
    return !p || p->max_running <= 0 || t->live[JOB_RUNNING] < p->max_running;
}

/* ---- admission ---- */

static void s_refill(tenant_t *t, const tenant_policy_t *p, int64_t now_ms)
{
    if (t->tokens < 0) {
        t->tokens = p->burst;
    } else if (now_ms > t->tokens_at_ms) {
        t->tokens += p->rate * (double)(now_ms - t->tokens_at_ms) / 1000.0;
        if (t->tokens > p->burst)
            t->tokens = p->burst;
    }
    t->tokens_at_ms = now_ms;
}

static void s_refuse(coord_t *c, const proto_envelope_t *env, const char *req, tenant_t *t,
                     coord_tenant_refusal_t why, int64_t retry_after_ms, const char *msg)
{
    t->refused_total[why]++;
    strbuf_t sb;
    strbuf_init(&sb);
    proto_reply_open(&sb, PROTO_STATUS_TOO_MANY);
    proto_key(&sb, "error");
    proto_put_message(&sb, msg, PROTO_ERROR_MAX);
    char ms[24];
    int len = snprintf(ms, sizeof ms, "%lld", (long long)retry_after_ms);
    proto_reply_raw(&sb, "retry_after_ms", ms, (size_t)len);
    proto_reply_close(&sb, req);
    coord_send_reply(c, env, &sb);
    strbuf_fini(&sb);
}

/* The tenant of each job: the key's scope, or what the job names. */
static bool s_resolve(coord_t *c, const proto_envelope_t *env, const char *req,
                      proto_jobspec_t *specs, size_t n)
{
    const coord_peer_t *peer = c->peer;
    const char *scope = peer ? peer->tenant : NULL;
    char err[400];
    for (size_t i = 0; i < n; i++) {
        const char *named = specs[i].tenant;
        if (scope && named && strcmp(named, scope) != 0) {
            snprintf(err, sizeof err,
                     "jobs[%zu].tenant: key \"%s\" acts for tenant \"%s\" only, not \"%s\"", i,
                     peer->name, scope, named);
            coord_error(c, env, PROTO_STATUS_FORBIDDEN, req, err);
            return false;
        }
        const char *t = scope ? scope : named ? named : "default";
        if (c->cfg->ntenants > 0 && strcmp(t, "default") != 0 && !orch_config_tenant(c->cfg, t)) {
            snprintf(err, sizeof err,
                     "jobs[%zu].tenant: unknown tenant \"%s\" (the configuration's tenants: "
                     "does not list it)",
                     i, t);
            coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req, err);
            return false;
        }
        if (!named && scope)
            specs[i].tenant = xstrdup(scope);
    }
    return true;
}

bool coord_tenant_admit(coord_t *c, const proto_envelope_t *env, const char *req,
                        proto_jobspec_t *specs, size_t n)
{
    if (!s_resolve(c, env, req, specs, n))
        return false;
    if (c->cfg->ntenants == 0)
        return true; /* no tenant has a quota */
    /* each tenant of the batch once: its jobs counted against its quotas */
    int64_t now_ms = clock_mono_ms();
    char msg[400];
    for (size_t i = 0; i < n; i++) {
        const char *name = coord_spec_tenant(&specs[i]);
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(coord_spec_tenant(&specs[k]), name) == 0;
        if (seen)
            continue;
        tenant_t *t = readyq_tenant(c->rq, name, true);
        const tenant_policy_t *p = coord_tenant_policy(c, t);
        if (!p)
            continue;
        int64_t m = 1;
        for (size_t k = i + 1; k < n; k++)
            m += strcmp(coord_spec_tenant(&specs[k]), name) == 0;
        if (p->max_queued > 0 && coord_tenant_pending(t) + m > p->max_queued) {
            snprintf(msg, sizeof msg,
                     "tenant \"%s\" is over its quota: %lld jobs waiting to start, %lld more "
                     "would pass max_queued %lld",
                     name, (long long)coord_tenant_pending(t), (long long)m,
                     (long long)p->max_queued);
            s_refuse(c, env, req, t, COORD_TENANT_MAX_QUEUED, 1000, msg);
            return false;
        }
        if (p->rate > 0) {
            if (m > p->burst) {
                snprintf(msg, sizeof msg,
                         "jobs: %lld jobs for tenant \"%s\" are more than its burst of %d "
                         "submissions (tenants[].burst): split the batch",
                         (long long)m, name, p->burst);
                coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req, msg);
                return false;
            }
            s_refill(t, p, now_ms);
            if (t->tokens < (double)m) {
                int64_t wait = (int64_t)ceil(((double)m - t->tokens) * 1000.0 / p->rate);
                snprintf(msg, sizeof msg,
                         "tenant \"%s\" is over its rate: %g submissions per second "
                         "(burst %d); retry in %lld ms",
                         name, p->rate, p->burst, (long long)wait);
                s_refuse(c, env, req, t, COORD_TENANT_RATE, wait, msg);
                return false;
            }
        }
    }
    /* admitted: take the tokens */
    for (size_t i = 0; i < n; i++) {
        tenant_t *t = readyq_tenant(c->rq, coord_spec_tenant(&specs[i]), true);
        const tenant_policy_t *p = coord_tenant_policy(c, t);
        if (p && p->rate > 0)
            t->tokens -= 1.0;
    }
    return true;
}

/* ---- scoping what a key sees ---- */

bool coord_tenant_visible(const coord_t *c, const char *tenant)
{
    const char *scope = c->peer ? c->peer->tenant : NULL;
    return !scope || (tenant && strcmp(scope, tenant) == 0);
}

const char *coord_peer_tenant(const coord_t *c)
{
    return c->peer ? c->peer->tenant : NULL;
}

/* ---- what STATS shows ---- */

static json_t *s_tenant_json(coord_t *c, tenant_t *t)
{
    const tenant_policy_t *p = coord_tenant_policy(c, t);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "weight", json_integer(p ? p->weight : 1));
    for (int s = 0; s < TENANT_LIVE_STATES; s++)
        json_object_set_new(o, job_state_name(s), json_integer(t->live[s]));
    json_object_set_new(o, "started_total", json_integer(t->started_total));
    json_object_set_new(o, "max_queued", json_integer(p ? p->max_queued : 0));
    json_object_set_new(o, "rate", json_real(p ? p->rate : 0));
    json_object_set_new(o, "burst", json_integer(p ? p->burst : 0));
    json_object_set_new(o, "max_running", json_integer(p ? p->max_running : 0));
    json_object_set_new(o, "refused_max_queued",
                        json_integer(t->refused_total[COORD_TENANT_MAX_QUEUED]));
    json_object_set_new(o, "refused_rate", json_integer(t->refused_total[COORD_TENANT_RATE]));
    return o;
}

json_t *coord_tenants_json(coord_t *c)
{
    for (size_t i = 0; i < c->cfg->ntenants; i++) /* listed ones show before their first job */
        readyq_tenant(c->rq, c->cfg->tenants[i].name, true);
    json_t *arr = json_array();
    for (size_t i = 0; i < readyq_ntenants(c->rq); i++) {
        tenant_t *t = readyq_tenant_at(c->rq, i);
        if (coord_tenant_visible(c, t->name))
            json_array_append_new(arr, s_tenant_json(c, t));
    }
    return arr;
}
