/** Workload traces: CSV lines `t_seconds,task,service_seconds`, one job each, with an optional header line. */
import { readFile } from 'node:fs/promises';

export interface TraceJob { t: number; task: string; service: number }

export function parseTrace(text: string, source = 'trace'): TraceJob[] {
  const jobs: TraceJob[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#') || (i === 0 && line.startsWith('t_seconds'))) continue;
    const [t, task, service] = line.split(',');
    const job = { t: Number(t), task: task?.trim(), service: Number(service) };
    if (!Number.isFinite(job.t) || !job.task || !Number.isFinite(job.service) || job.service < 0) {
      throw new Error(`${source}:${i + 1}: expected "t_seconds,task,service_seconds", got "${line}"`);
    }
    jobs.push(job);
  }
  return jobs.sort((a, b) => a.t - b.t);
}

export async function readTrace(path: string): Promise<TraceJob[]> {
  return parseTrace(await readFile(path, 'utf8'), path);
}
