// The views: overview, jobs, one job, workers, schedules. Each is
// render(root, ctx, params) and may return {onEvent(ev), onConnected(), dispose()}.
import { api, canOperate, enc, q } from './api.js';
import {
  h, add, clear, confirmAction, flash, flashError, fmtAgo, forgetRedraw, pretty, relTime, sparkline,
  stateBadge, timeCell, whenReleased,
} from './dom.js';
import { BUCKET_MS, BUCKETS } from './activity.js';

export const STATES = ['waiting', 'scheduled', 'queued', 'running', 'succeeded', 'dead', 'cancelled'];
const ACTIVE = new Set(['waiting', 'scheduled', 'queued', 'running']);

function section(title, ...kids) {
  return h('section', { class: 'panel' }, h('h2', null, title), ...kids);
}

function table(headers, rows, attrs) {
  return h('table', attrs || null,
    h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, rows));
}

function loading(root, what) {
  clear(root);
  add(root, h('p', { class: 'muted' }, 'Loading ' + what + '…'));
}

function failed(root, e) {
  clear(root);
  add(root, h('p', { class: 'error', 'data-testid': 'view-error' }, (e && e.message) || String(e)));
}

// Runs fn at most once per ms, the last call winning (a burst of events
// makes one request).
function debounce(fn, ms) {
  let t = null;
  const d = () => {
    if (t) return;
    t = setTimeout(() => {
      t = null;
      fn();
    }, ms);
  };
  d.cancel = () => clearTimeout(t);
  return d;
}

// A button asking for confirmation, then calling the API; reports the
// outcome (the problem detail on failure) and calls after().
function actionButton(label, question, run, after, attrs) {
  const btn = h('button', Object.assign({ type: 'button' }, attrs || {}), label);
  btn.addEventListener('click', async () => {
    if (!(await confirmAction(question, label))) return;
    btn.disabled = true;
    try {
      const msg = await run();
      flash('ok', msg);
    } catch (e) {
      flashError(e);
    } finally {
      btn.disabled = false;
      if (after) after();
    }
  });
  return btn;
}

// ---------------------------------------------------------------- overview

export function overview(root, ctx) {
  let queues = null;
  let err = null;
  const refresh = async () => {
    try {
      queues = (await api('GET', '/v1/queues')).queues || [];
      err = null;
    } catch (e) {
      err = e;
    }
    whenReleased(draw);
  };
  const soon = debounce(refresh, 250);

  function draw() {
    clear(root);
    if (err && !queues) {
      failed(root, err);
      return;
    }
    const act = ctx.activity;
    const totals = {};
    for (const s of STATES) totals[s] = (queues || []).reduce((a, x) => a + (x[s] || 0), 0);
    const cards = h('div', { class: 'cards' }, STATES.map((s) => h('a',
      { class: 'card st-' + s, href: '#/jobs' + q({ state: s }), 'data-testid': 'total-' + s },
      h('span', { class: 'num' }, String(totals[s])), h('span', { class: 'lbl' }, s))));

    const sums = act.sums('');
    const minutes = (BUCKETS * BUCKET_MS) / 60000;
    const rate = (queues || []).reduce((a, x) => a + (x.rate_1m || 0), 0);
    const spark = h('div', { class: 'sparks' },
      h('figure', null,
        sparkline(act.throughput(''), {
          testid: 'spark-throughput', cls: 'ok', total: sums.ok,
          label: 'succeeded per second, ' + BUCKET_MS / 1000 + ' s buckets',
        }),
        h('figcaption', null, 'Throughput: ',
          h('strong', { 'data-testid': 'throughput-now' }, rate.toFixed(2) + '/s'),
          ' finished over the last minute; ' + sums.ok + ' succeeded in the last ' + minutes + ' min')),
      h('figure', null,
        sparkline(act.failureRate(''), {
          testid: 'spark-failures', cls: 'fail', total: sums.fail, max: 1,
          label: 'failed attempts / finished attempts per bucket',
        }),
        h('figcaption', null, 'Failure rate: ',
          h('strong', { 'data-testid': 'failure-rate' },
            (sums.ok + sums.fail ? Math.round((100 * sums.fail) / (sums.ok + sums.fail)) : 0) + '%'),
          ' of ' + (sums.ok + sums.fail) + ' finished attempts in the last ' + minutes + ' min')),
      h('p', { class: 'muted small' }, 'Sparklines: ' + BUCKET_MS / 1000 + '-second buckets of the live event stream, ' +
        (Date.now() - act.since < BUCKETS * BUCKET_MS ? 'since this page opened ' + fmtAgo(Date.now() - act.since) : 'last ' + minutes + ' min') + '.'));

    const op = canOperate();
    const rows = (queues || []).map((x) => h('tr', { 'data-queue-row': x.name },
      h('th', { scope: 'row' }, h('a', { href: '#/jobs' + q({ queue: x.name }) }, x.name),
        x.paused ? h('span', { class: 'badge paused', 'data-testid': 'paused' }, 'paused') : null),
      STATES.map((s) => h('td', { class: 'n' },
        h('a', {
          href: '#/jobs' + q({ queue: x.name, state: s }), 'data-queue': x.name, 'data-state': s,
          class: x[s] ? 'nz' : 'zero',
        }, String(x[s] || 0)))),
      h('td', { class: 'n' }, (x.rate_1m || 0).toFixed(2)),
      h('td', null, sparkline(act.throughput(x.name), {
        width: 120, height: 24, cls: 'ok', total: act.sums(x.name).ok,
        testid: 'spark-queue', label: x.name + ': succeeded per second',
      })),
      h('td', null, op ? (x.paused
        ? actionButton('Resume', 'Resume queue "' + x.name + '"? Its jobs will be dispatched again.',
          async () => {
            await api('POST', '/v1/queues/' + enc(x.name) + '/resume');
            return 'Queue ' + x.name + ' resumed';
          }, refresh, { 'data-action': 'resume-queue', 'data-queue': x.name })
        : actionButton('Pause', 'Pause queue "' + x.name + '"? It keeps accepting jobs but dispatches none.',
          async () => {
            await api('POST', '/v1/queues/' + enc(x.name) + '/pause');
            return 'Queue ' + x.name + ' paused';
          }, refresh, { 'data-action': 'pause-queue', 'data-queue': x.name, class: 'danger' }))
        : null)));

    const recent = act.recent.slice(0, 15).map((ev) => h('li', { 'data-testid': 'recent-event', 'data-job': ev.id, 'data-event': ev.event },
      h('span', { class: 'muted' }, typeof ev.at_us === 'number' ? new Date(ev.at_us / 1000).toLocaleTimeString() : ''), ' ',
      h('a', { href: '#/jobs/' + Number(ev.id) }, '#' + ev.id), ' ',
      String(ev.queue), '/', String(ev.type), ' ', h('strong', null, String(ev.event)), ' → ', stateBadge(ev.state),
      ev.worker ? h('span', { class: 'muted' }, ' on ' + ev.worker) : null));

    add(root, [
      h('h1', null, 'Overview'),
      err ? h('p', { class: 'error' }, 'Last refresh failed: ' + err.message) : null,
      cards,
      section('Activity (live)', spark),
      section('Queues',
        queues && queues.length
          ? table(['queue', ...STATES, 'done/s (1 min)', 'live', ''], rows, { class: 'queues', 'data-testid': 'queues' })
          : h('p', { class: 'muted' }, 'No queues yet.')),
      section('Recent events',
        recent.length ? h('ol', { class: 'events' }, recent) : h('p', { class: 'muted' }, 'No events since the page loaded.')),
    ]);
  }

  loading(root, 'queues');
  refresh();
  const tick = setInterval(() => { if (queues) whenReleased(draw); }, BUCKET_MS); // slide the sparklines
  return {
    onEvent: () => soon(),
    onConnected: () => soon(),
    dispose: () => {
      clearInterval(tick);
      soon.cancel();
      forgetRedraw(draw);
    },
  };
}

// ---------------------------------------------------------------- jobs

const pagesBack = new Map(); // filter -> stack of cursors of the pages before

export function jobs(root, ctx, params) {
  const filter = {
    queue: params.get('queue') || '',
    type: params.get('type') || '',
    state: params.get('state') || '',
    error: params.get('error') || '',
    tenant: params.get('tenant') || '',
    limit: params.get('limit') || '50',
  };
  const cursor = params.get('cursor') || '';
  const fkey = JSON.stringify(filter);
  if (!pagesBack.has(fkey)) pagesBack.set(fkey, []);
  const back = pagesBack.get(fkey);
  if (!cursor) back.length = 0;
  const go = (f, cur) => { location.hash = '#/jobs' + q(Object.assign({}, f, { cursor: cur || '' })); };

  const input = (name, label, attrs) => h('label', null, label,
    h('input', Object.assign({ name, value: filter[name], 'data-filter': name }, attrs || {})));
  const form = h('form', { class: 'filters', 'data-testid': 'job-filters' },
    input('queue', 'queue', { list: 'queue-names', placeholder: 'any', size: 12 }),
    input('type', 'type', { placeholder: 'any', size: 12 }),
    h('label', null, 'state', h('select', { name: 'state', 'data-filter': 'state' },
      h('option', { value: '' }, 'any'),
      STATES.map((s) => h('option', { value: s, selected: s === filter.state }, s)))),
    input('error', 'error contains', { placeholder: 'text', size: 16 }),
    input('tenant', 'tenant', { placeholder: 'any', size: 10 }),
    h('label', null, 'per page', h('select', { name: 'limit', 'data-filter': 'limit' },
      [...new Set(['10', '25', '50', '100', '500', filter.limit])].sort((a, b) => a - b)
        .map((n) => h('option', { value: n, selected: n === filter.limit }, n)))),
    h('button', { type: 'submit', 'data-testid': 'apply-filters' }, 'Apply'),
    h('button', { type: 'button', onclick: () => go({ limit: filter.limit }) }, 'Clear'),
    h('datalist', { id: 'queue-names' }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const f = {};
    for (const k of Object.keys(filter)) f[k] = String(fd.get(k) || '').trim();
    go(f, '');
  });
  api('GET', '/v1/queues').then((d) => {
    const dl = form.querySelector('#queue-names');
    for (const x of d.queues || []) dl.append(h('option', { value: x.name }));
  }).catch(() => {});

  const list = h('div', { 'data-testid': 'job-list' }, h('p', { class: 'muted' }, 'Loading jobs…'));
  const bulk = h('div', { class: 'bulk' });
  clear(root);
  add(root, [h('h1', null, 'Jobs'), form, bulk, list]);

  if (canOperate()) drawBulk();

  function drawBulk() {
    const state = filter.state || 'dead';
    let why = '';
    if (state !== 'dead' && state !== 'cancelled') why = 'Bulk retry applies to dead or cancelled jobs: choose one of these states.';
    else if (filter.error) why = 'Bulk retry cannot filter by error text: clear "error contains" to retry by queue and type.';
    const scope = state + ' jobs' + (filter.queue ? ' of queue ' + filter.queue : '') + (filter.type ? ' of type ' + filter.type : '') +
      (filter.tenant ? ' of tenant ' + filter.tenant : '');
    const btn = h('button', { type: 'button', 'data-action': 'bulk-retry', disabled: !!why }, 'Retry all ' + scope + '…');
    btn.addEventListener('click', async () => {
      const sel = { state };
      if (filter.queue) sel.queue = filter.queue;
      if (filter.type) sel.type = filter.type;
      if (filter.tenant) sel.tenant = filter.tenant;
      btn.disabled = true;
      try {
        const dry = await api('POST', '/v1/jobs:retry', Object.assign({ dry_run: true, limit: 1000 }, sel));
        if (!dry.matched) {
          flash('ok', 'No ' + scope + ' to retry.');
          return;
        }
        const n = dry.matched + (dry.more ? '+' : '');
        const ok = await confirmAction('Retry ' + n + ' ' + scope + '?' +
          (dry.more ? ' (more match: the newest ' + dry.matched + ' are retried; run again for the rest)' : ''),
        'Retry ' + dry.matched);
        if (!ok) return;
        // at most the count confirmed, newest first like the dry run
        const r = await api('POST', '/v1/jobs:retry', Object.assign({ limit: dry.matched }, sel));
        const fails = (r.failed || []).map((f) => '#' + f.id + ' ' + f.status + ' ' + f.error);
        flash(fails.length ? 'error' : 'ok', 'Retried ' + (r.retried || 0) + ' of ' + r.matched + ' ' + scope +
          (fails.length ? '; failed: ' + fails.join('; ') : '') + (r.more ? ' (more remain)' : ''));
        load();
      } catch (e) {
        flashError(e);
      } finally {
        btn.disabled = false;
      }
    });
    add(bulk, [btn, why ? h('span', { class: 'muted' }, ' ' + why) : null]);
  }

  async function load() {
    let d;
    try {
      d = await api('GET', '/v1/jobs' + q(Object.assign({}, filter, { cursor })));
    } catch (e) {
      failed(list, e);
      return;
    }
    const rows = (d.jobs || []).map((j) => h('tr', { 'data-job': j.id, 'data-state': j.state },
      h('td', { class: 'n' }, h('a', { href: '#/jobs/' + Number(j.id) }, '#' + j.id)),
      h('td', null, stateBadge(j.state)),
      h('td', null, String(j.queue)),
      h('td', null, String(j.type)),
      h('td', null, h('a', { href: '#/jobs' + q({ tenant: j.tenant || 'default' }), 'data-testid': 'job-tenant' },
        String(j.tenant || 'default'))),
      h('td', { class: 'n' }, j.attempt + '/' + j.max_attempts),
      h('td', { class: 'n' }, String(j.priority)),
      h('td', { class: 'err', title: j.error || undefined, 'data-testid': 'job-error' }, j.error || ''),
      h('td', null, h('span', { title: j.created_at }, relTime(j.created_at))),
      h('td', null, h('span', { title: j.updated_at }, relTime(j.updated_at)))));
    const nav = h('div', { class: 'pager' },
      h('button', { type: 'button', disabled: !cursor, 'data-testid': 'first-page', onclick: () => go(filter, '') }, '« First'),
      h('button', {
        type: 'button', disabled: !cursor, 'data-testid': 'prev-page',
        onclick: () => { back.pop(); go(filter, back.length ? back[back.length - 1] : ''); },
      }, '‹ Newer'),
      h('button', {
        type: 'button', disabled: !d.next_cursor, 'data-testid': 'next-page',
        onclick: () => { back.push(d.next_cursor); go(filter, d.next_cursor); },
      }, 'Older ›'),
      h('span', { class: 'muted', 'data-testid': 'page-info' },
        ' ' + rows.length + ' job' + (rows.length === 1 ? '' : 's') + (cursor ? ' (page ' + (back.length + 1) + ')' : '')));
    clear(list);
    add(list, rows.length
      ? [table(['id', 'state', 'queue', 'type', 'tenant', 'attempt', 'prio', 'error', 'created', 'updated'], rows,
        { class: 'jobs', 'data-testid': 'jobs-table' }), nav]
      : [h('p', { class: 'muted', 'data-testid': 'no-jobs' }, 'No jobs match.'), nav]);
  }
  load();
  return {};
}

// ---------------------------------------------------------------- one job

export function job(root, ctx, params, id) {
  const reload = debounce(() => whenReleased(load), 200);
  loading(root, 'job #' + id);

  async function load() {
    let d;
    try {
      d = await api('GET', '/v1/jobs/' + id + '?history=1');
    } catch (e) {
      failed(root, e);
      return;
    }
    const j = d.job;
    const actions = h('div', { class: 'actions' });
    if (canOperate()) {
      if (j.state === 'dead' || j.state === 'cancelled') {
        actions.append(actionButton('Retry', 'Retry job #' + j.id + ' (' + j.state + ')? It goes back to queued.',
          async () => {
            const r = await api('POST', '/v1/jobs/' + j.id + '/retry');
            return 'Job #' + j.id + ' retried: ' + r.state;
          }, reload, { 'data-action': 'retry' }));
      }
      if (ACTIVE.has(j.state)) {
        actions.append(actionButton('Cancel', 'Cancel job #' + j.id + ' (' + j.state + ')?',
          async () => {
            const r = await api('POST', '/v1/jobs/' + j.id + '/cancel');
            return 'Job #' + j.id + (r.cancel_requested ? ': cancellation requested' : ' cancelled');
          }, reload, { 'data-action': 'cancel', class: 'danger' }));
      }
    }
    const field = (k, v) => [h('dt', null, k), h('dd', { 'data-field': k }, v)];
    const dl = h('dl', { class: 'fields' },
      field('state', stateBadge(j.state)),
      field('queue', h('a', { href: '#/jobs' + q({ queue: j.queue }) }, String(j.queue))),
      field('type', String(j.type)),
      field('tenant', h('a', { href: '#/jobs' + q({ tenant: j.tenant || 'default' }) }, String(j.tenant || 'default'))),
      field('priority', String(j.priority)),
      field('attempt', j.attempt + ' of ' + j.max_attempts),
      field('worker', j.worker || '—'),
      field('progress', j.progress === null || j.progress === undefined ? '—'
        : [h('progress', { max: 100, value: j.progress }), ' ' + j.progress + '%']),
      field('timeout', j.timeout_ms + ' ms'),
      field('idempotency key', j.idempotency_key || '—'),
      field('run at', timeCell(j.run_at)),
      field('created', timeCell(j.created_at)),
      field('started', timeCell(j.started_at)),
      field('finished', timeCell(j.finished_at)),
      field('updated', timeCell(j.updated_at)));
    const hist = (d.history || []).map((e, i) => h('tr', { 'data-testid': 'history-row', 'data-event': e.event },
      h('td', { class: 'n' }, String(i + 1)),
      h('td', null, timeCell(e.at)),
      h('td', null, h('strong', null, String(e.event))),
      h('td', { class: 'n' }, e.attempt === null ? '—' : String(e.attempt)),
      h('td', null, e.worker || '—'),
      h('td', null, e.detail ? h('code', null, JSON.stringify(e.detail)) : '')));
    clear(root);
    add(root, [
      h('h1', null, 'Job #' + j.id + ' ', stateBadge(j.state)),
      h('p', null, h('a', { href: '#/jobs' }, '← all jobs')),
      actions,
      h('div', { class: 'jobgrid' },
        section('Details', dl),
        section('Payload', h('pre', { 'data-testid': 'payload' }, pretty(j.payload)))),
      j.error ? section('Error', h('pre', { class: 'error', 'data-testid': 'error' }, String(j.error))) : null,
      section('Result', j.result === null || j.result === undefined
        ? h('p', { class: 'muted', 'data-testid': 'result' }, 'none')
        : h('pre', { 'data-testid': 'result' }, pretty(j.result))),
      section('History', table(['#', 'at', 'event', 'attempt', 'worker', 'detail'], hist,
        { class: 'history', 'data-testid': 'history' })),
    ]);
  }
  load();
  return {
    onEvent: (ev) => { if (Number(ev.id) === Number(id)) reload(); },
    onConnected: () => reload(),
    dispose: () => {
      reload.cancel();
      forgetRedraw(load);
    },
  };
}

// ---------------------------------------------------------------- workers

export function workers(root) {
  async function load() {
    let d;
    let running = [];
    try {
      [d, running] = await Promise.all([
        api('GET', '/v1/workers'),
        // which jobs each worker runs (the worker list has only the count)
        api('GET', '/v1/jobs?state=running&limit=1000').then((r) => r.jobs || [], () => []),
      ]);
    } catch (e) {
      failed(root, e);
      return;
    }
    const byWorker = new Map();
    for (const j of running) {
      if (!byWorker.has(j.worker)) byWorker.set(j.worker, []);
      byWorker.get(j.worker).push(j);
    }
    const jobLinks = (name) => {
      const js = byWorker.get(name) || [];
      return js.length ? h('div', { class: 'small', 'data-testid': 'running-jobs' },
        js.slice(0, 8).map((j) => [h('a', { href: '#/jobs/' + Number(j.id), title: j.queue + '/' + j.type }, '#' + j.id), ' ']),
        js.length > 8 ? '+' + (js.length - 8) + ' more' : null) : null;
    };
    const ws = d.workers || [];
    const rows = ws.map((w) => h('tr', { 'data-worker': w.name },
      h('th', { scope: 'row' }, String(w.name)),
      h('td', null, w.version || '—'),
      h('td', null, (w.queues || []).join(', ')),
      h('td', { class: 'types' }, (w.types || []).join(', ')),
      h('td', { class: 'n', 'data-field': 'slots' }, String(w.slots)),
      h('td', { 'data-field': 'running' }, h('meter', { min: 0, max: w.slots, value: w.running }), ' ' + w.running, jobLinks(w.name)),
      h('td', { 'data-field': 'heartbeat', title: w.idle_ms + ' ms' }, fmtAgo(w.idle_ms)),
      h('td', null, h('span', { title: String(w.connected_at_us) }, fmtAgo(Date.now() - w.connected_at_us / 1000))),
      h('td', { 'data-field': 'draining' }, w.draining ? h('span', { class: 'badge st-dead' }, 'draining') : 'no'),
      h('td', { class: 'n', 'data-field': 'jobs_done' }, String(w.jobs_done))));
    clear(root);
    add(root, [
      h('h1', null, 'Workers'),
      h('p', { class: 'muted' }, ws.length + ' connected; ' +
        ws.reduce((a, w) => a + w.running, 0) + ' of ' + ws.reduce((a, w) => a + w.slots, 0) + ' slots busy'),
      ws.length ? table(['name', 'version', 'queues', 'types', 'slots', 'running', 'last heartbeat', 'connected', 'draining', 'done'],
        rows, { class: 'workers', 'data-testid': 'workers-table' })
        : h('p', { class: 'muted' }, 'No workers connected.'),
    ]);
  }
  loading(root, 'workers');
  load();
  const t = setInterval(() => whenReleased(load), 2000);
  return { dispose: () => { clearInterval(t); forgetRedraw(load); } };
}

// ---------------------------------------------------------------- schedules

export function schedules(root) {
  async function load() {
    let d;
    try {
      d = await api('GET', '/v1/schedules');
    } catch (e) {
      failed(root, e);
      return;
    }
    const ss = d.schedules || [];
    const op = canOperate();
    const rows = ss.map((s) => h('tr', { 'data-schedule': s.name },
      h('th', { scope: 'row' }, String(s.name), s.paused ? h('span', { class: 'badge paused', 'data-testid': 'paused' }, 'paused') : null),
      h('td', null, h('code', null, String(s.cron))),
      h('td', null, String(s.queue)),
      h('td', null, String(s.type)),
      h('td', { 'data-field': 'next_run_at' }, s.paused ? h('span', { class: 'muted' }, 'paused') : timeCell(s.next_run_at)),
      h('td', null, timeCell(s.last_run_at)),
      h('td', null, s.last_job_id ? h('a', { href: '#/jobs/' + Number(s.last_job_id) }, '#' + s.last_job_id) : '—'),
      h('td', null, String(s.source)),
      h('td', null, op ? (s.paused
        ? actionButton('Resume', 'Resume schedule "' + s.name + '"?', async () => {
          await api('POST', '/v1/schedules/' + enc(s.name) + '/resume');
          return 'Schedule ' + s.name + ' resumed';
        }, load, { 'data-action': 'resume-schedule', 'data-schedule': s.name })
        : actionButton('Pause', 'Pause schedule "' + s.name + '"? It will not fire until resumed.', async () => {
          await api('POST', '/v1/schedules/' + enc(s.name) + '/pause');
          return 'Schedule ' + s.name + ' paused';
        }, load, { 'data-action': 'pause-schedule', 'data-schedule': s.name, class: 'danger' })) : null)));
    clear(root);
    add(root, [
      h('h1', null, 'Schedules'),
      ss.length ? table(['name', 'cron (UTC)', 'queue', 'type', 'next run', 'last run', 'last job', 'source', ''], rows,
        { class: 'schedules', 'data-testid': 'schedules-table' })
        : h('p', { class: 'muted' }, 'No schedules.'),
    ]);
  }
  loading(root, 'schedules');
  load();
  const t = setInterval(() => whenReleased(load), 10000);
  return { dispose: () => { clearInterval(t); forgetRedraw(load); } };
}
