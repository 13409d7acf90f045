// A pool's cost curves and tuning (#/tune/<pool>): replays what the pool ran (GET /pools/:name/tune, which runs
// `trireme tune` on the server) and draws its report page with the same chart module as the report files, beneath
// the recommendation and the YAML lines to paste.
import { $, h, api, toast } from './lib.js';
import { renderPage } from './charts.js';

let shown = null;

export function initTune() {
  $('#tune-form').addEventListener('submit', (e) => { e.preventDefault(); if (shown) void openTune(shown, true); });
}

export async function openTune(pool, again = false) {
  if (shown === pool && !again) return;
  shown = pool;
  $('#tune-pool').textContent = pool;
  const form = new FormData($('#tune-form'));
  const q = new URLSearchParams({ since: String(form.get('since') || '1d'), goal: String(form.get('goal') || 'p95<=30s') });
  const status = $('#tune-status');
  const out = $('#tune-report');
  const rec = $('#tune-recommended');
  out.replaceChildren();
  rec.replaceChildren();
  status.textContent = `Replaying what ${pool} ran in the last ${q.get('since')} against its settings… (this takes seconds to minutes)`;
  $('#tune-form button').disabled = true;
  try {
    const r = await api('GET', `/pools/${encodeURIComponent(pool)}/tune?${q}`);
    if (shown !== pool) return;
    const mine = r.report.pools[pool];
    if (!mine) {
      status.textContent = r.report.skipped?.[pool] ?? 'Nothing to replay.';
      return;
    }
    const best = mine.recommended;
    status.textContent = `${mine.jobs} jobs from ${mine.source}, replayed against ${mine.runs} settings (${r.cached ? 'kept from' : 'ran at'} ${new Date(r.ranAt).toLocaleTimeString()}).`;
    rec.append(
      h('p', {}, h('b', {}, best.met ? 'Recommended: ' : 'Closest (the goal is not met): '), best.why),
      h('pre', { class: 'yaml', 'aria-label': 'YAML to paste' }, best.yaml),
    );
    renderPage(out, r.report.page, window.uPlot, { title: false });
    document.body.dataset.tuned = pool;
  } catch (err) {
    if (shown === pool) status.textContent = `Cannot tune ${pool}: ${err.message}`;
    toast(`Cannot tune ${pool}: ${err.message}`, 'error');
  } finally {
    $('#tune-form button').disabled = false;
  }
}

export function leaveTune() { shown = null; }
