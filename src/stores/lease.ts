/**
 * The controller lease: only the holder acts. SET NX PX takes it; the holder renews it with a compare-and-extend
 * script each loop; a standby retries and takes over within one TTL after the holder dies.
 */
import type { Redis } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import { ownPrefix } from '../redis/keyspace.js';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class Lease {
  private held = false;
  private readonly prefix: string;

  constructor(private readonly redis: Redis, prefix: string, readonly holder: string, readonly ttlMs: number) {
    this.prefix = ownPrefix(redis, prefix);
  }

  get isHeld(): boolean { return this.held; }

  /** Takes or renews the lease; returns whether this holder has it now. */
  async acquire(): Promise<boolean> {
    const key = keys.lease(this.prefix);
    if (this.held) {
      this.held = (await this.redis.eval(RENEW, 1, key, this.holder, this.ttlMs)) === 1;
      if (this.held) return true;
    }
    this.held = (await this.redis.set(key, this.holder, 'PX', this.ttlMs, 'NX')) === 'OK';
    return this.held;
  }

  async release(): Promise<void> {
    if (this.held) await this.redis.eval(RELEASE, 1, keys.lease(this.prefix), this.holder);
    this.held = false;
  }

  async currentHolder(): Promise<string | null> {
    return this.redis.get(keys.lease(this.prefix));
  }
}
