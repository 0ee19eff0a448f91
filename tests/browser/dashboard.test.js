#!/usr/bin/env node
// The dashboard in Debian's headless chromium (playwright-core, no browser
// download), against a real cluster that test_dashboard.py started.
//
// Env: ORCH_URL (http://127.0.0.1:PORT), ORCH_TOKEN_OPERATE (token "ops",
// role operate), ORCH_TOKEN_SUBMIT (token "viewer", role submit),
// ORCH_SCREENSHOT_DIR, ORCH_CHROMIUM (default /usr/bin/chromium).
//
// Each step asserts what the page shows against what the API says:
//  1 without a token the page asks for one; with "ops" it shows ops/operate,
//    keeps the token in sessionStorage and sets no cookie
//  2 overview: queue webq shows succeeded 3 / dead 2 (3 noop + 2 permanent
//    fail jobs), parked shows queued 1
//  3 live: a job submitted after the page loaded is counted without a reload
//    (succeeded 4), its event is listed, the throughput sparkline counts it
//  4 reconnect: after the stream is dropped, the reconnect carries
//    Last-Event-ID = the last id seen and the missed job's events are replayed
//  5 jobs list: state/queue filters, error text filter, cursor paging (3 per
//    page: every job once, newest first, Newer goes back)
//  6 job page: payload, result, and the history in the API's order
//    (submitted < started < succeeded)
//  7 a payload holding <script>/<img onerror> shows as text; window.__pwned
//    stays undefined and no element is created from it
//  8 retry from the job page: cancelling the dialog does nothing; confirming
//    retries (API: a retried event by ops)
//  9 errors: the API's problem detail is shown (404 job page, 400 filter,
//    the same 400 on a bulk dry run)
// 10 bulk retry: the dry run's count is in the dialog; confirm retries both
// 11 pause/resume of queue webq (API: paused true/false; a job submitted
//    while paused stays queued, then runs)
// 12 schedules: next run as the API says; pause/resume through the UI
// 13 workers: w1 with its slots, heartbeat, not draining, jobs done; a
//    running sleep job is listed on w1, its page shows progress, Cancel
//    through the UI requests cancellation and the page follows it to cancelled
// 14 every /v1 request carried Authorization: Bearer, none a cookie
// 15 read-only ("viewer", submit): counts shown, no action button anywhere,
//    the API's state unchanged
// and no Content-Security-Policy violation or page error in any page.
//
// ORCH_SCENARIO=open (a server without a tokens file): without a token the
// dashboard is the local admin: counts shown, pause/resume of a queue works,
// no request carries an Authorization header.
'use strict';

const path = require('path');
const { chromium } = require('playwright-core');

const BASE = process.env.ORCH_URL;
const OPS = process.env.ORCH_TOKEN_OPERATE;
const VIEWER = process.env.ORCH_TOKEN_SUBMIT;
const SHOTS = process.env.ORCH_SCREENSHOT_DIR || path.join(process.cwd(), 'screenshots');
const CHROMIUM = process.env.ORCH_CHROMIUM || '/usr/bin/chromium';
const SCENARIO = process.env.ORCH_SCENARIO || 'tokens';
if (!BASE || (SCENARIO === 'tokens' && (!OPS || !VIEWER))) {
  console.error('dashboard.test.js: ORCH_URL, ORCH_TOKEN_OPERATE and ORCH_TOKEN_SUBMIT are required');
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const T0 = Date.now();
const log = (m) => console.log('[%s s] %s', ((Date.now() - T0) / 1000).toFixed(1), m);

function check(cond, msg) {
  if (!cond) throw new Error('check failed: ' + msg);
}

async function until(fn, what, timeout = 15000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = 'threw ' + e.message;
    }
    if (Date.now() > end) throw new Error('timed out after ' + timeout + ' ms waiting for ' + what + ' (last: ' + JSON.stringify(last) + ')');
    await sleep(100);
  }
}

async function http(method, p, body, token = OPS) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(BASE + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function submit(jobs) {
  const r = await http('POST', '/v1/jobs', { jobs });
  check(r.status === 201, 'submit: ' + r.status + ' ' + JSON.stringify(r.body));
  return r.body.ids;
}

async function job(id) {
  const r = await http('GET', '/v1/jobs/' + id + '?history=1');
  check(r.status === 200, 'GET job ' + id + ': ' + r.status);
  return r.body;
}

const TERMINAL = new Set(['succeeded', 'dead', 'cancelled']);
async function waitState(id, states, what) {
  return until(async () => {
    const d = await job(id);
    return states.includes(d.job.state) ? d : false;
  }, what || 'job ' + id + ' to be ' + states.join('/'), 20000);
}
const waitTerminal = (ids) => Promise.all(ids.map((id) => waitState(id, [...TERMINAL])));

async function queue(name) {
  const r = await http('GET', '/v1/queues');
  return (r.body.queues || []).find((x) => x.name === name);
}

const shots = [];
async function shot(page, name, what) {
  const file = path.join(SHOTS, name + '.png');
  await page.screenshot({ path: file, fullPage: true });
  shots.push([file, what]);
}

// A page whose console errors (CSP violations among them) and uncaught
// exceptions are collected, and whose /v1 requests are recorded.
async function newPage(browser, label) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  page.problems = [];
  page.requests = [];
  page.on('console', (m) => {
    if (m.type() === 'error') page.problems.push(label + ' console: ' + m.text());
  });
  page.on('pageerror', (e) => page.problems.push(label + ' pageerror: ' + e.message));
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.pathname.startsWith('/v1/')) page.requests.push({ path: u.pathname, headers: req.headers(), method: req.method() });
  });
  return page;
}

// text of a locator, '' when absent
async function text(loc) {
  return (await loc.count()) ? (await loc.first().textContent()).trim() : '';
}

const cell = (page, q, s) => page.locator(`a[data-queue="${q}"][data-state="${s}"]`);

async function confirmDialog(page, expect, accept = true, shotName = null) {
  const dlg = page.locator('[data-testid=confirm]');
  await dlg.waitFor({ state: 'visible', timeout: 5000 });
  const t = await text(page.locator('[data-testid=confirm-text]'));
  check(expect.test(t), 'confirm dialog says ' + JSON.stringify(t) + ', expected ' + expect);
  if (shotName) await shot(page, shotName, 'the confirmation dialog: ' + t);
  await page.click(accept ? '[data-testid=confirm-ok]' : '[data-testid=confirm-cancel]');
  await dlg.waitFor({ state: 'hidden', timeout: 5000 });
  return t;
}

async function flashText(page, kind) {
  return until(async () => {
    const f = page.locator('[data-testid=flash]');
    if (!(await f.isVisible()) || (await f.getAttribute('data-kind')) !== kind) return false;
    return text(f);
  }, 'a ' + kind + ' message', 10000);
}

async function historyEvents(page) {
  return page.locator('[data-testid=history-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event')));
}

async function main() {
  // ---- data: 3 noop + 2 permanent failures in webq, a hostile payload in
  // parked (no worker serves it: it stays queued), one schedule
  const okIds = await submit([1, 2, 3].map((i) => ({ queue: 'webq', type: 'noop', payload: { n: i } })));
  const deadIds = await submit([
    { queue: 'webq', type: 'fail', payload: { permanent: true, message: 'disk on fire <b>bold</b>' } },
    { queue: 'webq', type: 'fail', payload: { permanent: true, message: 'quota exceeded' } },
  ]);
  const XSS = '<script>window.__pwned=1</script>';
  const IMG = '<img src=x onerror="window.__pwned=2">';
  const [xssId] = await submit([{ queue: 'parked', type: 'noop', payload: { note: XSS, img: IMG } }]);
  const sch = await http('POST', '/v1/schedules', { name: 'nightly-report', cron: '0 3 * * *', queue: 'default', type: 'noop' });
  check(sch.status === 201, 'add schedule: ' + sch.status + ' ' + JSON.stringify(sch.body));
  await waitTerminal([...okIds, ...deadIds]);
  for (const id of okIds) check((await job(id)).job.state === 'succeeded', 'noop ' + id + ' succeeded');
  for (const id of deadIds) check((await job(id)).job.state === 'dead', 'fail ' + id + ' dead');
  log('data: ok ' + okIds + ', dead ' + deadIds + ', xss ' + xssId);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
  const steps = [];
  const step = async (name, fn) => {
    const t = Date.now();
    await fn();
    steps.push(name);
    log('ok ' + steps.length + ' - ' + name + ' (' + (Date.now() - t) + ' ms)');
  };
  let page;
  let ro;
  try {
    page = await newPage(browser, 'ops');

    await step('token: required, then ops/operate in sessionStorage, no cookie', async () => {
      await page.goto(BASE + '/');
      await page.locator('[data-testid=auth-required]').waitFor({ timeout: 10000 });
      check(/A token is required/.test(await text(page.locator('[data-testid=auth-required]'))), 'asks for a token');
      check((await text(page.locator('[data-testid=whoami]'))) === 'no token', 'whoami says no token');
      await page.fill('#token-input', OPS);
      await page.click('#token-save');
      await until(async () => (await text(page.locator('[data-testid=whoami]'))) === 'ops · operate', 'whoami ops · operate');
      check((await text(page.locator('[data-testid=mode]'))) === 'operator', 'mode operator');
      const st = await page.evaluate(() => ({ tok: sessionStorage.getItem('orch.token'), cookie: document.cookie, local: localStorage.length }));
      check(st.tok === OPS && st.cookie === '' && st.local === 0, 'token in sessionStorage only: ' + JSON.stringify({ cookie: st.cookie, local: st.local }));
      check((await page.inputValue('#token-input')) === '', 'the token field is emptied after use');
    });

    await step('overview: webq succeeded 3 / dead 2, parked queued 1', async () => {
      await until(async () => (await text(cell(page, 'webq', 'succeeded'))) === '3', 'webq succeeded 3');
      check((await text(cell(page, 'webq', 'dead'))) === '2', 'webq dead 2');
      for (const s of ['queued', 'running', 'cancelled', 'waiting', 'scheduled']) check((await text(cell(page, 'webq', s))) === '0', 'webq ' + s + ' 0');
      check((await text(cell(page, 'parked', 'queued'))) === '1', 'parked queued 1');
      const q = await queue('webq');
      check(q.succeeded === 3 && q.dead === 2, 'API agrees: ' + JSON.stringify(q));
      await until(async () => (await page.locator('[data-testid=stream]').getAttribute('data-state')) === 'live', 'event stream live');
    });

    let liveId;
    await step('live: a job submitted after load is counted without reload', async () => {
      await page.evaluate(() => { window.__marker = 'same-document'; });
      [liveId] = await submit([{ queue: 'webq', type: 'noop', payload: { live: true } }]);
      await until(async () => (await text(cell(page, 'webq', 'succeeded'))) === '4', 'webq succeeded 4 (live)');
      check((await page.evaluate(() => window.__marker)) === 'same-document', 'the page was not reloaded');
      await page.locator(`[data-testid=recent-event][data-job="${liveId}"][data-event="succeeded"]`).waitFor({ timeout: 5000 });
      await until(async () => Number(await page.locator('[data-testid=spark-throughput]').getAttribute('data-total')) >= 1, 'throughput sparkline counts the live job');
      check(/^\d+(\.\d+)?\/s$/.test(await text(page.locator('[data-testid=throughput-now]'))), 'throughput figure');
      await shot(page, 'overview', 'overview: counts per queue and state, live sparklines, recent events (operator)');
    });

    await step('reconnect: Last-Event-ID = last id seen, missed events replayed', async () => {
      const before = page.requests.length;
      const last = await page.evaluate(() => { window.orchDashboard.reconnectEvents(3000); return window.orchDashboard.lastEventId(); });
      check(/^\d+$/.test(last || ''), 'a last event id: ' + last);
      await until(async () => (await page.locator('[data-testid=stream]').getAttribute('data-state')) !== 'live', 'stream dropped');
      const [missed] = await submit([{ queue: 'webq', type: 'noop', payload: { missed: true } }]);
      await waitState(missed, ['succeeded']);
      if ((await page.locator('[data-testid=stream]').getAttribute('data-state')) !== 'live') {
        check((await page.locator(`[data-testid=recent-event][data-job="${missed}"]`).count()) === 0, 'no event of the missed job while disconnected');
      }
      await page.locator(`[data-testid=recent-event][data-job="${missed}"][data-event="succeeded"]`).waitFor({ timeout: 10000 });
      await page.locator(`[data-testid=recent-event][data-job="${missed}"][data-event="submitted"]`).waitFor({ timeout: 1000 });
      const re = page.requests.slice(before).filter((r) => r.path === '/v1/events');
      check(re.length >= 1, 'a new /v1/events request');
      check(re[0].headers['last-event-id'] === last, 'Last-Event-ID ' + re[0].headers['last-event-id'] + ', expected ' + last);
      await until(async () => (await text(cell(page, 'webq', 'succeeded'))) === '5', 'webq succeeded 5');
    });

    await step('jobs: filters by state, queue, error text and tenant; cursor paging', async () => {
      await page.goto(BASE + '/#/jobs?queue=webq&state=dead');
      const rows = page.locator('[data-testid=jobs-table] tbody tr');
      await until(async () => (await rows.count()) === 2, '2 dead jobs listed');
      const listed = await rows.evaluateAll((rs) => rs.map((r) => [Number(r.getAttribute('data-job')), r.getAttribute('data-state')]));
      check(JSON.stringify(listed) === JSON.stringify([[deadIds[1], 'dead'], [deadIds[0], 'dead']]), 'dead jobs newest first: ' + JSON.stringify(listed));
      const errs = await page.locator('[data-testid=job-error]').allTextContents();
      check(errs.includes('disk on fire <b>bold</b>') && errs.includes('quota exceeded'), 'errors shown as text: ' + JSON.stringify(errs));
      await page.fill('[data-filter=error]', 'quota');
      await page.click('[data-testid=apply-filters]');
      await until(async () => (await rows.count()) === 1 && (await rows.first().getAttribute('data-job')) === String(deadIds[1]), 'error filter keeps the quota job');
      check(/error=quota/.test(page.url()), 'the filter is in the URL: ' + page.url());
      const tenants = await page.locator('[data-testid=job-tenant]').allTextContents();
      check(JSON.stringify(tenants) === '["default"]', 'the tenant column: ' + JSON.stringify(tenants));
      await page.goto(BASE + '/#/jobs?queue=webq&state=dead&tenant=other');
      await page.locator('[data-testid=no-jobs]').waitFor({ timeout: 10000 });
      check((await page.inputValue('[data-filter=tenant]')) === 'other', 'the tenant filter is shown');

      const all = (await http('GET', '/v1/jobs?queue=webq&limit=100')).body.jobs.map((j) => j.id);
      check(all.length === 7, 'API lists 7 webq jobs: ' + all);
      await page.goto(BASE + '/#/jobs?queue=webq&limit=3');
      const seen = [];
      const pages = [];
      for (let i = 0; ; i++) {
        await until(async () => {
          const ids = await rows.evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-job'))));
          return ids.length && !pages.some((p) => p[0] === ids[0]) ? ids : false;
        }, 'page ' + (i + 1));
        const ids = await rows.evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-job'))));
        pages.push(ids);
        seen.push(...ids);
        if (await page.locator('[data-testid=next-page]').isDisabled()) break;
        check(i < 5, 'too many pages');
        await page.click('[data-testid=next-page]');
      }
      check(JSON.stringify(pages.map((p) => p.length)) === '[3,3,1]', 'pages of 3,3,1: ' + JSON.stringify(pages));
      check(JSON.stringify(seen) === JSON.stringify(all), 'paging shows every job once, newest first: ' + seen + ' vs ' + all);
      await page.click('[data-testid=prev-page]');
      await until(async () => (await rows.first().getAttribute('data-job')) === String(pages[1][0]), 'Newer goes back to page 2');
      await page.goto(BASE + '/#/jobs?queue=webq');
      await until(async () => (await rows.count()) === 7, '7 webq jobs');
      await shot(page, 'jobs', 'jobs list of queue webq with filters, bulk retry and paging');
    });

    await step('job page: payload, result, history in order', async () => {
      const id = okIds[0];
      await page.goto(BASE + '/#/jobs/' + id);
      await page.locator('[data-testid=history-row]').first().waitFor({ timeout: 10000 });
      const api = await job(id);
      const evs = await historyEvents(page);
      check(JSON.stringify(evs) === JSON.stringify(api.history.map((e) => e.event)), 'history as the API: ' + evs);
      const [a, b, c] = ['submitted', 'started', 'succeeded'].map((e) => evs.indexOf(e));
      check(a === 0 && a < b && b < c, 'submitted < started < succeeded: ' + evs);
      check(JSON.parse(await text(page.locator('[data-testid=payload]'))).n === 1, 'payload shown');
      check((await text(page.locator('[data-field=state]'))) === 'succeeded', 'state succeeded');
      check((await text(page.locator('[data-field=worker]'))) === 'w1', 'worker w1');
      check((await text(page.locator('[data-field=attempt]'))) === '1 of ' + api.job.max_attempts, 'attempt');
      check((await page.locator('[data-action]').count()) === 0, 'no retry/cancel for a succeeded job');
      await shot(page, 'job', 'job page of a succeeded noop: fields, payload, result, audit trail');
    });

    await step('hostile payload shows as text, runs nothing', async () => {
      await page.goto(BASE + '/#/jobs/' + xssId);
      const pre = page.locator('[data-testid=payload]');
      await pre.waitFor({ timeout: 10000 });
      const t = await text(pre);
      check(t.includes(XSS) && t.includes('<img src=x onerror=\\"window.__pwned=2\\">'), 'payload literal: ' + t);
      const r = await page.evaluate(() => ({
        pwned: typeof window.__pwned,
        scripts: document.querySelectorAll('main script, main img').length,
      }));
      check(r.pwned === 'undefined' && r.scripts === 0, 'nothing ran or was created: ' + JSON.stringify(r));
      check((await page.locator('[data-action=cancel]').count()) === 1, 'a queued job offers Cancel to an operator');
    });

    await step('retry through the UI: dialog cancel does nothing, confirm retries', async () => {
      const id = deadIds[0];
      await page.goto(BASE + '/#/jobs/' + id);
      await page.locator('[data-action=retry]').waitFor({ timeout: 10000 });
      await page.click('[data-action=retry]');
      await confirmDialog(page, new RegExp('Retry job #' + id + ' \\(dead\\)'), false);
      await sleep(300);
      const still = await job(id);
      check(still.job.state === 'dead' && !still.history.some((e) => e.event === 'retried'), 'cancelled dialog: still dead, not retried');
      await page.click('[data-action=retry]');
      await confirmDialog(page, /Retry job/);
      check(/retried: queued/.test(await flashText(page, 'ok')), 'success shown');
      const d = await until(async () => {
        const x = await job(id);
        return x.history.some((e) => e.event === 'retried') ? x : false;
      }, 'a retried event');
      const ev = d.history.find((e) => e.event === 'retried');
      check(ev.detail && ev.detail.actor === 'ops', 'retried by ops: ' + JSON.stringify(ev));
      await waitState(id, ['dead'], 'the retried fail job to be dead again');
      // the page follows the job live: retried, started, dead appear
      await until(async () => {
        const evs = await historyEvents(page);
        return evs.includes('retried') && evs.lastIndexOf('dead') > evs.indexOf('retried');
      }, 'the job page to show the retry and the new attempt');
    });

    await step('errors show the API problem detail', async () => {
      const nf = await http('GET', '/v1/jobs/987654321');
      check(nf.status === 404 && nf.body.detail, 'API 404');
      await page.goto(BASE + '/#/jobs/987654321');
      const e = page.locator('[data-testid=view-error]');
      await e.waitFor({ timeout: 10000 });
      const t = await text(e);
      check(t.includes('404') && t.includes(nf.body.detail), '404 page shows ' + JSON.stringify(t));
      const bad = await http('GET', '/v1/jobs?queue=' + encodeURIComponent('no such!') + '&state=dead');
      check(bad.status === 400, 'API 400 for a bad queue name: ' + bad.status);
      await page.goto(BASE + '/#/jobs?queue=' + encodeURIComponent('no such!') + '&state=dead');
      await until(async () => (await text(page.locator('[data-testid=view-error]'))).includes(bad.body.detail), 'the 400 detail in the list');
      const dry = await http('POST', '/v1/jobs:retry', { state: 'dead', queue: 'no such!', dry_run: true, limit: 1000 });
      check(dry.status === 400, 'API 400 for a bulk dry run with a bad queue');
      await page.click('[data-action=bulk-retry]');
      const f = await flashText(page, 'error');
      check(f.includes('400') && f.includes(dry.body.detail), 'bulk error shows the detail: ' + f);
    });

    await step('bulk retry: dry-run count in the dialog, then retried', async () => {
      await waitTerminal(deadIds);
      const dry = await http('POST', '/v1/jobs:retry', { queue: 'webq', state: 'dead', dry_run: true });
      check(dry.body.matched === 2, 'API dry run matches 2: ' + JSON.stringify(dry.body));
      await page.goto(BASE + '/#/jobs?queue=webq&state=dead');
      await page.locator('[data-testid=jobs-table]').waitFor({ timeout: 10000 });
      const before = await Promise.all(deadIds.map(async (id) => (await job(id)).history.filter((e) => e.event === 'retried').length));
      await page.click('[data-action=bulk-retry]');
      await confirmDialog(page, /^Retry 2 dead jobs of queue webq\?/, true, 'confirm-bulk-retry');
      check(/Retried 2 of 2 dead jobs of queue webq/.test(await flashText(page, 'ok')), 'bulk result shown');
      for (const [i, id] of deadIds.entries()) {
        const h = await job(id);
        check(h.history.filter((e) => e.event === 'retried').length === before[i] + 1, 'job ' + id + ' retried once more');
      }
      await waitTerminal(deadIds);
    });

    await step('pause and resume queue webq through the UI', async () => {
      await page.goto(BASE + '/#/');
      const pause = page.locator('button[data-action=pause-queue][data-queue=webq]');
      await pause.waitFor({ timeout: 10000 });
      await pause.click();
      await confirmDialog(page, /Pause queue "webq"/);
      await until(async () => (await queue('webq')).paused === true, 'API: webq paused');
      await page.locator('[data-queue-row=webq] [data-testid=paused]').waitFor({ timeout: 5000 });
      const [held] = await submit([{ queue: 'webq', type: 'noop' }]);
      await until(async () => (await text(cell(page, 'webq', 'queued'))) === '1', 'the held job counted as queued (live)');
      await sleep(500);
      check((await job(held)).job.state === 'queued', 'a paused queue dispatches nothing');
      await page.click('button[data-action=resume-queue][data-queue=webq]');
      await confirmDialog(page, /Resume queue "webq"/);
      await until(async () => (await queue('webq')).paused === false, 'API: webq resumed');
      await waitState(held, ['succeeded']);
      await until(async () => (await text(cell(page, 'webq', 'succeeded'))) === '6' && (await text(cell(page, 'webq', 'queued'))) === '0', 'webq succeeded 6, queued 0');
      check((await page.locator('[data-queue-row=webq] [data-testid=paused]').count()) === 0, 'paused badge gone');
    });

    await step('schedules: next run as the API; pause and resume', async () => {
      const api = (await http('GET', '/v1/schedules')).body.schedules.find((s) => s.name === 'nightly-report');
      check(api && api.next_run_at, 'API schedule with a next run');
      await page.goto(BASE + '/#/schedules');
      const row = page.locator('tr[data-schedule=nightly-report]');
      await row.waitFor({ timeout: 10000 });
      check((await text(row.locator('code'))) === '0 3 * * *', 'cron shown');
      check((await row.locator('[data-field=next_run_at] time').getAttribute('datetime')) === api.next_run_at, 'next run as the API');
      check(/\(in .+\)/.test(await text(row.locator('[data-field=next_run_at]'))), 'next run relative time');
      await shot(page, 'schedules', 'schedules with cron, next run (local time and relative), pause buttons');
      await row.locator('button[data-action=pause-schedule]').click();
      await confirmDialog(page, /Pause schedule "nightly-report"/);
      await until(async () => (await http('GET', '/v1/schedules')).body.schedules.find((s) => s.name === 'nightly-report').paused, 'API: schedule paused');
      await row.locator('[data-testid=paused]').waitFor({ timeout: 5000 });
      await row.locator('button[data-action=resume-schedule]').click();
      await confirmDialog(page, /Resume schedule/);
      await until(async () => !(await http('GET', '/v1/schedules')).body.schedules.find((s) => s.name === 'nightly-report').paused, 'API: schedule resumed');
    });

    await step('workers: w1 slots, heartbeat, draining, jobs done', async () => {
      await page.goto(BASE + '/#/workers');
      const row = page.locator('tr[data-worker=w1]');
      await row.waitFor({ timeout: 10000 });
      const w = (await http('GET', '/v1/workers')).body.workers.find((x) => x.name === 'w1');
      check((await text(row.locator('[data-field=slots]'))) === String(w.slots) && w.slots === 2, 'slots 2');
      check((await text(row.locator('[data-field=draining]'))) === 'no', 'not draining');
      check(/^\d+(\.\d)? (ms|s) ago$/.test(await text(row.locator('[data-field=heartbeat]'))), 'heartbeat age shown');
      const done = Number(await text(row.locator('[data-field=jobs_done]')));
      // jobs_done counts the worker's successes: the 6 noop jobs of webq
      check(done >= 6 && done <= w.jobs_done, 'jobs done ' + done + ' (API ' + w.jobs_done + ')');
      check((await text(row)).includes('noop'), 'types listed');
    });

    await step('running job: on its worker, progress, cancel through the UI', async () => {
      const [sl] = await submit([{ queue: 'webq', type: 'sleep', payload: { ms: 30000 } }]);
      await waitState(sl, ['running']);
      const row = page.locator('tr[data-worker=w1]');
      await page.locator(`tr[data-worker=w1] [data-testid=running-jobs] a[href="#/jobs/${sl}"]`).waitFor({ timeout: 10000 });
      check(/^\s*1\b/.test(await text(row.locator('[data-field=running]'))), 'w1 runs 1: ' + await text(row.locator('[data-field=running]')));
      await shot(page, 'workers', 'workers: w1 with slots, a running job, last heartbeat, draining, jobs done');
      await page.click(`a[href="#/jobs/${sl}"]`);
      await page.locator('[data-action=cancel]').waitFor({ timeout: 10000 });
      check((await text(page.locator('[data-field=state]'))) === 'running', 'job page: running');
      await until(async () => {
        const api = (await job(sl)).job.progress;
        return api > 0 && (await page.locator('[data-field=progress] progress').count()) === 1 ? api : false;
      }, 'progress reported');
      await page.click('[data-action=cancel]');
      await confirmDialog(page, new RegExp('Cancel job #' + sl + ' \\(running\\)'));
      check(/cancellation requested/.test(await flashText(page, 'ok')), 'cancel requested shown');
      await waitState(sl, ['cancelled']);
      await until(async () => (await text(page.locator('[data-field=state]'))) === 'cancelled', 'the page shows cancelled (live)');
      const evs = await historyEvents(page);
      check(evs[evs.length - 1] === 'cancelled', 'history ends cancelled: ' + evs);
      check((await page.locator('[data-action=retry]').count()) === 1, 'a cancelled job offers Retry');
    });

    await step('every /v1 request carried the bearer token, none a cookie', async () => {
      const after = page.requests.filter((r) => r.path !== '/v1/whoami' || r.headers.authorization);
      check(after.length > 10, 'requests recorded: ' + after.length);
      const first = page.requests.findIndex((r) => r.headers.authorization);
      const bad = page.requests.slice(first).filter((r) => r.headers.authorization !== 'Bearer ' + OPS || r.headers.cookie);
      check(first >= 0 && bad.length === 0, 'requests without the token: ' + JSON.stringify(bad.slice(0, 3).map((r) => r.path)));
      check(page.requests.some((r) => r.path === '/v1/events' && r.headers.authorization === 'Bearer ' + OPS), 'the event stream is authenticated');
    });

    ro = await newPage(browser, 'viewer');
    await step('read-only token: data shown, no actions anywhere', async () => {
      await ro.goto(BASE + '/');
      await ro.fill('#token-input', VIEWER);
      await ro.click('#token-save');
      await until(async () => (await text(ro.locator('[data-testid=whoami]'))) === 'viewer · submit', 'whoami viewer · submit');
      check((await text(ro.locator('[data-testid=mode]'))) === 'read-only', 'mode read-only');
      const q = await queue('webq');
      await until(async () => (await text(cell(ro, 'webq', 'succeeded'))) === String(q.succeeded), 'counts shown read-only');
      check((await ro.locator('button[data-action]').count()) === 0, 'no pause buttons on the overview');
      const dead = deadIds[1];
      const hist0 = (await job(dead)).history.length;
      await ro.goto(BASE + '/#/jobs/' + dead);
      await ro.locator('[data-testid=history-row]').first().waitFor({ timeout: 10000 });
      check((await text(ro.locator('[data-field=state]'))) === 'dead', 'dead job shown');
      check((await ro.locator('[data-action]').count()) === 0, 'no retry button for a submit token');
      await shot(ro, 'job-readonly', 'read-only (submit token) job page of a dead job: no Retry button');
      await ro.goto(BASE + '/#/jobs/' + xssId);
      await ro.locator('[data-testid=payload]').waitFor({ timeout: 10000 });
      check((await ro.locator('[data-action]').count()) === 0, 'no cancel button for a submit token');
      await ro.goto(BASE + '/#/jobs?queue=webq&state=dead');
      await ro.locator('[data-testid=jobs-table]').waitFor({ timeout: 10000 });
      check((await ro.locator('[data-action]').count()) === 0, 'no bulk retry for a submit token');
      await ro.goto(BASE + '/#/schedules');
      await ro.locator('tr[data-schedule=nightly-report]').waitFor({ timeout: 10000 });
      check((await ro.locator('[data-action]').count()) === 0, 'no schedule pause for a submit token');
      const d = await job(dead);
      check(d.job.state === 'dead' && d.history.length === hist0, 'the dead job is unchanged');
      check((await queue('webq')).paused === false, 'webq still running');
      // the server refuses it too (the dashboard is not the only guard)
      const r = await ro.evaluate(async (id) => (await fetch('/v1/jobs/' + id + '/retry', {
        method: 'POST', headers: { Authorization: 'Bearer ' + sessionStorage.getItem('orch.token') },
      })).status, dead);
      check(r === 403, 'the API answers 403 to the submit token: ' + r);
    });

    await step('no CSP violation or page error', async () => {
      const problems = [...page.problems, ...ro.problems]
        .filter((p) => !/status of 40[0134]/.test(p)); // the 401/404/400 the steps caused on purpose
      check(problems.length === 0, 'page problems:\n  ' + problems.join('\n  '));
    });
  } catch (e) {
    for (const [p, n] of [[page, 'failure-ops'], [ro, 'failure-viewer']]) {
      if (p) await p.screenshot({ path: path.join(SHOTS, n + '.png'), fullPage: true }).catch(() => {});
    }
    console.error('FAIL after ' + steps.length + ' steps: ' + (e.stack || e));
    for (const p of [page, ro]) if (p) for (const x of p.problems) console.error('  ' + x);
    await browser.close();
    console.log(steps.length + ' passed, 1 failed');
    process.exit(1);
  }
  await browser.close();
  for (const [f, what] of shots) console.log('screenshot ' + f + ' - ' + what);
  console.log(steps.length + ' passed, 0 failed');
}

async function mainOpen() {
  const ids = await submit([{ queue: 'default', type: 'noop' }, { queue: 'default', type: 'noop' }]);
  await waitTerminal(ids);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
  let n = 0;
  const page = await newPage(browser, 'open');
  try {
    await page.goto(BASE + '/');
    await until(async () => (await text(page.locator('[data-testid=whoami]'))) === 'local · admin', 'whoami local · admin');
    check((await text(page.locator('[data-testid=mode]'))) === 'operator', 'mode operator');
    check((await page.locator('[data-testid=auth-required]').count()) === 0, 'no token asked for');
    await until(async () => (await text(cell(page, 'default', 'succeeded'))) === '2', 'default succeeded 2');
    n++;
    await page.click('button[data-action=pause-queue][data-queue=default]');
    await confirmDialog(page, /Pause queue "default"/);
    await until(async () => (await queue('default')).paused === true, 'API: default paused');
    await page.click('button[data-action=resume-queue][data-queue=default]');
    await confirmDialog(page, /Resume queue "default"/);
    await until(async () => (await queue('default')).paused === false, 'API: default resumed');
    n++;
    const [live] = await submit([{ queue: 'default', type: 'noop' }]);
    await until(async () => (await text(cell(page, 'default', 'succeeded'))) === '3', 'default succeeded 3 (live)');
    await page.locator(`[data-testid=recent-event][data-job="${live}"][data-event="succeeded"]`).waitFor({ timeout: 5000 });
    n++;
    // A redraw while the button is pressed waits for the release: the click
    // is not swallowed. The press (1.5 s, under the UI's 2 s limit) spans a
    // job's events, whose refresh is due 250 ms after the first.
    const pause = page.locator('button[data-action=pause-queue][data-queue=default]');
    const box = await pause.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    const downAt = Date.now();
    const [pressed] = await submit([{ queue: 'default', type: 'noop' }]);
    await waitTerminal([pressed]);
    await page.waitForTimeout(Math.max(0, 1500 - (Date.now() - downAt)));
    check((await text(cell(page, 'default', 'succeeded'))) === '3', 'no redraw while the button is pressed');
    await page.mouse.up();
    await confirmDialog(page, /Pause queue "default"/, false);
    await until(async () => (await text(cell(page, 'default', 'succeeded'))) === '4', 'default succeeded 4 once released');
    check((await queue('default')).paused === false, 'cancelled: default not paused');
    n++;
    check(page.requests.length > 3 && page.requests.every((r) => !r.headers.authorization && !r.headers.cookie), 'no Authorization header without a token');
    check((await page.evaluate(() => sessionStorage.length)) === 0, 'nothing stored');
    check(page.problems.length === 0, 'page problems:\n  ' + page.problems.join('\n  '));
    n++;
    await shot(page, 'overview-open', 'overview of a server without tokens (local admin)');
  } catch (e) {
    await page.screenshot({ path: path.join(SHOTS, 'failure-open.png'), fullPage: true }).catch(() => {});
    console.error('FAIL: ' + (e.stack || e));
    await browser.close();
    console.log(n + ' passed, 1 failed');
    process.exit(1);
  }
  await browser.close();
  for (const [f, what] of shots) console.log('screenshot ' + f + ' - ' + what);
  console.log(n + ' passed, 0 failed');
}

for (const f of require('fs').readdirSync(SHOTS)) {
  if (/^failure-.*\.png$/.test(f)) require('fs').unlinkSync(path.join(SHOTS, f));
}
(SCENARIO === 'open' ? mainOpen() : main()).catch((e) => {
  console.error(e.stack || e);
  process.exit(1);
});
