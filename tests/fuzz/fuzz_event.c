/* libFuzzer driver for the event stream decoder (proto_event_decode: the
 * three frames a watcher receives) and the round trip through
 * proto_event_encode.
 *
 * Input layout: byte 0 picks the limits ('e': a 256-byte body limit so the
 * size check is reachable; anything else: defaults). The rest is split at
 * NUL bytes into frames: [topic] [protocol] [body]. */
#include "fuzz_check.h"

#include <stdint.h>

#define MAX_FRAMES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_again(const proto_event_t *e, const proto_limits_t *lim)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_event_encode(&sb, e);
    proto_frame_t f[3] = {
        {e->queue, strlen(e->queue)},
        {PROTO_EVENT_V1, strlen(PROTO_EVENT_V1)},
        {sb.data, sb.len},
    };
    proto_limits_t big = *lim;
    big.max_body_bytes = SIZE_MAX / 2; /* escapes can make the text longer */
    proto_event_t g;
    char err[FUZZ_ERRLEN] = "";
    int rc = proto_event_decode(&big, f, 3, &g, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "fuzz_event: %s for %s\n", err, sb.data);
    CHECK(rc == 0);
    CHECK(g.id == e->id && g.attempt == e->attempt && g.at_us == e->at_us);
    CHECK(strcmp(g.queue, e->queue) == 0 && strcmp(g.type, e->type) == 0);
    CHECK(strcmp(g.event, e->event) == 0 && strcmp(g.state, e->state) == 0);
    CHECK(fuzz_streq(g.worker, e->worker));
    proto_event_fini(&g);
    strbuf_fini(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    proto_limits_t lim;
    proto_limits_default(&lim);
    if (data[0] == 'e')
        lim.max_body_bytes = 256;

    proto_frame_t f[MAX_FRAMES];
    size_t nf = 0;
    const uint8_t *p = data + 1, *end = data + size;
    while (nf < MAX_FRAMES) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        const uint8_t *stop = z ? z : end;
        f[nf].data = p;
        f[nf].size = (size_t)(stop - p);
        nf++;
        if (!z)
            break;
        p = z + 1;
    }

    proto_event_t e;
    char err[FUZZ_ERRLEN] = "";
    int rc = proto_event_decode(&lim, f, nf, &e, err, sizeof err);
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(rc == ORCH_EPROTO || rc == ORCH_ETOOBIG);
        CHECK(e.body == NULL && e.queue == NULL);
        return 0;
    }
    CHECK(nf == 3 && f[2].size <= lim.max_body_bytes);
    CHECK(e.id >= 1 && e.attempt >= 0 && e.at_us >= 0);
    CHECK(proto_name_valid(e.queue) && proto_name_valid(e.type));
    CHECK(f[0].size == strlen(e.queue) && memcmp(f[0].data, e.queue, f[0].size) == 0);
    CHECK(proto_state_index(e.state) >= 0);
    CHECK(strlen(e.event) >= 1 && strlen(e.event) <= PROTO_EVENT_NAME_MAX);
    CHECK(!e.worker || (strlen(e.worker) >= 1 && strlen(e.worker) <= PROTO_NAME_MAX &&
                        fuzz_utf8_ok(e.worker)));
    s_again(&e, &lim);
    proto_event_fini(&e);
    return 0;
}
