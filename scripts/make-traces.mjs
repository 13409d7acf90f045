#!/usr/bin/env node
/**
 * Writes the sample workload traces in examples/traces/ (seeded: every run writes the same files). Each line is
 * `t_seconds,task,service_seconds`; task names fit the three-tier example's routes. The README's `simulate`
 * example and `npm run bench:autoscale` read them, so a clone needs nothing from outside the repository.
 *
 *   node scripts/make-traces.mjs [--out examples/traces]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 ? process.argv[outArg + 1] : join(root, 'examples/traces');

/** mulberry32: a small seeded generator, so the traces are reproducible. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LIGHT = [['api.ping', 0.05, 0.3], ['cache.refresh', 0.03, 0.25], ['notify.send', 0.1, 0.4]];
const MEDIUM = [['reports.daily', 5, 20], ['analytics.rollup', 8, 30], ['aggregate.daily', 3, 12]];
const HEAVY = [['shap.explain', 30, 120], ['causal.estimate', 40, 150], ['ml.train', 60, 240], ['twins.generate', 20, 90]];

function write(name, jobs, about) {
  jobs.sort((a, b) => a[0] - b[0]);
  const lines = ['t_seconds,task,service_seconds', ...jobs.map(([t, task, s]) => `${t.toFixed(3)},${task},${s.toFixed(3)}`)];
  writeFileSync(join(out, name), `${lines.join('\n')}\n`);
  console.log(`${name}: ${jobs.length} jobs, ${about}`);
}

function pick(r, kinds) {
  const [task, lo, hi] = kinds[Math.floor(r() * kinds.length)];
  return [task, lo + (hi - lo) * r()];
}

/** Poisson arrivals at `rate(t)` per second over [from, to), by thinning against `peak`. */
function poisson(r, from, to, peak, rate, kinds, jobs) {
  for (let t = from - Math.log(1 - r()) / peak; t < to; t -= Math.log(1 - r()) / peak) {
    if (r() * peak <= rate(t)) jobs.push([t, ...pick(r, kinds)]);
  }
}

mkdirSync(out, { recursive: true });

// Five SHAP explanations at 00:00 on an idle system, about two minutes each (the seed autoscaler's worked scenario).
write('seed-burst.csv', [0, 0.5, 1, 1.5, 2].map((t, i) => [t, 'shap.explain', 100 + 10 * i]), 'five heavy jobs at once on an idle system');

{
  // Eight hours: steady light traffic, medium reports every couple of minutes, heavy bursts every ~40 minutes.
  const r = rng(11);
  const jobs = [];
  const end = 8 * 3600;
  poisson(r, 0, end, 0.6, () => 0.6, LIGHT, jobs);
  poisson(r, 0, end, 1 / 120, () => 1 / 120, MEDIUM, jobs);
  for (let t = 600 * r(); t < end; t += 2400 * (0.5 + r())) {
    const size = 20 + Math.floor(41 * r());
    for (let i = 0; i < size; i++) jobs.push([t + 60 * r(), ...pick(r, HEAVY)]);
  }
  write('workday-bursts.csv', jobs, 'eight hours of light traffic, medium reports and heavy bursts');
}

{
  // A day following the day's curve: quiet at night, busiest mid-afternoon, for every tier.
  const r = rng(23);
  const jobs = [];
  const day = 86_400;
  const curve = (t) => 0.1 + 0.9 * Math.sin((Math.PI * t) / day) ** 2;
  poisson(r, 0, day, 0.25, (t) => 0.25 * curve(t), LIGHT, jobs);
  poisson(r, 0, day, 1 / 300, (t) => curve(t) / 300, MEDIUM, jobs);
  poisson(r, 0, day, 1 / 900, (t) => curve(t) / 900, HEAVY, jobs);
  write('diurnal.csv', jobs, 'a day of mixed work following the day\'s curve');
}

{
  // A heavy job every ~20 minutes for eight hours: scale-to-zero and cold starts dominate.
  const r = rng(37);
  const jobs = [];
  poisson(r, 0, 8 * 3600, 1 / 1200, () => 1 / 1200, HEAVY, jobs);
  write('sparse-heavy.csv', jobs, 'a heavy job every ~20 minutes');
}

{
  // A scheduled heavy job (a cron entry) every 10 minutes, starting up to 20 s late, for eight hours: sparse work
  // whose gaps are regular, which learned keep-warm exists for.
  const r = rng(41);
  const jobs = [];
  for (let t = 300; t < 8 * 3600; t += 600) jobs.push([t + 20 * r(), ...pick(r, HEAVY.slice(0, 1))]);
  write('scheduled-heavy.csv', jobs, 'a heavy job every 10 minutes, up to 20 s late');
}

{
  // A day of an hourly batch (a cron entry at :10 that fans out), starting up to 3 minutes late: 8 to 16 heavy jobs
  // and 4 to 8 medium ones submitted over its first minute. Bursts bigger than one replica, at regular times.
  const r = rng(53);
  const jobs = [];
  for (let t = 600; t < 86_400; t += 3600) {
    const start = t + 180 * r();
    const heavy = 8 + Math.floor(9 * r());
    for (let i = 0; i < heavy; i++) jobs.push([start + 60 * r(), ...pick(r, HEAVY)]);
    const medium = 4 + Math.floor(5 * r());
    for (let i = 0; i < medium; i++) jobs.push([start + 60 * r(), ...pick(r, MEDIUM)]);
  }
  write('hourly-batch.csv', jobs, 'an hourly batch of heavy and medium jobs, up to 3 minutes late');
}
