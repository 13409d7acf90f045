/**
 * GPU memory per process, from `nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits`
 * (one line a process: `12345, 1024`, MiB). Where nvidia-smi is missing or fails, nothing is known: the first
 * failure stops further tries, so a machine without GPUs pays for one attempt.
 *
 * In a container nvidia-smi may list the host's pids, which match none of the container's: the figures are then
 * missing, not wrong. Under MIG or WSL `used_memory` may read `[N/A]`: such lines are skipped.
 */
import { execFile } from 'node:child_process';

/** Bytes of GPU memory by pid, from nvidia-smi's CSV. */
export function parseComputeApps(csv: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of csv.split('\n')) {
    const [pid, mib] = line.split(',').map((x) => x.trim());
    if (!/^\d+$/.test(pid ?? '') || !/^\d+(\.\d+)?$/.test(mib ?? '')) continue;
    // One process may hold memory on several GPUs: one line each.
    out.set(Number(pid), (out.get(Number(pid)) ?? 0) + Number(mib) * 1024 * 1024);
  }
  return out;
}

let unavailable = false;

/** GPU memory by pid now; undefined where nvidia-smi cannot tell. */
export function gpuMemoryByPid(timeoutMs = 5_000): Promise<Map<number, number> | undefined> {
  if (unavailable) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout) => {
      if (err) { unavailable = (err as NodeJS.ErrnoException).code === 'ENOENT'; resolve(undefined); return; }
      resolve(parseComputeApps(stdout));
    });
  });
}
