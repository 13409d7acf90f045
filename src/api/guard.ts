/**
 * What a browser can be made to send: checks before any route runs.
 *
 * - DNS rebinding: a page under a name that resolves to 127.0.0.1 reaches a loopback API with its own name in the
 *   Host header. The API answers only to loopback names and addresses (`localhost`, `*.localhost`, `127.x.x.x`,
 *   `[::1]`), the address it listens on, and `api.allowedHosts` (`*` for any, e.g. behind a proxy that checks).
 * - Cross-site writes: a page on another origin can POST without CORS (`mode: 'no-cors'`, a form), and its browser
 *   sends `Origin` (or `Sec-Fetch-Site: cross-site`) with it. A state-changing request whose Origin is neither the
 *   API's own nor in `api.allowedOrigins` is refused; so is one that says it is cross-site. Requests without those
 *   headers (curl, the CLI, servers) are not from a browser page and pass to the token check.
 *
 * And what would recurse without end: JSON nested deeper than 64 levels (a payload 5 000 arrays deep) is refused with
 * a 400 before anything parses it, in a JSON body or in a multipart form field alike (checkDepth).
 */
import { ApiError } from './errors.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The host name of a Host header value (`[::1]:7070` -> `::1`, `Example.COM:80` -> `example.com`). */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') === -1 ? undefined : h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

const loopbackName = (h: string) => h === 'localhost' || h.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  || h === '::1' || h === '::ffff:127.0.0.1';

export class RequestGuard {
  private readonly hosts: Set<string>;
  private readonly anyHost: boolean;
  private readonly origins: Set<string>;
  private listenHost = '127.0.0.1';

  constructor(cfg: { allowedHosts: string[]; allowedOrigins: string[] }) {
    this.anyHost = cfg.allowedHosts.includes('*');
    this.hosts = new Set(cfg.allowedHosts.map((h) => hostName(h)));
    this.origins = new Set(cfg.allowedOrigins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  }

  /** The address the API listens on: a request to that address by number is not a rebound name. */
  listening(host: string): void { this.listenHost = hostName(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host); }

  private hostAllowed(name: string): boolean {
    if (this.anyHost || loopbackName(name) || this.hosts.has(name)) return true;
    // Listening on one address beyond loopback: that address by number is fine.
    if (name === this.listenHost) return true;
    // Listening on every address (0.0.0.0 / ::): any IP literal reaches it directly; names must be listed.
    const wildcard = this.listenHost === '0.0.0.0' || this.listenHost === '::';
    return wildcard && (/^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':'));
  }

  /** Throws 421/403 for a request a browser was tricked into sending. */
  check(method: string, headers: Record<string, string | string[] | undefined>): void {
    const host = typeof headers.host === 'string' ? headers.host : '';
    const name = hostName(host);
    if (!this.hostAllowed(name)) {
      throw new ApiError(421, 'host_not_allowed', `this API does not answer to the host name "${name}" (a guard against DNS rebinding); `
        + 'add it to api.allowedHosts if the API is meant to be reached by that name', 'headers.host');
    }
    if (SAFE.has(method)) return;
    const origin = typeof headers.origin === 'string' ? headers.origin.replace(/\/+$/, '').toLowerCase() : undefined;
    if (origin !== undefined) {
      let sameOrigin = false;
      try { sameOrigin = new URL(origin).host === host.trim().toLowerCase(); } catch { /* "null" and other opaque origins */ }
      if (!sameOrigin && !this.origins.has(origin)) {
        throw new ApiError(403, 'cross_origin', `a page on ${origin} may not change state here; add it to api.allowedOrigins if it should`, 'headers.origin');
      }
      return;
    }
    if (headers['sec-fetch-site'] === 'cross-site') {
      throw new ApiError(403, 'cross_origin', 'a cross-site page may not change state here', 'headers.sec-fetch-site');
    }
  }
}

const MAX_JSON_DEPTH = 64;

/** How deep arrays and objects nest in a JSON text, read without parsing it (strings skipped). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) { if (++depth > max) max = depth; } else if (c === 93 || c === 125) depth--;
  }
  return max;
}

/** Throws a 400 naming `what` and `field` for JSON text nested deeper than the API accepts. */
export function checkDepth(text: string, what: string, field: string): void {
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) throw new ApiError(400, 'invalid_body', `${what} nests ${depth} levels deep; at most ${MAX_JSON_DEPTH} are accepted`, field);
}
