// DOM helpers. Every text from the API goes in as a text node (textContent):
// never innerHTML, so a payload holding markup shows as that markup's text.

export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  add(el, kids);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  add(el, kids);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

export function add(el, kids) {
  for (const k of [kids].flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// ---- formatting ----

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString();
}

export function fmtAgo(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  const a = Math.abs(ms);
  let s;
  if (a < 1000) s = Math.round(a) + ' ms';
  else if (a < 60000) s = (a / 1000).toFixed(1) + ' s';
  else if (a < 3600000) s = Math.round(a / 60000) + ' min';
  else if (a < 86400000) s = (a / 3600000).toFixed(1) + ' h';
  else s = (a / 86400000).toFixed(1) + ' d';
  return ms >= 0 ? s + ' ago' : 'in ' + s;
}

export function relTime(iso) {
  if (!iso) return '';
  const t = new Date(iso).getTime();
  return Number.isNaN(t) ? '' : fmtAgo(Date.now() - t);
}

export function timeCell(iso) {
  return h('time', { datetime: iso || undefined, title: iso || undefined }, fmtTime(iso),
    iso ? h('span', { class: 'muted' }, ' (' + relTime(iso) + ')') : null);
}

export function stateBadge(state) {
  return h('span', { class: 'badge st-' + String(state).replace(/[^a-z_]/g, ''), 'data-testid': 'state' },
    String(state));
}

export function pretty(value) {
  if (value === undefined) return '';
  try {
    return JSON.stringify(value, null, 2);
  } catch (e) {
    return String(value);
  }
}

// ---- sparkline: an SVG polyline of values, drawn here (no library) ----

export function sparkline(values, opts) {
  const w = opts.width || 240;
  const hgt = opts.height || 48;
  const max = Math.max(opts.max || 0, ...values, 1e-9);
  const n = values.length;
  const step = n > 1 ? w / (n - 1) : w;
  const pts = values.map((v, i) => (i * step).toFixed(1) + ',' + (hgt - 2 - (v / max) * (hgt - 4)).toFixed(1));
  const el = svg('svg', {
    class: 'spark ' + (opts.cls || ''),
    viewBox: '0 0 ' + w + ' ' + hgt,
    width: w,
    height: hgt,
    role: 'img',
    'aria-label': opts.label || 'sparkline',
    'data-testid': opts.testid,
    'data-total': opts.total,
    'data-points': values.length,
  });
  add(el, [
    svg('polygon', { class: 'spark-area', points: '0,' + hgt + ' ' + pts.join(' ') + ' ' + w + ',' + hgt }),
    svg('polyline', { class: 'spark-line', points: pts.join(' ') }),
    svg('title', null, opts.label || ''),
  ]);
  return el;
}

// ---- flash message (errors show the API's problem detail) ----

let flashTimer = null;

export function flash(kind, text) {
  const box = document.getElementById('flash');
  document.getElementById('flash-text').textContent = text;
  box.className = 'flash flash-' + kind;
  box.setAttribute('data-kind', kind);
  box.hidden = false;
  clearTimeout(flashTimer);
  if (kind !== 'error') flashTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

export function flashError(e) {
  flash('error', (e && e.message) || String(e));
}

export function initFlash() {
  document.getElementById('flash-close').addEventListener('click', () => {
    document.getElementById('flash').hidden = true;
  });
}

// ---- redraws that would swallow a click ----
// A view that redraws itself (a refresh on an event, a timer) replaces its
// buttons and links. A redraw between a press and its release swallows the
// click: the two land on different elements. So while a pointer is
// pressed, a redraw waits for the release and runs after the click that
// the release makes. A press held longer than PRESS_HOLD_MS (a drag, a
// release outside the window) holds nothing back.
const PRESS_HOLD_MS = 2000;
let pressedAt = 0;
const held = new Set();

function released() {
  pressedAt = 0;
  if (!held.size) return;
  const fns = [...held];
  held.clear();
  setTimeout(() => fns.forEach((fn) => fn()), 0);
}

export function initRedraws() {
  document.addEventListener('pointerdown', () => { pressedAt = Date.now(); }, true);
  document.addEventListener('pointerup', released, true);
  document.addEventListener('pointercancel', released, true);
}

// Runs fn now, or once the pointer pressed now is released (fn once,
// however often it was asked for meanwhile).
export function whenReleased(fn) {
  if (pressedAt && Date.now() - pressedAt < PRESS_HOLD_MS) {
    held.add(fn);
    return;
  }
  fn();
}

// A view going away drops its held redraw.
export function forgetRedraw(fn) {
  held.delete(fn);
}

// ---- confirmation: a dialog of the page's own; resolves true or false ----

export function confirmAction(text, okLabel) {
  const dlg = document.getElementById('confirm');
  const ok = document.getElementById('confirm-ok');
  const cancel = document.getElementById('confirm-cancel');
  document.getElementById('confirm-text').textContent = text;
  ok.textContent = okLabel || 'Confirm';
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      if (dlg.open) dlg.close();
      resolve(answer);
    };
    const onOk = () => done(true);
    const onCancel = (ev) => {
      if (ev) ev.preventDefault();
      done(false);
    };
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
    cancel.focus();
  });
}
