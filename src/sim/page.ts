/**
 * Report pages as plain data: sections of charts and tables. `simulate --out`, `tune --out` and the dashboard draw
 * the same page (src/dashboard/charts.js, with uPlot), and `svg.ts` draws its charts for documents. Each chart has
 * labelled axes with units and a legend; series are aligned on one x column (null where a series has no value).
 */
import { formatDuration } from '../core/units.js';
import type { SimResult } from './engine.js';
import type { CurvePoint, PolicyCurve } from './sweep.js';
import { frontier } from './curves.js';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  /** Dashed line (`[5, 4]`). */
  dash?: number[];
  /** Draw the points; `only`: points and no line (a marker series). */
  points?: boolean | 'only';
  /** A step line (counts over time). */
  step?: boolean;
  colour?: string;
}

export interface ChartSpec {
  title: string;
  /** `elapsed`: seconds from the start of a replay, labelled as durations; `number`: a quantity. */
  x: { label: string; kind: 'number' | 'elapsed'; /** A logarithmic axis (costs that span orders of magnitude). */ log?: boolean };
  y: { label: string };
  xs: number[];
  series: ChartSeries[];
}

export interface TableSpec { caption?: string; head: string[]; rows: string[][] }

export interface PageSection { heading: string; text?: string; charts: ChartSpec[]; tables: TableSpec[] }

export interface Page { title: string; subtitle?: string; sections: PageSection[] }

export const COLOURS = ['#2457c5', '#c05a2b', '#2e8540', '#8a3ab9', '#b8860b', '#0f7b8a', '#c03a6b', '#5d6670', '#6b8e23', '#1e90ff'];

/** Series that each have their own x values, aligned on the union of them. */
export function align(series: { label: string; points: [number, number][]; style?: Omit<ChartSeries, 'label' | 'values'> }[]): Pick<ChartSpec, 'xs' | 'series'> {
  const xs = [...new Set(series.flatMap((s) => s.points.map(([x]) => x)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  return {
    xs,
    series: series.map((s) => {
      const values: (number | null)[] = xs.map(() => null);
      for (const [x, y] of s.points) values[index.get(x)!] = y;
      return { label: s.label, values, ...s.style };
    }),
  };
}

const round = (n: number, d: number) => +n.toFixed(d);

/**
 * A pool's cost curves: cold starts per 1 000 jobs and p95 wait against replica-seconds, one line per policy (the
 * frontier of its runs on that figure: the settings no other of its settings beats there) and, as rings, marked
 * points (by default each policy at its own settings).
 */
export function curveCharts(pool: string, curves: PolicyCurve[], marks?: { label: string; point: CurvePoint }[]): ChartSpec[] {
  const positive = curves.every((c) => c.points.every((p) => p.replicaSeconds > 0));
  const rings = marks ?? [{ label: 'own settings', points: curves.map((c) => c.own) }].flatMap((m) => m.points.map((point) => ({ label: m.label, point })));
  const ringSeries = [...new Set(rings.map((r) => r.label))].map((label, i) => ({ label, points: rings.filter((r) => r.label === label).map((r) => r.point), colour: ['#1b1f24', '#d10000', '#7a7a7a'][i % 3] }));
  const chart = (metric: 'coldStartsPer1k' | 'waitP95', title: string, y: string): ChartSpec => ({
    title: `${pool}: ${title}`,
    x: { label: positive ? 'replica-seconds (log scale)' : 'replica-seconds', kind: 'number', log: positive },
    y: { label: y },
    ...align([
      ...curves.map((c, i) => ({
        label: c.knob ? `${c.policy} (${c.knob})` : c.policy,
        // The settings worth having on this figure (its frontier): the line a cost comparison reads.
        points: frontier(c.points, metric).map((p): [number, number] => [round(p.replicaSeconds, 0), round(p[metric], 2)]),
        style: { points: true, colour: COLOURS[i % COLOURS.length] },
      })),
      ...ringSeries.map((m) => ({ label: m.label, points: m.points.map((p): [number, number] => [round(p.replicaSeconds, 0), round(p[metric], 2)]), style: { points: 'only' as const, colour: m.colour } })),
    ]),
  });
  return [chart('coldStartsPer1k', 'cold starts against cost', 'cold starts per 1 000 jobs'), chart('waitP95', 'p95 wait against cost', 'p95 wait (s)')];
}

/** The rows of a pool's curve table: one per run, by policy. */
export function curveTable(pool: string, curves: PolicyCurve[]): TableSpec {
  const rows = curves.flatMap((c) => c.points.map((p) => [
    c.policy, Object.entries(p.setting).map(([k, v]) => `${k} ${v}`).join(', ') || '-', p === c.own || JSON.stringify(p.setting) === JSON.stringify(c.own.setting) ? 'own' : '',
    p.replicaSeconds.toFixed(0), p.coldStartsPer1k.toFixed(1), p.waitP95.toFixed(1), String(p.flaps),
  ]));
  return { caption: `pool ${pool}: every run`, head: ['policy', 'setting', '', 'replica-s', 'cold/1k', 'p95 wait s', 'flaps'], rows };
}

/** A replay over time per pool: replicas (steps) and queued jobs (waiting + running), one line per policy. */
export function replayCharts(pool: string, runs: Pick<SimResult, 'policy' | 'series'>[]): ChartSpec[] {
  const chart = (key: 'replicas' | 'depth', title: string, y: string, step: boolean): ChartSpec => ({
    title: `${pool}: ${title}`,
    x: { label: 'time from the start of the trace', kind: 'elapsed' },
    y: { label: y },
    ...align(runs.map((r, i) => ({
      label: r.policy,
      points: (r.series[pool] ?? []).map((q): [number, number] => [round(q.t, 1), q[key]]),
      style: { step, colour: COLOURS[i % COLOURS.length] },
    }))),
  });
  return [chart('replicas', 'replicas over time', 'replicas', true), chart('depth', 'queued jobs over time', 'jobs waiting or running', false)];
}

/** Seconds as people read a span of a replay: 90 -> "1m30s". */
export const elapsedLabel = (s: number) => formatDuration(Math.round(s) * 1000);
