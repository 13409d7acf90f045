// The workers table: one row per live replica, keyed by id and patched in place from `replica` frames, so 200
// replicas cost 200 row updates at most per tick, not a rebuild. CPU and memory are the replica's process tree.
import { $, h, act, fmt } from './lib.js';

const rows = new Map();

function row(r) {
  const tr = h('tr', { dataset: { replica: r.id } });
  const stop = h('button', { type: 'button', class: 'danger', 'aria-label': `drain replica ${r.id}` }, 'Drain');
  stop.addEventListener('click', () => act(`Drain replica ${r.id} (it finishes its running jobs, then exits)`, 'POST', `/workers/stop/${encodeURIComponent(r.id)}`));
  tr.stopButton = stop;
  return tr;
}

function fill(tr, r) {
  tr.replica = r;
  // Keep keyboard focus on a row's button while the row is patched.
  const focused = document.activeElement === tr.stopButton;
  tr.replaceChildren(
    h('td', {}, h('code', {}, r.id)), h('td', {}, r.pool), h('td', {}, r.host), h('td', {}, r.container ?? String(r.pid)),
    h('td', {}, h('span', { class: `state ${r.state}` }, r.state)), h('td', {}, fmt.ago(r.startedAt)), h('td', {}, fmt.ago(r.lastActivity)),
    h('td', { class: 'num' }, r.jobsDone), h('td', { class: 'num' }, `${r.running}/${r.concurrency}`),
    // With its runners and command programs (its process tree): "-" where the replica cannot read /proc.
    h('td', { class: 'num', dataset: { col: 'cpu' } }, r.cpuPercent === undefined ? '-' : `${Math.round(r.cpuPercent)}%`),
    h('td', { class: 'num', dataset: { col: 'memory' }, title: r.processes ? `${r.processes} process(es)` : undefined },
      r.rss === undefined ? '-' : fmt.bytes(r.rss), r.gpuMemory ? h('span', { class: 'muted small' }, ` GPU ${fmt.bytes(r.gpuMemory)}`) : ''),
    h('td', { class: 'runners' }, ...runners(r.runners)),
    h('td', {}, tr.stopButton),
  );
  tr.stopButton.disabled = r.state === 'draining';
  tr.dataset.state = r.state;
  if (focused) tr.stopButton.focus();
}

/**
 * A replica's warm runners: processes up of the pool's concurrency, those still loading, and what the last start-up
 * cost (interpreter, imports, model), so an operator sees what a cold start of the runner costs.
 */
function runners(list) {
  if (!list?.length) return ['-'];
  return list.map((x) => {
    const up = x.idle + x.busy;
    const parts = [`${up}/${x.size} up`];
    if (x.starting) parts.push(`${x.starting} loading`);
    if (x.lastStartupMs !== undefined) parts.push(`start ${fmt.secs(x.lastStartupMs)}`);
    return h('div', { class: x.lastError ? 'runner failing' : 'runner', dataset: { runner: x.name }, title: x.lastError ?? `${x.starts} start(s), ${x.failedStarts} failed` },
      h('code', {}, x.name), ` ${parts.join(' · ')}`);
  });
}

function upsert(r) {
  let tr = rows.get(r.id);
  if (!tr) {
    tr = row(r);
    rows.set(r.id, tr);
    // Keep a pool's replicas together: before the first row of a later pool.
    const next = [...$('#workers tbody').children].find((x) => x.dataset.pool > r.pool);
    tr.dataset.pool = r.pool;
    if (next) next.before(tr); else $('#workers tbody').append(tr);
  }
  fill(tr, r);
}

function count() {
  $('#workers-count').textContent = `${rows.size} live`;
}

export function onReplicas(all) {
  const seen = new Set(all.map((r) => r.id));
  for (const [id, tr] of rows) if (!seen.has(id)) { tr.remove(); rows.delete(id); }
  for (const r of all) upsert(r);
  count();
}

export function onReplicaChange({ changed, gone }) {
  for (const id of gone) { rows.get(id)?.remove(); rows.delete(id); }
  for (const r of changed) upsert(r);
  count();
}

// Ages ("12s ago") move on even when a replica's state does not.
setInterval(() => { for (const tr of rows.values()) if (tr.replica && !tr.hidden) fill(tr, tr.replica); }, 5_000);
