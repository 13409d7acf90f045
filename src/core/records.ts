/**
 * The records Trireme keeps beside BullMQ's (in Redis): what replicas say of themselves, scale events, manual
 * overrides, the controller's last decisions. Types only, shared by the side that writes them (queue/) and the
 * sides that read them (control/, the faces).
 */

export type ReplicaState = 'starting' | 'idle' | 'busy' | 'draining';

/** A replica as it reports itself in its heartbeats. */
export interface ReplicaInfo {
  id: string;
  pool: string;
  host: string;
  pid: number;
  /** Set by drivers that know it (a container or unit name). */
  container?: string;
  state: ReplicaState;
  startedAt: number;
  lastActivity: number;
  jobsDone: number;
  running: number;
  concurrency: number;
}

export interface ScaleEvent { at: number; pool: string; from: number; to: number; reason: string; manual?: boolean }
export interface Override { paused: boolean; replicas?: number; at: number }
export interface StoredDecision {
  at: number; pool: string; desired: number; current: number; direction: 'up' | 'down' | 'hold'; reason: string;
  cooldownRemaining: number; min: number; max: number; leader: string; health?: string;
  /** Capacity or the budget held the pool below what its load needs (the reason says `capacity-starved`). */
  starved?: boolean;
  /** Jobs per second in (submitted) and out (finished), and mean service seconds, as the controller measured them. */
  arrivalRate: number; completionRate: number; serviceTime: number;
}

/** One pool's queues as the controller reads them. */
export interface QueueLoad { waiting: number; running: number; delayedDue: number }
