/** Errors of job submission that callers catch by class; kept apart so that catching them loads no Redis client. */

/** A refused request: `field` names what was wrong, for people and for API error bodies. */
export class SubmitError extends Error {
  constructor(readonly code: 'unknown_task' | 'invalid_payload' | 'unknown_queue' | 'invalid_option' | 'idempotency_conflict', readonly field: string, message: string) {
    super(message);
    this.name = 'SubmitError';
  }
}

/**
 * A submit that was written to the Redis primary but not confirmed on `redis.waitForReplicas` replicas in time: it
 * may run, or be lost in a failover. Submitting again with the same idempotency key is safe. `ids`: the jobs written.
 */
export class NotReplicatedError extends Error {
  readonly code = 'not_replicated';
  constructor(readonly ids: string[], message: string) {
    super(message);
    this.name = 'NotReplicatedError';
  }
}
