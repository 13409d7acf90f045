/**
 * The ESLint rules that hold the architecture must fire: core/ stays pure (a broader block later in eslint.config.js
 * once overrode its rules, and a core file importing node:fs and ioredis linted clean), and every folder of src/
 * imports only what scripts/layers.mjs allows it. Lints text as if it were files under src/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';
import { ROOT } from '../helpers.js';
import { LAYERS, PACKAGES } from '../../scripts/layers.mjs';

const BAD_CORE = `import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
export const read = () => [readFileSync('x'), new Redis(), Date.now(), new Date()];
`;

const eslint = new ESLint({ cwd: ROOT });
async function rules(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}/${filePath}` });
  return result.messages.map((m) => `${m.line}:${m.ruleId}`);
}

test('core/ refuses I/O imports and the clock', async () => {
  assert.deepEqual(await rules('src/core/fixture-lint.ts', BAD_CORE), [
    '1:no-restricted-imports', '2:trireme/layers', '2:no-restricted-imports', '3:no-restricted-properties', '3:no-restricted-syntax',
  ]);
});

test('outside core/ the clock and node: are fine; bullmq and ioredis only behind the folders that talk to Redis', async () => {
  assert.deepEqual(await rules('src/control/fixture-lint.ts', BAD_CORE), ['2:trireme/layers']);
  assert.deepEqual(await rules('src/api/fixture-lint.ts', "import type { Redis } from 'ioredis';\nexport type R = Redis;\n"), ['1:trireme/layers']);
  assert.deepEqual(await rules('src/redis/fixture-lint.ts', BAD_CORE), []);
  assert.deepEqual(await rules('src/replica/fixture-lint.ts', "import { Queue } from 'bullmq';\nexport const q = Queue;\n"), []);
  for (const [name, folders] of Object.entries(PACKAGES)) {
    const outside = Object.keys(LAYERS).find((f) => f !== '.' && f !== 'cli' && f !== 'core' && !folders.includes(f))!;
    assert.deepEqual(await rules(`src/${outside}/fixture-lint.ts`, `import * as m from '${name}';\nexport const x = m;\n`), ['1:trireme/layers'], `${name} in ${outside}/`);
    assert.deepEqual(await rules(`src/${folders[0]}/fixture-lint.ts`, `import * as m from '${name}';\nexport const x = m;\n`), [], `${name} in ${folders[0]}/`);
  }
});

test('every folder may import the folders scripts/layers.mjs lists for it, and no other (each rule fires)', async () => {
  const folders = Object.keys(LAYERS).filter((f) => f !== '.');
  for (const [from, may] of Object.entries(LAYERS)) {
    if (from === '.' || may.includes('*')) continue;
    for (const to of folders) {
      if (to === from) continue;
      const code = `import { x } from '../${to}/fixture.js';\nexport const y = x;\n`;
      const want = may.includes(to) ? [] : ['1:trireme/layers'];
      assert.deepEqual(await rules(`src/${from}/fixture-lint.ts`, code), want, `src/${from}/ importing src/${to}/`);
    }
    // Deeper files and dynamic imports are held to the same rule.
    const forbidden = folders.find((f) => f !== from && !may.includes(f))!;
    assert.deepEqual(await rules(`src/${from}/sub/fixture-lint.ts`, `export const y = () => import('../../${forbidden}/fixture.js');\n`), ['1:trireme/layers'], `src/${from}/sub dynamic import of ${forbidden}`);
  }
});
