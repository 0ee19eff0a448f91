/* Event stream (ORCHE1): [topic = queue] ["ORCHE1"] [body], one message per
 * committed state change. Included by proto.h; see PROTOCOL.md "Events". */
#ifndef PROTO_EVENT_H
#define PROTO_EVENT_H

#include "proto.h"

#define PROTO_EVENT_NAME_MAX 32 /* "submitted", "stale_result", ... */

/* {"id","queue","type","event","state","attempt","at_us","worker"?,"event_id"?}.
 * The strings are borrowed: from the caller when encoding, from body when
 * decoded (body is then owned by the struct; proto_event_fini drops it). */
typedef struct {
    int64_t id;
    const char *queue;
    const char *type;
    const char *event;  /* audit event name: 1..PROTO_EVENT_NAME_MAX bytes of [a-z_] */
    const char *state;  /* one of proto_states: where the change left the job */
    int attempt;        /* 0..2147483647 (0: never started) */
    int64_t at_us;      /* wall clock, microseconds since the epoch */
    const char *worker; /* NULL: no worker involved; else 1..PROTO_NAME_MAX bytes */
    int64_t event_id;   /* the audit row's id in job_events (resume point); 0: not given */
    const char *tenant; /* the job's tenant; NULL: not sent (the coordinator sends none
                         * for "default") */
    json_t *body;
} proto_event_t;

/* Appends the body of e. */
void proto_event_encode(strbuf_t *sb, const proto_event_t *e);

/* Validates a parsed body; out borrows its strings and takes a reference. */
int proto_event_parse(const json_t *body, proto_event_t *out, char *err, size_t errlen);
/* Decodes the three frames of a received event (topic, protocol, body); the
 * topic must be the event's queue. Body size is bounded by lim (NULL:
 * defaults). Returns 0 or ORCH_EPROTO / ORCH_ETOOBIG with a message. */
int proto_event_decode(const proto_limits_t *lim, const proto_frame_t *frames, size_t nframes,
                       proto_event_t *out, char *err, size_t errlen);
void proto_event_fini(proto_event_t *e);

#endif
