/**
 * `trireme submit` on a host without the task code (the controller's in a Compose or Kubernetes deployment, where
 * serve runs --no-tasks): it submits by task name with the config's routes, as a client that does not import the
 * task code does, and a replica on another host (with the code) runs the job. A task module that is there but broken
 * is still an error.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, ROOT, type TestRedis } from '../helpers.js';
import { loadProject } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { reapAll, run, trireme } from './procs.js';

const tmp = mkdtempSync(join(tmpdir(), 'trireme-controller-host-'));
/** A host's copy of the project: the same config, with `tasks` pointing where this host has (or lacks) the code. */
function host(name: string, tasks: string, files: Record<string, string> = {}): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  writeFileSync(join(dir, 'trireme.yml'), `tasks: [${JSON.stringify(tasks)}]\ndefaultQueue: work\nroutes:\n  - { match: "fx.*", queue: fx }\npools:\n  main: { queues: [work, fx], concurrency: 1 }\n`);
  return join(dir, 'trireme.yml');
}

describe('submit on a host without the task code', () => {
  let redis: TestRedis;
  before(async () => { redis = await startRedis(); });
  after(async () => { await reapAll(); await redis.stop(); });

  test('submits by task name, routes only, and a replica with the code runs the job', { timeout: 60_000 }, async () => {
    const env = { TRIREME_REDIS_URL: redis.url };
    const controller = host('controller', './tasks.ts');
    const sent = await run(['-c', controller, 'submit', 'fx.echo', '--data', '{"value":42}', '--json'], env);
    assert.equal(sent.code, 0, sent.out);
    assert.match(sent.out, /the task code is not on this host \(.*tasks\.ts: Cannot find module/);
    const job = JSON.parse(sent.out.split('\n').find((l) => l.startsWith('{'))!) as { id: string; queue: string };
    assert.equal(job.queue, 'fx', 'routed by the config');
    const quiet = await run(['-c', controller, 'submit', 'fx.echo', '--no-tasks'], env);
    assert.equal(quiet.code, 0, quiet.out);
    assert.doesNotMatch(quiet.out, /task code/, '--no-tasks does not look for it');
    // A task module that is there but imports a package this host lacks: the same.
    const partial = host('partial', './tasks.ts', { 'tasks.ts': "import 'no-such-package-of-trireme';\nexport {};\n" });
    const viaPackage = await run(['-c', partial, 'submit', 'fx.echo'], env);
    assert.equal(viaPackage.code, 0, viaPackage.out);
    assert.match(viaPackage.out, /Cannot find module 'no-such-package-of-trireme'/);

    const worker = host('worker', join(ROOT, 'test/fixtures/tasks.ts'));
    trireme(['-c', worker, 'worker', '--pool', 'main'], env);
    const project = await loadProject(worker, env);
    const client = new TriremeClient(project, redis.url);
    try {
      const result = await client.waitFor(job.id, 30_000) as { echoed: unknown };
      assert.equal(result.echoed, 42, 'the replica ran the job submitted without the task code');
    } finally {
      await client.close();
    }
  });

  test('a task module that is there but fails to load is still an error', async () => {
    const broken = host('broken', './tasks.ts', { 'tasks.ts': 'export const = ;\n' });
    const r = await run(['-c', broken, 'submit', 'fx.echo'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /tasks\.0: cannot load .*tasks\.ts/);
  });
});
