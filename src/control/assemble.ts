/**
 * What a control plane runs, built in one place: the drivers of the pools, the controller's state in Redis, the
 * controller with this machine's capacity, and the housekeeping beside its loop (history to PostgreSQL, the storage
 * sweep). `trireme serve` builds its controller here and adds the API, the private Redis and the demo around it;
 * `createController` (trireme-jobs/control) is this function, so a controller embedded in one's own process runs
 * what serve runs.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../core/clock.js';
import type { Project } from '../core/project.js';
import type { PassInput, PoolPlan } from '../core/plan.js';
import { buildDrivers } from '../drivers/index.js';
import { readMachine, type Machine } from '../system/host.js';
import { silentLogger, type Logger } from '../system/log.js';
import { systemClock } from '../system/system-clock.js';
import { Controller } from './controller.js';
import { startHousekeeping } from './housekeeping.js';
import { redisControllerState } from './redis-state.js';
import { Webhooks, type Outcome } from './webhooks.js';
import type { NoticeKind } from '../core/notices.js';
import { version } from '../system/paths.js';

export interface AssembleOptions {
  project: Project;
  redisUrl: string;
  logger?: Logger;
  clock?: Clock;
  /** This controller's name, as the lease and its decisions carry it; made from the host and pid when left out. */
  id?: string;
  /** This machine (CPUs, memory, GPU indices), for the local driver's pools; read from it when left out. */
  machine?: Machine;
  /** Extra environment for the replicas the local driver starts (serve's config snapshot). */
  childEnv?: Record<string, string>;
  /** Extra `worker` arguments for locally started replicas (tests shorten locks and heartbeats). */
  workerArgs?: string[];
  /** Called after each pass with how long it took, in seconds (the loop-duration metric). */
  onReconcile?: (seconds: number) => void;
  /** Writes that failed (a scale event, the decisions, the learned memory): counted for /metrics. */
  onDroppedWrite?: (what: 'event' | 'decisions' | 'learned', pool: string) => void;
  /** Every pass's input and plans, before they are carried out (`serve --record`). */
  onPass?: (input: PassInput, plans: PoolPlan[]) => void;
  /** Each notice's fate at each webhook of `notify.webhooks` (delivered, dropped): counted for /metrics. */
  onNotification?: (webhook: string, outcome: Outcome, kind: NoticeKind) => void;
}

/**
 * A controller the way `serve` builds one: its state in Redis at `redisUrl`, one driver per kind the pools name
 * (local child processes by default), this machine's capacity, and housekeeping that starts with it. Call `start()` to
 * take part in the lease and reconcile, `stop(graceMs)` to drain what it started and stop the housekeeping.
 */
export async function assembleController(o: AssembleOptions): Promise<Controller> {
  const { project, redisUrl } = o;
  const logger = o.logger ?? silentLogger;
  const clock = o.clock ?? systemClock;
  const machine = o.machine ?? readMachine();
  const id = o.id ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 6)}`;
  const cfg = project.config;
  const drivers = await buildDrivers({ project, redisUrl, clock, logger, gpus: machine.gpus, childEnv: o.childEnv, workerArgs: o.workerArgs });
  // Each pool's signal source by its kind (signals/index.ts): BullMQ's queues, a Celery broker and its workers' events.
  const state = redisControllerState(redisUrl, {
    prefix: cfg.prefix, hashTags: cfg.redis.hashTags, holder: id, leaseTtlMs: cfg.controller.leaseTtl, eventsKept: cfg.controller.eventsKept,
    pools: cfg.pools, intervalMs: cfg.controller.interval, clock, logger,
  });
  // Webhooks deliver from their own queues: a slow or dead receiver costs the loop nothing.
  const webhooks = cfg.notify.webhooks.length
    ? new Webhooks({ config: cfg.notify, clock, logger, source: `/trireme/${cfg.prefix}`, onOutcome: o.onNotification, userAgent: `trireme/${version()}` })
    : undefined;
  const controller: Controller = new Controller({
    project, state, drivers, clock, logger, id,
    host: { cpu: machine.cpu, memory: machine.memory, gpu: machine.gpus.length },
    onReconcile: o.onReconcile, onDroppedWrite: o.onDroppedWrite, onPass: o.onPass,
    notify: webhooks && ((n) => webhooks.notify(n)),
    alongside: async () => {
      const housekeeping = await startHousekeeping({ project, redisUrl, logger, clock, isLeader: () => controller.isLeader });
      // Stopped after the drivers close: the scale-downs of a shutdown are sent too (within a short grace).
      return { stop: async () => { await housekeeping.stop(); await webhooks?.close(); } };
    },
  });
  return controller;
}
