// GET /v1/events read with fetch() and a stream reader (EventSource cannot
// send an Authorization header), parsed as Server-Sent Events here, and
// resumed after a disconnection with Last-Event-ID: the server replays what
// was missed, then goes live.
import { authHeaders } from './api.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class EventStream {
  // onEvent(eventObject, eventId); onStatus(state, text): state is
  // connecting | live | reconnecting | unauthorized | off
  constructor(onEvent, onStatus, onConnected) {
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onConnected = onConnected;
    this.lastId = null; // the last SSE id seen (string of digits)
    this.retryMs = 2000; // the server's retry: field
    this.gen = 0;
    this.ctrl = null;
    this.holdUntil = 0;
    this.connects = 0;
  }

  start() {
    const gen = ++this.gen;
    this._loop(gen);
  }

  stop() {
    this.gen++;
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = null;
    this.onStatus('off', 'events: off');
  }

  // Drops the connection and reconnects after delayMs (with Last-Event-ID).
  reconnect(delayMs) {
    this.holdUntil = Date.now() + (delayMs || 0);
    const gen = ++this.gen;
    if (this.ctrl) this.ctrl.abort();
    this._loop(gen);
  }

  async _loop(gen) {
    let failures = 0;
    while (gen === this.gen) {
      const hold = this.holdUntil - Date.now();
      if (hold > 0) {
        this.onStatus('reconnecting', 'events: reconnecting');
        await sleep(hold);
        if (gen !== this.gen) return;
      }
      const ctrl = new AbortController();
      this.ctrl = ctrl;
      const headers = authHeaders({ Accept: 'text/event-stream' });
      if (this.lastId !== null) headers['Last-Event-ID'] = this.lastId;
      this.onStatus('connecting', 'events: connecting');
      try {
        const resp = await fetch('/v1/events', {
          headers, signal: ctrl.signal, credentials: 'omit', cache: 'no-store',
        });
        if (resp.status === 401 || resp.status === 403) {
          this.onStatus('unauthorized', 'events: not allowed (' + resp.status + ')');
          return;
        }
        if (resp.status === 400 && this.lastId !== null) {
          this.lastId = null; // a resume point the server does not know: go live
          throw new Error('resume point refused');
        }
        if (!resp.ok || !resp.body) throw new Error('HTTP ' + resp.status);
        failures = 0;
        this.connects++;
        this.onStatus('live', 'events: live');
        if (this.onConnected) this.onConnected();
        await this._read(resp.body.getReader(), gen);
      } catch (e) {
        if (gen !== this.gen) return;
        failures++;
      }
      if (gen !== this.gen) return;
      this.onStatus('reconnecting', 'events: reconnecting');
      await sleep(Math.min(this.retryMs * Math.max(1, failures), 30000));
    }
  }

  async _read(reader, gen) {
    const dec = new TextDecoder();
    let buf = '';
    this._resetEvent();
    for (;;) {
      const { value, done } = await reader.read();
      if (done || gen !== this.gen) break;
      buf += dec.decode(value, { stream: true });
      for (;;) {
        const i = buf.search(/[\r\n]/);
        if (i < 0) break;
        if (buf[i] === '\r' && i === buf.length - 1) break; // maybe \r\n split
        const line = buf.slice(0, i);
        buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
        this._line(line);
      }
    }
  }

  _resetEvent() {
    this.data = [];
    this.type = '';
  }

  _line(line) {
    if (line === '') {
      this._dispatch();
      return;
    }
    if (line[0] === ':') return; // keep-alive comment
    const c = line.indexOf(':');
    const field = c < 0 ? line : line.slice(0, c);
    let value = c < 0 ? '' : line.slice(c + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.type = value;
    else if (field === 'id' && /^[0-9]+$/.test(value)) this.pendingId = value;
    else if (field === 'retry' && /^[0-9]+$/.test(value)) this.retryMs = Math.max(500, Number(value));
  }

  _dispatch() {
    if (this.pendingId !== undefined) {
      this.lastId = this.pendingId;
      this.pendingId = undefined;
    }
    const data = this.data.join('\n');
    const type = this.type;
    this._resetEvent();
    if (!data) return;
    if (type === 'error') {
      // the server dropped us (too far behind): the stream ends, we resume
      this.onStatus('reconnecting', 'events: server says ' + data);
      return;
    }
    if (type && type !== 'message') return;
    let ev;
    try {
      ev = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (ev && typeof ev === 'object') this.onEvent(ev, this.lastId);
  }
}
