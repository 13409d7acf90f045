// Jobs: a filterable, paged list, and a job page with payload, attempts, timings, result or error, and its log
// streaming live (GET /jobs/:id/events) while it runs; cancel and retry buttons.
import { $, h, api, act, download, fmt, session, stream, toast } from './lib.js';

let cursor = null;
let follow = null;
/** Pools whose jobs another system lists (a Celery pool's tasks), with what to say instead, by pool and by queue. */
const elsewhere = { pool: new Map(), queue: new Map() };

export function initJobs(pools) {
  const poolSel = $('#job-filter select[name=pool]');
  const queueSel = $('#job-filter select[name=queue]');
  for (const p of pools) {
    poolSel.append(h('option', {}, p.name));
    for (const q of p.queues) queueSel.append(h('option', {}, q));
    if (p.jobsElsewhere) {
      elsewhere.pool.set(p.name, p.jobsElsewhere);
      for (const q of p.queues) elsewhere.queue.set(q, `pool ${p.name}: ${p.jobsElsewhere}`);
    }
  }
  $('#job-filter').addEventListener('submit', (e) => { e.preventDefault(); void loadJobs(true); });
  $('#jobs-more').addEventListener('click', () => void loadJobs(false));
  $('#job-cancel').addEventListener('click', async () => {
    const id = $('#job-id').textContent;
    const r = await act(`Cancel job ${id}`, 'DELETE', `/jobs/${encodeURIComponent(id)}`);
    if (r) void openJob(id);
  });
  $('#job-retry').addEventListener('click', async () => {
    const id = $('#job-id').textContent;
    const r = await act(`Retry job ${id}`, 'POST', `/jobs/${encodeURIComponent(id)}/retry`);
    if (r) void openJob(id);
  });
}

export async function loadJobs(fresh) {
  const form = new FormData($('#job-filter'));
  const q = new URLSearchParams();
  for (const [k, v] of form) if (v) q.set(k, String(v));
  q.set('limit', '50');
  if (!fresh && cursor) q.set('cursor', cursor);
  const tbody = $('#jobs tbody');
  // A pool whose tasks Trireme does not keep: say where they are listed rather than show an empty list.
  const note = elsewhere.pool.get(q.get('pool')) ?? elsewhere.queue.get(q.get('queue'));
  if (note) {
    tbody.replaceChildren(h('tr', {}, h('td', { colspan: 8, class: 'muted elsewhere' }, note.replace(/^./, (c) => c.toUpperCase()))));
    cursor = null;
    $('#jobs-more').hidden = true;
    return;
  }
  try {
    const page = await api('GET', `/jobs?${q}`);
    if (fresh) tbody.replaceChildren();
    for (const j of page.jobs) {
      tbody.append(h('tr', { dataset: { job: j.id } },
        h('td', {}, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id)), h('td', {}, j.task),
        h('td', {}, h('span', { class: `state ${j.state}` }, j.state)), h('td', {}, j.pool ?? '-'),
        h('td', { class: 'num' }, `${j.attempts}/${j.maxAttempts}`), h('td', {}, fmt.ago(j.submittedAt)),
        h('td', { class: 'num' }, fmt.secs(j.startedAt ? j.startedAt - j.submittedAt : null)),
        h('td', { class: 'num' }, fmt.secs(j.startedAt && j.finishedAt ? j.finishedAt - j.startedAt : null))));
    }
    if (fresh && page.jobs.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No jobs match.')));
    cursor = page.cursor;
    $('#jobs-more').hidden = !cursor;
  } catch (err) {
    toast(`Cannot list jobs: ${err.message}`, 'error');
  }
}

function fields(j) {
  const pre = (v) => h('pre', {}, JSON.stringify(v, null, 2));
  const rows = [
    ['Task', `${j.task} → queue ${j.queue} (pool ${j.pool ?? '-'})`],
    ['State', h('span', { class: `state ${j.state}`, id: 'job-state' }, j.state)],
    ['Progress', typeof j.progress === 'number' ? `${j.progress}%` : JSON.stringify(j.progress)],
    ['Attempts', `${j.attempts} of ${j.maxAttempts}${j.starts > Math.max(1, j.attempts) ? ` · started ${j.starts} times (${j.stalls} run(s) lost with their replica and run again)` : ''}`],
    ['Submitted', fmt.time(j.submittedAt)],
    ['Started', j.startedAt ? `${fmt.time(j.startedAt)} (waited ${fmt.secs(j.startedAt - j.submittedAt)})` : '-'],
    ['Finished', j.finishedAt ? `${fmt.time(j.finishedAt)} (ran ${fmt.secs(j.startedAt ? j.finishedAt - j.startedAt : null)})` : '-'],
    ['Payload', pre(j.payload)],
  ];
  if (j.result !== undefined) rows.push(['Result', pre(j.result)]);
  if (j.error) rows.push(['Error', h('span', { class: 'state failed' }, j.error)]);
  if (j.parent) rows.push(['Parent', j.parent]);
  $('#job-fields').replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  const finished = j.state === 'completed' || j.state === 'failed';
  $('#job-cancel').disabled = finished;
  $('#job-retry').disabled = !finished;
}

/** The job's files on storage.dir, each a download link; hidden when storage is off. */
async function loadFiles(id) {
  let files;
  try {
    files = await api('GET', `/jobs/${encodeURIComponent(id)}/files`);
  } catch {
    $('#job-files').hidden = true;
    return;
  }
  for (const kind of ['input', 'output']) {
    // A plain link without a token; with one, the click fetches the file with it (a link cannot send a header).
    const link = (f) => h('a', { href: f.url, download: f.name, onclick: (e) => { if (session.token) { e.preventDefault(); void download(f.url, f.name); } } }, f.name);
    const items = files[kind].map((f) => h('li', {}, link(f), h('span', { class: 'muted small' }, ` ${fmt.bytes(f.size)}`)));
    $(`#job-files-${kind}`).replaceChildren(...(items.length ? items : [h('li', { class: 'muted' }, 'none')]));
  }
  $('#job-files').hidden = false;
}

/** Per task per day from history (GET /history/tasks), with a bar for the day's jobs; hidden when history is off. */
export async function loadTaskHistory() {
  let page;
  try {
    page = await api('GET', '/history/tasks');
  } catch {
    $('#history').hidden = true;
    return;
  }
  const most = Math.max(1, ...page.tasks.map((t) => t.jobs));
  const ms = (v) => (v === null ? '-' : fmt.secs(v));
  $('#history-tasks tbody').replaceChildren(...page.tasks.slice().reverse().map((t) => h('tr', {},
    h('td', {}, t.day), h('td', {}, t.task), h('td', { class: 'num' }, String(t.jobs)),
    h('td', {}, h('span', { class: 'bar', style: `width:${Math.max(1, Math.round((t.jobs / most) * 120))}px`, title: `${t.jobs} jobs` })),
    h('td', { class: 'num' }, String(t.failed)), h('td', { class: 'num' }, `${ms(t.waitP50)} / ${ms(t.waitP95)}`),
    h('td', { class: 'num' }, `${ms(t.durationP50)} / ${ms(t.durationP95)}`), h('td', { class: 'num' }, t.cost.toFixed(4)))));
  if (!page.tasks.length) $('#history-tasks tbody').append(h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'Nothing finished in these 7 days.')));
  $('#history').hidden = false;
}

export async function openJob(id) {
  follow?.abort();
  follow = new AbortController();
  $('#job-id').textContent = id;
  $('#job-log').textContent = '';
  $('#job-live').textContent = '';
  try {
    fields(await api('GET', `/jobs/${encodeURIComponent(id)}`));
    void loadFiles(id);
  } catch (err) {
    $('#job-fields').replaceChildren(h('dt', {}, 'Error'), h('dd', {}, err.message));
    return;
  }
  const log = $('#job-log');
  const signal = follow.signal;
  $('#job-live').textContent = '(live)';
  await stream(`/jobs/${encodeURIComponent(id)}/events`, {
    signal, once: true,
    onFrame(event, data) {
      if (event === 'log') {
        const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.append(`${data.line}\n`);
        if (atBottom) log.scrollTop = log.scrollHeight;
      } else if (event === 'state') {
        fields(data.job);
      } else if (event === 'progress') {
        const dd = [...$('#job-fields').children].find((x) => x.previousSibling?.textContent === 'Progress');
        if (dd) dd.textContent = typeof data.progress === 'number' ? `${data.progress}%` : JSON.stringify(data.progress);
      } else if (event === 'end') {
        $('#job-live').textContent = `(${data.state})`;
        void api('GET', `/jobs/${encodeURIComponent(id)}`).then(fields, () => {});
        void loadFiles(id);
      }
    },
  });
  if (!signal.aborted && $('#job-live').textContent === '(live)') $('#job-live').textContent = '';
}

export function leaveJob() {
  follow?.abort();
  follow = null;
}
