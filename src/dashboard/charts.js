// Charts for people, shared by the dashboard and the report pages `trireme simulate --out` and `trireme tune --out`
// write (they inline this file, so it imports nothing): uPlot with labelled axes, units and legends. A report page is
// plain data made by src/sim/page.ts (sections of charts and tables); `renderPage` draws it. Axes space their ticks by
// the width of their labels, so labels never run into each other ("9:23pm9:24pm").

export const COLORS = ['#2457c5', '#c05a2b', '#2e8540', '#8a3ab9', '#b8860b', '#0f7b8a', '#c03a6b', '#5d6670', '#6b8e23', '#1e90ff'];

/** Pixels between ticks of a wall-clock axis: room for "12:34:56 PM" and a gap. */
export const TIME_SPACE = 90;

/** A wall-clock x axis (uPlot's seconds since the epoch), labelled in 24-hour time. */
export function timeAxis(label = 'time') {
  return {
    label, space: TIME_SPACE,
    values: (_u, splits, _i, _space, incr) => splits.map((t) => {
      const d = new Date(t * 1000);
      const two = (n) => String(n).padStart(2, '0');
      return incr < 60 ? `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}` : `${two(d.getHours())}:${two(d.getMinutes())}`;
    }),
  };
}

/** 1 234 567 -> "1.2M", 34 000 -> "34k". */
export function compact(n) {
  const a = Math.abs(n);
  if (a >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(n / 1e3).toFixed(0)}k`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(+n.toPrecision(3));
}

/** Seconds as a span: 5400 -> "1h30m". */
export function span(s) {
  let left = Math.round(s);
  const parts = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]]) if (left >= size) { parts.push(`${Math.floor(left / size)}${unit}`); left %= size; }
  if (left || parts.length === 0) parts.push(`${left}s`);
  return parts.join('');
}

/** Tick steps of an elapsed-time axis, seconds: round spans only (never 5h33m20s). */
const SPANS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

/** A chart of the page model in `root`: returns its uPlot (also kept on its box as `.uplot`). */
export function renderChart(root, spec, uPlot, width) {
  const box = el('figure', { class: 'chart', 'data-chart': spec.title });
  box.append(el('figcaption', {}, spec.title));
  root.append(box);
  const w = width ?? Math.max(320, (box.clientWidth || root.clientWidth || 640) - 12);
  const elapsed = spec.x.kind === 'elapsed';
  const series = [{ label: spec.x.label, value: (_u, v) => (v === null || v === undefined ? '-' : elapsed ? span(v) : compact(v)) }];
  spec.series.forEach((s, i) => {
    const colour = s.colour ?? COLORS[i % COLORS.length];
    series.push({
      label: s.label, stroke: colour, width: s.points === 'only' ? 0 : 1.8, spanGaps: true, dash: s.dash,
      paths: s.points === 'only' ? () => null : s.step ? uPlot.paths.stepped({ align: 1 }) : undefined,
      points: s.points ? { show: true, size: s.points === 'only' ? 10 : 6, stroke: colour, fill: s.points === 'only' ? '#fff' : colour, width: 1.6 } : { show: false },
    });
  });
  const plot = new uPlot({
    width: w, height: 260,
    scales: { x: spec.x.log ? { time: false, distr: 3 } : { time: false }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] } },
    series,
    axes: [
      // uPlot hands null for the splits of a log axis it leaves unlabelled.
      { label: spec.x.label, space: 70, ...(elapsed ? { incrs: SPANS } : {}), values: (_u, splits) => splits.map((v) => (v === null ? '' : elapsed ? span(v) : compact(v))) },
      { label: spec.y.label, size: 56, values: (_u, splits) => splits.map((v) => (v === null ? '' : compact(v))) },
    ],
    legend: { live: true },
  }, [spec.xs, ...spec.series.map((s) => s.values)], box);
  box.uplot = plot;
  return plot;
}

export function renderTable(root, t) {
  const table = el('table', { class: 'report-table' });
  if (t.caption) table.append(el('caption', {}, t.caption));
  const head = el('tr');
  for (const c of t.head) head.append(el('th', { scope: 'col' }, c));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  for (const r of t.rows) {
    const tr = el('tr');
    r.forEach((c, i) => tr.append(el('td', /^-?[\d.,]+( s)?$/.test(c) && i > 0 ? { class: 'num' } : {}, c)));
    body.append(tr);
  }
  table.append(body);
  root.append(el('div', { class: 'table-wrap' }, table));
}

/**
 * Draws a report page: its title (left out with `{ title: false }`, where the page sits under a heading of its own),
 * then per section its text, its charts, and the tables beneath them.
 */
export function renderPage(root, page, uPlot, opts = {}) {
  if (opts.title !== false) {
    root.append(el('h1', {}, page.title));
    if (page.subtitle) root.append(el('p', { class: 'subtitle' }, page.subtitle));
  }
  const plots = [];
  for (const s of page.sections) {
    const section = el('section');
    root.append(section);
    section.append(el('h2', {}, s.heading));
    if (s.text) for (const line of s.text.split('\n')) section.append(el('p', {}, line));
    const grid = el('div', { class: 'charts' });
    section.append(grid);
    for (const c of s.charts) plots.push(renderChart(grid, c, uPlot));
    for (const t of s.tables) renderTable(section, t);
  }
  return plots;
}
