/**
 * The Docker Compose driver: a pool is a service of a Compose project, scaled with
 * `docker compose -p P -f F up -d --no-recreate --scale S=N S`. Its containers are read with `docker ps` and
 * Compose's own labels (com.docker.compose.project/service/container-number), which every Compose version writes;
 * a replica reports its container id as its host name, which is how registry entries are matched.
 *
 * Scaling in: the controller first drains the idle victims (they stop taking jobs and wait); this driver then stops
 * and removes those containers, and lowers the count. Compose removes the highest-numbered containers when a count
 * drops below what it has, so removing the drained ones first is what keeps the running ones; when the count must
 * drop further than the victims (a pin below the busy replicas), Compose's choice remains, and the reason says so:
 * the containers it stops drain within stop_grace_period. Exited containers are removed before scaling up, because
 * `up` would start them again. serve's exit leaves the containers running.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import type { Config } from '../../core/config.js';
import type { SetCountDriver, DriverReplica, PoolHealth, ScaleIn } from '../driver.js';
import type { Logger } from '../../system/log.js';
import { serviceOf, sharedSettings, type ComposeSettings } from './settings.js';

/** One line of `docker ps --format '{{json .}}'`, the fields this driver reads. */
export interface PsLine { ID: string; Names: string; State: string; Labels: string; CreatedAt: string }

/** The containers of a service, parsed from `docker ps` lines; Labels is Docker's comma-separated key=value list. */
export function parseContainers(stdout: string): { id: string; name: string; state: string; number: number; createdAt: number }[] {
  return stdout.split('\n').filter((l) => l.trim()).map((l) => {
    const c = JSON.parse(l) as PsLine;
    const labels = Object.fromEntries(c.Labels.split(',').map((kv) => { const i = kv.indexOf('='); return [kv.slice(0, i), kv.slice(i + 1)]; }));
    return { id: c.ID, name: c.Names, state: c.State, number: Number(labels['com.docker.compose.container-number'] ?? 0), createdAt: Date.parse(c.CreatedAt.replace(' +0000 UTC', 'Z')) };
  });
}

/** A command's failure, with what it printed. */
export class ComposeError extends Error {
  constructor(message: string) { super(message); this.name = 'ComposeError'; }
}

export class ComposeDriver implements SetCountDriver {
  readonly name = 'compose';
  readonly scaleIn = 'set-count' as const;
  readonly placement = 'elsewhere' as const;
  private readonly errors = new Map<string, string>();
  private readonly settings: ComposeSettings;

  constructor(private readonly config: Config, private readonly baseDir: string, private readonly log: Logger) {
    this.settings = sharedSettings(config);
  }

  private exec(pool: string, argv: string[], timeoutMs = 120_000): Promise<string> {
    const [cmd, ...args] = argv;
    return new Promise((ok, fail) => {
      execFile(cmd, args, { cwd: this.baseDir, timeout: timeoutMs, maxBuffer: 16 * 1024 ** 2 }, (err, stdout, stderr) => {
        if (!err) { this.errors.delete(pool); ok(stdout); return; }
        const what = (stderr || (err as Error).message).trim().split('\n').slice(-3).join(' ');
        const e = new ComposeError(`compose: \`${argv.join(' ')}\` failed: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? `${cmd} is not installed or not on PATH` : what}`);
        if (this.errors.get(pool) !== e.message) this.log.warn({ pool, err: e.message }, 'compose command failed');
        this.errors.set(pool, e.message);
        fail(e);
      });
    });
  }

  private compose(): string[] {
    return [...this.settings.command, '-p', this.settings.project, '-f', resolve(this.baseDir, this.settings.file)];
  }

  private async containers(pool: string) {
    const s = serviceOf(this.config, pool);
    const out = await this.exec(pool, [this.settings.docker, 'ps', '--all', '--filter', `label=com.docker.compose.project=${this.settings.project}`,
      '--filter', `label=com.docker.compose.service=${s}`, '--format', '{{json .}}']);
    return parseContainers(out);
  }

  async list(pool: string): Promise<DriverReplica[]> {
    return (await this.containers(pool)).filter((c) => c.state === 'running' || c.state === 'restarting').map((c) => ({
      id: c.name, pool, handle: `container ${c.name}`, host: c.id, container: c.id, startedAt: c.createdAt, phase: 'running' as const,
    }));
  }

  async start(pool: string, count: number): Promise<number> {
    const all = await this.containers(pool);
    // `up` would start exited containers again: remove them first, so that the count is what runs.
    const dead = all.filter((c) => c.state === 'exited' || c.state === 'dead' || c.state === 'created');
    if (dead.length) await this.exec(pool, [this.settings.docker, 'rm', ...dead.map((c) => c.id)]);
    const running = all.length - dead.length;
    await this.scale(pool, running + count);
    return count;
  }

  private async scale(pool: string, n: number): Promise<void> {
    const s = serviceOf(this.config, pool);
    await this.exec(pool, [...this.compose(), 'up', '-d', '--no-recreate', '--scale', `${s}=${n}`, s], 300_000);
  }

  async setCount(pool: string, count: number, scaleIn: ScaleIn): Promise<{ note?: string }> {
    const all = await this.containers(pool);
    const byName = new Map(all.map((c) => [c.name, c]));
    const victims = scaleIn.victims.map((v) => byName.get(v.id)).filter((c): c is NonNullable<typeof c> => !!c);
    if (victims.length) {
      // The victims are drained and hold: a stop lets each leave at once, then they go before Compose counts.
      await this.exec(pool, [this.settings.docker, 'stop', '-t', String(Math.ceil(scaleIn.graceMs / 1000)), ...victims.map((c) => c.id)], scaleIn.graceMs + 60_000);
      await this.exec(pool, [this.settings.docker, 'rm', ...victims.map((c) => c.id)]);
    }
    const left = all.filter((c) => !victims.includes(c) && (c.state === 'running' || c.state === 'restarting')).length;
    await this.scale(pool, count);
    const extra = left - count;
    return extra > 0 ? { note: `Compose removed its ${extra} highest-numbered container(s), which drain within stop_grace_period` } : {};
  }

  health(pool: string): PoolHealth {
    const err = this.errors.get(pool);
    return err ? { status: 'error', message: err, restarts: 0 } : { status: 'ok', restarts: 0 };
  }

  /** Containers belong to the Compose project: serve's exit leaves them running. */
  async close(): Promise<void> {}
}
