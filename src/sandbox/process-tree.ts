/**
 * The memory of a process with its children's, for a runner's `maxMemory`: a runner that forks (a multiprocessing
 * pool, a subprocess) holds its memory in several processes. On Linux it walks /proc (each thread's `children` list,
 * then VmRSS); elsewhere it asks `ps` once for every process's parent and RSS.
 */
import { readFile, readdir } from 'node:fs/promises';
import { execFile } from 'node:child_process';

/** Bytes of resident memory of `pid` and every process below it; undefined when `pid` is gone. */
export async function treeRss(pid: number): Promise<number | undefined> {
  return process.platform === 'linux' ? linuxTreeRss(pid) : psTreeRss(pid);
}

async function linuxTreeRss(root: number): Promise<number | undefined> {
  let total = 0;
  let found = false;
  const queue = [root];
  const seen = new Set<number>();
  while (queue.length) {
    const pid = queue.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
    if (status === undefined) continue; // gone meanwhile
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (rss) total += Number(rss[1]) * 1024;
    if (pid === root) found = true;
    // A child is listed under the thread that forked it, so every thread's list is read.
    const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
    for (const tid of tasks) {
      const children = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '');
      for (const c of children.split(' ')) if (c.trim()) queue.push(Number(c));
    }
  }
  return found ? total : undefined;
}

function psTreeRss(root: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile('ps', ['-A', '-o', 'pid=,ppid=,rss='], (err, stdout) => {
      if (err) { resolve(undefined); return; }
      const rows = stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
      const children = new Map<number, number[]>();
      const rss = new Map<number, number>();
      for (const [pid, ppid, kb] of rows) {
        rss.set(pid, kb * 1024);
        children.set(ppid, [...(children.get(ppid) ?? []), pid]);
      }
      if (!rss.has(root)) { resolve(undefined); return; }
      let total = 0;
      const queue = [root];
      const seen = new Set<number>();
      while (queue.length) {
        const pid = queue.pop()!;
        if (seen.has(pid)) continue;
        seen.add(pid);
        total += rss.get(pid) ?? 0;
        queue.push(...(children.get(pid) ?? []));
      }
      resolve(total);
    });
  });
}
