/* Configuration of orchestratord and orch-worker, parsed once from YAML
 * (libyaml) into immutable structs. Nothing else in the code base sees YAML.
 *
 * Errors name the file, the line and column, and the key, e.g.
 *   config/orchestrator.yaml:12:3: unknown key "heartbeat.intervl"
 * Environment overrides (applied after the file, before validation):
 *   ORCH_DATABASE_URL, ORCH_WORKER_ENDPOINT, ORCH_CLIENT_ENDPOINT, ORCH_EVENT_ENDPOINT,
 *   ORCH_WORKER_ENDPOINTS (comma separated, worker side), ORCH_LOG_LEVEL, ORCH_LOG_FORMAT,
 *   ORCH_SECRET_KEY_FILE and ORCH_SERVER_KEY_FILE (CURVE key files),
 *   and the variables the job handlers declare for their own keys.
 * The keys under `handlers: <type>:` in worker.yaml are declared by each job
 * handler (workers/handler_<type>.c, cfgsection.h); config/ knows none of
 * them by name. Every key, type, default and range: docs/configuration.md. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Per-queue job policy; "defaults" holds the values every queue inherits. */
typedef struct {
    char *name;            /* NULL for the defaults entry */
    int priority;          /* 0..9, default 5 */
    int max_attempts;      /* >= 1, default 5 */
    int64_t timeout_ms;    /* per attempt, default 300000 (5m) */
    int64_t backoff_base_ms; /* default 1000 */
    int64_t backoff_max_ms;  /* default 300000 */
    int concurrency;         /* fleet-wide running jobs of the queue, 0 = no limit (default) */
    double rate_limit;       /* dispatches per second (token bucket), 0 = no limit (default) */
    int rate_burst;          /* bucket size, default max(1, ceil(rate_limit)) */
    int64_t retention_ms;    /* succeeded and cancelled jobs are deleted this long after they
                              * finished (retention.jobs, or the queue's retention); 0 keeps them */
} queue_policy_t;

/* Per job type defaults (types: sequence); 0 = inherit from the queue. */
typedef struct {
    char *name;
    int64_t timeout_ms;
    /* result reuse by default: a job of this type with no "reuse" of its own
     * gets the key SHA-256 of these payload fields, kept reuse_ttl_ms */
    int64_t reuse_ttl_ms;  /* 0: none */
    char **reuse_key;      /* payload field names */
    size_t nreuse_key;
} type_policy_t;

/* A tenant (tenants: sequence; docs/operations.md, "Tenants"). Within one
 * priority level dispatch shares the fleet among tenants with work in
 * proportion to their weights; the quotas refuse a submission (429 with
 * retry_after_ms) instead of queueing it. 0 = no limit. */
typedef struct {
    char *name;          /* a protocol name */
    int weight;          /* 1..1000, default 1 */
    int64_t max_queued;  /* jobs accepted and not started yet (waiting, scheduled, queued) */
    double rate;         /* submissions per second (token bucket) */
    int burst;           /* bucket size, default max(1, ceil(rate)) */
    int max_running;     /* jobs of the tenant running at once, fleet-wide */
} tenant_policy_t;

/* A downstream service whose fleet-wide concurrency the coordinator adapts
 * (downstreams: sequence; docs/configuration.md, "downstreams"): jobs of
 * its types are dispatched only while fewer than its current limit run.
 * The limit moves by AIMD on the outcomes workers report for their calls. */
typedef struct {
    char *name;             /* a protocol name, unique */
    char **types;           /* job types bound to it (a type to one downstream at most) */
    size_t ntypes;
    int initial;            /* limit at start, default 4 */
    int min, max;           /* floor and ceiling of the limit, default 1 and 64 */
    int64_t latency_target_ms; /* a call slower than this does not raise the limit, default 2s */
    double decrease;        /* multiplicative factor on a throttle or error, 0 < d < 1, default 0.5 */
    double increase;        /* added to the limit per limit-full of good calls, default 1 */
    int64_t max_pause_ms;   /* longest Retry-After honoured, default 60s */
} downstream_config_t;

/* A follow-up job of a schedule (its `then:`): created with each firing,
 * waiting on the fired job, run once it succeeded. */
#define SCHEDULE_THEN_MAX 8
typedef struct {
    char *type;       /* a protocol name */
    char *queue;      /* NULL: the schedule's queue */
    char *payload;    /* compact JSON object text, default "{}" */
    int priority;     /* -1: queue default */
    int max_attempts; /* 0: queue default */
} schedule_then_config_t;

/* A recurring job declared in the file (schedules: sequence). */
typedef struct {
    char *name;          /* unique, a protocol name */
    char *cron;          /* 5-field cron or @hourly/@daily/@weekly/@monthly/@yearly/@every D */
    char *queue;
    char *type;
    char *payload;       /* compact JSON object text, default "{}" */
    int priority;        /* -1: queue default */
    int max_attempts;    /* 0: queue default */
    bool paused;
    schedule_then_config_t *then; /* `then:` follow-up jobs, nthen of them (0: none) */
    size_t nthen;
    char *tenant;        /* the tenant its jobs belong to; NULL: "default" */
} schedule_config_t;

/* Roles of the keys under security.keys (docs/security.md). Ordered: each
 * client role may do what the ones before it may. */
typedef enum {
    ORCH_ROLE_WORKER = 0, /* the worker socket only, for the queues listed */
    ORCH_ROLE_SUBMIT,     /* SUBMIT and the read requests; the event stream */
    ORCH_ROLE_OPERATE,    /* also CANCEL, RETRY, PAUSE, RESUME, schedule changes */
    ORCH_ROLE_ADMIN,      /* everything, on every socket */
} orch_role_t;

/* One allowed CURVE key (security.keys entry). */
typedef struct {
    char *name;            /* unique, a protocol name: the audit trail's actor */
    char *public_key;      /* Z85, 40 characters (given, or read from public_key_file) */
    char *public_key_file; /* as configured, or NULL */
    char *role_name;       /* as configured */
    int role;              /* orch_role_t */
    char **queues;         /* worker role: the queues it may serve */
    size_t nqueues;
    char *tenant;          /* client roles: the one tenant it acts for; NULL: any tenant */
} orch_key_t;

/* One bearer token of the HTTP API (security.tokens_file line
 * "NAME ROLE sha256:HEX [tenant=NAME]"): only the SHA-256 of the token is
 * kept. */
typedef struct {
    char *name;                 /* the audit trail's actor */
    int role;                   /* orch_role_t: submit, operate or admin */
    unsigned char sha256[32];
    char *tenant;               /* the line's "tenant=NAME": the one tenant it acts for;
                                 * NULL: any tenant */
} orch_token_t;

typedef struct {
    /* database: */
    char *db_url;               /* libpq conninfo or URI; ORCH_DATABASE_URL; or from db_url_file */
    int64_t db_reconnect_max_ms; /* default 5000 */
    char *db_data_dir;          /* database.data_dir, ORCH_DATA_DIR: without a URL, a private
                                 * PostgreSQL runs under it (orchestrator/embedded.h) */
    /* listen: */
    char *listen_workers; /* default tcp://127.0.0.1:5555 */
    char *listen_clients; /* default tcp://127.0.0.1:5556 */
    char *listen_events;  /* default tcp://127.0.0.1:5557 */
    /* heartbeat: */
    int64_t heartbeat_interval_ms; /* default 1000 */
    int heartbeat_liveness;        /* default 3 */
    /* limits: */
    size_t max_payload_bytes;  /* default 1048576 */
    size_t max_message_bytes;  /* default 16777216 */
    size_t max_batch_jobs;     /* default 10000 */
    /* scheduler: */
    int ready_window;          /* jobs kept in memory per (queue, type) lane, default 4096 */
    int refill_batch;          /* rows per refill query, default 1024 */
    int waiting_window;        /* waiting jobs kept in memory, default 100000 */
    int max_commit_jobs;       /* state changes per group commit, default 20000 */
    int64_t priority_aging_ms;   /* 0 = off (default); else one priority step per this wait */
    int64_t idempotency_window_ms; /* keys stay taken this long after the job finished, default 24h */
    int64_t max_schedule_ahead_ms; /* run_at further ahead is refused (400), default 366 days */
    bool accept_unknown_types;     /* a SUBMIT of a type no worker announced and types: does not
                                    * declare: false (default) 400, true accepted with a warning */
    int64_t cancel_grace_ms;     /* running job cancelled: forced after this, default 30s */
    /* retention: (docs/operations.md, "Retention") */
    int64_t retention_events_ms;   /* job_events partitions older than this are dropped, 30d */
    int64_t retention_dead_ms;     /* dead jobs deleted this long after they died; 0 keeps them */
    int64_t retention_interval_ms; /* how often the maintenance runs, default 10m */
    int64_t audit_seal_interval_ms; /* how often new audit rows are hashed into the chain;
                                     * 0 (the default): never */
    /* ha: (docs/operations.md, "High availability") */
    int64_t ha_lease_ms;       /* the leader lease's length, default 3s */
    int64_t ha_renew_ms;       /* renewal (leader) and poll (standby) interval, default 1s */
    char *ha_name;             /* this coordinator's name in the lease (NULL: host + listen.clients) */
    char *ha_advertise;        /* client endpoint standbys name in their 503 (NULL: listen.clients) */
    schedule_config_t *schedules;
    size_t nschedules;
    type_policy_t *types;
    size_t ntypes;
    tenant_policy_t *tenants; /* tenants: when any are listed, a submission naming another
                               * tenant than these and "default" is refused */
    size_t ntenants;

    downstream_config_t *downstreams; /* downstreams: (adaptive concurrency) */
    size_t ndownstreams;
    /* defaults: and queues: */
    queue_policy_t defaults;
    queue_policy_t *queues;
    size_t nqueues;
    int log_level;             /* log_level_t */
    int log_format;            /* log_format_t: log.format, ORCH_LOG_FORMAT; default text */
    char *db_url_file;         /* database.url_file as configured, or NULL */
    /* security: CURVE is on when secret_key is set (docs/security.md) */
    char *secret_key_file;     /* security.secret_key_file; ORCH_SECRET_KEY_FILE */
    char *secret_key;          /* its content, Z85; never logged */
    orch_key_t *keys;          /* security.keys */
    size_t nkeys;
    bool insecure;             /* security.insecure: non-loopback listeners without CURVE */
    /* HTTP API (docs/http-api.md): listen.http, http:, security.tokens_file */
    char *listen_http;         /* "host:port"; "" or "off": no HTTP listener */
    char *http_host;           /* parsed from listen_http (NULL when off) */
    int http_port;
    char *http_tls_cert_file;  /* http.tls_cert_file; with http.tls_key_file: HTTPS */
    char *http_tls_key_file;
    char *http_tls_cert;       /* their contents (PEM); the key is never logged */
    char *http_tls_key;
    int http_max_connections;  /* default 512 */
    int64_t http_timeout_ms;   /* idle connection closed after this, default 60s */
    int64_t http_request_timeout_ms; /* a request the loop has not answered: 504, default 30s */
    char *tokens_file;         /* security.tokens_file; ORCH_TOKENS_FILE */
    orch_token_t *tokens;      /* its entries */
    size_t ntokens;
} orch_config_t;

/* A section's schema: its keys, defaults and checks (cfgsection.h). */
typedef struct cfgsection cfgsection_t;

/* One `handlers: <type>:` section of worker.yaml, loaded. The struct the
 * type's schema describes follows it in the same allocation. */
typedef struct {
    char *type;   /* the job type */
    bool enabled; /* the schema's default; a section in the file enables unless enabled: false */
    int slots;    /* jobs of this type run at once; 0: no limit beyond worker.slots */
    void *conf;   /* the schema's struct, filled from its keys; NULL when it has none */
    const cfgsection_t *schema; /* borrowed from the type list */
} worker_section_t;

/* The job types a worker knows, i.e. the keys allowed under `handlers:`:
 * returns the name of type i (0, 1, ... in order) and sets *schema to its
 * section's schema (NULL: only enabled and slots), or returns NULL past the
 * last type. orch-worker passes its handler registry (handler_types). */
typedef const char *(*worker_types_fn)(size_t i, const cfgsection_t **schema);

typedef struct {
    char *name;                 /* default "<hostname>-<pid>" */
    char **endpoints;           /* coordinator worker endpoints, failover order */
    size_t nendpoints;
    int slots;                  /* default 4 */
    char **queues;              /* default ["default"] */
    size_t nqueues;
    int64_t heartbeat_interval_ms; /* default 1000 */
    int heartbeat_liveness;        /* default 3 */
    int64_t reconnect_min_ms;      /* default 250 */
    int64_t reconnect_max_ms;      /* default 32000 */
    int64_t drain_timeout_ms;      /* SIGTERM: wait this long for running jobs, default 30000 */
    size_t max_message_bytes;      /* default 16777216 */
    /* CURVE (docs/security.md): on when both keys are set */
    char *server_key_file;  /* worker.server_key_file: the coordinator's public key; ORCH_SERVER_KEY_FILE */
    char *secret_key_file;  /* worker.secret_key_file: this worker's secret key; ORCH_SECRET_KEY_FILE */
    char *server_key;       /* the files' contents, Z85; never logged */
    char *secret_key;
    int log_level;
    int log_format;         /* log_format_t: log.format, ORCH_LOG_FORMAT; default text */
    /* Prometheus metrics (docs/operations.md, "Metrics"): GET /metrics */
    char *metrics_listen;   /* worker.metrics_listen "host:port"; NULL, "" or "off": none;
                             * ORCH_WORKER_METRICS_LISTEN */
    char *metrics_host;     /* parsed from it (NULL when off), an IP address or localhost */
    int metrics_port;
    bool metrics_insecure;  /* worker.metrics_insecure: allow a non-loopback metrics_listen */
    /* handlers: one section per known job type, in the type list's order */
    worker_section_t **sections;
    size_t nsections;
} worker_config_t;

/* Loads path (NULL: built-in defaults only), applies environment overrides,
 * validates. Returns 0 and a complete config (caller owns) or ORCH_ECONFIG
 * with a message in err naming file:line:column and key. */
int orch_config_load(const char *path, orch_config_t **out, char *err, size_t errlen);
void orch_config_destroy(orch_config_t **cfg);
/* Whether a listen endpoint is reachable from this host only: ipc://,
 * inproc://, tcp://127.x.y.z, tcp://localhost, tcp://[::1]. Anything else
 * (tcp://0.0.0.0, a wildcard, an interface or host name) is not. */
bool orch_endpoint_loopback(const char *endpoint);
/* The HTTP API's bearer tokens (security.tokens_file): the entry whose
 * hash is SHA-256(token), or NULL. Borrowed from cfg. */
const orch_token_t *orch_token_find(const orch_config_t *cfg, const char *token, size_t len);
void orch_token_hash(const char *token, size_t len, unsigned char out[32]);
/* Makes a token "orch_" + 64 hex digits into token (tokenlen >= 70) and
 * appends "NAME ROLE sha256:HEX" to file (created 0600). role: submit,
 * operate or admin; tenant (NULL: none) appends " tenant=TENANT" (submit
 * and operate only). 0, or ORCH_EINVAL / ORCH_EIO with err filled. */
int orch_token_new(const char *file, const char *name, const char *role, const char *tenant,
                   char *token, size_t tokenlen, char *err, size_t errlen);
/* "worker", "submit", "operate", "admin". */
const char *orch_role_name(int role);
/* The tenants: entry named name, or NULL (weight 1, no quota). Borrowed. */
const tenant_policy_t *orch_config_tenant(const orch_config_t *cfg, const char *name);
/* The policy for queue name: its own entry or the defaults. Borrowed. */
const queue_policy_t *orch_config_policy(const orch_config_t *cfg, const char *queue);
/* The attempt timeout for a job without its own: the type's entry under
 * `types:` when it sets one, else the queue policy's. */
int64_t orch_config_timeout(const orch_config_t *cfg, const char *queue, const char *type);

/* Loads path (NULL: defaults only) with a `handlers:` section for every
 * type that types lists (NULL: none), applies the environment, runs each
 * section's check. Returns 0 and a complete config (caller owns) or
 * ORCH_ECONFIG with a message in err naming file:line:column and key. */
int worker_config_load(const char *path, worker_types_fn types, worker_config_t **out, char *err,
                       size_t errlen);
void worker_config_destroy(worker_config_t **cfg);
/* The section of job type type, or NULL when the type list had no such
 * type. Borrowed from cfg. */
const worker_section_t *worker_config_section(const worker_config_t *cfg, const char *type);

#endif
