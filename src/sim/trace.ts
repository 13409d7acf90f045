/**
 * Workload traces: CSV lines `t_seconds,task,service_seconds`, one job each, with an optional header line. Three more
 * columns may follow, named in the header (any order after the first three) or in this order without one:
 * `priority` (BullMQ's: 1 is the highest, 0 or empty for none), `delay_seconds` (runnable that long after its submit)
 * and `queue` (an explicit queue, which overrides the routes).
 */
import { readFile } from 'node:fs/promises';

export interface TraceJob { t: number; task: string; service: number; priority?: number; delay?: number; queue?: string }

const REQUIRED = ['t_seconds', 'task', 'service_seconds'];
const OPTIONAL = ['priority', 'delay_seconds', 'queue'];
/** BullMQ's highest priority number. */
const MAX_PRIORITY = 2_097_152;

export function parseTrace(text: string, source = 'trace'): TraceJob[] {
  const jobs: TraceJob[] = [];
  const lines = text.split('\n');
  let columns = [...REQUIRED, ...OPTIONAL];
  let first = true;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    const cells = line.split(',').map((c) => c.trim());
    if (first && cells[0] === 't_seconds') {
      first = false;
      const unknown = cells.filter((c) => !REQUIRED.includes(c) && !OPTIONAL.includes(c));
      if (unknown.length || cells.slice(0, 3).join() !== REQUIRED.join()) {
        throw new Error(`${source}:${i + 1}: the header must begin "${REQUIRED.join(',')}" and may add ${OPTIONAL.join(', ')}; got "${line}"`);
      }
      columns = cells;
      continue;
    }
    first = false;
    const cell = (name: string) => { const k = columns.indexOf(name); return k < 0 ? undefined : cells[k]; };
    const bad = (what: string) => new Error(`${source}:${i + 1}: ${what}, got "${line}"`);
    const job: TraceJob = { t: Number(cell('t_seconds')), task: cell('task') ?? '', service: Number(cell('service_seconds')) };
    if (cells.length < 3 || !Number.isFinite(job.t) || !job.task || !Number.isFinite(job.service) || job.service < 0) {
      throw bad('expected "t_seconds,task,service_seconds"');
    }
    const priority = cell('priority');
    if (priority) {
      const n = Number(priority);
      if (!Number.isInteger(n) || n < 0 || n > MAX_PRIORITY) throw bad(`priority must be a whole number from 0 (none) to ${MAX_PRIORITY}`);
      if (n > 0) job.priority = n;
    }
    const delay = cell('delay_seconds');
    if (delay) {
      const n = Number(delay);
      if (!Number.isFinite(n) || n < 0) throw bad('delay_seconds must be a number of seconds, 0 or more');
      if (n > 0) job.delay = n;
    }
    const queue = cell('queue');
    if (queue) job.queue = queue;
    jobs.push(job);
  }
  return jobs.sort((a, b) => a.t - b.t);
}

export async function readTrace(path: string): Promise<TraceJob[]> {
  return parseTrace(await readFile(path, 'utf8'), path);
}
