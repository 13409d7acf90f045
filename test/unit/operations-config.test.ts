/**
 * The day-two blocks of the config (schedules, rateLimits, notify, alerts): bad input is refused naming the schedule
 * or queue and the field, with the fix; good input reads as documented.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { parseConfig, ConfigError } from '../../src/core/config.js';
import { describeWhen, nextCronRuns } from '../../src/core/job-schedule.js';
import { ROOT } from '../helpers.js';

const pools = { main: { queues: ['default', 'api'] } };
const problems = (extra: Record<string, unknown>): string[] => {
  try { parseConfig({ pools, ...extra }); } catch (e) { if (e instanceof ConfigError) return e.problems; throw e; }
  return [];
};

test('a bad cron expression or time zone is refused naming the schedule and the field', () => {
  const p = problems({
    schedules: {
      nightly: { task: 'reports.run', cron: '61 2 * * *' },
      typo: { task: 'reports.run', cron: 'every day' },
      paris: { task: 'reports.run', cron: '0 9 * * mon-fri', tz: 'Europe/Pariss' },
    },
  });
  assert.ok(p.some((x) => /^schedules\.nightly\.cron: "61 2 \* \* \*" is not a cron expression \(.*61.*\); write five fields/.test(x)), p.join('\n'));
  assert.ok(p.some((x) => x.startsWith('schedules.typo.cron: "every day" is not a cron expression')), p.join('\n'));
  assert.ok(p.includes('schedules.paris.tz: "Europe/Pariss" is not a time zone this runtime knows; use an IANA name such as Europe/Paris, America/New_York or UTC'), p.join('\n'));
  assert.equal(p.length, 3, p.join('\n'));
});

test('a schedule says when: cron or every, not both, not neither; tz goes with cron; every is at least a second', () => {
  const p = problems({
    schedules: {
      both: { task: 't', cron: '* * * * *', every: '1m' },
      neither: { task: 't' },
      tzEvery: { task: 't', every: '1m', tz: 'UTC' },
      fast: { task: 't', every: '100ms' },
      badEvery: { task: 't', every: 'often' },
      noTask: { every: '1m' },
      'bad name!': { task: 't', every: '1m' },
    },
  });
  assert.ok(p.includes('schedules.both.every: give cron or every, not both'), p.join('\n'));
  assert.ok(p.some((x) => x.startsWith('schedules.neither.cron: give when it runs: cron')), p.join('\n'));
  assert.ok(p.includes('schedules.tzEvery.tz: tz applies to cron; every is a fixed interval in any zone'), p.join('\n'));
  assert.ok(p.includes('schedules.fast.every: must be at least 1s, got 100ms'), p.join('\n'));
  assert.ok(p.some((x) => x.startsWith('schedules.badEvery.every: "often" is not a duration')), p.join('\n'));
  assert.ok(p.some((x) => x.startsWith('schedules.noTask.task:')), p.join('\n'));
  assert.ok(p.some((x) => x.startsWith('schedules.bad name!: invalid name')), p.join('\n'));
});

test('a schedule\'s queue and a rate limit\'s queue must be served by a pool', () => {
  const p = problems({
    schedules: { s: { task: 't', every: '1m', options: { queue: 'nowhere' } } },
    rateLimits: { elsewhere: { jobs: 10, per: '1s' }, api: { jobs: 0, per: '1s' } },
  });
  assert.ok(p.includes('schedules.s.options.queue: queue "nowhere" is served by no pool; add it to a pool\'s queues'), p.join('\n'));
  assert.ok(p.includes('rateLimits.elsewhere: queue "elsewhere" is served by no pool; add it to a pool\'s queues'), p.join('\n'));
  assert.ok(p.some((x) => x.startsWith('rateLimits.api.jobs:')), p.join('\n'));
});

test('good schedules, limits, webhooks and alerts read as documented', () => {
  const cfg = parseConfig({
    pools,
    schedules: {
      nightly: { task: 'reports.run', payload: { full: true }, cron: '0 2 * * *', tz: 'Europe/Paris' },
      beat: { task: 'api.ping', every: '30s', options: { queue: 'api', priority: 1, retries: 2 } },
    },
    rateLimits: { api: { jobs: 10, per: '1s' } },
    notify: { webhooks: [{ url: 'https://hooks.example.com/x', secret: 'a-secret-of-16-chars', events: ['pool.scaled', 'dev.trireme.replica.start_failed'], name: 'ops' }] },
    alerts: { queueWait: '2m' },
  });
  assert.equal(cfg.schedules.beat.every, 30_000);
  assert.deepEqual(cfg.schedules.beat.options, { queue: 'api', priority: 1, retries: 2 });
  assert.deepEqual(cfg.schedules.nightly.options, {});
  assert.equal(describeWhen(cfg.schedules.nightly), 'cron 0 2 * * * (Europe/Paris)');
  assert.equal(describeWhen(cfg.schedules.beat), 'every 30s');
  assert.deepEqual(cfg.rateLimits.api, { jobs: 10, per: 1000 });
  assert.deepEqual(cfg.notify.webhooks[0].events, ['pool.scaled', 'replica.start_failed'], 'by name or by CloudEvents type');
  assert.equal(cfg.notify.webhooks[0].timeout, 10_000);
  assert.equal(cfg.notify.webhooks[0].retries, 5);
  assert.equal(cfg.notify.webhooks[0].contentType, 'application/cloudevents+json');
  assert.equal(cfg.alerts.queueWait, 120_000);
  // Left out: nothing scheduled, limited or notified; the wait alert at 5 minutes.
  const bare = parseConfig({ pools });
  assert.deepEqual([bare.schedules, bare.rateLimits, bare.notify.webhooks, bare.alerts.queueWait], [{}, {}, [], 300_000]);
});

test('02:00 in Paris is 00:00 or 01:00 UTC by the season: the time zone is applied as BullMQ applies it', () => {
  const summer = Date.UTC(2024, 6, 1, 12);
  const winter = Date.UTC(2024, 0, 1, 12);
  assert.deepEqual(nextCronRuns('0 2 * * *', 'Europe/Paris', summer, 1).map((t) => new Date(t).toISOString()), ['2024-07-02T00:00:00.000Z']);
  assert.deepEqual(nextCronRuns('0 2 * * *', 'Europe/Paris', winter, 1).map((t) => new Date(t).toISOString()), ['2024-01-02T01:00:00.000Z']);
});

test('webhooks: an http(s) URL, known events, a secret long enough', () => {
  const p = problems({
    notify: { webhooks: [{ url: 'ftp://x' }, { url: 'https://ok.example', events: ['pool.exploded'] }, { url: 'https://ok.example', secret: 'short' }] },
  });
  assert.ok(p.includes('notify.webhooks.0.url: "ftp://x" is not an http(s) URL; write e.g. https://hooks.example.com/trireme'), p.join('\n'));
  assert.ok(p.some((x) => x.startsWith('notify.webhooks.1.events.0: use one of: pool.scaled, pool.max_reached, replica.start_failed, replica.drain_timeout, controller.takeover (or their CloudEvents types')), p.join('\n'));
  assert.ok(p.some((x) => x.startsWith('notify.webhooks.2.secret: use a secret of at least 16 characters')), p.join('\n'));
});

test('the cron parser that checks schedules is the one BullMQ runs them with (same version, one copy)', () => {
  const ours = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies['cron-parser'];
  const bullmq = JSON.parse(readFileSync(join(ROOT, 'node_modules/bullmq/package.json'), 'utf8')).dependencies['cron-parser'];
  assert.equal(ours, bullmq, 'package.json pins cron-parser to the version BullMQ depends on');
  const require = createRequire(join(ROOT, 'node_modules/bullmq/package.json'));
  assert.equal(require.resolve('cron-parser'), createRequire(join(ROOT, 'package.json')).resolve('cron-parser'));
});
