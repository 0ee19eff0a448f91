// What the live event stream has shown since the page loaded: finished and
// failed attempts per 5-second bucket (overall and per queue) for the
// sparklines, and the most recent events.
export const BUCKET_MS = 5000;
export const BUCKETS = 60; // five minutes

const FAILURES = new Set(['failed', 'timeout', 'lost']);

export class Activity {
  constructor() {
    this.total = {}; // queue ('' = all) -> Map(bucket -> {ok, fail})
    this.recent = [];
    this.seen = { ok: 0, fail: 0, events: 0 };
    this.since = Date.now();
  }

  record(ev) {
    this.seen.events++;
    this.recent.unshift(ev);
    if (this.recent.length > 50) this.recent.length = 50;
    let kind = null;
    if (ev.event === 'succeeded') kind = 'ok';
    else if (FAILURES.has(ev.event) || (ev.event === 'dead' && ev.attempt > 0)) kind = 'fail';
    if (!kind) return;
    this.seen[kind]++;
    const at = typeof ev.at_us === 'number' ? ev.at_us / 1000 : Date.now();
    const b = Math.floor(at / BUCKET_MS);
    for (const key of ['', String(ev.queue || '')]) {
      if (!this.total[key]) this.total[key] = new Map();
      const m = this.total[key];
      const cell = m.get(b) || { ok: 0, fail: 0 };
      cell[kind]++;
      m.set(b, cell);
      for (const old of m.keys()) if (old < b - BUCKETS * 2) m.delete(old);
    }
  }

  // [{ok, fail}] for the last BUCKETS buckets, oldest first
  series(queue) {
    const m = this.total[queue || ''] || new Map();
    const now = Math.floor(Date.now() / BUCKET_MS);
    const out = [];
    for (let b = now - BUCKETS + 1; b <= now; b++) out.push(m.get(b) || { ok: 0, fail: 0 });
    return out;
  }

  throughput(queue) {
    return this.series(queue).map((c) => c.ok / (BUCKET_MS / 1000));
  }

  failureRate(queue) {
    return this.series(queue).map((c) => (c.ok + c.fail ? c.fail / (c.ok + c.fail) : 0));
  }

  sums(queue) {
    return this.series(queue).reduce((a, c) => ({ ok: a.ok + c.ok, fail: a.fail + c.fail }), { ok: 0, fail: 0 });
  }
}
