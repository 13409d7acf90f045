/**
 * Charts of a report page as SVG, for documents and places without a browser (docs/benchmarks.md,
 * `simulate --out chart.svg`): the same specs the HTML page draws with uPlot, with labelled axes, ticks, units and
 * a legend. Charts are laid out in a grid.
 */
import { COLOURS, elapsedLabel, type ChartSpec } from './page.js';

const W = 520;
const H = 300;
const M = { left: 64, right: 16, top: 28, bottom: 46 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** About `count` round tick values covering [min, max] (steps of 1, 2 or 5 x 10^k). */
export function ticks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** Ticks of a logarithmic axis over [min, max]: 1, 2 and 5 x 10^k; only the powers of ten when those are too many. */
export function logTicks(min: number, max: number, count = 5): number[] {
  const all: { v: number; m: number }[] = [];
  for (let k = Math.floor(Math.log10(min)); 10 ** k <= max; k++) {
    for (const m of [1, 2, 5]) { const v = +(m * 10 ** k).toPrecision(12); if (v >= min && v <= max) all.push({ v, m }); }
  }
  if (all.length <= count) return all.map((t) => t.v);
  const tens = all.filter((t) => t.m === 1).map((t) => t.v);
  return tens.length >= 2 ? tens : all.filter((t) => t.m !== 2).map((t) => t.v);
}

const SPANS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

/** Ticks of an elapsed-time axis (seconds) at a round span: 30 s, 10 min, 6 h... */
export function spanTicks(min: number, max: number, count = 5): number[] {
  const step = SPANS.find((s) => (max - min) / s <= count) ?? SPANS[SPANS.length - 1];
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max; v += step) out.push(v);
  return out;
}

/** 1 234 567 -> "1.2M", 34 000 -> "34k", 0.25 -> "0.25". */
export function compact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(n / 1e3).toFixed(0)}k`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(+n.toPrecision(3));
}

function legendHeight(spec: ChartSpec): number {
  return 16 * Math.ceil(spec.series.length / 2);
}

/** One chart at (x0, y0); returns its SVG elements and height. */
function chart(spec: ChartSpec, x0: number, y0: number): { svg: string; height: number } {
  const xs = spec.xs;
  const xMin = xs.length ? Math.min(...xs) : 0;
  let xMax = xs.length ? Math.max(...xs) : 1;
  if (xMax === xMin) xMax = xMin + 1;
  const values = spec.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const top = Math.max(1e-9, ...values) * 1.05;
  const yTicks = ticks(0, top);
  // The round ticks may stop short of the highest value: one more step above it.
  const stepY = yTicks.length > 1 ? yTicks[1] - yTicks[0] : top;
  while (yTicks[yTicks.length - 1] < top) yTicks.push(+(yTicks[yTicks.length - 1] + stepY).toPrecision(12));
  const yMax = Math.max(yTicks[yTicks.length - 1], 1e-9);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const log = spec.x.log === true && xMin > 0;
  const lo = log ? Math.log10(xMin) : xMin;
  const hi = log ? Math.log10(xMax) : xMax;
  const px = (v: number) => x0 + M.left + (pw * ((log ? Math.log10(v) : v) - lo)) / (hi - lo || 1);
  const py = (v: number) => y0 + M.top + ph - (ph * v) / yMax;
  const fmtX = (v: number) => (spec.x.kind === 'elapsed' ? elapsedLabel(v) : compact(v));
  const out: string[] = [];
  out.push(`<text x="${x0 + M.left}" y="${y0 + 16}" font-size="13" font-weight="bold">${esc(spec.title)}</text>`);
  out.push(`<rect x="${x0 + M.left}" y="${y0 + M.top}" width="${pw}" height="${ph}" fill="none" stroke="#ccc"/>`);
  for (const t of yTicks) {
    out.push(`<line x1="${x0 + M.left}" x2="${x0 + M.left + pw}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${x0 + M.left - 6}" y="${(py(t) + 4).toFixed(1)}" font-size="11" text-anchor="end">${compact(t)}</text>`);
  }
  // x ticks far enough apart that their labels never touch (about 70 px each).
  const xCount = Math.max(2, Math.floor(pw / 90));
  for (const t of log ? logTicks(xMin, xMax, xCount) : spec.x.kind === 'elapsed' ? spanTicks(xMin, xMax, xCount) : ticks(xMin, xMax, xCount)) {
    if (t < xMin || t > xMax) continue;
    out.push(`<line x1="${px(t).toFixed(1)}" x2="${px(t).toFixed(1)}" y1="${y0 + M.top + ph}" y2="${y0 + M.top + ph + 4}" stroke="#888"/>`);
    out.push(`<text x="${px(t).toFixed(1)}" y="${y0 + M.top + ph + 16}" font-size="11" text-anchor="middle">${esc(fmtX(t))}</text>`);
  }
  out.push(`<text x="${x0 + M.left + pw / 2}" y="${y0 + H - 10}" font-size="12" text-anchor="middle">${esc(spec.x.label)}</text>`);
  out.push(`<text transform="translate(${x0 + 14},${y0 + M.top + ph / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(spec.y.label)}</text>`);
  spec.series.forEach((s, i) => {
    const colour = s.colour ?? COLOURS[i % COLOURS.length];
    const pts = xs.map((x, k) => [x, s.values[k]] as const).filter((p): p is readonly [number, number] => p[1] !== null);
    if (s.points !== 'only' && pts.length > 1) {
      const coords: string[] = [];
      pts.forEach(([x, y], k) => {
        if (s.step && k > 0) coords.push(`${px(x).toFixed(1)},${py(pts[k - 1][1]).toFixed(1)}`);
        coords.push(`${px(x).toFixed(1)},${py(y).toFixed(1)}`);
      });
      out.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.8"${s.dash ? ` stroke-dasharray="${s.dash.join(' ')}"` : ''} points="${coords.join(' ')}"/>`);
    }
    if (s.points) {
      const r = s.points === 'only' ? 4.5 : 2.5;
      for (const [x, y] of pts) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="${r}" ${s.points === 'only' ? `fill="none" stroke="${colour}" stroke-width="1.6"` : `fill="${colour}"`}/>`);
    }
  });
  const ly = y0 + H + 4;
  spec.series.forEach((s, i) => {
    const colour = s.colour ?? COLOURS[i % COLOURS.length];
    const lx = x0 + M.left + (i % 2) * (pw / 2);
    const y = ly + 16 * Math.floor(i / 2);
    const mark = s.points === 'only'
      ? `<circle cx="${lx + 9}" cy="${y - 4}" r="4" fill="none" stroke="${colour}" stroke-width="1.6"/>`
      : `<line x1="${lx}" x2="${lx + 18}" y1="${y - 4}" y2="${y - 4}" stroke="${colour}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash.join(' ')}"` : ''}/>`;
    out.push(`${mark}<text x="${lx + 23}" y="${y}" font-size="11">${esc(s.label)}</text>`);
  });
  return { svg: out.join(''), height: H + 8 + legendHeight(spec) };
}

/** Charts in a grid of `columns`, with an optional heading. */
export function svgCharts(charts: ChartSpec[], opts: { columns?: number; heading?: string } = {}): string {
  const columns = Math.max(1, Math.min(opts.columns ?? 2, charts.length || 1));
  const parts: string[] = [];
  let y = 0;
  if (opts.heading) { parts.push(`<text x="8" y="20" font-size="15" font-weight="bold">${esc(opts.heading)}</text>`); y = 30; }
  for (let i = 0; i < charts.length; i += columns) {
    let rowHeight = 0;
    charts.slice(i, i + columns).forEach((c, k) => {
      const drawn = chart(c, k * W, y);
      parts.push(drawn.svg);
      rowHeight = Math.max(rowHeight, drawn.height);
    });
    y += rowHeight + 10;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${columns * W}" height="${y}" viewBox="0 0 ${columns * W} ${y}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>${parts.join('')}</svg>\n`;
}
