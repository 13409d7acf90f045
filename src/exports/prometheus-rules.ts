/**
 * `trireme export prometheus-rules`: Prometheus alerting rules for the config, over the metrics `/metrics` serves
 * (api/metrics.ts). Each alert has a summary, a description and a runbook in docs/operations.md (its anchor is the
 * alert's name in lower case); `promtool check rules` passes on the file, and test/fixtures/alerts/ holds
 * `promtool test rules` cases that fire each alert on a made-up series and keep it quiet on a healthy one.
 *
 * Every `serve` exposes the same figures (they are read from Redis), so the rules take the max over the instances
 * Prometheus scrapes rather than adding them up: scraping the leader and a standby counts a replica once.
 */
import type { Config } from '../core/config.js';
import { yamlFile, type ExportFile, type ExportOptions } from '../drivers/export.js';
import type { Project } from '../core/project.js';

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
}

/** Where each alert's runbook is: docs/operations.md, by the alert's name. */
export const runbookOf = (alert: string): string => `docs/operations.md#${alert.toLowerCase()}`;

/** A PromQL matcher for a set of queue names (a raw string: no escaping but of the regex's own dots). */
const queuesMatch = (queues: string[]): string => `\`${queues.map((q) => q.replaceAll('.', '\\.')).join('|')}\``;

const seconds = (ms: number): string => String(+(ms / 1000).toFixed(3));

function rule(alert: string, expr: string, forDuration: string | undefined, severity: 'warning' | 'critical', summary: string, description: string, labels: Record<string, string> = {}): AlertRule {
  return {
    alert, expr, ...(forDuration ? { for: forDuration } : {}),
    labels: { severity, ...labels },
    annotations: { summary, description, runbook_url: runbookOf(alert) },
  };
}

/** The alerting rules for a config, in the order docs/operations.md lists them. */
export function alertRules(cfg: Config): AlertRule[] {
  const rules: AlertRule[] = [];
  for (const [name, pool] of Object.entries(cfg.pools)) {
    const target = pool.scaling.targetWait ?? cfg.alerts.queueWait;
    const why = pool.scaling.targetWait !== undefined ? `its scaling.targetWait` : 'alerts.queueWait';
    rules.push(rule('TriremeQueueWaitHigh',
      `histogram_quantile(0.95, sum by (le) (max by (queue, le) (rate(trireme_job_queue_wait_seconds_bucket{queue=~${queuesMatch(pool.queues)}}[5m])))) > ${seconds(target)}`,
      '10m', 'warning',
      `Jobs of pool ${name} wait longer than ${seconds(target)} s before they start`,
      `The 95th percentile queue wait of pool ${name} (queues ${pool.queues.join(', ')}) has been above ${seconds(target)} s (${why}) for 10 minutes: {{ $value | humanizeDuration }} now.`,
      { pool: name }));
  }
  rules.push(
    rule('TriremePoolAtMaxBacklogGrowing',
      '(sum by (pool) (max by (pool, state) (trireme_pool_replicas{state=~"starting|idle|busy"})) >= on (pool) max by (pool) (trireme_pool_max_replicas))'
        + ' and on (pool) (max by (pool) (trireme_pool_max_replicas) > 0)'
        + ' and on (pool) (max by (pool) (deriv(trireme_pool_waiting_jobs[10m])) > 0)',
      '15m', 'warning',
      'Pool {{ $labels.pool }} is at its max and its backlog keeps growing',
      'Pool {{ $labels.pool }} has run at its max replicas for 15 minutes while the jobs waiting in its queues kept growing: it cannot keep up.'),
    rule('TriremeReplicaMemoryHigh',
      'max by (pool, replica) (trireme_replica_memory_bytes) > on (pool) group_left () (0.9 * max by (pool) (trireme_pool_replica_memory_limit_bytes))',
      '5m', 'warning',
      'Replica {{ $labels.replica }} of pool {{ $labels.pool }} uses more than 90 % of its memory limit',
      'The replica and what it started (runners, command programs) hold {{ $value | humanize1024 }}B, above 90 % of what a replica of pool {{ $labels.pool }} may use (resources.memory, or maxMemory where lower), for 5 minutes.'),
    rule('TriremeReplicasCrashLooping',
      'max by (pool) (trireme_pool_unhealthy{status="crash-loop"}) > 0',
      '5m', 'critical',
      'Replicas of pool {{ $labels.pool }} keep exiting at start',
      'The driver of pool {{ $labels.pool }} has seen its replicas exit soon after they started, again and again, for 5 minutes; it holds further starts back, so jobs of this pool may not run.'),
    rule('TriremeDriverFailing',
      'max by (pool, status) (trireme_pool_unhealthy{status=~"error|degraded"}) > 0',
      '5m', 'critical',
      'The driver of pool {{ $labels.pool }} reports {{ $labels.status }}',
      'The driver of pool {{ $labels.pool }} could not reach its engine or was refused ({{ $labels.status }}) for 5 minutes: the pool cannot scale. `trireme status` shows its message.'),
    rule('TriremeNoLeader',
      'max(trireme_controller_leader) < 1 or absent(trireme_controller_leader)',
      '1m', 'critical',
      'No Trireme controller holds the lease',
      'For a minute, no scraped trireme serve has held the controller lease (or none is scraped at all): no pool is being scaled, and pools at zero do not wake for new jobs.'),
    rule('TriremeRedisUnreachable',
      'max(trireme_scrape_redis_ok) < 1',
      '1m', 'critical',
      'trireme serve cannot read Redis',
      'For a minute, no scraped trireme serve could read Redis, where the jobs are: submits are refused, replicas take no new jobs and scaling is on hold.'),
    rule('TriremeDroppedWrites',
      'sum by (what, pool) (increase(trireme_dropped_writes_total[10m])) > 0',
      undefined, 'warning',
      'The controller could not record {{ $labels.what }} for pool {{ $labels.pool }}',
      'In the last 10 minutes the controller failed to write {{ $value | printf "%.0f" }} record(s) ({{ $labels.what }}) of pool {{ $labels.pool }} to Redis: scale events, decisions or learned keep-warm memory are missing from what status and the dashboard show.'),
  );
  if (cfg.notify.webhooks.length) {
    rules.push(rule('TriremeNotificationsDropped',
      'sum by (webhook) (increase(trireme_notifications_total{outcome="dropped"}[15m])) > 0',
      undefined, 'warning',
      'Notices to webhook {{ $labels.webhook }} were dropped',
      'In the last 15 minutes {{ $value | printf "%.0f" }} notice(s) to webhook {{ $labels.webhook }} could not be delivered within their retries (or its queue was full) and were dropped.'));
  }
  if (cfg.history) {
    rules.push(rule('TriremeHistoryStuck',
      `max(trireme_history_oldest_waiting_seconds) > ${seconds(cfg.history.stuckAfter)}`,
      '1m', 'warning',
      'Job history is not reaching PostgreSQL',
      `The oldest run record waiting in Redis for PostgreSQL finished {{ $value | humanizeDuration }} ago, longer than history.stuckAfter (${seconds(cfg.history.stuckAfter)} s): PostgreSQL is away or refuses the writes. Jobs go on; their history waits in Redis.`));
  }
  if (cfg.storage) {
    rules.push(rule('TriremeStorageUnwritable',
      'max by (pool) (trireme_pool_storage_failing_replicas) > 0',
      '5m', 'critical',
      'Replicas of pool {{ $labels.pool }} cannot write storage.dir',
      '{{ $value | printf "%.0f" }} replica(s) of pool {{ $labels.pool }} have failed to write storage.dir for 5 minutes: jobs with files fail there.'));
  }
  return rules;
}

/** The exporter: one rules file, `prometheus-rules.yml`. */
export function prometheusRules(project: Project, o: ExportOptions): ExportFile[] {
  return [yamlFile('prometheus-rules.yml', o.source, [{ groups: [{ name: 'trireme', rules: alertRules(project.config) }] }],
    'Load it with rule_files in prometheus.yml; the runbooks are in docs/operations.md of the trireme-jobs package.')];
}
