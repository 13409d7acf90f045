// The overview: one card per pool, updated in place on every tick (so focus and typed values survive), and uPlot
// charts of the last 15 minutes with one time axis and a shared cursor: queued jobs and replicas per pool with scale
// events as dots, throughput, and queue wait (p95 of the jobs started, and the oldest job still waiting).
import { $, h, act, fmt } from './lib.js';
import { timeAxis } from './charts.js';

const WINDOW_S = 15 * 60;
const cards = new Map();
const charts = new Map();
/** Columns per chart: at (seconds) and series; trimmed to the window on every tick. */
const series = { at: [], pools: new Map() };
const scaleEvents = [];

export function initOverview(pools) {
  for (const { name, kind } of pools) {
    series.pools.set(name, { queued: [], replicas: [], desired: [], events: [], in: [], out: [], p95: [], oldest: [] });
    $('#pools').append(card(name, kind));
  }
}

/** How a pool of another kind than Trireme's own is named on its card. */
const KIND_LABEL = { celery: 'Celery workers' };

function card(name, kind) {
  const c = {
    root: h('article', { class: 'card', dataset: { pool: name }, 'aria-label': `pool ${name}` }),
    badge: h('span', { class: 'badge' }),
    bar: h('div', { class: 'bar', role: 'img' }),
    legend: h('div', { class: 'legend' }),
    stats: h('div', { class: 'stats' }),
    reason: h('div', { class: 'reason' }),
    limits: h('div', { class: 'limits' }),
    health: h('div', { class: 'health', role: 'status' }),
    input: h('input', { type: 'number', min: 0, 'aria-label': `replicas for ${name}` }),
    toggle: h('button', { type: 'button' }),
  };
  const setBtn = h('button', {
    type: 'button',
    onclick: async () => {
      const n = Number(c.input.value);
      if (!Number.isInteger(n) || n < 0) return c.input.focus();
      await act(`Pin pool ${name} at ${n} replica(s) (pauses its autoscaling)`, 'PUT', `/pools/${name}/replicas`, { replicas: n });
    },
  }, 'Set replicas');
  c.toggle.addEventListener('click', async () => {
    const paused = c.toggle.dataset.paused === 'true';
    await act(paused ? `Resume autoscaling of pool ${name}` : `Pause autoscaling of pool ${name}`, 'POST', `/pools/${name}/${paused ? 'resume' : 'pause'}`);
  });
  c.root.append(
    h('h3', {}, name, ...(KIND_LABEL[kind] ? [h('span', { class: 'kind' }, KIND_LABEL[kind])] : []), c.badge), c.health, c.bar, c.legend, c.limits, c.stats, c.reason,
    h('div', { class: 'controls' }, c.input, setBtn, c.toggle),
    h('a', { class: 'tune-link', href: `#/tune/${encodeURIComponent(name)}` }, 'Cost curves and tuning →'),
  );
  cards.set(name, c);
  return c.root;
}

function updateCard(p) {
  const c = cards.get(p.name);
  if (!c) return;
  const r = p.replicas;
  const cap = Math.max(p.max, r.current + r.draining, 1);
  c.bar.replaceChildren(...['starting', 'idle', 'busy', 'draining'].map((s) => h('span', { class: s, style: `width:${(100 * r[s]) / cap}%` })),
    h('span', { class: 'min', style: `left:${(100 * p.min) / cap}%` }));
  c.bar.setAttribute('aria-label', `${r.current} live replicas of ${p.max}`);
  c.legend.textContent = `replicas ${r.current} (${r.starting} starting, ${r.idle} idle, ${r.busy} busy, ${r.draining} draining) · want ${r.desired ?? '-'} · min ${p.min} max ${p.max}`;
  c.root.dataset.replicas = String(r.current);
  const stat = (label, value) => h('div', {}, label, h('b', {}, value));
  c.stats.replaceChildren(
    stat('waiting', p.waiting), stat('oldest wait', p.oldestWait === null || p.oldestWait === undefined ? '?' : fmt.secs(p.oldestWait * 1000)),
    stat('running', p.running), stat('utilisation', `${Math.round(p.utilisation * 100)}%`),
    stat('jobs/s in', fmt.rate(p.in)), stat('jobs/s out', fmt.rate(p.out)), stat('cost now', fmt.money(p.costPerHour)),
  );
  const paused = p.autoscaling === 'paused';
  // Work waits and host capacity or the budget keeps the pool below its need: shown as loudly as a fault.
  const starved = p.starved === true;
  c.badge.textContent = p.health ? p.health.split(':')[0] : paused ? `paused${p.pinned !== undefined ? ` · pinned ${p.pinned}` : ''}` : starved ? 'capacity-starved' : 'autoscaling';
  c.badge.className = `badge${p.health || starved ? ' bad' : paused ? ' paused' : ''}`;
  // What is wrong, in the driver's words (an unreachable host and since when, a refused API call).
  c.health.textContent = p.health ? p.health.slice(p.health.indexOf(':') + 1).trim() : '';
  c.health.hidden = !p.health;
  c.toggle.textContent = paused ? 'Resume autoscaling' : 'Pause autoscaling';
  c.toggle.dataset.paused = String(paused);
  // Rate-limited queues drain no faster than their limit: the autoscaler sizes the pool to it.
  c.limits.textContent = p.rateLimits?.length ? `rate limit: ${p.rateLimits.join(', ')}` : '';
  c.limits.hidden = !p.rateLimits?.length;
  c.reason.textContent = `${p.reason ?? 'no decision yet'}${p.cooldownRemaining > 0 ? ` · cooldown ${Math.ceil(p.cooldownRemaining / 1000)}s` : ''}`;
  if (document.activeElement !== c.input && c.input.value === '') c.input.placeholder = String(r.current);
}

/** Loads the kept history (GET /history) into the series before live ticks continue it. */
export function loadHistory(hist, events) {
  series.at = hist.at.map((t) => t / 1000);
  for (const [name, s] of series.pools) {
    const p = hist.pools[name];
    if (!p) continue;
    Object.assign(s, { queued: p.queued, replicas: p.replicas, desired: p.desired, in: p.in, out: p.out, p95: p.waitP95, oldest: p.oldestWait ?? hist.at.map(() => null), events: hist.at.map(() => null) });
  }
  for (const e of events.slice().reverse()) markScale(e);
}

export function onTick(t) {
  for (const p of t.pools) updateCard(p);
  series.at.push(t.at / 1000);
  for (const p of t.pools) {
    const s = series.pools.get(p.name);
    if (!s) continue;
    s.queued.push(p.waiting + p.running); s.replicas.push(p.replicas.current); s.desired.push(p.replicas.desired);
    s.in.push(p.in); s.out.push(p.out); s.p95.push(p.waitP95); s.oldest.push(p.oldestWait ?? null); s.events.push(null);
  }
  const from = t.at / 1000 - WINDOW_S;
  let drop = 0;
  while (drop < series.at.length && series.at[drop] < from) drop++;
  if (drop) {
    series.at.splice(0, drop);
    for (const s of series.pools.values()) for (const k of Object.keys(s)) s[k].splice(0, drop);
  }
  drawCharts();
}

/** A scale event becomes a dot at its new replica count on the tick nearest its time. */
export function markScale(e) {
  scaleEvents.push(e);
  const s = series.pools.get(e.pool);
  if (!s || series.at.length === 0) return;
  const t = e.at / 1000;
  if (t < series.at[0]) return;
  let i = series.at.length - 1;
  while (i > 0 && series.at[i] > t) i--;
  s.events[i] = e.to;
}

function makeChart(key, title, opts, data) {
  const box = h('div', { class: 'chart', dataset: { chart: key } }, h('h4', {}, title));
  $('#charts').append(box);
  const width = Math.max(300, box.clientWidth - 12);
  // Wall-clock x axis whose ticks are spaced for their labels (uPlot's default packs "9:23pm9:24pm" together).
  const axes = [{ ...timeAxis(), ...opts.axes?.[0] }, ...(opts.axes ?? [{}]).slice(1)];
  const plot = new window.uPlot({ width, height: 150, cursor: { sync: { key: 'trireme' } }, legend: { live: true }, ...opts, axes }, data, box);
  // Kept on its box: the browser test reads where the axis put its labels.
  box.uplot = plot;
  charts.set(key, plot);
  return plot;
}

const COLORS = ['#2457c5', '#c05a2b', '#2e8540', '#8a3ab9', '#b8860b', '#0f7b8a', '#c03a6b', '#5d6670', '#6b8e23', '#1e90ff'];

function drawCharts() {
  if (!window.uPlot) return;
  const names = [...series.pools.keys()];
  for (const [i, name] of names.entries()) {
    const s = series.pools.get(name);
    const data = [series.at, s.queued, s.replicas, s.desired, s.events];
    const plot = charts.get(`pool:${name}`);
    if (plot) { plot.setData(data); continue; }
    makeChart(`pool:${name}`, `${name}: queued and replicas`, {
      series: [{}, { label: 'queued', stroke: COLORS[i % COLORS.length], width: 1.5, fill: `${COLORS[i % COLORS.length]}22` },
        { label: 'replicas', stroke: '#1b1f24', width: 2, scale: 'r', paths: window.uPlot.paths.stepped({ align: 1 }) },
        { label: 'wanted', stroke: '#1b1f24', dash: [4, 4], width: 1, scale: 'r', paths: window.uPlot.paths.stepped({ align: 1 }) },
        { label: 'scale event', stroke: '#c03a2b', fill: '#c03a2b', scale: 'r', paths: () => null, points: { show: true, size: 8, fill: '#c03a2b' } }],
      axes: [{}, { label: 'jobs', size: 50 }, { scale: 'r', side: 1, label: 'replicas', grid: { show: false }, size: 40 }],
      scales: { r: { range: (_u, _min, max) => [0, Math.max(2, max + 1)] } },
    }, data);
  }
  const multi = (key, title, pick, unit) => {
    const data = [series.at, ...names.map((n) => pick(series.pools.get(n)))];
    const plot = charts.get(key);
    if (plot) return plot.setData(data);
    makeChart(key, title, {
      series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true }))],
      axes: [{}, { label: unit, size: 50 }],
    }, data);
  };
  multi('throughput', 'Throughput: jobs/s finished', (s) => s.out, 'jobs/s');
  // Per pool: p95 of the waits of jobs started in the last minute (solid) and the oldest job still waiting (dashed).
  const waitData = [series.at, ...names.flatMap((n) => [series.pools.get(n).p95, series.pools.get(n).oldest])];
  const waitPlot = charts.get('wait');
  if (waitPlot) waitPlot.setData(waitData);
  else {
    makeChart('wait', 'Queue wait: p95 of the last minute (solid), oldest waiting now (dashed)', {
      series: [{}, ...names.flatMap((n, i) => [
        { label: `${n} p95`, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true },
        { label: `${n} oldest`, stroke: COLORS[i % COLORS.length], width: 1.5, dash: [5, 4], spanGaps: true },
      ])],
      axes: [{}, { label: 'seconds', size: 50 }],
    }, waitData);
  }
}

window.addEventListener('resize', () => {
  for (const plot of charts.values()) plot.setSize({ width: Math.max(300, plot.root.parentElement.clientWidth - 12), height: 150 });
});
