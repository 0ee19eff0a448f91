#!/usr/bin/python3
"""CTest bench.smoke: orch-bench runs every mode to completion against the
in-memory fake coordinator (fake_coord.py) and prints well-formed JSON lines;
against nothing it gives up within --max-seconds and exits 1. Asserts no
figures (the fake's figures mean nothing).

usage: smoke_test.py ORCH_BENCH"""
import json, os, subprocess, sys, tempfile, time

BENCH = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))


def run(args, timeout=60):
    p = subprocess.run([BENCH] + args, capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith('{')]
    return p.returncode, lines, p.stderr


def check_complete(mode, args, ep, n_expected):
    rc, lines, err = run([mode] + args + ep)
    assert rc == 0, '%s %s: exit %d\n%s' % (mode, args, rc, err)
    assert len(lines) == 1, lines
    r = lines[0]
    assert r['mode'] == mode and r['op'] == mode and r['peer'] == 'orchestrator', r
    assert r['n'] == n_expected, r
    assert not r.get('partial'), r
    assert r['wall_s'] > 0, r
    assert r['coordinator_peak_rss_mb'] is not None, r
    if mode == 'latency':
        assert r['samples'] > 0 and r['p50_ms'] > 0 and r['p99_ms'] >= r['p50_ms'], r
    else:
        assert r['jobs_per_s'] > 0, r
    if mode in ('drain', 'e2e', 'fleet'):
        assert r['done_jobs_per_s'] > 0 and r['params']['redelivered'] == 0, r
    return r


def check_fleet(ep):
    """20 one-slot workers: every figure is there and the per-worker counts
    add up to n (the fake dispatches every job once)."""
    r = check_complete('fleet', ['--workers', '20', '--n', '600', '--idle-seconds', '0.5'], ep, 600)
    assert r['params']['workers'] == 20 and r['params']['reregistered'] == 0, r
    for k in ('idle_cpu_pct', 'drain_cpu_pct', 'jobs_per_worker_mean', 'jobs_per_worker_stddev',
              'jain_index', 'idle_heartbeats_per_s'):
        assert isinstance(r[k], (int, float)) and r[k] >= 0, (k, r)
    assert r['jobs_per_worker_min'] <= r['jobs_per_worker_max'], r
    assert abs(r['jobs_per_worker_mean'] * 20 - 600) < 1e-6, r
    assert 0 <= r['workers_without_jobs'] <= 20 and 0 < r['jain_index'] <= 1 + 1e-9, r


def main():
    with tempfile.TemporaryDirectory() as d:
        cep, wep = 'ipc://%s/c.sock' % d, 'ipc://%s/w.sock' % d
        fake = subprocess.Popen([sys.executable, os.path.join(HERE, 'fake_coord.py'),
                                 '--client', cep, '--worker', wep, '--commit-delay-ms', '2'])
        try:
            time.sleep(0.5)
            ep = ['--client', cep, '--worker', wep, '--max-seconds', '30',
                  '--coord-pid', str(fake.pid)]
            check_complete('enqueue', ['--n', '300', '--producers', '3'], ep, 300)
            r = check_complete('enqueue', ['--n', '2500', '--batch', '1000', '--pipeline', '2'], ep, 2500)
            assert r['variant'] == 'batch 1000, pipeline 2', r
            r = check_complete('drain', ['--n', '1000', '--slots', '6'], ep, 1000)
            assert r['params']['worker_connections'] == 4, r
            check_complete('e2e', ['--n', '300', '--slots', '2', '--pipeline', '8'], ep, 300)
            check_complete('latency', ['--rate', '200', '--seconds', '1.5', '--warmup', '0.5'], ep, 300)
            r = check_complete('rss-backlog', ['--n', '12000'], ep, 12000)
            assert r['params']['queued_after'] == 12000, r
            check_fleet(ep)
        finally:
            fake.kill()
            fake.wait()
        # Nobody listening: bounded (subprocess timeout), partial, exit 1.
        # --no-reset-hwm: without --coord-pid, orch-bench would take the one
        # orchestratord that runs on this machine (pidof), someone else's,
        # and reset its peak RSS.
        rc, lines, err = run(['drain', '--n', '10', '--client', cep, '--worker', wep,
                              '--max-seconds', '2', '--no-reset-hwm'], timeout=30)
        assert rc == 1 and lines and lines[0]['partial'] and 'no reply' in lines[0]['failure'], (rc, lines, err)
        rc, _, _ = run(['nonsense'])
        assert rc == 2
    print('bench.smoke: ok')


if __name__ == '__main__':
    main()
