/* libFuzzer driver for the wire protocol decoder and every typed body
 * decoder, with the round trip through each one's encoder.
 *
 * Input layout: byte 0 picks the protocol and limits ('W'/'C': worker or
 * client with default limits, 'w'/'c': the same with tiny limits so that
 * the size checks are reachable; any other value picks by its low bits).
 * The rest is split at NUL bytes into frames, which go to proto_decode;
 * a decoded body then goes through every typed decoder whatever its
 * command (fuzz_proto_worker.c, fuzz_proto_client.c), each result is
 * checked against the invariants the callers rely on, and what a decoder
 * accepts is encoded and decoded again. A violated invariant aborts,
 * which the fuzzer reports. */
#include "fuzz_check.h"

#include <stdint.h>

#define MAX_FRAMES 16
#define ERRLEN FUZZ_ERRLEN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The compact re-serialisation of an accepted body is accepted too. */
static void s_roundtrip(const proto_limits_t *lim, proto_kind_t kind, const proto_frame_t *f,
                        const json_t *body, int cmd)
{
    char *text = json_dumps(body, JSON_COMPACT);
    CHECK(text != NULL);
    size_t len = strlen(text);
    if (len <= lim->max_body_bytes) {
        proto_frame_t g[3] = {f[0], f[1], {text, len}};
        json_t *again = NULL;
        int c2 = 0;
        char err[ERRLEN] = "";
        CHECK(proto_decode(lim, kind, g, 3, &c2, &again, err, sizeof err) == 0);
        CHECK(c2 == cmd && json_equal(body, again));
        json_decref(again);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    proto_kind_t kind = (sel == 'W' || sel == 'w')   ? PROTO_KIND_WORKER
                        : (sel == 'C' || sel == 'c') ? PROTO_KIND_CLIENT
                        : (sel & 1)                  ? PROTO_KIND_WORKER
                                                     : PROTO_KIND_CLIENT;
    bool small = sel == 'w' || sel == 'c' || (sel != 'W' && sel != 'C' && (sel & 2));
    proto_limits_t lim;
    proto_limits_default(&lim);
    if (small) {
        lim.max_body_bytes = 4096;
        lim.max_payload_bytes = 64;
        lim.max_batch_jobs = 4;
    }

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

    int cmd = 0;
    json_t *body = NULL;
    char err[ERRLEN] = "";
    int rc = proto_decode(&lim, kind, f, nf, &cmd, &body, err, sizeof err);
    /* the tree-free decoders, where the coordinator and the worker try
     * them: after the frames' check, for SUBMIT, DONE and JOB */
    int head = 0;
    if (proto_decode_head(kind, f, nf, &head, NULL, 0) == 0) {
        if (kind == PROTO_KIND_CLIENT && head == PROTO_C_SUBMIT)
            fuzz_submit_scan(&f[2], body, &lim);
        if (kind == PROTO_KIND_WORKER && head == PROTO_W_DONE)
            fuzz_done_scan(&f[2], body, &lim);
        if (kind == PROTO_KIND_WORKER && head == PROTO_W_JOB)
            fuzz_jobs_scan(&f[2], body, &lim);
    }
    if (rc != 0) {
        fuzz_check_err(rc, err);
        CHECK(rc == ORCH_EPROTO || rc == ORCH_ETOOBIG);
        CHECK(body == NULL);
        return 0;
    }
    CHECK(nf == 3 && json_is_object(body));
    CHECK(kind == PROTO_KIND_WORKER ? proto_wcmd_name(cmd) != NULL : proto_ccmd_name(cmd) != NULL);
    fuzz_worker_bodies(body, &lim);
    fuzz_client_bodies(body, &lim);
    s_roundtrip(&lim, kind, f, body, cmd);
    json_decref(body);
    return 0;
}
