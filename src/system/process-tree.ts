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
 * Elsewhere (macOS, a /proc this process may not read) every read returns undefined: callers show nothing; only
 * `treeRss`, what a runner's `maxMemory` acts on, asks `ps` there instead.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';

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

/** A /proc file's text, or undefined once the process is gone (or the file is missing). */
function read(path: string): string | undefined {
  try { return readFileSync(path, 'utf8'); } catch { return undefined; }
}

/** The direct children of `pid`, as the kernel lists them per thread; undefined where it keeps no such list. */
function childrenOf(pid: number): number[] | undefined {
  let tids: string[];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { return []; } // gone meanwhile
  const out: number[] = [];
  for (const tid of tids) {
    const text = read(`/proc/${pid}/task/${tid}/children`);
    if (text === undefined) {
      if (tid === String(pid) && !existsSync(`/proc/${pid}/task/${tid}/children`) && existsSync(`/proc/${pid}/task/${tid}`)) return undefined;
      continue; // a thread that ended meanwhile
    }
    for (const c of text.split(' ')) if (c.trim()) out.push(Number(c));
  }
  return out;
}

/** Every process's children, from a scan of /proc: the fallback where the children files are missing. */
function childrenByScan(): Map<number, number[]> {
  const kids = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = parseStat(read(`/proc/${name}/stat`) ?? '');
    if (!st) continue;
    const list = kids.get(st.ppid);
    if (list) list.push(Number(name)); else kids.set(st.ppid, [Number(name)]);
  }
  return kids;
}

/**
 * The usage of `root` and its descendants; undefined where /proc cannot be read (not Linux). The reads are
 * synchronous on purpose: /proc is in memory, a read takes microseconds, and going through the thread pool costs far
 * more CPU than the read itself (npm run bench:usage: 0.2 ms a sample for a replica alone, 1.3 ms with 16 runners).
 */
export async function treeUsage(root: number): Promise<TreeUsage | undefined> {
  const rootStat = parseStat(read(`/proc/${root}/stat`) ?? '');
  if (!rootStat) return undefined;
  let scan: Map<number, number[]> | undefined;
  const pids: number[] = [];
  const queue = [root];
  while (queue.length && pids.length < MAX_PROCESSES) {
    const pid = queue.shift()!;
    pids.push(pid);
    let kids = scan ? scan.get(pid) ?? [] : childrenOf(pid);
    if (kids === undefined) { scan = childrenByScan(); kids = scan.get(pid) ?? []; }
    queue.push(...kids);
  }
  let cpuSeconds = 0;
  let rss = 0;
  let rootRss = 0;
  const live: number[] = [];
  for (const pid of pids) {
    const stat = pid === root ? rootStat : parseStat(read(`/proc/${pid}/stat`) ?? '');
    const status = read(`/proc/${pid}/status`);
    if (!stat || status === undefined) continue; // exited while being read
    const own = parseRss(status);
    cpuSeconds += stat.cpuSeconds;
    rss += own;
    if (pid === root) rootRss = own;
    live.push(pid);
  }
  return { cpuSeconds, rss, rootRss, processes: live.length, pids: live };
}

/**
 * Resident memory of the descendants of `pid` (not `pid` itself): what a runner's programs hold beside what the
 * runner reports of itself. 0 where /proc cannot be read.
 */
export function descendantsRss(pid: number): number {
  let rss = 0;
  const queue = childrenOf(pid) ?? [];
  for (let seen = 0; queue.length && seen < MAX_PROCESSES; seen++) {
    const p = queue.shift()!;
    rss += parseRss(read(`/proc/${p}/status`) ?? '');
    queue.push(...(childrenOf(p) ?? []));
  }
  return rss;
}

/**
 * Bytes of resident memory of `pid` and every process below it, for a runner's `maxMemory` (a runner that forks, a
 * multiprocessing pool or a subprocess, holds its memory in several processes); undefined when `pid` is gone. On
 * Linux from /proc (`treeUsage`); elsewhere `ps` is asked once for every process's parent and RSS.
 */
export async function treeRss(pid: number): Promise<number | undefined> {
  if (process.platform === 'linux') return (await treeUsage(pid))?.rss;
  return new Promise((resolve) => {
    execFile('ps', ['-A', '-o', 'pid=,ppid=,rss='], (err, stdout) => {
      if (err) { resolve(undefined); return; }
      const children = new Map<number, number[]>();
      const rss = new Map<number, number>();
      for (const line of stdout.trim().split('\n')) {
        const [p, ppid, kb] = line.trim().split(/\s+/).map(Number);
        rss.set(p, kb * 1024);
        const list = children.get(ppid);
        if (list) list.push(p); else children.set(ppid, [p]);
      }
      if (!rss.has(pid)) { resolve(undefined); return; }
      let total = 0;
      const queue = [pid];
      const seen = new Set<number>();
      while (queue.length && seen.size < MAX_PROCESSES) {
        const p = queue.pop()!;
        if (seen.has(p)) continue;
        seen.add(p);
        total += rss.get(p) ?? 0;
        queue.push(...(children.get(p) ?? []));
      }
      resolve(total);
    });
  });
}
