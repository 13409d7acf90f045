// The schedules table on the overview: the config's job schedules with their next and last runs (GET /schedules),
// read when the page loads and every 10 seconds; hidden when the config has none.
import { $, h, api, fmt } from './lib.js';

function row(s) {
  const last = s.last ? `${s.last.outcome} ${fmt.ago(s.last.finishedAt)}` : '-';
  return h('tr', { dataset: { schedule: s.name, state: s.state } },
    h('td', {}, h('code', {}, s.name)), h('td', {}, s.task), h('td', {}, `${s.queue} (${s.pool || 'no pool'})`), h('td', {}, s.when),
    h('td', {}, h('span', { class: `state ${s.state === 'active' ? 'idle' : 'starting'}` }, s.state)),
    h('td', { title: s.next ? new Date(s.next).toISOString() : undefined }, s.next ? `${fmt.time(s.next)} (${fmt.until(s.next)})` : '-'),
    h('td', { class: 'num' }, s.iterations ?? '-'),
    h('td', { title: s.last?.jobId }, s.last ? h('a', { href: `#/jobs/${encodeURIComponent(s.last.jobId)}` }, last) : last));
}

async function refresh() {
  try {
    const { schedules } = await api('GET', '/schedules');
    $('#schedules-box').hidden = schedules.length === 0;
    $('#schedules tbody').replaceChildren(...schedules.map(row));
  } catch {
    // The next refresh tries again; the connection badge says when the API is away.
  }
}

export function initSchedules() {
  void refresh();
  setInterval(() => void refresh(), 10_000);
}
