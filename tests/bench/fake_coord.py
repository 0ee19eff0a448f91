#!/usr/bin/python3
"""Minimal in-memory stand-in for orchestratord, for smoke-testing orch-bench
only (no PostgreSQL, no durability, no retries): SUBMIT, STATS, PAUSE,
RESUME, HELLO, credit-based JOB dispatch, DONE, HEARTBEAT, BYE. Never use its figures.

usage: fake_coord.py [--client EP] [--worker EP] [--commit-delay-ms MS]
--commit-delay-ms holds DONE results back before they count as succeeded,
like the coordinator's batched commit (exercises the two figures of drain)."""
import argparse, collections, json, time
import zmq

ap = argparse.ArgumentParser()
ap.add_argument('--client', default='tcp://127.0.0.1:15556')
ap.add_argument('--worker', default='tcp://127.0.0.1:15555')
ap.add_argument('--commit-delay-ms', type=float, default=0)
a = ap.parse_args()

ctx = zmq.Context()
cs = ctx.socket(zmq.ROUTER); cs.bind(a.client)
ws = ctx.socket(zmq.ROUTER); ws.bind(a.worker)
ready = collections.defaultdict(collections.deque)   # queue -> deque of (id, payload)
stats = collections.defaultdict(lambda: collections.Counter())
workers = {}                                         # identity -> dict(queues, slots, held)
paused = set()                                       # queues that dispatch nothing
pending = collections.deque()                        # (due, queue, n) results not yet "committed"
next_id = 1

def reply(env, body, req):
    # every reply echoes the request's "req" (PROTOCOL.md): a pipelining
    # client (liborch) matches replies by it
    if req is not None:
        body['req'] = req
    cs.send_multipart(env + [b'ORCHC1', b'REPLY', json.dumps(body).encode()])

def on_client(frames):
    global next_id
    env, rest = frames[:-3], frames[-3:]
    cmd, body = rest[1].decode(), json.loads(rest[2])
    req = body.get('req')
    if cmd == 'SUBMIT':
        ids = []
        for j in body['jobs']:
            ready[j['queue']].append((next_id, j.get('payload', {})))
            stats[j['queue']]['queued'] += 1
            ids.append(next_id); next_id += 1
        reply(env, {'status': 200, 'ids': ids}, req)
    elif cmd in ('PAUSE', 'RESUME'):
        (paused.add if cmd == 'PAUSE' else paused.discard)(body['queue'])
        reply(env, {'status': 200}, req)
    elif cmd == 'STATS':
        reply(env, {'status': 200, 'queues': {q: dict(c) for q, c in stats.items()}}, req)
    else:
        reply(env, {'status': 400, 'error': 'fake coordinator: unknown command %s' % cmd}, req)

def dispatch():
    for ident, w in workers.items():
        free = w['slots'] - w['held']
        jobs = []
        for q in w['queues']:
            while q not in paused and free > 0 and ready[q]:
                jid, payload = ready[q].popleft(); free -= 1
                stats[q]['queued'] -= 1; stats[q]['running'] += 1
                jobs.append({'id': jid, 'attempt': 1, 'queue': q, 'type': 'noop',
                             'payload': payload, 'timeout_ms': 300000})
                w['q'][jid] = q
        if jobs:
            w['held'] += len(jobs)
            ws.send_multipart([ident, b'ORCHW1', b'JOB', json.dumps({'jobs': jobs}).encode()])

def on_worker(frames):
    ident, cmd, body = frames[0], frames[2].decode(), json.loads(frames[3])
    if cmd == 'HELLO':
        workers[ident] = {'queues': body['queues'], 'slots': body['slots'], 'held': 0, 'q': {}}
        ws.send_multipart([ident, b'ORCHW1', b'WELCOME', b'{"heartbeat_ms":1000,"liveness":3}'])
    elif cmd == 'DONE' and ident in workers:
        w = workers[ident]
        for r in body['jobs']:
            q = w['q'].pop(r['id'])
            w['held'] -= 1
            pending.append((time.monotonic() + a.commit_delay_ms / 1000, q))
    elif cmd == 'BYE':
        workers.pop(ident, None)

poller = zmq.Poller()
poller.register(cs, zmq.POLLIN); poller.register(ws, zmq.POLLIN)
while True:
    ev = dict(poller.poll(5))
    if cs in ev:
        while cs.poll(0): on_client(cs.recv_multipart())
    if ws in ev:
        while ws.poll(0): on_worker(ws.recv_multipart())
    now = time.monotonic()
    while pending and pending[0][0] <= now:
        _, q = pending.popleft()
        stats[q]['running'] -= 1; stats[q]['succeeded'] += 1
    dispatch()
