#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_proto into corpus_proto/.

Input layout (see fuzz_proto.c): one selector byte ('W'/'C' worker or
client with default limits, 'w'/'c' with tiny limits), then the frames
separated by NUL bytes. Re-run after changing the protocol; the output
is committed."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus_proto")


def msg(sel, *frames):
    parts = [f if isinstance(f, bytes) else f.encode() for f in frames]
    return sel.encode() + b"\0".join(parts)


def w(cmd, body):
    return msg("W", "ORCHW1", cmd, body if isinstance(body, (str, bytes)) else json.dumps(body))


def c(cmd, body):
    return msg("C", "ORCHC1", cmd, body if isinstance(body, (str, bytes)) else json.dumps(body))


JOB = {"queue": "default", "type": "noop"}
SEEDS = {
    # worker protocol, valid
    "w_hello": w("HELLO", {"name": "host-1234", "version": "0.1.0", "queues": ["default"],
                           "types": ["noop", "sleep"], "slots": 4,
                           "running": [{"id": 42, "attempt": 1}]}),
    "w_welcome": w("WELCOME", {"heartbeat_ms": 1000, "liveness": 3,
                               "max_message_bytes": 16777216}),
    "w_job": w("JOB", {"jobs": [{"id": 42, "attempt": 1, "queue": "default", "type": "noop",
                                 "payload": {}, "timeout_ms": 300000}]}),
    "w_progress": w("PROGRESS", {"id": 42, "attempt": 1, "percent": 40,
                                 "message": "embedded 40/100"}),
    "w_done": w("DONE", {"jobs": [{"id": 42, "attempt": 1, "result": {"any": "json"}},
                                  {"id": 43, "attempt": 2, "result": [1, 2.5, None]},
                                  {"id": 44, "attempt": 1}]}),
    "w_fail": w("FAIL", {"jobs": [{"id": 42, "attempt": 1, "error": "connection refused",
                                   "permanent": False, "cancelled": False}]}),
    "w_cancel": w("CANCEL", {"id": 42, "attempt": 1, "reason": "cancelled by operator"}),
    "w_heartbeat": w("HEARTBEAT", "{}"),
    "w_heartbeat_empty": w("HEARTBEAT", ""),
    "w_bye": w("BYE", {"drain": True}),
    "w_error": w("ERROR", {"code": "reconnect", "message": "unknown worker"}),
    # client protocol, valid
    "c_submit": c("SUBMIT", {"req": 1, "jobs": [
        dict(JOB, priority=0, payload={"text": "caf\u00e9", "n": [1, 2]}, max_attempts=3,
             timeout_ms=1000, idempotency_key="k1", run_at_us=1700000000000000,
             depends_on=[7, -2]),
        dict(JOB, delay_ms=500),
        dict(JOB, depends_on=[-1])]}),
    "c_get": c("GET", {"id": 101}),
    "c_list": c("LIST", {"state": "queued", "queue": "default", "limit": 100}),
    "c_cancel": c("CANCEL", {"id": 101}),
    "c_retry": c("RETRY", {"id": 101}),
    "c_pause": c("PAUSE", {"queue": "default"}),
    "c_resume": c("RESUME", {"queue": "default"}),
    "c_stats": c("STATS", "{}"),
    "c_workers": c("WORKERS", "{}"),
    "c_reply": c("REPLY", {"status": 200, "ids": [101, 102]}),
    # tiny limits: batch, payload and body size checks
    "small_submit": msg("c", "ORCHC1", "SUBMIT", json.dumps(
        {"jobs": [dict(JOB, payload={"k": "x" * 40})] * 2})),
    "small_payload_over": msg("c", "ORCHC1", "SUBMIT", json.dumps(
        {"jobs": [dict(JOB, payload={"k": "x" * 80})]})),
    "small_batch_over": msg("w", "ORCHW1", "DONE", json.dumps(
        {"jobs": [{"id": i, "attempt": 1} for i in range(1, 7)]})),
    # broken
    "bad_frames_2": msg("W", "ORCHW1", "HELLO"),
    "bad_frames_4": msg("W", "ORCHW1", "HELLO", "{}", "{}"),
    "bad_protocol": msg("W", "ORCHC1", "HELLO", "{}"),
    "bad_command": c("HELLO", "{}"),
    "bad_json": w("HELLO", '{"name":'),
    "bad_dup_key": w("PROGRESS", '{"id":1,"id":2,"attempt":1,"percent":3}'),
    "bad_not_object": c("SUBMIT", "[1,2]"),
    "bad_cycle": c("SUBMIT", {"jobs": [dict(JOB, depends_on=[-2]), dict(JOB, depends_on=[-1])]}),
    "bad_field": c("SUBMIT", {"jobs": [dict(JOB, prio=1)]}),
    "deep_result": w("DONE", '{"jobs":[{"id":1,"attempt":1,"result":%s%s}]}'
                     % ("[" * 2000, "]" * 2000)),
    "bad_too_deep": w("DONE", '{"jobs":[{"id":1,"attempt":1,"result":%s%s}]}'
                      % ("[" * 2100, "]" * 2100)),
    "bad_utf8": w("FAIL", b'{"jobs":[{"id":1,"attempt":1,"error":"\xc3"}]}'),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")


if __name__ == "__main__":
    main()
