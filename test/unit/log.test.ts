/** Log lines for people on a terminal, JSON elsewhere. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logFormat, pretty } from '../../src/system/log.js';

test('the format: asked for wins, else pretty on a terminal and JSON elsewhere', () => {
  assert.equal(logFormat({ TRIREME_LOG_FORMAT: 'json' }, true), 'json');
  assert.equal(logFormat({ TRIREME_LOG_FORMAT: 'pretty' }, false), 'pretty');
  assert.equal(logFormat({}, true), 'pretty');
  assert.equal(logFormat({}, false), 'json');
});

test('a pretty line shows time, level, pool, message, the reason, then the other fields', () => {
  const at = Date.UTC(2026, 10, 23, 12, 4, 5, 120);
  const line = JSON.stringify({ level: 30, time: at, pid: 1, name: 'trireme', pool: 'heavy', msg: 'scale up', reason: 'heavy: load 3 >= 1, 0 -> 3', from: 0, to: 3 });
  assert.equal(pretty(line, false), '12:04:05.120  INFO   heavy  scale up  heavy: load 3 >= 1, 0 -> 3  from=0 to=3\n');
  assert.equal(pretty(JSON.stringify({ level: 50, time: at, msg: 'reconcile failed', err: 'boom' }), false), '12:04:05.120  ERROR  reconcile failed  err=boom\n');
  assert.equal(pretty('not json', false), 'not json');
});
