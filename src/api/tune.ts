/**
 * `GET /pools/:name/tune` runs `trireme tune` for one pool in a process of its own (the replay is CPU work for
 * seconds to minutes, which must not stall the controller and the API sharing this event loop), one at a time, and
 * keeps each answer for five minutes. The report it returns carries its page (charts and tables), which the
 * dashboard draws.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliPath } from '../system/paths.js';
import { ApiError } from './errors.js';

export interface TuneQuery { pool: string; since: string; goal: string; grid: 'quick' | 'full' }

/** How long an answer is kept, and how long a run may take. */
const KEEP_MS = 5 * 60_000;
const LIMIT_MS = 5 * 60_000;

export class TuneRunner {
  private running?: { key: string; done: Promise<unknown> };
  private readonly kept = new Map<string, { at: number; report: unknown }>();

  constructor(private readonly configPath: string | undefined, private readonly redisUrl: string) {}

  async run(q: TuneQuery): Promise<{ report: unknown; ranAt: number; cached: boolean }> {
    const key = JSON.stringify(q);
    const hit = this.kept.get(key);
    if (hit && Date.now() - hit.at < KEEP_MS) return { report: hit.report, ranAt: hit.at, cached: true };
    if (!this.configPath) throw new ApiError(409, 'tune_unavailable', 'this API was started without a config file, which trireme tune reads; run it from the command line: trireme tune --pool POOL');
    if (this.running && this.running.key !== key) {
      throw new ApiError(409, 'tune_busy', 'a replay for another pool or goal is running; try again when it has finished (one runs at a time)');
    }
    if (!this.running) {
      const done = this.spawn(q).then((report) => { this.kept.set(key, { at: Date.now(), report }); return report; }).finally(() => { this.running = undefined; });
      this.running = { key, done };
    }
    await this.running.done;
    const kept = this.kept.get(key)!;
    return { report: kept.report, ranAt: kept.at, cached: false };
  }

  private async spawn(q: TuneQuery): Promise<unknown> {
    const dir = await mkdtemp(join(tmpdir(), 'trireme-tune-'));
    const out = join(dir, 'report.json');
    try {
      const args = [cliPath(), '-c', this.configPath!, 'tune', '--pool', q.pool, '--since', q.since, '--goal', q.goal, '--grid', q.grid, '--out', out];
      const child = spawn(process.execPath, args, { env: { ...process.env, TRIREME_REDIS_URL: this.redisUrl, TRIREME_LOG_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4_000); });
      const timer = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      clearTimeout(timer);
      if (code !== 0) {
        const why = stderr.split('\n').filter((l) => l.startsWith('trireme: ') && !l.startsWith('trireme: tune ') && !l.startsWith('trireme: wrote')).pop()?.slice(9);
        throw new ApiError(code === 2 ? 400 : 500, code === 2 ? 'invalid_tune' : 'tune_failed', why ?? `trireme tune exited with ${code === null ? 'a timeout' : `code ${code}`}`, code === 2 ? 'query' : undefined);
      }
      return JSON.parse(await readFile(out, 'utf8'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
