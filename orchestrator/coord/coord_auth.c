/* CURVE, the ZAP handler and the role checks (see coord_auth.h). The
 * cryptography is libzmq's (libsodium underneath); this file decides who
 * may connect and what a connected key may do. */
#include "coord_auth.h"
#include "clock.h"
#include "hmap.h"
#include "log.h"
#include "orch_error.h"
#include "proto.h"
#include "strbuf.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* libzmq's draft API; refused where not built in */
#endif

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01" /* fixed by RFC 27 */
#define S_ZAP_FRAMES 8                          /* RFC 27 request: 6 frames + credentials */
#define S_LOG_PER_SECOND 10                     /* refusals logged per second at most */

struct coord_auth {
    const orch_config_t *cfg;
    bool curve;
    void *zap;            /* REP, NULL without CURVE */
    coord_peer_t local;   /* every peer without CURVE */
    coord_peer_t unknown; /* a User-Id that names no key (cannot happen: defensive) */
    coord_peer_t *peers;  /* one per cfg->keys entry */
    coord_peer_t *tokens; /* one per cfg->tokens entry */
    coord_peer_t probe;   /* the HTTP listener's own /readyz check */
    hmap_t *by_name;      /* key name -> coord_peer_t* */
    hmap_t *by_public;    /* Z85 public key -> coord_peer_t* */
    hmap_t *bound;        /* worker name -> coord_peer_t* that registered it */
    int64_t log_second;   /* rate limit of refusal messages */
    int logged, suppressed;
    bool warned_enforce;
};

/* ---- life --------------------------------------------------------------- */

static void s_index_keys(coord_auth_t *a)
{
    const orch_config_t *cfg = a->cfg;
    a->peers = xcalloc(cfg->nkeys ? cfg->nkeys : 1, sizeof *a->peers);
    for (size_t i = 0; i < cfg->nkeys; i++) {
        a->peers[i] = (coord_peer_t){cfg->keys[i].name, cfg->keys[i].role, &cfg->keys[i], false,
                                     cfg->keys[i].tenant};
        hmap_str_put(a->by_name, cfg->keys[i].name, &a->peers[i]);
        hmap_str_put(a->by_public, cfg->keys[i].public_key, &a->peers[i]);
    }
}

/* The config refused these unless the operator wrote security.insecure. */
static void s_warn_insecure(const orch_config_t *cfg)
{
    const char *eps[] = {cfg->listen_workers, cfg->listen_clients, cfg->listen_events};
    for (size_t i = 0; i < 3; i++)
        if (eps[i] && !orch_endpoint_loopback(eps[i]))
            LOG_WARN("listening without authentication or encryption endpoint=%s "
                     "(security.insecure)",
                     eps[i]);
}

coord_auth_t *coord_auth_new(void *zctx, const orch_config_t *cfg, char *err, size_t errlen)
{
    coord_auth_t *a = xcalloc(1, sizeof *a);
    a->cfg = cfg;
    a->curve = cfg->secret_key != NULL;
    a->local = (coord_peer_t){"local", ORCH_ROLE_ADMIN, NULL, false, NULL};
    a->unknown = (coord_peer_t){"unknown", -1, NULL, false, NULL};
    a->by_name = hmap_new_str();
    a->by_public = hmap_new_str();
    a->bound = hmap_new_str();
    a->probe = (coord_peer_t){"http-readyz", ORCH_ROLE_SUBMIT, NULL, true, NULL};
    a->tokens = xcalloc(cfg->ntokens ? cfg->ntokens : 1, sizeof *a->tokens);
    for (size_t i = 0; i < cfg->ntokens; i++)
        a->tokens[i] = (coord_peer_t){cfg->tokens[i].name, cfg->tokens[i].role, NULL, true,
                                      cfg->tokens[i].tenant};
    if (!a->curve) {
        s_warn_insecure(cfg);
        return a;
    }
    s_index_keys(a);
    int zero = 0;
    a->zap = zmq_socket(zctx, ZMQ_REP);
    if (!a->zap || zmq_setsockopt(a->zap, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_bind(a->zap, S_ZAP_ENDPOINT) != 0) {
        snprintf(err, errlen, "could not start the ZAP handler on %s: %s", S_ZAP_ENDPOINT,
                 zmq_strerror(zmq_errno()));
        coord_auth_destroy(&a);
        return NULL;
    }
    char pub[41];
    if (zmq_curve_public(pub, cfg->secret_key) == 0)
        LOG_INFO("CURVE on public_key=%s keys=%zu", pub, cfg->nkeys);
    return a;
}

void coord_auth_destroy(coord_auth_t **ap)
{
    if (!ap || !*ap)
        return;
    coord_auth_t *a = *ap;
    if (a->zap)
        zmq_close(a->zap);
    hmap_destroy(&a->by_name);
    hmap_destroy(&a->by_public);
    hmap_destroy(&a->bound);
    free(a->peers);
    free(a->tokens);
    free(a);
    *ap = NULL;
}

bool coord_auth_curve(const coord_auth_t *a)
{
    return a && a->curve;
}

void *coord_auth_zap_socket(coord_auth_t *a)
{
    return a ? a->zap : NULL;
}

int coord_auth_server(coord_auth_t *a, void *sock, const char *domain, char *err, size_t errlen)
{
    if (!a->curve)
        return 0;
    int one = 1;
    /* Z85 text: 40 characters and the NUL, as zmq_setsockopt documents */
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, a->cfg->secret_key,
                       strlen(a->cfg->secret_key) + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) != 0) {
        snprintf(err, errlen, "could not make the %s socket a CURVE server: %s", domain,
                 zmq_strerror(zmq_errno()));
        return ORCH_EIO;
    }
    /* Without the draft API libzmq refuses this option. Nothing is lost
     * here: the handler is bound before any server socket and closed after
     * them, so no handshake can find it missing (the case the option
     * guards against: libzmq would then let the peer in unauthenticated). */
    if (zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0 && !a->warned_enforce) {
        a->warned_enforce = true;
        LOG_DEBUG("ZMQ_ZAP_ENFORCE_DOMAIN not supported by this libzmq (draft API): relying on "
                  "the ZAP handler being bound for the sockets' whole life");
    }
    return 0;
}

/* ---- ZAP (RFC 27) ------------------------------------------------------- */

/* Roles that may connect to a domain. */
static bool s_role_may_connect(int role, const char *domain)
{
    if (role == ORCH_ROLE_ADMIN)
        return true;
    if (strcmp(domain, COORD_AUTH_WORKERS) == 0)
        return role == ORCH_ROLE_WORKER;
    if (strcmp(domain, COORD_AUTH_CLIENTS) == 0 || strcmp(domain, COORD_AUTH_EVENTS) == 0)
        return role == ORCH_ROLE_SUBMIT || role == ORCH_ROLE_OPERATE;
    return false;
}

/* Frame i as a C string (cut to len - 1 bytes). */
static void s_frame_text(zmq_msg_t *parts, size_t n, size_t i, char *buf, size_t len)
{
    size_t size = i < n ? zmq_msg_size(&parts[i]) : 0;
    if (size >= len)
        size = len - 1;
    if (size)
        memcpy(buf, zmq_msg_data(&parts[i]), size);
    buf[size] = '\0';
    for (size_t k = 0; k < size; k++) /* printable for the log */
        if ((unsigned char)buf[k] < 0x20 || (unsigned char)buf[k] > 0x7e)
            buf[k] = '?';
}

static void s_log_refusal(coord_auth_t *a, const char *domain, const char *address, const char *key,
                          const char *why)
{
    int64_t second = clock_mono_ms() / 1000;
    if (second != a->log_second) {
        if (a->suppressed)
            LOG_WARN("refused connections not logged count=%d", a->suppressed);
        a->log_second = second;
        a->logged = a->suppressed = 0;
    }
    if (a->logged++ >= S_LOG_PER_SECOND) {
        a->suppressed++;
        return;
    }
    LOG_WARN("refused connection domain=%s address=%s key=%s reason=\"%s\"", domain, address, key,
             why);
}

/* The key a request presents, accepted for its domain, or NULL and why. */
static const coord_peer_t *s_decide(coord_auth_t *a, zmq_msg_t *parts, size_t n,
                                    const char *domain, char *key, size_t keylen, const char **why)
{
    char mechanism[16];
    s_frame_text(parts, n, 5, mechanism, sizeof mechanism);
    snprintf(key, keylen, "-");
    if (strcmp(mechanism, "CURVE") != 0 || n != 7 || zmq_msg_size(&parts[6]) != 32) {
        *why = "not a CURVE handshake";
        return NULL;
    }
    char z85[41];
    if (!zmq_z85_encode(z85, zmq_msg_data(&parts[6]), 32)) {
        *why = "malformed public key";
        return NULL;
    }
    snprintf(key, keylen, "%s", z85);
    const coord_peer_t *p = hmap_str_get(a->by_public, z85);
    if (!p) {
        *why = "public key not in security.keys";
        return NULL;
    }
    if (!s_role_may_connect(p->role, domain)) {
        *why = "the key's role may not use this socket";
        return NULL;
    }
    /* the event socket publishes every tenant's events: a key scoped to
     * one tenant reads its events with EVENTS (replay), which is scoped */
    if (p->tenant && strcmp(domain, COORD_AUTH_EVENTS) == 0) {
        *why = "a key scoped to a tenant may not subscribe to every tenant's events";
        return NULL;
    }
    return p;
}

static void s_zap_reply(void *sock, zmq_msg_t *reqid, const char *code, const char *text,
                        const char *user)
{
    zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(sock, reqid ? zmq_msg_data(reqid) : "", reqid ? zmq_msg_size(reqid) : 0, ZMQ_SNDMORE);
    zmq_send(sock, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0); /* no metadata: the User-Id names the key */
}

/* Receives one request (every frame: a REP must answer what it took).
 * Returns the frames kept, 0 when nothing was waiting. */
static size_t s_zap_recv(void *sock, zmq_msg_t *parts)
{
    size_t n = 0;
    int more = 1;
    for (bool first = true; more; first = false) {
        zmq_msg_t scratch, *m = n < S_ZAP_FRAMES ? &parts[n] : &scratch;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, first ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(m);
            if (first)
                return 0;
            if (errno == EINTR) /* first is already false: retry this frame */
                continue;
            break;
        }
        more = zmq_msg_more(m);
        if (m == &scratch)
            zmq_msg_close(m);
        else
            n++;
    }
    return n;
}

static void s_zap_one(coord_auth_t *a, zmq_msg_t *parts, size_t n)
{
    char version[8], domain[32], address[64], key[48];
    s_frame_text(parts, n, 0, version, sizeof version);
    s_frame_text(parts, n, 2, domain, sizeof domain);
    s_frame_text(parts, n, 3, address, sizeof address);
    if (strcmp(version, "1.0") != 0 || n < 6) {
        s_zap_reply(a->zap, n > 1 ? &parts[1] : NULL, "500", "malformed ZAP request", "");
        return;
    }
    const char *why = NULL;
    const coord_peer_t *p = s_decide(a, parts, n, domain, key, sizeof key, &why);
    if (!p) {
        s_log_refusal(a, domain, address, key, why);
        s_zap_reply(a->zap, &parts[1], "400", why, "");
        return;
    }
    LOG_DEBUG("connection authenticated domain=%s address=%s key=%s role=%s", domain, address,
              p->name, orch_role_name(p->role));
    s_zap_reply(a->zap, &parts[1], "200", "OK", p->name);
}

void coord_auth_on_zap(coord_auth_t *a)
{
    if (!a->zap)
        return;
    for (int i = 0; i < 256; i++) {
        zmq_msg_t parts[S_ZAP_FRAMES];
        size_t n = s_zap_recv(a->zap, parts);
        if (n == 0)
            return;
        s_zap_one(a, parts, n);
        for (size_t k = 0; k < n; k++)
            zmq_msg_close(&parts[k]);
    }
}

/* ---- per message -------------------------------------------------------- */

const coord_peer_t *coord_auth_peer(coord_auth_t *a, const proto_rawmsg_t *m)
{
    if (!a->curve)
        return &a->local;
    const coord_peer_t *p = m->user_id ? hmap_str_get(a->by_name, m->user_id) : NULL;
    return p ? p : &a->unknown;
}

const coord_peer_t *coord_auth_http_peer(coord_auth_t *a, int token)
{
    if (token >= 0 && (size_t)token < a->cfg->ntokens)
        return &a->tokens[token];
    if (token == -2)
        return &a->probe;
    return a->cfg->ntokens == 0 && token < 0 ? &a->local : &a->unknown;
}

/* The least role that may run cmd (base: its row in coord_client.c's
 * table); *what names it for a message. SCHEDULES is the one command whose
 * body decides: listing is base, a change needs operate. */
static int s_required_role(int cmd, int base, const json_t *body, char *what, size_t len)
{
    const char *name = proto_ccmd_name(cmd);
    snprintf(what, len, "%s", name ? name : "this command");
    if (cmd != PROTO_C_SCHEDULES)
        return base;
    const json_t *action = json_object_get(body, "action");
    const char *text = json_string_value(action);
    if (!action || (text && strcmp(text, "list") == 0))
        return base;
    static const char *const changes[] = {"add", "remove", "pause", "resume"};
    for (size_t i = 0; text && i < sizeof changes / sizeof changes[0]; i++)
        if (strcmp(text, changes[i]) == 0)
            snprintf(what, len, "SCHEDULES %s", changes[i]);
    return base > ORCH_ROLE_OPERATE ? base : ORCH_ROLE_OPERATE;
}

/* Commands that change what every tenant shares: a queue is one pool of
 * workers whatever tenants submit to it, so its pause and settings are not
 * one tenant's to change (QUEUE_DELETE needs admin, which is never scoped:
 * listed all the same). */
static bool s_shared_change(int cmd)
{
    return cmd == PROTO_C_QUEUE_SET || cmd == PROTO_C_QUEUE_DELETE || cmd == PROTO_C_PAUSE ||
           cmd == PROTO_C_RESUME;
}

bool coord_auth_allows(const coord_peer_t *p, int cmd, int role, const json_t *body, char *why,
                       size_t len)
{
    char what[48];
    int need = s_required_role(cmd, role, body, what, sizeof what);
    if (p->role >= need && p->tenant && s_shared_change(cmd)) {
        snprintf(why, len,
                 "forbidden: %s \"%s\" acts for tenant \"%s\" only, and %s changes a queue "
                 "every tenant shares (a key not scoped to a tenant may)",
                 p->token ? "token" : "key", p->name, p->tenant, what);
        return false;
    }
    if (p->role >= need)
        return true;
    if (p->role < 0)
        snprintf(why, len, "forbidden: the connection's key is not in security.keys");
    else
        snprintf(why, len,
                 "forbidden: %s \"%s\" has role %s, which may not run %s (role %s or above "
                 "may)",
                 p->token ? "token" : "key", p->name, orch_role_name(p->role), what,
                 orch_role_name(need));
    return false;
}

static bool s_key_serves(const orch_key_t *k, const char *queue)
{
    for (size_t i = 0; i < k->nqueues; i++)
        if (strcmp(k->queues[i], queue) == 0)
            return true;
    return false;
}

/* The queues p may not serve, quoted and comma separated, in sb. */
static size_t s_forbidden_queues(const coord_peer_t *p, char *const *queues, size_t nqueues,
                                 strbuf_t *sb)
{
    size_t bad = 0;
    for (size_t i = 0; i < nqueues; i++) {
        if (s_key_serves(p->key, queues[i]))
            continue;
        strbuf_puts(sb, bad++ ? ", \"" : "\"");
        strbuf_puts(sb, queues[i]); /* names: [A-Za-z0-9_.:-] (the HELLO decoder checked) */
        strbuf_putc(sb, '"');
    }
    return bad;
}

bool coord_auth_hello(coord_auth_t *a, const coord_peer_t *p, const char *name, char *const *queues,
                      size_t nqueues, char *why, size_t len)
{
    if (!a->curve)
        return true;
    if (p->role != ORCH_ROLE_WORKER && p->role != ORCH_ROLE_ADMIN) {
        snprintf(why, len, "key \"%s\" has role %s, which may not register workers", p->name,
                 orch_role_name(p->role));
        return false;
    }
    if (p->role == ORCH_ROLE_WORKER) {
        strbuf_t sb;
        strbuf_init(&sb);
        size_t bad = s_forbidden_queues(p, queues, nqueues, &sb);
        if (bad)
            snprintf(why, len, "key \"%s\" may not serve queue%s %s (see security.keys)", p->name,
                     bad > 1 ? "s" : "", sb.data);
        strbuf_fini(&sb);
        if (bad)
            return false;
    }
    const coord_peer_t *holder = hmap_str_get(a->bound, name);
    if (holder && holder != p) {
        snprintf(why, len,
                 "worker name \"%s\" is registered by another key; key \"%s\" must use another "
                 "name",
                 name, p->name);
        return false;
    }
    if (!holder)
        hmap_str_put(a->bound, name, (void *)p);
    return true;
}

bool coord_auth_owns(coord_auth_t *a, const coord_peer_t *p, const char *worker)
{
    if (!a->curve)
        return true;
    return hmap_str_get(a->bound, worker) == p;
}
