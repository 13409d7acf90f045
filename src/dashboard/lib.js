// What every view of the dashboard shares: the API client (with the tab's token), server-sent events over fetch (so
// the token can ride in a header), confirmation and token dialogs, toasts, and formatting.

export const $ = (sel, root = document) => root.querySelector(sel);

/** A DOM element: h('td', { class: 'num' }, 'text', child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const TOKEN_KEY = 'trireme.token';
export const session = { info: null, token: sessionStorage.getItem(TOKEN_KEY) || '' };

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

/**
 * Saves a file the API serves as `name`. With a token set, a plain link would go without it (a link cannot carry a
 * header), so the file is fetched with the token and saved from memory.
 */
export async function download(path, name) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${session.token}` } });
  if (!res.ok) {
    const err = new ApiError(res.status, await res.json().catch(() => ({})));
    toast(`Download failed: ${err.message}`, 'error');
    if (err.status === 401) void askToken(`The API refused the token: ${err.message}`);
    return;
  }
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export async function api(method, path, body) {
  const headers = {};
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/**
 * Follows a server-sent-events stream, reconnecting with a growing delay until `signal` aborts. `onFrame(event,
 * data)`; `onState('live' | 'down')`. Returns when the server ends a stream that `ends` says is finished.
 */
export async function stream(path, { onFrame, onState = () => {}, signal, once = false }) {
  let delay = 500;
  while (!signal?.aborted) {
    try {
      const headers = { accept: 'text/event-stream' };
      if (session.token) headers.authorization = `Bearer ${session.token}`;
      const res = await fetch(path, { headers, signal });
      if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => ({})));
      onState('live');
      delay = 500;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const raw = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          let data = '';
          for (const line of raw.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data) onFrame(event, JSON.parse(data));
        }
      }
      if (once) return;
    } catch (err) {
      if (signal?.aborted) return;
      onState('down', err);
      if (once && err instanceof ApiError) return;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}

export function toast(text, kind = 'info') {
  const box = $('#toast');
  const item = h('div', { class: kind }, text);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 9_000 : 4_000);
}

/** A native modal dialog: resolves true when confirmed. */
export function confirmDialog(text) {
  const d = $('#confirm');
  $('#confirm-text').textContent = text;
  d.returnValue = '';
  d.showModal();
  $('#confirm-ok').focus();
  return new Promise((resolve) => d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true }));
}

export function askToken(why = 'Changing state needs an API token.') {
  const d = $('#token-dialog');
  $('#token-why').textContent = why;
  $('#token-input').value = session.token;
  d.returnValue = '';
  d.showModal();
  $('#token-input').focus();
  // Enter in the field means "use this token", not the form's first button.
  $('#token-input').onkeydown = (e) => { if (e.key === 'Enter') { e.preventDefault(); d.close('ok'); } };
  return new Promise((resolve) => d.addEventListener('close', () => {
    if (d.returnValue === 'ok') session.token = $('#token-input').value.trim();
    if (d.returnValue === 'clear') session.token = '';
    if (session.token) sessionStorage.setItem(TOKEN_KEY, session.token); else sessionStorage.removeItem(TOKEN_KEY);
    resolve(session.token);
  }, { once: true }));
}

/**
 * A state-changing call: asks for confirmation, asks for a token first when the API needs one and none is set, and
 * says clearly when the API refuses. Resolves with the response, or undefined when not done.
 */
export async function act(what, method, path, body) {
  if (!await confirmDialog(`${what}?`)) return undefined;
  if (session.info?.auth.writes === 'token' && !session.token) {
    if (!await askToken(`"${what}" changes state: the API needs a token for that.`)) {
      toast(`Not done: "${what}" needs an API token.`, 'error');
      return undefined;
    }
  }
  try {
    const res = await api(method, path, body);
    toast(`${what}: done`);
    return res;
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      toast(`Refused: ${err.message}`, 'error');
      if (err.status === 401) void askToken(`The API refused the token: ${err.message}`);
    } else {
      toast(`${what} failed: ${err.message}`, 'error');
    }
    return undefined;
  }
}

export const fmt = {
  ago(at) {
    if (!at) return '-';
    const s = Math.max(0, Math.round((Date.now() - at) / 1000));
    return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
  },
  secs(ms) { return ms === undefined || ms === null ? '-' : ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms / 1000)}s`; },
  rate(n) { return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2); },
  money(n) { return `$${n.toFixed(2)}/h`; },
  time(at) { return at ? new Date(at).toLocaleTimeString() : '-'; },
  bytes(n) { return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`; },
  /** "in 12s", "in 3m"; "due" for a time passed. */
  until(at) {
    if (!at) return '-';
    const s = Math.round((at - Date.now()) / 1000);
    return s <= 0 ? 'due' : s < 120 ? `in ${s}s` : s < 7200 ? `in ${Math.round(s / 60)}m` : `in ${Math.round(s / 3600)}h`;
  },
};
