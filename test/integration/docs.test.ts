/**
 * The documentation's code compiles: every TypeScript block of docs/library.md is type-checked against the sources
 * (`trireme-jobs` maps to src/ as it does for the examples), the first block being the tasks module the others import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers.js';

test('every TypeScript block in docs/library.md type-checks', { timeout: 180_000 }, async () => {
  const blocks = [...readFileSync(join(ROOT, 'docs/library.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 4, `found ${blocks.length} blocks`);
  const dir = join(ROOT, 'test/.snippets');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = blocks.map((code, i) => {
    const name = i === 0 ? 'tasks.ts' : `snippet-${i}.ts`;
    // Each block is a module of its own (top-level await allowed).
    writeFileSync(join(dir, name), `${code}\nexport {};\n`);
    return name;
  });
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noEmit: true, noUnusedLocals: false }, include: files }));
  try {
    const tsc = await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: ROOT })
      .then(() => ({ code: 0, stdout: '' }), (e: { code: number; stdout: string }) => e);
    assert.equal(tsc.code, 0, tsc.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
