/**
 * Redis and the lifecycle of `serve`, as a new user meets them: a Redis URL that is wrong or does not answer, Redis
 * going away under serve, Ctrl-C with jobs running (once, and twice), a port already taken, and the private
 * redis-server that one-off commands start. Real processes, a real redis-server per test, signals as a terminal sends.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ROOT } from '../helpers.js';
import { freePort } from '../../src/queue/embedded-redis.js';
import { reapAll, run } from './procs.js';

const CONFIG = join(ROOT, 'test/fixtures/autoscale.yml');

/** A copy of the fixture config in a folder of its own, with `edit` applied to its text. */
function configCopy(name: string, edit: (text: string) => string = (t) => t): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), `trireme-${name}-`));
  const config = join(dir, 'trireme.yml');
  writeFileSync(config, edit(readFileSync(CONFIG, 'utf8').replace('tasks: [./tasks.ts]', `tasks: [${JSON.stringify(join(ROOT, 'test/fixtures/tasks.ts'))}]`)));
  return { dir, config };
}

describe('a Redis URL that is wrong or does not answer', () => {
  after(reapAll);

  test('every verb says within seconds that Redis does not answer at the URL and what to check (exit 1)', { timeout: 120_000 }, async () => {
    const port = await freePort(); // nothing listens there
    const url = `redis://127.0.0.1:${port}`;
    const verbs = [['status'], ['jobs'], ['submit', 'fx.echo'], ['workers'], ['job', 'heavy~x'], ['scale', 'heavy', '1'], ['serve', '--no-api'], ['worker', '--pool', 'light']];
    const results = await Promise.all(verbs.map((v) => run(['-c', CONFIG, ...v], { TRIREME_REDIS_URL: url })));
    for (const [i, r] of results.entries()) {
      const what = `trireme ${verbs[i].join(' ')}: ${r.out}`;
      assert.equal(r.code, 1, what);
      assert.match(r.out, new RegExp(`Redis does not answer at redis://127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED [^)]*; waited 5 s\\)`), what);
      assert.match(r.out, /check that redis-server runs there .*and that TRIREME_REDIS_URL is right/i, what);
    }
  });

  test('a malformed URL is refused naming the problem (exit 2), from the environment or the config', async () => {
    for (const [bad, problem] of [['localhost:6379x', /"localhost:6379x" has no scheme: write redis:\/\/HOST:PORT/], ['redis://localhost:6379x', /port "6379x" is not a port number/], ['http://localhost:6379', /"http:\/\/" is not a Redis scheme/]] as const) {
      const r = await run(['-c', CONFIG, 'status'], { TRIREME_REDIS_URL: bad });
      assert.equal(r.code, 2, r.out);
      assert.match(r.out, /TRIREME_REDIS_URL is invalid/, r.out);
      assert.match(r.out, problem, r.out);
    }
    const { config } = configCopy('badurl', (t) => `redis: { url: "localhost:6379x" }\n${t}`);
    const r = await run(['-c', config, 'status'], { TRIREME_REDIS_URL: '' });
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /redis\.url: "localhost:6379x" has no scheme/, r.out);
  });
});
