/**
 * What a process and everything below it use, read from /proc (Linux): CPU seconds and resident memory of the
 * whole tree, so that a replica's figures include its isolated runners and the programs its command tasks run.
 *
 * Children are found through /proc/<pid>/task/<tid>/children (one file per thread: a worker thread that spawns a
 * program is its parent), falling back to a scan of every /proc/<pid>/stat where the kernel lacks those files. CPU
 * comes from each process's stat: its own user and system time, plus the time of children it has already reaped
 * (cutime, cstime), so a command that ran and exited stays counted. Memory is VmRSS from status, in bytes: RSS
 * counts pages shared between processes of the tree once per process, which over-reads a fork-heavy tree a little
 * and never under-reads one.
 *
 * Elsewhere (macOS, a /proc this process may not read) every read returns undefined: callers show nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc's CPU times: USER_HZ, fixed at 100 by the kernel's ABI on every architecture Node runs on. */
const USER_HZ = 100;
/** A tree wider than this is not walked further (a fork bomb must not make a heartbeat read forever). */
const MAX_PROCESSES = 512;

export interface TreeUsage {
  /** CPU seconds (user + system) of the tree: live processes and the children they reaped. */
  cpuSeconds: number;
  /** Resident memory of every live process of the tree, bytes. */
  rss: number;
  /** The root's own part of `rss`. */
  rootRss: number;
  /** Processes in the tree, the root included. */
  processes: number;
  /** Their pids, the root first. */
  pids: number[];
}

interface Stat { ppid: number; cpuSeconds: number }

/** The fields of /proc/<pid>/stat that matter here; the command name (field 2) may hold spaces and parentheses. */
export function parseStat(text: string): Stat | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  // Fields from 3 on: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
  const f = text.slice(end + 2).split(' ');
  const n = (i: number) => Number(f[i]);
  if (f.length < 15 || !Number.isFinite(n(11))) return undefined;
  return { ppid: n(1), cpuSeconds: (n(11) + n(12) + n(13) + n(14)) / USER_HZ };
}

/** VmRSS of /proc/<pid>/status, in bytes (0 for a zombie, which has none). */
export function parseRss(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/** The direct children of `pid`, as the kernel lists them per thread; undefined where it keeps no such list. */
async function childrenOf(pid: number): Promise<number[] | undefined> {
  let tids: string[];
  try { tids = await readdir(`/proc/${pid}/task`); } catch { return []; } // gone meanwhile
  const out: number[] = [];
  for (const tid of tids) {
    let text: string;
    try { text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8'); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && tid === String(pid)) return undefined;
      continue; // a thread that ended meanwhile
    }
    for (const c of text.split(' ')) if (c.trim()) out.push(Number(c));
  }
  return out;
}

/** Every process's parent, from a scan of /proc: the fallback where the children files are missing. */
async function parentsByScan(): Promise<Map<number, number[]>> {
  const kids = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = await readFile(`/proc/${name}/stat`, 'utf8').then(parseStat, () => undefined);
    if (!st) continue;
    const list = kids.get(st.ppid);
    if (list) list.push(Number(name)); else kids.set(st.ppid, [Number(name)]);
  }
  return kids;
}

/** The usage of `root` and its descendants; undefined where /proc cannot be read (not Linux). */
export async function treeUsage(root: number): Promise<TreeUsage | undefined> {
  const rootStat = await readFile(`/proc/${root}/stat`, 'utf8').then(parseStat, () => undefined);
  if (!rootStat) return undefined;
  let scan: Map<number, number[]> | undefined;
  const pids: number[] = [];
  const queue = [root];
  while (queue.length && pids.length < MAX_PROCESSES) {
    const pid = queue.shift()!;
    pids.push(pid);
    let kids = scan ? scan.get(pid) ?? [] : await childrenOf(pid);
    if (kids === undefined) { scan = await parentsByScan(); kids = scan.get(pid) ?? []; }
    queue.push(...kids);
  }
  let cpuSeconds = 0;
  let rss = 0;
  let rootRss = 0;
  const live: number[] = [];
  await Promise.all(pids.map(async (pid) => {
    const [stat, status] = await Promise.all([
      pid === root ? rootStat : readFile(`/proc/${pid}/stat`, 'utf8').then(parseStat, () => undefined),
      readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined),
    ]);
    if (!stat || status === undefined) return; // exited while being read
    const own = parseRss(status);
    cpuSeconds += stat.cpuSeconds;
    rss += own;
    if (pid === root) rootRss = own;
    live.push(pid);
  }));
  live.sort((a, b) => (a === root ? -1 : b === root ? 1 : a - b));
  return { cpuSeconds, rss, rootRss, processes: live.length, pids: live };
}

/**
 * Resident memory of the descendants of `pid` (not `pid` itself), read synchronously: what a runner's programs hold
 * beside what the runner reports of itself. 0 where /proc cannot be read.
 */
export function descendantsRss(pid: number): number {
  let rss = 0;
  const queue = [pid];
  let seen = 0;
  while (queue.length && seen < MAX_PROCESSES) {
    const p = queue.shift()!;
    seen++;
    let tids: string[] = [];
    try { tids = readdirSync(`/proc/${p}/task`); } catch { /* gone */ }
    for (const tid of tids) {
      let text = '';
      try { text = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8'); } catch { /* gone, or no such files: counted as none */ }
      for (const c of text.split(' ')) {
        if (!c.trim()) continue;
        const child = Number(c);
        queue.push(child);
        try { rss += parseRss(readFileSync(`/proc/${child}/status`, 'utf8')); } catch { /* exited */ }
      }
    }
  }
  return rss;
}
