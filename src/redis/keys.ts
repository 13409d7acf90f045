/**
 * Names of the Redis keys Trireme writes beside BullMQ's own (which live under `<prefix>:<queue>:…`). `prefix` here is
 * the own keys' prefix of the connection, `ownPrefix(redis, config.prefix)` (keyspace.ts): the config's prefix, in
 * braces on a Redis Cluster so that every key below shares one slot (test/unit/redis-setups.test.ts checks the callers).
 */
export const keys = {
  replica: (prefix: string, id: string) => `${prefix}:~replica:${id}`,
  replicas: (prefix: string) => `${prefix}:~replicas`,
  standby: (prefix: string, id: string) => `${prefix}:~standby:${id}`,
  standbys: (prefix: string) => `${prefix}:~standbys`,
  scaleEvents: (prefix: string) => `${prefix}:~scale-events`,
  lease: (prefix: string) => `${prefix}:~controller-lease`,
  overrides: (prefix: string) => `${prefix}:~overrides`,
  decisions: (prefix: string) => `${prefix}:~decisions`,
  learned: (prefix: string) => `${prefix}:~autoscaler-learned`,
  wake: (prefix: string) => `${prefix}:~wake`,
  stats: (prefix: string, queue: string) => `${prefix}:~stats:${queue}`,
  /** Hash: another broker's queue depths (a Celery pool's) as the controller last read them, by queue or label. */
  brokerDepths: (prefix: string) => `${prefix}:~broker-depths`,
  control: (prefix: string, id: string) => `${prefix}:~control:${id}`,
  /** Hash: a warm runner's start-ups (count, ms, per-bucket counts) and exits by reason, summed over a pool's replicas. */
  runnerStats: (prefix: string, pool: string, runner: string) => `${prefix}:~runner-stats:${pool}:${runner}`,
  scaleCounts: (prefix: string) => `${prefix}:~scale-counts`,
  /** What submitters without the task code need to know of each task (manifest.ts). */
  tasks: (prefix: string) => `${prefix}:~tasks`,
  /** Pub/sub: live events for the API's streams (scale events). */
  events: (prefix: string) => `${prefix}:~events`,
  /** Pub/sub: job ids to cancel; every replica listens and aborts the job if it runs it. */
  cancel: (prefix: string) => `${prefix}:~cancel`,
  /** List: run records waiting to be written to PostgreSQL (history/recorder.ts); the recorder trims what it committed. */
  historyRuns: (prefix: string) => `${prefix}:~history-runs`,
  /** List: run records PostgreSQL refused even cleaned, set aside as `{ at, error, record }` (the newest 10 000). */
  historyRejected: (prefix: string) => `${prefix}:~history-rejected`,
  /** String: the controller that last took the lease (a new leader's takeover notice names it). */
  lastLeader: (prefix: string) => `${prefix}:~last-leader`,
  /** List: notices replicas leave for the controller to send on (drain timeouts), the newest 100. */
  notices: (prefix: string) => `${prefix}:~notices`,
  /** Hash: Trireme's job schedules by name, as the leader last reconciled them with BullMQ (jobs/schedules.ts). */
  schedules: (prefix: string) => `${prefix}:~schedules`,
  /** Hash: each schedule's last run as its replica saw it, by BullMQ scheduler id. */
  scheduleRuns: (prefix: string) => `${prefix}:~schedule-runs`,
  /** String, while a job runs with history on: the run under way, so that a replica taking the job over records it as lost. */
  openRun: (prefix: string, jobId: string) => `${prefix}:~run:${jobId}`,
};
