/**
 * Per-replica resources end to end: a real serve, a process-isolated replica, and a task in its runner that holds
 * 300 MB and burns CPU. /metrics shows the replica's memory and CPU seconds following it (the runner counted with the
 * replica), `trireme workers` shows them, maxMemory retires the runner after the job, and a replica's series go away
 * with it. promtool accepts the exposition.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, waitFor, ROOT, type TestRedis } from '../helpers.js';
import { trireme, reapAll, run, type Proc } from './procs.js';

const CONFIG = join(ROOT, 'test/fixtures/resources.yml');
const MiB = 1024 * 1024;
let redis: TestRedis;
let serve: Proc;
let base: string;

const scrape = async () => (await fetch(`${base}/metrics`)).text();
/** Every sample of a metric, by its replica label. */
function byReplica(text: string, metric: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${metric}\\{pool="big",replica="([^"]+)"\\} (\\S+)$`, 'gm'))) out.set(m[1], Number(m[2]));
  return out;
}

describe('per-replica resources', () => {
  before(async () => {
    redis = await startRedis();
    serve = trireme(['-c', CONFIG, 'serve', '--port', '0'], { TRIREME_REDIS_URL: redis.url });
    base = await waitFor(() => /dashboard and API at (http:\/\/[^\s/]+)\//.exec(serve.output())?.[1], 30_000, 'serve to print its address');
  });
  after(async () => {
    await reapAll();
    await redis.stop();
  });

  test('memory and CPU of a replica follow a task that holds 300 MB in its process runner; maxMemory retires the runner', async () => {
    // The replica up, with its first runner warm, and a first reading of its tree.
    const [id, idle] = await waitFor(async () => {
      const mem = byReplica(await scrape(), 'trireme_replica_memory_bytes');
      return mem.size === 1 ? [...mem][0] : undefined;
    }, 60_000, 'the replica\'s memory on /metrics');
    const cpu0 = byReplica(await scrape(), 'trireme_replica_cpu_seconds_total').get(id)!;
    console.log(`# replica ${id}: ${Math.round(idle / MiB)} MiB with its warm runner, ${cpu0} CPU s`);
    const tmp = mkdtempSync(join(tmpdir(), 'trireme-res-'));
    const release = join(tmp, 'release');
    const cpuFile = join(tmp, 'cpu');
    const submitted = await run(['-c', CONFIG, 'submit', 'ops.alloc', '--data', JSON.stringify({ mb: 300, cpuMs: 1500, release, cpuFile }), '--json'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(submitted.code, 0, submitted.out);
    // The runner, a child of the replica, holds the 300 MB: the replica's series shows it.
    const holding = await waitFor(async () => {
      const mem = byReplica(await scrape(), 'trireme_replica_memory_bytes').get(id) ?? 0;
      return mem >= idle + 280 * MiB ? mem : undefined;
    }, 60_000, 'the replica\'s memory to rise by 300 MB');
    // And its CPU seconds: at least what the runner says its spin took (on a busy machine, less than its 1.5 s).
    const spun = Number(await waitFor(() => { try { return readFileSync(cpuFile, 'utf8'); } catch { return undefined; } }, 60_000, 'the task to spin'));
    assert.ok(spun > 0.3, `the runner spun ${spun} CPU s`);
    const text = await waitFor(async () => {
      const t = await scrape();
      return (byReplica(t, 'trireme_replica_cpu_seconds_total').get(id) ?? 0) - cpu0 >= spun ? t : undefined;
    }, 60_000, 'the runner\'s CPU seconds counted with the replica');
    const cpu1 = byReplica(text, 'trireme_replica_cpu_seconds_total').get(id)!;
    console.log(`# while the task holds 300 MB: ${Math.round(holding / MiB)} MiB, then ${cpu1} CPU s (+${(cpu1 - cpu0).toFixed(2)}; the runner spun ${spun.toFixed(2)} s)`);
    assert.match(text, /^# TYPE trireme_replica_cpu_seconds_total counter$/m);
    // Process isolation: maxMemory retires runners, not the replica, so a replica's limit is resources.memory.
    assert.match(text, /^trireme_pool_replica_memory_limit_bytes\{pool="big"\} 1073741824$/m);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(`${check.stdout}${check.stderr}`.trim(), '', 'promtool: no warnings');
    // trireme workers shows the same figures.
    const workers = await run(['-c', CONFIG, 'workers', '--json'], { TRIREME_REDIS_URL: redis.url });
    const w = JSON.parse(workers.out).replicas.find((r: { id: string }) => r.id === id);
    assert.ok(w.rss >= idle + 280 * MiB && w.processes >= 2 && w.cpuSeconds >= cpu1 - 0.5, JSON.stringify(w));
    const table = await run(['-c', CONFIG, 'workers'], { TRIREME_REDIS_URL: redis.url });
    assert.match(table.out, /CPU\s+MEMORY/);
    assert.match(table.out, new RegExp(`${id}.*\\d+%\\s+\\d+(\\.\\d)?(Mi|Gi) \\(\\d+ procs\\)`));
    // Let it go: the job completes, and the runner, past maxMemory with what it holds, is retired: memory falls.
    writeFileSync(release, '');
    const after = await waitFor(async () => {
      const mem = byReplica(await scrape(), 'trireme_replica_memory_bytes').get(id) ?? Infinity;
      return mem < idle + 100 * MiB ? mem : undefined;
    }, 60_000, 'the replica\'s memory to fall back once the runner is retired');
    const cpu2 = byReplica(await scrape(), 'trireme_replica_cpu_seconds_total').get(id)!;
    console.log(`# after the job: ${Math.round(after / MiB)} MiB, ${cpu2} CPU s`);
    assert.ok(cpu2 >= cpu1, 'a counter: the retired runner\'s seconds stay counted');
  });

  test('a replica\'s series go away with it', async () => {
    const [id] = [...byReplica(await scrape(), 'trireme_replica_memory_bytes').keys()];
    const res = await fetch(`${base}/workers/stop/${encodeURIComponent(id)}`, { method: 'POST' });
    assert.equal(res.status, 202, await res.text());
    // min 1: another replica takes its place; the drained one's series are gone.
    await waitFor(async () => {
      const ids = [...byReplica(await scrape(), 'trireme_replica_memory_bytes').keys()];
      return ids.length === 1 && ids[0] !== id;
    }, 60_000, 'the new replica\'s series, and none of the old one');
    const text = await scrape();
    assert.doesNotMatch(text, new RegExp(`replica="${id}"`));
  });
});
