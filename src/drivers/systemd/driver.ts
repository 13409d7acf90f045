/**
 * The systemd driver: a replica is an instance of the template unit `trireme-worker@POOL-N.service` on one of the
 * configured hosts, reached with systemd's own remote transport (`systemctl --host user@host`, over SSH); a host
 * without an address is this machine. No agent of Trireme's runs on the hosts.
 *
 * Each controller pass lists every host's instances once (`list-units --all --output=json`). A replica starts on
 * the reachable host with the most free capacity that fits the pool (a GPU pool only on hosts with free GPUs), its
 * unit's MemoryMax set to the pool's memory first (`set-property --runtime`), and is stopped with `systemctl stop`:
 * systemd sends SIGTERM, the replica drains within its pool's grace, and the template's TimeoutStopSec (the longest
 * grace plus slack) bounds it. The pool's env is applied by the replica itself before its task code loads (a
 * template's instances cannot have drop-ins of their own per pool). A host that stops answering is reported in the pool's health
 * (doctor, the API, the dashboard); its replicas are not counted, so the pool is made up on the others; when it
 * answers again its replicas count again, and extras are drained like any.
 *
 * A replica's id is `<host name>:<instance>` (the unit runs `trireme worker --instance %i`, and the host name is what
 * the replica reports: the machine's, or TRIREME_HOSTNAME from the host's environment file).
 */
import { execFile } from 'node:child_process';
import type { Clock } from '../../core/clock.js';
import type { StopReplicasDriver, DriverReplica, PoolHealth } from '../driver.js';
import { parseInstance } from '../../core/replica.js';
import type { PoolConfig } from '../../core/config.js';
import type { Logger } from '../../system/log.js';
import { unitNames, type HostSpec, type SystemdSettings, type UnitNames } from './settings.js';

/** One line of `systemctl list-units --output=json`. */
export interface UnitLine { unit: string; load: string; active: string; sub: string; description: string }

interface HostState {
  spec: HostSpec;
  up: boolean;
  lastError?: string;
  downSince?: number;
  /** Instances of the template on this host: instance name -> its active state. */
  units: Map<string, { active: string; sub: string }>;
}

const LIVE = new Set(['active', 'activating', 'reloading', 'deactivating']);

export class SystemdDriver implements StopReplicasDriver {
  readonly name = 'systemd';
  readonly scaleIn = 'stop-replicas' as const;
  readonly placement = 'elsewhere' as const;
  private readonly hosts: HostState[];
  private readonly units: UnitNames;
  private listed?: Promise<void>;

  constructor(
    private readonly settings: SystemdSettings & { hosts: HostSpec[] },
    private readonly pools: Record<string, PoolConfig>,
    private readonly poolHosts: Record<string, string[] | undefined>,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.hosts = settings.hosts.map((spec) => ({ spec, up: true, units: new Map() }));
    this.units = unitNames(settings);
  }

  private systemctl(h: HostSpec, args: string[]): Promise<string> {
    const [cmd, ...base] = this.settings.command;
    const argv = [...base, ...(h.address ? ['--host', h.address] : []), ...(this.settings.user ? ['--user'] : []), ...args];
    return new Promise((ok, fail) => {
      execFile(cmd, argv, { timeout: this.settings.timeout, maxBuffer: 16 * 1024 ** 2 }, (err, stdout, stderr) => {
        if (!err) { ok(stdout); return; }
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        const why = e.code === 'ENOENT' ? `${cmd} is not installed` : e.killed ? `no answer within ${this.settings.timeout} ms` : (stderr || e.message).trim().split('\n').join(' ');
        fail(new Error(why));
      });
    });
  }

  /** Lists every host's instances; a host that does not answer is marked down until it does. */
  async maintain(): Promise<void> {
    this.listed = Promise.all(this.hosts.map(async (h) => {
      try {
        const out = await this.systemctl(h.spec, ['list-units', '--all', '--output=json', '--no-pager', this.units.pattern]);
        const lines = JSON.parse(out || '[]') as UnitLine[];
        h.units = new Map(lines.flatMap((u) => {
          const instance = this.units.instanceOf(u.unit);
          return instance ? [[instance, { active: u.active, sub: u.sub }] as const] : [];
        }));
        if (!h.up) this.log.info({ host: h.spec.name }, 'host answers again');
        h.up = true; h.lastError = undefined; h.downSince = undefined;
      } catch (err) {
        if (h.up) this.log.warn({ host: h.spec.name, err: (err as Error).message }, 'host does not answer: its replicas are not counted, its pools are made up elsewhere');
        h.up = false; h.lastError = (err as Error).message; h.downSince ??= this.clock.now();
      }
    })).then(() => {});
    await this.listed;
  }

  private eligible(pool: string): HostState[] {
    const names = this.poolHosts[pool];
    return this.hosts.filter((h) => !names || names.includes(h.spec.name));
  }

  async list(pool: string): Promise<DriverReplica[]> {
    if (!this.listed) await this.maintain();
    else await this.listed;
    return this.eligible(pool).filter((h) => h.up).flatMap((h) => [...h.units].flatMap(([instance, u]) => {
      const p = parseInstance(instance);
      if (p?.pool !== pool || !LIVE.has(u.active)) return [];
      return [{ id: `${h.spec.name}:${instance}`, pool, handle: `${this.units.instance(instance)} on ${h.spec.name}`, host: h.spec.name, startedAt: 0, phase: u.active === 'deactivating' ? 'stopping' as const : 'running' as const }];
    }));
  }

  /** What runs on a host now, by the pools' declared resources. */
  private used(h: HostState): { cpu: number; memory: number; gpu: number } {
    const u = { cpu: 0, memory: 0, gpu: 0 };
    for (const [instance, s] of h.units) {
      const p = parseInstance(instance);
      const cfg = p && this.pools[p.pool];
      if (!cfg || !LIVE.has(s.active)) continue;
      u.cpu += cfg.resources.cpu; u.memory += cfg.resources.memory; u.gpu += cfg.resources.gpu;
    }
    return u;
  }

  /** The reachable host with the most free CPU (then memory) where one more replica of `pool` fits. */
  private place(pool: string): HostState | undefined {
    const r = this.pools[pool].resources;
    let best: { h: HostState; cpu: number; memory: number } | undefined;
    for (const h of this.eligible(pool)) {
      if (!h.up) continue;
      const u = this.used(h);
      const free = { cpu: h.spec.cpu - u.cpu, memory: h.spec.memory - u.memory, gpu: h.spec.gpu - u.gpu };
      if (free.cpu + 1e-9 < r.cpu || free.memory < r.memory || (r.gpu > 0 && free.gpu < r.gpu)) continue;
      if (!best || free.cpu > best.cpu || (free.cpu === best.cpu && free.memory > best.memory)) best = { h, cpu: free.cpu, memory: free.memory };
    }
    return best?.h;
  }

  async start(pool: string, count: number): Promise<number> {
    if (!this.listed) await this.maintain();
    let started = 0;
    for (let i = 0; i < count; i++) {
      const h = this.place(pool);
      if (!h) {
        this.log.warn({ pool, wanted: count, started }, 'no reachable host has room for another replica');
        break;
      }
      const n = 1 + Math.max(0, ...[...h.units.keys()].map(parseInstance).filter((p) => p?.pool === pool).map((p) => p!.n));
      const instance = `${pool}-${n}`;
      const unit = this.units.instance(instance);
      try {
        // The pool's memory as the unit's cgroup limit, set before the start (it holds for the instance's restarts).
        await this.systemctl(h.spec, ['set-property', '--runtime', unit, `MemoryMax=${this.pools[pool].resources.memory}`]);
        await this.systemctl(h.spec, ['start', '--no-block', unit]);
      } catch (err) {
        h.lastError = (err as Error).message;
        this.log.warn({ pool, host: h.spec.name, err: h.lastError }, 'cannot start a replica');
        break;
      }
      // Counted at once, so that the next placement of this pass sees it.
      h.units.set(instance, { active: 'activating', sub: 'start' });
      this.log.info({ pool, host: h.spec.name, unit }, 'replica started');
      started++;
    }
    return started;
  }

  async stop(replicaId: string): Promise<void> {
    const i = replicaId.indexOf(':');
    const h = this.hosts.find((x) => x.spec.name === replicaId.slice(0, i));
    if (!h) return;
    const instance = replicaId.slice(i + 1);
    await this.systemctl(h.spec, ['stop', '--no-block', this.units.instance(instance)]);
    const u = h.units.get(instance);
    if (u) u.active = 'deactivating';
  }

  health(pool: string): PoolHealth {
    const hosts = this.eligible(pool);
    const down = hosts.filter((h) => !h.up);
    if (down.length === 0) return { status: 'ok', restarts: 0 };
    const at = (t?: number) => (t ? new Date(t).toISOString().slice(11, 19) : '?');
    const say = down.map((h) => `${h.spec.name} (since ${at(h.downSince)}: ${h.lastError})`).join('; ');
    if (down.length === hosts.length) return { status: 'error', restarts: 0, message: `no host answers: ${say}` };
    return { status: 'degraded', restarts: 0, message: `host${down.length > 1 ? 's' : ''} unreachable: ${say}; replicas are made up on the others` };
  }

  /** Hosts as the faces show them: reachable or not since when, and what runs there. */
  hostsStatus(): { name: string; up: boolean; since?: number; error?: string; replicas: number }[] {
    return this.hosts.map((h) => ({ name: h.spec.name, up: h.up, since: h.downSince, error: h.lastError, replicas: [...h.units.values()].filter((u) => LIVE.has(u.active)).length }));
  }

  /** Units belong to their hosts: serve's exit leaves them running. */
  async close(): Promise<void> {}
}
