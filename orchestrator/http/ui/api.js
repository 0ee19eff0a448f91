// The HTTP API client: the bearer token (sessionStorage, never a cookie),
// JSON requests, problem+json errors, and who the token is (/v1/whoami).
const TOKEN_KEY = 'orch.token';

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch (e) {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch (e) {
    /* storage disabled: the token lives only as long as this page */
  }
}

// Headers for a request: the token as Authorization: Bearer (a header, not a
// cookie, so another site cannot make the browser send it: no CSRF).
export function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const t = getToken();
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

export class ApiError extends Error {
  constructor(status, title, detail) {
    super((status ? status + ' ' : '') + (title || 'Error') + (detail ? ': ' + detail : ''));
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

// One request; resolves to the parsed JSON body, rejects with an ApiError
// carrying the problem document's status, title and detail.
export async function api(method, path, body) {
  const init = {
    method,
    headers: authHeaders({ Accept: 'application/json' }),
    credentials: 'omit',
    cache: 'no-store',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'Network error', String((e && e.message) || e));
  }
  const ctype = resp.headers.get('Content-Type') || '';
  let doc = null;
  if (ctype.includes('json')) {
    try {
      doc = await resp.json();
    } catch (e) {
      doc = null;
    }
  } else {
    await resp.text().catch(() => '');
  }
  if (!resp.ok) {
    const title = (doc && typeof doc.title === 'string' && doc.title) || resp.statusText || 'Error';
    const detail = (doc && typeof doc.detail === 'string' && doc.detail) || '';
    throw new ApiError(resp.status, title, detail);
  }
  return doc;
}

// What the token may do. role: submit < operate < admin; null when unknown
// (no token where one is required, or a rejected one: authError says why).
export const session = { name: null, role: null, tokensRequired: null, authError: null };

export function canOperate() {
  return session.role === 'operate' || session.role === 'admin';
}

export async function whoami() {
  try {
    const w = await api('GET', '/v1/whoami');
    session.name = w.name;
    session.role = w.role;
    session.tokensRequired = !!w.tokens_required;
    session.authError = null;
  } catch (e) {
    session.name = null;
    session.role = null;
    session.tokensRequired = e.status === 401 ? true : session.tokensRequired;
    session.authError = e;
  }
  return session;
}

export function q(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

export const enc = encodeURIComponent;
