/* Authentication and authorization of the coordinator's peers
 * (docs/security.md). With security.secret_key_file set, the worker,
 * client and event sockets are CURVE servers and every handshake asks the
 * ZAP handler here (inproc://zeromq.zap.01, a REP socket the loop polls),
 * which accepts the public keys listed under security.keys for the socket's
 * domain and names the key in the ZAP reply's User-Id. Each message then
 * carries that name (proto_rawmsg_t.user_id), from which the handlers learn
 * the sender's role. Without CURVE every peer is "local" with the admin
 * role, as before authentication existed.
 *
 * Only the loop thread touches any of this. */
#ifndef COORD_AUTH_H
#define COORD_AUTH_H

#include "config.h"
#include "proto_io.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct coord_auth coord_auth_t;

/* ZAP domains of the three server sockets. */
#define COORD_AUTH_WORKERS "workers"
#define COORD_AUTH_CLIENTS "clients"
#define COORD_AUTH_EVENTS "events"

/* Who sent the message being handled. Borrowed from the coord_auth_t,
 * which keeps one per key: the pointer identifies the key. */
typedef struct {
    const char *name;      /* the key's name, or "local" without CURVE: the audit trail's
                            * actor; lives as long as the config */
    int role;              /* orch_role_t; -1 for a key the coordinator does not know */
    const orch_key_t *key; /* borrowed from the config; NULL without CURVE */
    bool token;            /* an HTTP API bearer token (security.tokens_file), not a key */
    const char *tenant;    /* the one tenant it acts for (coord_tenants.c); NULL: any */
} coord_peer_t;

/* The audit trail's actor for p: its name, "local" when p is NULL. */
static inline const char *coord_peer_actor(const coord_peer_t *p)
{
    return p ? p->name : "local";
}

/* Binds the ZAP handler in zctx when cfg turns CURVE on (before any server
 * socket binds, so that no handshake ever finds it missing). cfg is
 * borrowed for the life of the object. NULL with err filled on failure. */
coord_auth_t *coord_auth_new(void *zctx, const orch_config_t *cfg, char *err, size_t errlen);
/* Closes the ZAP socket (after the server sockets), frees; accepts NULL. */
void coord_auth_destroy(coord_auth_t **a);

bool coord_auth_curve(const coord_auth_t *a);

/* Makes sock a CURVE server of ZAP domain (COORD_AUTH_*) before its bind;
 * does nothing without CURVE. 0, or ORCH_EIO with err filled. */
int coord_auth_server(coord_auth_t *a, void *sock, const char *domain, char *err, size_t errlen);

/* The ZAP socket for the loop to poll, or NULL without CURVE. */
void *coord_auth_zap_socket(coord_auth_t *a);
/* Answers the ZAP requests waiting on the socket. */
void coord_auth_on_zap(coord_auth_t *a);

/* The sender of m (never NULL). */
const coord_peer_t *coord_auth_peer(coord_auth_t *a, const proto_rawmsg_t *m);

/* The sender of a request the HTTP listener forwarded: the bearer token
 * at index token of cfg->tokens, or (token < 0, no token given) "local"
 * with the admin role when no tokens are configured, else a peer with no
 * role; -2 is the listener's own readiness probe (role submit). Never NULL. */
const coord_peer_t *coord_auth_http_peer(coord_auth_t *a, int token);

/* Whether p may run client command cmd (proto_ccmd_t) whose least role is
 * role (orch_role_t, from the command table; body for the action of
 * SCHEDULES; NULL for a SUBMIT read by proto_submit_scan). When not, why
 * says which key, role and command. */
bool coord_auth_allows(const coord_peer_t *p, int cmd, int role, const json_t *body, char *why,
                       size_t len);

/* Whether p may register worker name serving queues: a worker key only
 * for the queues its entry lists, and only under a name no other key has
 * registered since the coordinator started. On success the name is bound
 * to p's key. When not, why names the queues or the name. */
bool coord_auth_hello(coord_auth_t *a, const coord_peer_t *p, const char *name, char *const *queues,
                      size_t nqueues, char *why, size_t len);

/* Whether p is the key worker name is bound to (always true without
 * CURVE): a message from another key on a registered worker's connection
 * is not that worker's. */
bool coord_auth_owns(coord_auth_t *a, const coord_peer_t *p, const char *worker);

#endif
