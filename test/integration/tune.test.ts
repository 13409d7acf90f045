/**
 * `trireme tune` against a real run: `serve` with job history in a private PostgreSQL runs 300 jobs in bursts on a
 * pool held to one replica; `tune --since 1h` reads what ran from history, and its recommendation, pasted into the
 * config and replayed by `simulate` on the trace tune wrote, meets the goal. Then the same from the jobs Redis still
 * holds, with history off.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { startRedis, waitFor, ROOT, type TestRedis } from '../helpers.js';
import { startPostgres, postgresBin, type TestPostgres } from '../postgres.js';
import { loadProject } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { trireme, run, reapAll } from './procs.js';

const skip = postgresBin() ? false : 'PostgreSQL is not installed (apt-get install postgresql; .ci/run installs it)';
const JOBS = 300;
let redis: TestRedis;
let postgres: TestPostgres;
let dir: string;
let config: string;

const write = (name: string, doc: unknown) => { const f = join(dir, name); writeFileSync(f, stringify(doc)); return f; };
const GOAL = 2.5;

describe('trireme tune against a real run', { skip }, () => {
  before(async () => {
    [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
    dir = mkdtempSync(join(tmpdir(), 'trireme-tune-'));
    config = write('trireme.yml', {
      tasks: [join(ROOT, 'test/fixtures/tasks.ts')],
      defaultQueue: 'work',
      routes: [{ match: 'fx.*', queue: 'batch' }],
      controller: { interval: '300ms', leaseTtl: '2s' },
      capacity: { overcommit: 8 },
      history: { postgres: postgres.url, batch: 200 },
      api: { port: 0 },
      pools: {
        light: { queues: ['work'], concurrency: 1, scaling: { min: 0, max: 1 } },
        // One replica of four slots: each burst of 75 jobs of ~0.2 s queues for seconds.
        batch: { queues: ['batch'], concurrency: 4, scaling: { policy: 'target', min: 0, max: 1, targetBacklogPerSlot: 1, idleShutdown: '3s', cooldownDown: '1s', stabilization: 0, startupTime: '1s' } },
      },
    });
    const serve = trireme(['-c', config, 'serve'], { TRIREME_REDIS_URL: redis.url });
    await waitFor(() => /dashboard and API at/.test(serve.output()), 60_000, 'serve to start');
    const client = new TriremeClient(await loadProject(config, { ...process.env, TRIREME_REDIS_URL: redis.url }, { tasks: false }), redis.url);
    try {
      for (let burst = 0; burst < 4; burst++) {
        await client.submitMany('fx.sleep', Array.from({ length: JOBS / 4 }, (_, i) => ({ ms: 100 + (i % 5) * 50 })));
        await new Promise((r) => setTimeout(r, 6_000));
      }
    } finally {
      await client.close();
    }
    const db = new pg.Pool({ connectionString: postgres.url, max: 1 });
    try {
      await waitFor(async () => Number((await db.query('SELECT count(*) FROM trireme_jobs WHERE finished_at IS NOT NULL')).rows[0].count) === JOBS, 120_000, 'every job in history');
    } finally {
      await db.end();
    }
  });
  after(async () => {
    await reapAll();
    await postgres?.stop();
    await redis?.stop();
  });

  test('tune --since 1h recommends settings from history that, replayed, meet the goal', async () => {
    const trace = join(dir, 'replayed.csv');
    const t = await run(['-c', config, 'tune', '--since', '1h', '--pool', 'batch', '--goal', `p95<=${GOAL}s`, '--json', '--trace-out', trace, '--out', join(dir, 'tune.html')]);
    assert.equal(t.code, 0, t.out);
    const report = JSON.parse(t.out.slice(t.out.indexOf('{'))) as { pools: Record<string, { jobs: number; source: string; current: { waitP95: number; setting: { max: number } }; curves: Record<string, unknown[]>; recommended: { met: boolean; waitP95: number; setting: Record<string, unknown>; yaml: string } }> };
    const batch = report.pools.batch;
    assert.equal(batch.jobs, JOBS);
    assert.match(batch.source, /job history in PostgreSQL/);
    assert.ok(batch.current.waitP95 > GOAL, `the current settings miss the goal on the replay (p95 ${batch.current.waitP95} s)`);
    assert.ok(batch.curves.trireme.length > 0 && batch.curves['fixed-idle'].length > 0);
    const rec = batch.recommended;
    assert.equal(rec.met, true, JSON.stringify(rec));
    assert.ok(rec.waitP95 <= GOAL && (rec.setting.max as number) > 1, JSON.stringify(rec.setting));
    assert.match(rec.yaml, /^pools:\n {2}batch:\n {4}scaling:\n/);
    assert.match(readFileSync(join(dir, 'tune.html'), 'utf8'), /<title>Trireme tune<\/title>/);

    // Paste the YAML lines into the config and replay what ran: the goal holds.
    const doc = parse(readFileSync(config, 'utf8'));
    Object.assign(doc.pools.batch.scaling, parse(rec.yaml).pools.batch.scaling);
    const tuned = write('tuned.yml', doc);
    const sim = await run(['-c', tuned, 'simulate', '-t', trace, '--policy', 'trireme', '--json']);
    assert.equal(sim.code, 0, sim.out);
    const replay = JSON.parse(sim.out) as { policies: { pools: Record<string, { jobs: number; waitP95: number }> }[] };
    assert.equal(replay.policies[0].pools.batch.jobs, JOBS);
    assert.ok(replay.policies[0].pools.batch.waitP95 <= GOAL, `replayed p95 ${replay.policies[0].pools.batch.waitP95} s`);
  });

  test('without history, tune reads the jobs Redis still holds', async () => {
    const doc = parse(readFileSync(config, 'utf8'));
    delete doc.history;
    const t = await run(['-c', write('no-history.yml', doc), 'tune', '--since', '1h', '--pool', 'batch', '--goal', `p95<=${GOAL}s`, '--grid', 'quick', '--json'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(t.code, 0, t.out);
    const batch = (JSON.parse(t.out.slice(t.out.indexOf('{'))) as { pools: Record<string, { jobs: number; source: string; recommended: { met: boolean } }> }).pools.batch;
    assert.equal(batch.jobs, JOBS);
    assert.match(batch.source, /the jobs Redis still holds/);
    assert.equal(batch.recommended.met, true);
  });

  test('a goal that is not one is refused with the fix, exit 2', async () => {
    const t = await run(['-c', config, 'tune', '--goal', 'fast please']);
    assert.equal(t.code, 2);
    assert.match(t.out, /--goal\/--budget: "fast please" is not a goal; write p95<=30s/);
  });
});
