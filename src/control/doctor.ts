/**
 * `trireme doctor`: health checks with a verdict each — Redis reachable and set up for jobs (redis/setup-checks.ts:
 * version, eviction, persistence, replicas, the Sentinel set, the Cluster and where each queue lives), the controller
 * lease held and its loop fresh, each pool's replicas alive against what the autoscaler wants, disk and memory
 * headroom, shared storage writable, job history not stuck. A failure means something is broken now; a warning,
 * something to look at.
 */
import { access, constants, mkdtemp, rm, statfs, writeFile } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from '../redis/connection.js';
import type { Project } from '../core/project.js';
import { Inspector } from './inspect.js';
import { within } from '../system/deadline.js';
import { formatDuration } from '../core/units.js';
import { outboxState, type OutboxState } from '../history/backlog.js';
import { keys } from '../redis/keys.js';
import { Keyspace, ownPrefix } from '../redis/keyspace.js';
import { redisSetupChecks } from '../redis/setup-checks.js';
import { whenReady } from '../redis/connection.js';

export interface Check { name: string; status: 'ok' | 'warn' | 'fail'; detail: string }

const GiB = 1024 ** 3;

export async function runChecks(project: Project, redis: Redis | undefined, opts: { redisLabel: string; url: string | undefined }): Promise<Check[]> {
  const checks: Check[] = [{ name: 'config', status: 'ok', detail: `${project.configPath ?? 'config'}: ${Object.keys(project.config.pools).length} pool(s), ${project.tasks.size} task(s)` }];
  // A Cluster answers once it has its slot map.
  if (redis) await whenReady(redis, 2_000);
  const info = redis ? await within(redis.info('server').then((s) => s, () => undefined), 2_000, undefined) : undefined;
  if (!redis) {
    checks.push({ name: 'redis', status: 'fail', detail: `no answer from ${opts.redisLabel}; start it with trireme serve, or set TRIREME_REDIS_URL` });
    return [...checks, ...await hostChecks(project)];
  }
  if (!info || !opts.url) {
    checks.push({ name: 'redis', status: 'fail', detail: `no answer from ${opts.redisLabel} within 2 s; is redis-server running, and is the URL right?` });
    return [...checks, ...await hostChecks(project)];
  }
  const queues = Object.values(project.config.pools).flatMap((p) => p.queues);
  const setup = redisSetupChecks(redis, opts.url, {
    label: opts.redisLabel, waitForReplicas: project.config.redis.waitForReplicas, keyspace: Keyspace.of(redis, project.config), queues,
  }).catch((e: Error): Check[] => [{ name: 'redis', status: 'fail', detail: `cannot read the setup of ${opts.redisLabel}: ${e.message}` }]);
  checks.push(...await within(setup, 10_000, [{ name: 'redis', status: 'fail' as const, detail: `${opts.redisLabel} answered INFO but not the setup checks within 10 s` }]));

  const inspector = new Inspector(project, redis);
  const [leader, pools] = await Promise.all([inspector.leader(), inspector.pools()]);
  const interval = project.config.controller.interval;
  const newest = Math.max(0, ...pools.map((p) => p.decision?.at ?? 0));
  const age = Date.now() - newest;
  if (!leader) checks.push({ name: 'controller', status: 'fail', detail: 'no controller holds the lease: nothing scales the pools; run trireme serve' });
  else if (age > 3 * interval + 2_000) checks.push({ name: 'controller', status: 'fail', detail: `${leader} holds the lease but its last decision is ${formatDuration(age)} old (loop every ${formatDuration(interval)}): the loop is stuck` });
  else checks.push({ name: 'controller', status: 'ok', detail: `${leader} holds the lease; last pass ${formatDuration(age)} ago` });

  for (const p of pools) {
    const live = p.replicas.current;
    const want = p.decision?.desired ?? p.scaling.min;
    const detail = `${live} live (${p.replicas.starting} starting, ${p.replicas.idle} idle, ${p.replicas.busy} busy, ${p.replicas.draining} draining), wanted ${want}, min ${p.scaling.min} max ${p.scaling.max}; ${p.depths.waiting} waiting`;
    // degraded: the pool runs on what is left (a host down, its replicas made up elsewhere); error: it cannot scale.
    if (p.decision?.health) checks.push({ name: `pool ${p.name}`, status: p.decision.health.startsWith('degraded') ? 'warn' : 'fail', detail: `${p.decision.health}; ${detail}` });
    else if (p.decision?.starved) checks.push({ name: `pool ${p.name}`, status: 'warn', detail: `capacity-starved: work waits and host capacity or the budget keeps it below its need (${p.decision.reason}); raise capacity, lower other pools' resources, or give it a higher priority; ${detail}` });
    else if (live === 0 && (want > 0 || p.depths.waiting > 0)) checks.push({ name: `pool ${p.name}`, status: 'fail', detail: `no replica alive; ${detail}` });
    else if (live < want) checks.push({ name: `pool ${p.name}`, status: 'warn', detail: `fewer replicas than wanted (starting up, or capped by capacity); ${detail}` });
    else checks.push({ name: `pool ${p.name}`, status: 'ok', detail });
  }
  const storage = project.config.storage;
  if (storage) checks.push(storageCheck(storage.dir, (await inspector.workers()).replicas));
  const history = project.config.history;
  if (history) {
    const state = await within(outboxState(redis, project.config.prefix).then((s) => s, () => undefined), 2_000, undefined);
    if (state) checks.push(historyCheck(state, Date.now(), history.stuckAfter, ownPrefix(redis, project.config.prefix)));
  }
  return [...checks, ...await hostChecks(project)];
}

/** storage.dir as every replica sees it: each probes the folder and says what it found in its heartbeat. */
export function storageCheck(dir: string, replicas: { id: string; host: string; storage?: string }[]): Check {
  const reporting = replicas.filter((r) => r.storage !== undefined);
  const bad = reporting.filter((r) => r.storage !== 'ok');
  if (bad.length) {
    const hosts = [...new Set(bad.map((r) => r.host))];
    return { name: 'storage.dir', status: 'fail', detail: `not writable from ${hosts.length} host(s): ${bad.map((r) => `${r.id}: ${r.storage}`).join('; ')}` };
  }
  if (!reporting.length) return { name: 'storage.dir', status: 'warn', detail: `${dir}: no replica has reported on it yet (replicas probe it when they start)` };
  const hosts = [...new Set(reporting.map((r) => r.host))];
  return { name: 'storage.dir', status: 'ok', detail: `${dir} writable from ${reporting.length} replica(s) on ${hosts.length} host(s): ${hosts.join(', ')}` };
}

/**
 * Job history as Redis holds it on its way to PostgreSQL: stuck (fail) when the oldest record waiting finished more than
 * `stuckAfter` ago (PostgreSQL unreachable or refusing, or no serve holds the lease to record); a warning when records
 * were set aside. `/readyz` reports the same.
 */
export function historyCheck(s: OutboxState, now: number, stuckAfter: number, prefix: string): Check {
  const aside = s.rejected ? `; ${s.rejected} record(s) PostgreSQL refused are set aside in ${keys.historyRejected(prefix)} (LRANGE it to read them)` : '';
  const age = s.oldestFinishedAt === undefined ? 0 : Math.max(0, now - s.oldestFinishedAt);
  if (s.waiting && age > stuckAfter) {
    return { name: 'history', status: 'fail', detail: `${s.waiting} run records wait in Redis; the oldest finished ${Math.round(age / 1000)} s ago (stuck after ${Math.round(stuckAfter / 1000)} s): is PostgreSQL up and writable, and does a trireme serve hold the controller lease? The serve's log says why it cannot write${aside}` };
  }
  return { name: 'history', status: aside ? 'warn' : 'ok', detail: `${s.waiting ? `${s.waiting} run records on their way to PostgreSQL` : 'no run record waiting'}${aside}` };
}

async function hostChecks(project: Project): Promise<Check[]> {
  const out: Check[] = [];
  try {
    const fs = await statfs(project.baseDir);
    const free = fs.bavail * fs.bsize;
    const share = free / (fs.blocks * fs.bsize);
    out.push({ name: 'disk', status: free < GiB || share < 0.05 ? 'fail' : share < 0.15 ? 'warn' : 'ok', detail: `${(free / GiB).toFixed(1)} GiB free (${Math.round(share * 100)}%) under ${project.baseDir}` });
  } catch (e) {
    out.push({ name: 'disk', status: 'warn', detail: `cannot read free space: ${(e as Error).message}` });
  }
  const mem = freemem() / totalmem();
  out.push({ name: 'memory', status: mem < 0.05 ? 'fail' : mem < 0.15 ? 'warn' : 'ok', detail: `${(freemem() / GiB).toFixed(1)} of ${(totalmem() / GiB).toFixed(1)} GiB free` });
  const shared = project.config.sharedStorage;
  if (shared) {
    const dir = resolve(project.baseDir, shared);
    try {
      await access(dir, constants.W_OK);
      const probe = await mkdtemp(join(dir, '.trireme-doctor-'));
      await writeFile(join(probe, 'probe'), 'ok');
      await rm(probe, { recursive: true });
      out.push({ name: 'shared storage', status: 'ok', detail: `${dir} is writable` });
    } catch (e) {
      out.push({ name: 'shared storage', status: 'fail', detail: `${dir} is not writable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
    }
  }
  return out;
}
