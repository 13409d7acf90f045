/**
 * What a replica says it uses, with everything it started, in virtual time: its heartbeats carry the CPU seconds
 * (never going back), CPU % and resident memory of its process tree, and GPU memory for pools with GPUs; maxMemory
 * acts on the whole tree; a drain that runs out of grace leaves a notice for the controller. The probe is shaped as
 * system/process-tree.ts reads /proc (process-tree.test.ts checks that one against the real /proc).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { parseConfig } from '../../src/core/config.js';
import { Router } from '../../src/core/routing.js';
import { defineTask } from '../../src/core/task.js';
import type { Project, TaskEntry } from '../../src/core/project.js';
import { PoolWorker, type DrainReason } from '../../src/replica/pool-worker.js';
import type { ReplicaParts, UsageProbe } from '../../src/replica/parts.js';
import { MemoryCancels, MemoryHeartbeats, MemoryJobSource } from '../memory.js';

const MiB = 1024 * 1024;
const settle = () => new Promise((r) => setImmediate(r));

/** A probe that answers what the test sets, as /proc would for the replica's tree. */
class ScriptedProbe implements UsageProbe {
  tree_ = { cpuSeconds: 1, rss: 200 * MiB, rootRss: 150 * MiB, processes: 2, pids: [process.pid, 424242] };
  gpuByPid?: Map<number, number>;
  gpuCalls = 0;
  async tree(pid: number) { assert.equal(pid, process.pid, 'the replica reads its own tree'); return { ...this.tree_ }; }
  async gpu() { this.gpuCalls++; return this.gpuByPid; }
}

function setup(pool: Record<string, unknown> = {}) {
  const config = parseConfig({ defaultQueue: 'q', pools: { p: { queues: ['q'], concurrency: 1, drainGrace: '10s', ...pool } } });
  let release!: () => void;
  const block = defineTask('block', () => new Promise<void>((r) => { release = r; }));
  const quick = defineTask('quick', async () => 'ok');
  const tasks = new Map<string, TaskEntry>([block, quick].map((definition) => [definition.name, { kind: 'function', name: definition.name, definition, module: 'test' }]));
  const project: Project = { config, router: new Router(config.routes, config.defaultQueue, config.pools), tasks, baseDir: process.cwd(), tasksLoaded: true };
  const clock = new ManualClock(1_000_000);
  const source = new MemoryJobSource();
  const heartbeats = new MemoryHeartbeats(clock);
  const probe = new ScriptedProbe();
  const parts: ReplicaParts = { clock, source, heartbeats, cancels: new MemoryCancels(), usage: probe, connected: () => true, close: async () => {} };
  const worker = new PoolWorker({ project, pool: 'p', parts, id: 'p-1', heartbeatMs: 1_000 });
  const drained: DrainReason[] = [];
  worker.on('drained', (r: DrainReason) => drained.push(r));
  return { worker, clock, source, heartbeats, probe, drained, release: () => release() };
}

test('heartbeats carry the tree\'s CPU seconds, CPU % and memory; CPU seconds never go back', async () => {
  const { worker, clock, heartbeats, probe } = setup();
  await worker.start();
  await settle();
  clock.advance(1_000);
  await settle();
  assert.deepEqual(pick(heartbeats.beats.at(-1)!.info), { cpuSeconds: 1, rss: 200 * MiB, processes: 2 }, 'no CPU % before a second sample');
  probe.tree_ = { ...probe.tree_, cpuSeconds: 2, rss: 500 * MiB };
  clock.advance(1_000); // the second sample, 2 s after the first: 1 CPU second in 2 s
  await settle();
  clock.advance(1_000);
  await settle();
  assert.deepEqual(pick(heartbeats.beats.at(-1)!.info), { cpuSeconds: 2, cpuPercent: 50, rss: 500 * MiB, processes: 2 });
  // A runner that died unreaped takes its seconds along: the counter holds rather than going back.
  probe.tree_ = { ...probe.tree_, cpuSeconds: 1.5, processes: 1, pids: [process.pid] };
  clock.advance(2_000);
  await settle();
  clock.advance(1_000);
  await settle();
  assert.equal(heartbeats.beats.at(-1)!.info.cpuSeconds, 2);
  assert.equal(heartbeats.beats.at(-1)!.info.cpuPercent, 0);
  assert.equal(probe.gpuCalls, 0, 'a pool without GPUs never asks nvidia-smi');
  await worker.drain(0);
});

test('a pool with GPUs reports the GPU memory its processes hold', async () => {
  const { worker, clock, heartbeats, probe } = setup({ resources: { gpu: 1 } });
  probe.gpuByPid = new Map([[process.pid, 1024 * MiB], [424242, 512 * MiB], [999, 4096 * MiB]]);
  await worker.start();
  await settle();
  clock.advance(1_000);
  await settle();
  assert.equal(heartbeats.beats.at(-1)!.info.gpuMemory, 1536 * MiB, 'its own and its runner\'s, not another process\'s');
  await worker.drain(0);
});

test('maxMemory acts on the whole tree: what its command programs hold recycles an in-process replica', async () => {
  for (const [children, recycles] of [[0, false], [1200 * MiB, true]] as const) {
    const { worker, source, probe, drained } = setup({ maxMemory: '1Gi' });
    probe.tree_ = { ...probe.tree_, rootRss: 150 * MiB, rss: 150 * MiB + children };
    await worker.start();
    await settle();
    await source.deliver('q', 'quick').done;
    await settle();
    assert.equal(worker.state === 'draining', recycles, `children holding ${children / MiB} MiB`);
    if (recycles) assert.equal(worker.drainReason, 'recycle');
    await worker.drain(0);
    assert.ok(drained.length === 1);
  }
});

test('a drain whose grace runs out with a job running leaves a drain-timeout notice for the controller', async () => {
  const { worker, clock, source, heartbeats, release } = setup();
  await worker.start();
  const job = source.deliver('q', 'block');
  await settle();
  const draining = worker.drain(10_000);
  await settle();
  clock.advance(10_000);
  await settle();
  assert.deepEqual(heartbeats.notices, [{ kind: 'replica.drain_timeout', at: 1_010_000, pool: 'p', replica: 'p-1', handedBack: 1, graceMs: 10_000 }]);
  release();
  assert.equal((await job.done).outcome, 'handed-back');
  clock.advance(10_000);
  await draining;
});

const pick = (i: object) => Object.fromEntries(['cpuSeconds', 'cpuPercent', 'rss', 'gpuMemory', 'processes'].filter((k) => (i as Record<string, unknown>)[k] !== undefined).map((k) => [k, (i as Record<string, unknown>)[k]]));
