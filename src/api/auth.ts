/**
 * Bearer tokens. Tokens are compared as SHA-256 digests with `timingSafeEqual`, and every configured token is checked
 * on every request, so neither a token's length nor which token matched shows in the response time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../core/config.js';
import { ConfigError } from '../core/config.js';
import { ApiError } from './errors.js';

/** `public`: health and the API document; `read`: looking; `write`: anything that changes state. */
export type Access = 'public' | 'read' | 'write';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);
export const isLoopback = (host: string): boolean => LOOPBACK.has(host) || /^127\./.test(host);

const digest = (s: string) => createHash('sha256').update(s).digest();

export class Auth {
  private readonly tokens: { digest: Buffer; readOnly: boolean }[];

  constructor(private readonly cfg: Config['auth']) {
    this.tokens = cfg.tokens.map((t) => ({ digest: digest(t.token), readOnly: t.readOnly }));
  }

  get enabled(): boolean { return this.tokens.length > 0; }

  /** Refuses to listen beyond loopback with no token that can change state. */
  checkBind(host: string): void {
    if (isLoopback(host) || this.tokens.some((t) => !t.readOnly)) return;
    throw new ConfigError([
      `auth.tokens: the API would listen on ${host}, beyond loopback, with no token: anyone who reaches it could change state. ` +
      'Add a token under auth.tokens (at least 16 characters, e.g. openssl rand -hex 24) or set TRIREME_API_TOKEN, or bind to 127.0.0.1',
    ], 'api');
  }

  /** Throws 401/403 unless `authorization` may do `access`. */
  check(access: Access, authorization: string | undefined): void {
    if (access === 'public' || !this.enabled) return;
    if (access === 'read' && !this.cfg.protectReads) return;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) throw new ApiError(401, 'unauthorized', 'this call needs a token: send the header "Authorization: Bearer <token>" (a token from auth.tokens or TRIREME_API_TOKEN)', 'headers.authorization');
    const given = digest(m[1]);
    let match: { readOnly: boolean } | undefined;
    for (const t of this.tokens) if (timingSafeEqual(t.digest, given) && !match) match = t;
    if (!match) throw new ApiError(401, 'invalid_token', 'the token is not one of auth.tokens; check for a typo or a rotated token', 'headers.authorization');
    if (access === 'write' && match.readOnly) throw new ApiError(403, 'read_only_token', 'this token may only read; use a token without readOnly: true to change state', 'headers.authorization');
  }
}
