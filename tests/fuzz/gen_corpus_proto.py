#!/usr/bin/env python3
"""Writes the seed corpora of the codec's fuzz drivers: corpus_proto/
(fuzz_proto), corpus_event/ (fuzz_event) and corpus_encode/ (fuzz_encode).

Input layouts: fuzz_proto.c takes one selector byte ('W'/'C' worker or
client with default limits, 'w'/'c' with tiny limits), then the frames
separated by NUL bytes; fuzz_event.c one byte ('e': tiny body limit), then
[topic] [protocol] [body] separated by NUL bytes; fuzz_encode.c one seed
byte, then up to six strings separated by NUL bytes. Re-run after changing
the protocol; the output is committed."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus_proto")
OUT_EVENT = os.path.join(HERE, "corpus_event")
OUT_ENCODE = os.path.join(HERE, "corpus_encode")


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
    "w_done_call": w("DONE", {"jobs": [{"id": 42, "attempt": 1, "result": {},
                                       "call": {"downstream": "http://127.0.0.1:11434",
                                                "outcome": "ok", "ms": 41}}]}),
    "w_fail_call": w("FAIL", {"jobs": [{"id": 42, "attempt": 1, "error": "429",
                                       "call": {"downstream": "http://m:7700",
                                                "outcome": "throttled", "ms": 3,
                                                "retry_after_ms": 1000}}]}),
    "bad_call_outcome": w("DONE", {"jobs": [{"id": 1, "attempt": 1,
                                            "call": {"downstream": "d", "outcome": "slow",
                                                     "ms": 1}}]}),
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
    # the tree-free SUBMIT path (proto_submit_scan): white space, escapes,
    # UTF-8, every field it reads; then bodies it leaves to jansson
    "c_submit_scan": c("SUBMIT", ' {"req" : {"n": [1, "a"]}, "jobs": [ {"queue":"default",'
                       '"type":"noop", "tenant":"acme", "priority":9, "max_attempts":1000,'
                       '"timeout_ms":2147483647, "idempotency_key":"k\\"\\\\\\n\u00e9",'
                       '"delay_ms":1500, "payload":{ "t" : "caf\u00e9 \\t", "n":[-1, true,'
                       'null, {}] }}, {"queue":"q","type":"t","run_at_us":999999999999999999}]}\n'),
    "c_submit_scan_real": c("SUBMIT", '{"jobs":[{"queue":"q","type":"t","payload":{"x":1.5}}]}'),
    "c_submit_scan_dup": c("SUBMIT", '{"jobs":[{"queue":"q","type":"t","payload":{"a":{"b":1,'
                           '"b":2}}}]}'),
    "w_done_scan": w("DONE", ' {"jobs" : [ {"id":42, "attempt":1, "result": {"v": [1, "a\\tb",'
                     ' null]}}, {"attempt":2,"id":43,"result":null}, {"id":44,"attempt":1}],'
                     ' "req":7}'),
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
    # worker protocol, per-entry JOB rules: one entry cannot be answered,
    # the others fail or run on their own
    "w_job_entries": w("JOB", {"jobs": [
        {"id": 1, "attempt": 1, "type": "noop"},
        {"id": 2, "attempt": 1, "type": "noop", "payload": None},
        {"attempt": 1, "type": "noop"},
        {"id": 4, "attempt": 1, "payload": {}},
        {"id": 5, "attempt": 1, "type": "noop", "payload": [1]},
        {"id": 6, "attempt": 1, "type": "noop", "queue": "a b"},
        {"id": 7, "attempt": 1, "type": "noop", "timeout_ms": 0},
        {"id": 8, "attempt": 1, "type": "noop", "prio": 1},
        [8]]}),
    "w_welcome_empty": w("WELCOME", "{}"),
    "bad_welcome_range": w("WELCOME", {"heartbeat_ms": 5, "liveness": 101,
                                       "max_message_bytes": 1}),
    "w_cancel_long_reason": w("CANCEL", {"id": 1, "attempt": 2,
                                         "reason": "line one\nline two " + "\u00e9" * 200}),
    "bad_cancel_no_attempt": w("CANCEL", {"id": 1}),
    "w_error_no_message": w("ERROR", {"code": "reconnect"}),
    "bad_error_code": w("ERROR", {"code": "Re connect"}),
    "w_bye_false": w("BYE", {"drain": False}),
    "bad_bye_null": w("BYE", {"drain": None}),
    "bad_heartbeat_field": w("HEARTBEAT", {"x": 1}),
    "w_hello_no_running": w("HELLO", {"name": "w", "queues": ["q"], "types": ["t"], "slots": 1}),
    "w_welcome_acks": w("WELCOME", {"heartbeat_ms": 1000, "liveness": 3,
                                    "max_message_bytes": 16777216, "acks": True}),
    "bad_welcome_acks": w("WELCOME", {"acks": 1}),
    "w_ack": w("ACK", {"jobs": [{"id": 42, "attempt": 1}, {"id": 43, "attempt": 2}]}),
    "w_ack_req": w("ACK", {"req": 1, "jobs": [{"id": 9007199254740991,
                                              "attempt": 2147483647}]}),
    "bad_ack_entry": w("ACK", {"jobs": [{"id": 42, "attempt": 1}, {"id": 0, "attempt": 1}]}),
    "bad_ack_field": w("ACK", {"jobs": [{"id": 42, "attempt": 1, "result": None}]}),
    "small_ack_over": msg("w", "ORCHW1", "ACK", json.dumps(
        {"jobs": [{"id": i, "attempt": 1} for i in range(1, 7)]})),
    # client protocol: every request and REPLY
    "c_get_history": c("GET", {"id": 101, "history": True, "req": "g1"}),
    "bad_get_history": c("GET", {"id": 101, "history": 1}),
    "bad_list_state": c("LIST", {"state": "lost", "limit": 10001}),
    "c_queues": c("QUEUES", "{}"),
    "c_sched_list": c("SCHEDULES", {"action": "list"}),
    "c_sched_default": c("SCHEDULES", "{}"),
    "c_sched_add": c("SCHEDULES", {"action": "add", "name": "nightly", "cron": "0 3 * * *",
                                   "queue": "maintenance", "type": "compact",
                                   "payload": {"older_than": "1h"}, "priority": 5,
                                   "max_attempts": 3, "paused": True}),
    "c_sched_every": c("SCHEDULES", {"action": "add", "name": "tick", "cron": "@every 10m",
                                     "queue": "q", "type": "t"}),
    "bad_sched_cron": c("SCHEDULES", {"action": "add", "name": "n", "cron": "0 25 * * *",
                                      "queue": "q", "type": "t"}),
    "bad_sched_field": c("SCHEDULES", {"action": "remove", "name": "n", "cron": "@daily"}),
    "c_sched_pause": c("SCHEDULES", {"action": "pause", "name": "nightly"}),
    "c_reply_error": c("REPLY", {"status": 503, "error": "database unavailable", "req": [1]}),
    "c_reply_existing": c("REPLY", {"status": 200, "ids": [3, 4], "existing": [False, True]}),
    "bad_reply_existing": c("REPLY", {"status": 200, "ids": [3], "existing": [1]}),
    "c_reply_stats": c("REPLY", {"status": 200, "database": "up", "queues": {"default": {
        "waiting": 0, "scheduled": 1, "queued": 3, "running": 1, "succeeded": 10, "dead": 0,
        "cancelled": 0, "paused": False}}}),
    "c_reply_state": c("REPLY", {"status": 200, "state": "running", "cancel_requested": True}),
    "c_event_body": c("REPLY", {"id": 42, "queue": "bulk", "type": "index", "event": "started",
                                "state": "running", "attempt": 1, "at_us": 1795341600123456,
                                "worker": "host-1"}),
}


def ev(body, topic="bulk", proto="ORCHE1", sel="E"):
    frames = [topic, proto, body if isinstance(body, (str, bytes)) else json.dumps(body)]
    return msg(sel, *frames)


EVENT = {"id": 42, "queue": "bulk", "type": "index", "event": "started", "state": "running",
         "attempt": 1, "at_us": 1795341600123456, "worker": "host-1"}
EVENT_SEEDS = {
    "started": ev(EVENT),
    "submitted_no_worker": ev({"id": 43, "queue": "default", "type": "embed",
                               "event": "submitted", "state": "queued", "attempt": 0,
                               "at_us": 1795341600200000}, topic="default"),
    "worker_escape": ev(dict(EVENT, worker="host\u001b1")),
    "stale_result": ev(dict(EVENT, event="stale_result", state="succeeded", attempt=3)),
    "small_limit": ev(EVENT, sel="e"),
    "small_over": ev(dict(EVENT, worker="w" * 60, type="t" * 60, queue="bulk"), sel="e"),
    "bad_two_frames": msg("E", "bulk", "ORCHE1"),
    "bad_four_frames": msg("E", "bulk", "ORCHE1", "{}", "{}"),
    "bad_protocol": ev(EVENT, proto="ORCHX9"),
    "bad_topic": ev(EVENT, topic="bulk2"),
    "bad_array": ev("[1]"),
    "bad_json": ev('{"id":'),
    "bad_dup": ev('{"id":1,"id":2}'),
    "bad_state": ev(dict(EVENT, state="lost")),
    "bad_event_name": ev(dict(EVENT, event="Started!")),
    "bad_field": ev(dict(EVENT, detail={})),
    "bad_attempt": ev(dict(EVENT, attempt=-1)),
    "bad_worker_empty": ev(dict(EVENT, worker="")),
}


def enc(seed, *strings):
    return bytes([seed]) + b"\0".join(x if isinstance(x, bytes) else x.encode() for x in strings)


ENCODE_SEEDS = {
    "plain": enc(1, "connection refused", "host-1", "default", "noop", "k1", "queued"),
    "valid_names": enc(2, "ok", "w", "q", "t", "started", "running"),
    "libpq_message": enc(3, 'ERROR:  relation "jobs" does not exist\nLINE 1: SELECT\n', "x"),
    "bad_utf8": enc(4, b"caf\xc3 \xff\xfe \xed\xa0\x80 \xf4\x90\x80\x80", b"\xc3\xa9"),
    "controls": enc(5, "\x01\x1b[31m\t\r\n \"quoted\" back\\slash  \n\n"),
    "long": enc(200, "\u00e9" * 3000, "n" * 70, "q" * 64, "t" * 65, "e" * 40, "s"),
    "overlong": enc(6, b"\xc0\xaf \xe0\x80\xaf \xf0\x80\x80\xaf", b"\x80"),
    "cut_multibyte": enc(63, "x" * 61 + "\u20ac\u20ac", "a"),
    "empty": enc(0),
    "seed_only": b"\xff",
}


def write(out, seeds):
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {out}")


def main():
    write(OUT, SEEDS)
    write(OUT_EVENT, EVENT_SEEDS)
    write(OUT_ENCODE, ENCODE_SEEDS)


if __name__ == "__main__":
    main()
