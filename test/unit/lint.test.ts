/**
 * The ESLint rules that keep core/ pure must fire: a broader block later in eslint.config.js once overrode them, and
 * a core file importing node:fs and ioredis linted clean. Lints text as if it were files under src/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';
import { ROOT } from '../helpers.js';

const BAD_CORE = `import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
export const read = () => [readFileSync('x'), new Redis(), Date.now(), new Date()];
`;

async function rules(filePath: string, code: string): Promise<string[]> {
  const [result] = await new ESLint({ cwd: ROOT }).lintText(code, { filePath: `${ROOT}/${filePath}` });
  return result.messages.map((m) => `${m.line}:${m.ruleId}`);
}

test('core/ refuses I/O imports and the clock', async () => {
  assert.deepEqual(await rules('src/core/fixture-lint.ts', BAD_CORE), [
    '1:no-restricted-imports', '2:no-restricted-imports', '3:no-restricted-properties', '3:no-restricted-syntax',
  ]);
});

test('outside core/ the clock and node: are fine; bullmq and ioredis outside queue/ are not', async () => {
  assert.deepEqual(await rules('src/control/fixture-lint.ts', BAD_CORE), ['2:no-restricted-imports']);
  assert.deepEqual(await rules('src/api/fixture-lint.ts', "import type { Redis } from 'ioredis';\nexport type R = Redis;\n"), ['1:no-restricted-imports']);
  assert.deepEqual(await rules('src/queue/fixture-lint.ts', BAD_CORE), []);
  assert.deepEqual(await rules('src/control/fixture-lint.ts', "import { Queue } from 'bullmq';\nexport const q = Queue;\n"), ['1:no-restricted-imports']);
  assert.deepEqual(await rules('src/queue/fixture-lint.ts', "import { Queue } from 'bullmq';\nexport const q = Queue;\n"), []);
});
