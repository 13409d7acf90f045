/**
 * The package's name on npm is `trireme-jobs` (`trireme` there is another project, a JVM runtime for Node): every
 * install line and every import in the README, the docs, the examples and the deploy files uses that name, while
 * the command keeps the name `trireme`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../helpers.js';

const NAME = 'trireme-jobs';
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; bin: Record<string, string> };

/** Text files under the folders users read and copy from. */
function files(...under: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    if (statSync(p).isDirectory()) {
      for (const f of readdirSync(p)) if (!['node_modules', '.trireme', 'traces'].includes(f)) walk(join(p, f));
    } else if (/\.(md|ts|js|mjs|cjs|sh|yml|yaml)$|Dockerfile$/.test(p)) out.push(p);
  };
  for (const u of under) walk(join(ROOT, u));
  return out;
}

test('the package is trireme-jobs and its command is still trireme', () => {
  assert.equal(pkg.name, NAME);
  assert.equal(pkg.bin.trireme, 'bin/trireme.cjs');
});

test('every install line and import in README, docs, examples and deploy files names the package', () => {
  const wrong: string[] = [];
  for (const f of files('README.md', 'docs', 'examples', 'deploy', 'src')) {
    readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
      const uses = [
        // `npm install trireme`, `npm i trireme@0.1.0`, ...: anything of ours that is installed by name.
        ...[...line.matchAll(/\bnpm (?:install|i|add)\b[^\n`#]*?\s(trireme[\w@./-]*)/g)].map((m) => m[1]),
        // `from 'trireme'`, `require('trireme/worker')`, `import('trireme')`, and the entry points named in text.
        ...[...line.matchAll(/(?:from |require\(|import\()\s*['"](trireme[\w./-]*)['"]/g)].map((m) => m[1]),
        ...[...line.matchAll(/`(trireme(?:-jobs)?\/(?:worker|control|server))`/g)].map((m) => m[1]),
      ];
      for (const u of uses) {
        const name = u.replace(/@[^/]*$/, '').split('/')[0];
        if (name !== NAME && !/\.tgz$/.test(u)) wrong.push(`${relative(ROOT, f)}:${i + 1}: ${u}`);
      }
    });
  }
  assert.deepEqual(wrong, []);
});
