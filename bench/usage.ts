/**
 * What reading a replica's process tree costs (replica/usage.ts samples it every 2 s): treeUsage() from /proc for a
 * replica alone and with 4 and 16 child processes (isolated runners, command programs), beside the baseline of what
 * a replica reads of itself alone (process.memoryUsage() and process.cpuUsage()), in one run on this machine. The
 * share is the CPU of one sample every 2 s. Target: under 0.5 % of a core with 16 runners.
 *
 *   npm run bench:usage [-- --samples 200]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { treeUsage } from '../src/system/process-tree.js';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '200' } } });
const SAMPLES = Number(values.samples);
const INTERVAL_MS = 2_000;

/** CPU microseconds (user + system) of this process spent in `fn`, per call, median of `n` calls. */
async function cost(fn: () => unknown, n: number): Promise<number> {
  const each: number[] = [];
  for (let i = 0; i < n; i++) {
    const before = process.cpuUsage();
    await fn();
    const d = process.cpuUsage(before);
    each.push(d.user + d.system);
  }
  return each.sort((a, b) => a - b)[Math.floor(n / 2)];
}

const children: ChildProcess[] = [];
const grow = async (to: number) => {
  while (children.length < to) {
    const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(c);
  }
  // Until /proc lists them all as our children.
  for (;;) { const u = await treeUsage(process.pid); if (u && u.processes >= to + 1) return; await new Promise((r) => setTimeout(r, 50)); }
};

const rows: string[][] = [['tree', 'processes', 'per sample', 'baseline (own figures)', 'ratio', 'CPU at 1 sample / 2 s', 'target', 'verdict']];
const baseline = await cost(() => { process.memoryUsage(); process.cpuUsage(); }, SAMPLES);
try {
  for (const n of [0, 4, 16]) {
    await grow(n);
    const us = await cost(() => treeUsage(process.pid), SAMPLES);
    const share = us / 1000 / INTERVAL_MS * 100;
    const ok = n < 16 || share < 0.5;
    rows.push([n === 0 ? 'replica alone' : `replica + ${n} children`, String(n + 1), `${(us / 1000).toFixed(2)} ms`, `${(baseline / 1000).toFixed(3)} ms`, `${(us / Math.max(1, baseline)).toFixed(0)}x`, `${share.toFixed(3)} %`, n === 16 ? '< 0.5 %' : '-', n === 16 ? (ok ? 'ok' : 'MISSED') : '-']);
  }
} finally {
  for (const c of children) c.kill('SIGKILL');
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
