/**
 * Reading what a process tree uses from the real /proc: a child that holds 100 MB is counted with its parent, its
 * CPU seconds too; the stat parser survives command names with spaces and parentheses; nvidia-smi's CSV (as the
 * driver prints it for `--query-compute-apps=pid,used_memory --format=csv,noheader,nounits`) is read per pid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { descendantsRss, parseRss, parseStat, treeRss, treeUsage } from '../../src/system/process-tree.js';
import { parseComputeApps } from '../../src/system/gpu-memory.js';
import { waitFor } from '../helpers.js';

const MiB = 1024 * 1024;

test('a child holding 100 MB and burning CPU is counted in its parent\'s tree', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const before = (await treeUsage(process.pid))!;
  assert.ok(before.rootRss > 10 * MiB && before.rootRss <= before.rss, `root ${before.rootRss}, tree ${before.rss}`);
  // Touch every page so that it is resident, then spin for half a second and wait.
  const child = spawn(process.execPath, ['-e', 'const b = Buffer.alloc(100 * 1024 * 1024, 1); const end = Date.now() + 500; while (Date.now() < end); process.stdout.write("ready\\n"); setInterval(() => b[0]++, 1000);'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((r) => child.stdout!.once('data', () => r()));
    const during = await waitFor(async () => { const u = (await treeUsage(process.pid))!; return u.pids.includes(child.pid!) ? u : undefined; }, 10_000, 'the child in the tree');
    assert.equal(during.pids[0], process.pid, 'the root first');
    assert.ok(during.rss - during.rootRss >= 100 * MiB, `children hold ${Math.round((during.rss - during.rootRss) / MiB)} MiB`);
    assert.ok(during.cpuSeconds - before.cpuSeconds >= 0.3, `the child's half second of CPU is counted (${(during.cpuSeconds - before.cpuSeconds).toFixed(2)} s more)`);
    assert.ok(descendantsRss(process.pid) >= 100 * MiB, 'the synchronous read of the descendants agrees');
    // What a runner's maxMemory acts on: the same tree's memory, its children's included.
    const rss = (await treeRss(process.pid))!;
    assert.ok(rss - during.rootRss >= 100 * MiB, `treeRss counts the child (${Math.round(rss / MiB)} MiB in all)`);
    assert.ok((await treeRss(child.pid!))! >= 100 * MiB, 'and the child alone');
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
  const after = (await treeUsage(process.pid))!;
  assert.ok(!after.pids.includes(child.pid!), 'gone from the tree once it exited');
});

test('a process that is gone has no usage; the stat parser takes names with spaces and parentheses', async () => {
  assert.equal(await treeUsage(2 ** 30), undefined);
  assert.equal(await treeRss(2 ** 30), undefined);
  const stat = '4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 10 5 20 0 1 0 100 1000 100';
  assert.deepEqual(parseStat(stat), { ppid: 1, cpuSeconds: 3.15 });
  assert.equal(parseStat('garbage'), undefined);
  assert.equal(parseRss('Name:\tnode\nVmRSS:\t  204800 kB\n'), 200 * MiB);
  assert.equal(parseRss('Name:\tzombie\nState:\tZ\n'), 0);
});

test('nvidia-smi\'s compute-apps CSV becomes bytes per pid; a process on two GPUs adds up; [N/A] lines are skipped', () => {
  const csv = '12345, 1024\n12345, 512\n777, [N/A]\n888, 79\n\n';
  assert.deepEqual([...parseComputeApps(csv)], [[12345, 1536 * MiB], [888, 79 * MiB]]);
  assert.deepEqual([...parseComputeApps('')], []);
});
