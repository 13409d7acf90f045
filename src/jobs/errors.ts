/** Errors of job submission that callers catch by class; kept apart so that catching them loads no Redis client. */

/** A refused request: `field` names what was wrong, for people and for API error bodies. */
export class SubmitError extends Error {
  constructor(readonly code: 'unknown_task' | 'invalid_payload' | 'unknown_queue' | 'invalid_option' | 'idempotency_conflict', readonly field: string, message: string) {
    super(message);
    this.name = 'SubmitError';
  }
}
