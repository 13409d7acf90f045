/**
 * A run of a job schedule is found by its id like any job: BullMQ names it `repeat:<scheduler id>:<due ms>`, and
 * Trireme's scheduler ids (`<queue>~s-<name>`) name the queue. No other id with a ":" reaches a queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queueOfJobId } from '../../src/jobs/ids.js';
import { schedulerId } from '../../src/jobs/schedules.js';

test('the queue of a scheduled run comes from its scheduler id; other ids with ":" name no queue', () => {
  assert.equal(schedulerId('reports', 'nightly-report'), 'reports~s-nightly-report');
  assert.equal(queueOfJobId(`repeat:${schedulerId('reports', 'nightly-report')}:1714521600000`), 'reports');
  assert.equal(queueOfJobId('repeat:a.b_c-d~s-x.y:1'), 'a.b_c-d');
  assert.equal(queueOfJobId('reports~2b1c'), 'reports');
  for (const id of ['repeat:reports~s-x:12ab', 'repeat:reports~x:1', 'reports:meta', 'repeat:reports~s-x:1:2', 'repeat::1', `repeat:${'q'.repeat(200)}~s-x:1`]) {
    assert.equal(queueOfJobId(id), undefined, id);
  }
});
