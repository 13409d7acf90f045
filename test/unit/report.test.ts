/**
 * Report pages: series aligned on one x column, SVG charts that keep every point inside their axes and label them
 * (ticks, units, legend), and the self-contained HTML page (uPlot and the dashboard's chart module inlined).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { align, curveCharts, type ChartSpec } from '../../src/sim/page.js';
import { logTicks, svgCharts, ticks } from '../../src/sim/svg.js';
import { htmlPage } from '../../src/sim/html.js';
import type { PolicyCurve } from '../../src/sim/sweep.js';

test('series with their own x values are aligned on the union of them, null where a series has none', () => {
  const a = align([{ label: 'a', points: [[1, 10], [3, 30]] }, { label: 'b', points: [[2, 20], [3, 31]] }]);
  assert.deepEqual(a.xs, [1, 2, 3]);
  assert.deepEqual(a.series.map((s) => s.values), [[10, null, 30], [null, 20, 31]]);
});

test('ticks are round and cover the range; log ticks are powers of ten when there are many', () => {
  assert.deepEqual(ticks(0, 57.9), [0, 20, 40]);
  assert.deepEqual(logTicks(3_000, 400_000, 3), [10_000, 100_000]);
  assert.deepEqual(logTicks(3_000, 9_000, 5), [5_000]);
});

test('an SVG chart keeps every point inside its axes, with labelled axes and a legend', () => {
  const curve = (policy: string, pts: [number, number, number][]): PolicyCurve => ({
    policy, knob: 'idleShutdown', points: pts.map(([rs, cold, p95]) => ({ setting: { idleShutdown: `${rs}` }, replicaSeconds: rs, coldStartsPer1k: cold, waitP95: p95, flaps: 0 })),
    own: { setting: {}, replicaSeconds: pts[0][0], coldStartsPer1k: pts[0][1], waitP95: pts[0][2], flaps: 0 },
  });
  const charts: ChartSpec[] = curveCharts('heavy', [curve('trireme', [[10_000, 55, 1], [30_000, 20, 0.5]]), curve('fixed-idle', [[9_000, 52, 1], [200_000, 41, 0.2]])]);
  const svg = svgCharts(charts, { heading: 'test' });
  const rects = [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none"/g)].map((m) => m.slice(1).map(Number));
  assert.equal(rects.length, 2);
  const inside = (x: number, y: number) => rects.some(([rx, ry, w, h]) => x >= rx - 0.5 && x <= rx + w + 0.5 && y >= ry - 0.5 && y <= ry + h + 0.5);
  const points = [
    ...[...svg.matchAll(/<polyline[^>]* points="([^"]+)"/g)].flatMap((m) => m[1].split(' ').map((p) => p.split(',').map(Number))),
    ...[...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]),
  ];
  assert.ok(points.length > 6);
  // Legend marks sit below the plots; every data point is inside one.
  for (const [x, y] of points) if (!rects.some(([, ry, , h]) => y > ry + h + 20)) assert.ok(inside(x, y), `point ${x},${y} outside the axes`);
  for (const label of ['replica-seconds (log scale)', 'cold starts per 1 000 jobs', 'p95 wait (s)', 'trireme (idleShutdown)', 'fixed-idle (idleShutdown)', 'own settings', '>60<']) assert.ok(svg.includes(label), label);
});

test('the HTML page carries its data, uPlot and the chart module, and nothing that ends its scripts early', () => {
  const html = htmlPage({ title: 'T </script><b>', sections: [{ heading: 'h', charts: [], tables: [{ head: ['a'], rows: [['</script>']] }] }] });
  assert.match(html, /<title>T &lt;\/script>&lt;b><\/title>/);
  assert.match(html, /export function renderPage/);
  assert.match(html, /uPlot/);
  // Only the page's own three closing tags.
  assert.equal(html.match(/<\/script>/g)!.length, 3);
});
