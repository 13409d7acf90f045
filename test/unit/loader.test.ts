/**
 * Loading users' task modules: TypeScript through tsx's CommonJS hook keeps import.meta.url and relative imports
 * working; a module with top-level await falls back to the ES module hooks; JavaScript loads as it is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { importTaskModule } from '../../src/project/loader.js';

const dir = mkdtempSync(join(tmpdir(), 'trireme-loader-'));
writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
writeFileSync(join(dir, 'helper.ts'), 'export const helper = (n: number): number => n * 2;\n');
writeFileSync(join(dir, 'tasks.ts'), "import { helper } from './helper.js';\nexport const url: string = import.meta.url;\nexport const doubled = helper(21);\n");
writeFileSync(join(dir, 'tla.ts'), 'const v: number = await Promise.resolve(7);\nexport const seven = v;\n');
writeFileSync(join(dir, 'plain.js'), 'export const kind = "javascript";\n');

test('a TypeScript module loads with its relative imports and its own import.meta.url', async () => {
  const m = await importTaskModule(join(dir, 'tasks.ts'));
  assert.equal(m.doubled, 42);
  assert.equal(new URL(m.url as string).pathname, pathToFileURL(join(dir, 'tasks.ts')).pathname);
});

test('a TypeScript module with top-level await loads as an ES module', async () => {
  assert.equal((await importTaskModule(join(dir, 'tla.ts'))).seven, 7);
});

test('a JavaScript module loads as it is', async () => {
  assert.equal((await importTaskModule(join(dir, 'plain.js'))).kind, 'javascript');
});

test('a module that throws while loading fails with its own error', async () => {
  writeFileSync(join(dir, 'broken.ts'), "throw new Error('broken on purpose');\n");
  await assert.rejects(importTaskModule(join(dir, 'broken.ts')), /broken on purpose/);
});
