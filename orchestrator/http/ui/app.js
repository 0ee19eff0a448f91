// The dashboard: token, role, hash routing (#/, #/jobs, #/jobs/42,
// #/workers, #/schedules) and the live event stream shared by the views.
import { canOperate, getToken, session, setToken, whoami } from './api.js';
import { Activity } from './activity.js';
import { add, clear, h, initFlash, initRedraws } from './dom.js';
import { EventStream } from './events.js';
import * as views from './views.js';

const ctx = { activity: new Activity() };
let current = null; // the shown view's {onEvent, onConnected, dispose}

const ROUTES = [
  [/^\/?$/, 'overview', (root, p) => views.overview(root, ctx, p)],
  [/^\/jobs$/, 'jobs', (root, p) => views.jobs(root, ctx, p)],
  [/^\/jobs\/([0-9]{1,19})$/, 'jobs', (root, p, m) => views.job(root, ctx, p, m[1])],
  [/^\/workers$/, 'workers', (root) => views.workers(root, ctx)],
  [/^\/schedules$/, 'schedules', (root) => views.schedules(root, ctx)],
];

function route() {
  const root = document.getElementById('view');
  if (current && current.dispose) current.dispose();
  current = null;
  const raw = location.hash.replace(/^#/, '');
  const qi = raw.indexOf('?');
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const params = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
  let nav = null;
  document.getElementById('flash').hidden = true; // a message belongs to the page it came from
  clear(root);
  if (session.authError) {
    add(root, authNotice());
  } else {
    let found = false;
    for (const [re, name, render] of ROUTES) {
      const m = path.match(re);
      if (!m) continue;
      found = true;
      nav = name;
      current = render(root, params, m) || null;
      break;
    }
    if (!found) add(root, h('p', { class: 'error' }, 'No such page: ', path));
  }
  for (const a of document.querySelectorAll('nav a[data-nav]')) {
    const on = a.getAttribute('data-nav') === nav;
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function authNotice() {
  const e = session.authError;
  const need = e.status === 401;
  return h('section', { class: 'panel notice', 'data-testid': 'auth-required' },
    h('h1', null, need ? (getToken() ? 'Token refused' : 'A token is required') : 'Cannot reach the API'),
    h('p', null, need
      ? 'This server requires a bearer token. Paste one in the Token field above (it is kept in this tab\'s session storage only).'
      : 'The API did not answer.'),
    h('p', { class: 'error' }, e.message));
}

function showWho() {
  const who = document.getElementById('whoami');
  const mode = document.getElementById('mode');
  if (session.role) {
    who.textContent = session.name + ' · ' + session.role;
    mode.textContent = canOperate() ? 'operator' : 'read-only';
    mode.className = 'badge ' + (canOperate() ? 'mode-op' : 'mode-ro');
  } else {
    who.textContent = getToken() ? 'token refused' : 'no token';
    mode.textContent = 'read-only';
    mode.className = 'badge mode-ro';
  }
  document.body.classList.toggle('readonly', !canOperate());
  document.getElementById('token-input').placeholder = getToken() ? 'token set (paste to replace)' : 'paste a bearer token';
}

const stream = new EventStream(
  (ev) => {
    ctx.activity.record(ev);
    if (current && current.onEvent) current.onEvent(ev);
    const s = document.getElementById('stream');
    s.setAttribute('data-last-event-id', stream.lastId || '');
    s.setAttribute('data-events', String(ctx.activity.seen.events));
    s.textContent = 'events: live · last #' + (stream.lastId || '—');
  },
  (state, text) => {
    const s = document.getElementById('stream');
    s.setAttribute('data-state', state);
    s.setAttribute('data-connects', String(stream.connects));
    s.textContent = text + (stream.lastId ? ' · last #' + stream.lastId : '');
  },
  () => {
    if (current && current.onConnected) current.onConnected();
  });

async function signIn() {
  await whoami();
  showWho();
  stream.stop();
  if (!session.authError) stream.start();
  route();
}

function init() {
  initFlash();
  initRedraws();
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = input.value.trim();
    input.value = '';
    if (t) setToken(t);
    signIn();
  });
  document.getElementById('token-forget').addEventListener('click', () => {
    setToken('');
    input.value = '';
    signIn();
  });
  window.addEventListener('hashchange', route);
  // For diagnostics and the browser tests: drop the event stream and resume
  // it (with Last-Event-ID) after delayMs.
  window.orchDashboard = Object.freeze({
    reconnectEvents: (delayMs) => stream.reconnect(delayMs),
    lastEventId: () => stream.lastId,
  });
  signIn();
}

init();
