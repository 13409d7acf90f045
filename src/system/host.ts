/**
 * Who this process is on its machine: the host name it reports (TRIREME_HOSTNAME, else the machine's: a pod's name,
 * a container's id), and the id of the container it runs in, if any. A container's id is read from the bind mount
 * of its /etc/hostname, which Docker (and Podman) make from the container's own folder; this works whatever the
 * network mode, where the host name does not (with `network_mode: host` every container has the host's name).
 * And whether another process of this machine is alive.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, hostname, totalmem } from 'node:os';

export const HOST = process.env.TRIREME_HOSTNAME || hostname();

let container: string | undefined | null = null;

/** This process's container id (64 hex characters), or undefined outside a container. */
export function containerId(mountinfo?: string): string | undefined {
  if (mountinfo === undefined && container !== null) return container;
  let text = mountinfo;
  if (text === undefined) { try { text = readFileSync('/proc/self/mountinfo', 'utf8'); } catch { text = ''; } }
  const m = /\/containers\/([0-9a-f]{64})\/(?:userdata\/)?hostname \/etc\/hostname /.exec(text);
  const id = m?.[1];
  if (mountinfo === undefined) container = id;
  return id;
}

/** Whether a process with this pid exists on this machine (one we may not signal counts: it exists). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What this machine offers the local driver's pools: CPUs, memory, and the indices of its GPUs. */
export interface Machine { cpu: number; memory: number; gpus: number[] }

/**
 * This machine, read once: a host short of file descriptors can report no CPUs at all later, which must not shrink
 * every pool. GPUs are those `nvidia-smi -L` lists; none where it is missing.
 */
export function readMachine(): Machine {
  return { cpu: availableParallelism(), memory: totalmem(), gpus: detectGpus() };
}

function detectGpus(): number[] {
  try {
    const out = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
    return out.split('\n').filter((l) => l.startsWith('GPU ')).map((_, i) => i);
  } catch { return []; }
}
