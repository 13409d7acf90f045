/**
 * The alerting rules `trireme export prometheus-rules` writes: every alert has its runbook in docs/operations.md (the
 * anchor its runbook_url names) and a summary; every metric a rule reads is one /metrics serves; the optional alerts
 * come with the parts of the config they watch. (promtool checks and tests the rules: alerts.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alertRules } from '../../src/exports/prometheus-rules.js';
import { Metrics } from '../../src/api/metrics.js';
import { parseConfig, type Config } from '../../src/core/config.js';
import type { Inspector } from '../../src/control/inspect.js';
import { ROOT } from '../helpers.js';

const everything = parseConfig({
  pools: { a: { queues: ['default', 'x.y'], scaling: { targetWait: '45s' } }, b: { queues: ['b'] } },
  history: { postgres: 'postgres://t@127.0.0.1/t' }, storage: { dir: 'files' },
  notify: { webhooks: [{ url: 'http://127.0.0.1:9/x' }] },
});

/** The metric names /metrics serves for a config (the registry, as built in serve). */
function served(cfg: Config): Set<string> {
  const m = new Metrics({ inspector: { project: { config: cfg } } as unknown as Inspector, isLeader: () => true, history: cfg.history ? async () => ({ waiting: 0, rejected: 0 }) : undefined });
  const names = new Set<string>();
  for (const metric of m.registry.getMetricsAsArray()) {
    names.add(metric.name);
    if ((metric as unknown as { type?: string }).type === 'histogram' || metric.name.endsWith('_seconds')) for (const s of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${s}`);
  }
  return names;
}

test('every alert has a runbook section in docs/operations.md, a summary and a description', () => {
  const doc = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  for (const r of alertRules(everything)) {
    assert.equal(r.annotations.runbook_url, `docs/operations.md#${r.alert.toLowerCase()}`);
    assert.match(doc, new RegExp(`^### ${r.alert}$`, 'm'), `a runbook for ${r.alert}`);
    assert.ok(r.annotations.summary.length > 10 && r.annotations.description.length > 20, r.alert);
    assert.ok(['warning', 'critical'].includes(r.labels.severity), r.alert);
  }
});

test('every metric the rules read is one /metrics serves', () => {
  const names = served(everything);
  for (const r of alertRules(everything)) {
    for (const m of r.expr.match(/\btrireme_[a-z_]+/g) ?? []) assert.ok(names.has(m), `${r.alert} reads ${m}, which /metrics does not serve`);
  }
});

test('history, storage and webhook alerts come with what they watch; each pool gets its queue-wait alert at its target', () => {
  const bare = parseConfig({ pools: { a: { queues: ['default', 'x.y'], scaling: { targetWait: '45s' } }, b: { queues: ['b'] } }, alerts: { queueWait: '2m' } });
  const names = (c: Config) => alertRules(c).map((r) => r.alert);
  assert.ok(!names(bare).some((n) => ['TriremeHistoryStuck', 'TriremeStorageUnwritable', 'TriremeNotificationsDropped'].includes(n)));
  for (const n of ['TriremeHistoryStuck', 'TriremeStorageUnwritable', 'TriremeNotificationsDropped']) assert.ok(names(everything).includes(n), n);
  const waits = alertRules(bare).filter((r) => r.alert === 'TriremeQueueWaitHigh');
  assert.deepEqual(waits.map((r) => r.labels.pool), ['a', 'b']);
  assert.match(waits[0].expr, /queue=~`default\|x\\\.y`/, 'queue names as a regex, dots escaped');
  assert.match(waits[0].expr, /\) > 45$/, 'pool a: its targetWait');
  assert.match(waits[1].expr, /\) > 120$/, 'pool b: alerts.queueWait');
});
