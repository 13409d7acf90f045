/**
 * Pools whose one replica asks for more than one machine has. Docker refuses to start a container whose `cpus` limit
 * is above its host's CPUs ("range of CPUs is from 0.01 to N"), and the local driver never starts a replica that
 * does not fit its host, so a config written for production sizes (16 CPUs a replica) would fail on a smaller
 * machine only when the pool first scales up. `plan` and `export compose` say so before that.
 */
import type { Config } from './config.js';
import { formatSize } from './units.js';

export interface Oversized { pool: string; resource: 'cpu' | 'memory'; message: string }

/** `consequence`: what happens on this machine when a replica asks for more of `resource` than it has. */
export function oversizedPools(
  pools: Config['pools'],
  host: { cpu: number; memory: number },
  consequence: (resource: 'cpu' | 'memory') => string,
): Oversized[] {
  const out: Oversized[] = [];
  for (const [pool, p] of Object.entries(pools)) {
    const lower = (field: 'cpu' | 'memory') => `Lower pools.${pool}.resources.${field} in the config (${field === 'cpu' ? 'with any thread count its env sets' : 'with its maxMemory'}), or run this pool on a bigger host`;
    if (p.resources.cpu > host.cpu) {
      out.push({ pool, resource: 'cpu', message: `pool ${pool} asks for ${p.resources.cpu} CPUs a replica; this machine has ${host.cpu}: ${consequence('cpu')}. ${lower('cpu')}` });
    }
    if (p.resources.memory > host.memory) {
      out.push({ pool, resource: 'memory', message: `pool ${pool} asks for ${formatSize(p.resources.memory)} of memory a replica; this machine has ${formatSize(host.memory)}: ${consequence('memory')}. ${lower('memory')}` });
    }
  }
  return out;
}
