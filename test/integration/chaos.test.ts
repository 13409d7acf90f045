/**
 * The chaos suite at full size in CI (test/chaos/chaos.ts; `npm run test:chaos -- --jobs N --seed S` runs others):
 * 5 000 jobs across three pools through replica kills and drains, recycling, a Redis SIGKILL and AOF restart and a
 * leading serve SIGKILLed, and not one job lost, stuck or doubled by its idempotency key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChaos, formatReport, violations } from '../chaos/chaos.js';

test('chaos: 5 000 jobs through seeded faults, none lost, none stuck, one job per idempotency key', async () => {
  const report = await runChaos({ jobs: 5000, seed: 1, log: (l) => console.log(l) });
  console.log(formatReport(report));
  assert.deepEqual(violations(report), []);
  for (const [kind, n] of Object.entries(report.faults)) assert.ok(n >= 1, `no "${kind}" fault was injected`);
  assert.equal(report.takeovers, report.faults['leader kill -9 + new serve'], 'a standby serve took over after every leader kill');
  assert.equal(report.completed + report.failed, 5000);
});
