/**
 * The layering holds beyond single imports: every folder of src/ has its row in scripts/layers.mjs, no runtime import
 * cycle exists between files (type-only imports, such as a verb's options type shared by its registration and its
 * body, are not cycles at run time), and docs/architecture.md's table of folders is the layers table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ROOT } from '../helpers.js';
import { LAYERS } from '../../scripts/layers.mjs';

const SRC = join(ROOT, 'src');
const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => {
  const p = join(dir, f);
  return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
});

/** Value imports only: `import type`, `export type` and `typeof import()` vanish when compiled. */
function valueImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/gm)) if (!m[2]) out.push(m[3]);
  for (const m of text.matchAll(/^\s*import\s+['"](\.{1,2}\/[^'"]+)['"]/gm)) out.push(m[1]);
  for (const m of text.matchAll(/(?<!typeof )import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out.map((s) => normalize(join(dirname(file), s)).replace(/\.js$/, '.ts')).filter((p) => existsSync(p));
}

test('every folder of src/ has its row in scripts/layers.mjs', () => {
  const folders = readdirSync(SRC).filter((f) => statSync(join(SRC, f)).isDirectory() && f !== 'dashboard');
  assert.deepEqual(folders.filter((f) => !(f in LAYERS)), []);
  assert.deepEqual(Object.keys(LAYERS).filter((f) => f !== '.' && !folders.includes(f)), [], 'no row for a folder that is gone');
});

test('no runtime import cycle between the files of src/', () => {
  const graph = new Map(files(SRC).map((f) => [f, valueImports(f)]));
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') { cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(ROOT, p)).join(' -> ')); return; }
    state.set(f, 'open');
    for (const g of graph.get(f) ?? []) visit(g, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  assert.deepEqual(cycles, []);
});

test('docs/architecture.md lists every folder with what it may import, as scripts/layers.mjs does', () => {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  for (const [folder, may] of Object.entries(LAYERS)) {
    if (folder === '.') continue;
    const row = doc.split('\n').find((l) => l.startsWith(`| \`src/${folder}/\``));
    assert.ok(row, `a row for src/${folder}/`);
    const cell = row.split('|')[2].trim();
    assert.equal(cell, may.includes('*') ? 'anything' : may.length ? may.map((m) => `\`${m}\``).join(', ') : 'nothing', `src/${folder}/ may import`);
  }
});

test('no code outside src/drivers/ tests a driver\'s name: placement, scale-in style and standbys are traits of the registry', () => {
  const kinds = ['local', 'compose', 'kubernetes', 'systemd'];
  const test = new RegExp(`(kind|name)\\s*[!=]==?\\s*'(${kinds.join('|')})'|'(${kinds.join('|')})'\\s*[!=]==?`);
  const offenders = files(SRC).filter((f) => !f.startsWith(join(SRC, 'drivers'))).flatMap((f) => readFileSync(f, 'utf8').split('\n')
    .flatMap((line, i) => (test.test(line) ? [`${relative(ROOT, f)}:${i + 1}: ${line.trim()}`] : [])));
  assert.deepEqual(offenders, []);
});
