/**
 * What a replica uses, with everything it started: CPU seconds and resident memory of its process tree (its isolated
 * runners and the programs of its command tasks counted), and GPU memory where nvidia-smi tells. Sampled every few
 * seconds by the replica (not per job: a tree walk reads a few dozen /proc files), and sent with its heartbeat
 * (ReplicaInfo) to the registry, where /metrics, `trireme workers` and the dashboard read it.
 *
 * The probe that reads the machine is a part passed in (parts.ts UsageProbe): /proc and nvidia-smi by default
 * (redis-parts.ts), none in the unit tests' in-memory parts, where no figures are reported.
 */
import type { Clock } from '../core/clock.js';
import type { ReplicaInfo } from '../core/records.js';
import type { UsageProbe } from './parts.js';

/** How often the tree is read. */
export const SAMPLE_MS = 2_000;
/** How often GPU memory is asked for (nvidia-smi takes tens of milliseconds). */
const GPU_SAMPLE_MS = 10_000;

export type Usage = Pick<ReplicaInfo, 'cpuSeconds' | 'cpuPercent' | 'rss' | 'gpuMemory' | 'processes'>;

export class UsageSampler {
  private last?: { at: number; cpuSeconds: number; rss: number; rootRss: number; processes: number; pids: number[] };
  private cpuPercent?: number;
  private gpuMemory?: number;
  private gpuAt = -Infinity;
  /** The tree's CPU seconds never go back (a runner that dies unreaped takes its seconds with it): a counter. */
  private cpuFloor = 0;
  private sampling?: Promise<void>;

  constructor(
    private readonly probe: UsageProbe,
    private readonly clock: Clock,
    private readonly pid: number,
    /** Ask for GPU memory (pools that declare GPUs). */
    private readonly gpus: boolean,
  ) {}

  /** Reads the tree now (one read at a time; a call while one runs waits for it). */
  sample(): Promise<void> {
    this.sampling ??= this.read().finally(() => { this.sampling = undefined; });
    return this.sampling;
  }

  private async read(): Promise<void> {
    const now = this.clock.now();
    const tree = await this.probe.tree(this.pid).catch(() => undefined);
    if (!tree) return;
    const cpuSeconds = Math.max(this.cpuFloor, tree.cpuSeconds);
    if (this.last && now > this.last.at) this.cpuPercent = Math.max(0, ((cpuSeconds - this.last.cpuSeconds) / ((now - this.last.at) / 1000)) * 100);
    this.cpuFloor = cpuSeconds;
    this.last = { at: now, cpuSeconds, rss: tree.rss, rootRss: tree.rootRss, processes: tree.processes, pids: tree.pids };
    if (this.gpus && this.probe.gpu && now - this.gpuAt >= GPU_SAMPLE_MS) {
      this.gpuAt = now;
      const byPid = await this.probe.gpu().catch(() => undefined);
      if (byPid) this.gpuMemory = tree.pids.reduce((sum, pid) => sum + (byPid.get(pid) ?? 0), 0);
    }
  }

  /** The figures for the next heartbeat; empty before the first read (or where the tree cannot be read). */
  usage(): Usage {
    const l = this.last;
    if (!l) return {};
    return {
      cpuSeconds: Math.round(l.cpuSeconds * 100) / 100, rss: l.rss, processes: l.processes,
      ...(this.cpuPercent !== undefined ? { cpuPercent: Math.round(this.cpuPercent * 10) / 10 } : {}),
      ...(this.gpuMemory !== undefined ? { gpuMemory: this.gpuMemory } : {}),
    };
  }

  /**
   * The tree's resident memory with the replica's own part as of now (`ownRss`, cheap to read per job) and its
   * children's as of the last sample: what maxMemory is checked against. Undefined before the first sample.
   */
  treeRss(ownRss: number): number | undefined {
    return this.last ? ownRss + (this.last.rss - this.last.rootRss) : undefined;
  }
}
