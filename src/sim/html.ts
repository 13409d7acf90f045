/**
 * A report page as one self-contained HTML file: the page's data, uPlot and the dashboard's own chart module
 * (src/dashboard/charts.js) inlined, so it opens from disk, offline, and draws what the dashboard draws.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Page } from './page.js';

/** The chart module beside the running code: src/dashboard from src/sim, dist/dashboard from dist/sim and dist/bin. */
const CHARTS = fileURLToPath(new URL('../dashboard/charts.js', import.meta.url));

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1180px; padding: 0 16px; color: #1b1f24; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.subtitle, section > p { color: #444; margin: 4px 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 12px; }
figure.chart { margin: 0; } figcaption { font-weight: 600; margin: 6px 0; }
.table-wrap { overflow-x: auto; margin-top: 12px; }
table.report-table { border-collapse: collapse; font-size: 13px; } caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
`;

/** `</script>` inside inlined text would end its script element. */
const inline = (s: string) => s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

export function htmlPage(page: Page): string {
  const req = createRequire(import.meta.url);
  const uplot = readFileSync(req.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const uplotCss = readFileSync(req.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  const charts = readFileSync(CHARTS, 'utf8');
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(page.title)}</title>
<style>${uplotCss}${STYLE}</style></head>
<body><main id="report"></main>
<script>${inline(uplot)}</script>
<script type="application/json" id="report-data">${inline(JSON.stringify(page))}</script>
<script type="module">
${inline(charts)}
renderPage(document.getElementById('report'), JSON.parse(document.getElementById('report-data').textContent), window.uPlot);
document.body.dataset.ready = 'true';
</script>
</body></html>
`;
}
