/**
 * The package as a user gets it: `npm pack` (prepack builds dist/), `npm install <tarball> --omit=dev` into a fresh
 * project, once as an ES module project and once as CommonJS, a trireme.yml and a TypeScript task that imports from
 * `trireme-jobs` (the npm name: `trireme` is another project's), `tsc --noEmit` over a typed client, `npx trireme
 * serve` (the command keeps its name), and jobs submitted through the library's client with their results read back:
 * the TypeScript task, and a Python task on the warm runner the package ships (runners/python, in package.json files).
 * The install warns of no engine on this Node (20) and leaves out the Kubernetes client, an optional peer dependency
 * that only the kubernetes driver loads; using that driver without it is refused with the command that installs it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, startRedis, waitFor, type TestRedis } from '../helpers.js';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'trireme-package-'));
let tarball: string;
const serves: ReturnType<typeof spawn>[] = [];

/** The name on the registry; every import below uses it. */
const NAME = 'trireme-jobs';

const TASKS = `import { defineTask } from '${NAME}';

export const add = defineTask('math.add', async (p: { a: number; b: number }) => ({ sum: p.a + p.b, pid: process.pid }));
`;

/** Type-checked only: the payload and the result are typed from the task's definition, with no task code loaded. */
const TYPED = `import { createClient } from '${NAME}';
import type { add } from './tasks.js';

export async function check(): Promise<number> {
  const client = await createClient();
  const tasks = client.task<typeof add>('math.add');
  // @ts-expect-error a string where the task takes a number: the payload is typed
  await tasks.submit({ a: 'two', b: 3 });
  const job = await tasks.submit({ a: 2, b: 3 });
  const result = await job.result();
  const sum: number = result.sum;
  await client.close();
  return sum;
}
`;

const CLIENT_ESM = `import { createClient } from '${NAME}';
const client = await createClient();
const job = await client.task('math.add').submit({ a: 2, b: 3 });
const py = await client.task('py.double').submit({ n: 21 });
process.stdout.write(JSON.stringify({ ...(await job.result(60_000)), py: await py.result(60_000) }));
await client.close();
`;

const CLIENT_CJS = `const { createClient } = require('${NAME}');
(async () => {
  const client = await createClient();
  const job = await client.task('math.add').submit({ a: 2, b: 3 });
  const py = await client.task('py.double').submit({ n: 21 });
  process.stdout.write(JSON.stringify({ ...(await job.result(60_000)), py: await py.result(60_000) }));
  await client.close();
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** A Python task on the runner the package ships: \`python:\` finds it inside node_modules, nothing to install. */
const PY_TASKS = `from trireme import task


@task("py.double")
def double(payload, ctx):
    return {"n": payload["n"] * 2, "job": ctx.job_id}
`;

const CONFIG = `tasks: [./tasks.ts]
runners:
  py: { python: ./py_tasks.py, tasks: [py.double] }
defaultQueue: work
pools:
  main:
    queues: [work]
    concurrency: 2
    scaling: { min: 0, max: 2, idleShutdown: 2s }
`;

/** A pool on the kubernetes driver, for a project that has not installed the Kubernetes client. */
const KUBERNETES_CONFIG = `tasks: [./tasks.ts]
defaultQueue: work
pools:
  main:
    queues: [work]
    driver: kubernetes
`;

const projects: Partial<Record<'esm' | 'cjs', string>> = {};

async function project(kind: 'esm' | 'cjs'): Promise<string> {
  const dir = join(work, kind);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `trireme-${kind}-user`, version: '1.0.0', private: true, ...(kind === 'esm' ? { type: 'module' } : {}) }));
  // What a user's project installs: the tarball and its dependencies, no dev dependencies. npm's warnings are kept
  // (the default log level): an engine warning on this Node fails the test.
  const install = await run('npm', ['install', tarball, '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, timeout: 240_000 });
  const engines = `${install.stdout}${install.stderr}`.split('\n').filter((l) => /EBADENGINE/.test(l));
  assert.deepEqual(engines, [], `npm install warned of engines on Node ${process.versions.node}`);
  assert.equal((JSON.parse(readFileSync(join(dir, 'node_modules', NAME, 'package.json'), 'utf8')) as { name: string }).name, NAME);
  assert.ok(!existsSync(join(dir, 'node_modules/@kubernetes/client-node')), 'the Kubernetes client is not installed for a library user');
  projects[kind] = dir;
  writeFileSync(join(dir, 'trireme.yml'), CONFIG);
  writeFileSync(join(dir, 'tasks.ts'), TASKS);
  writeFileSync(join(dir, 'py_tasks.py'), PY_TASKS);
  writeFileSync(join(dir, 'typed.ts'), TYPED);
  writeFileSync(join(dir, kind === 'esm' ? 'client.mjs' : 'client.cjs'), kind === 'esm' ? CLIENT_ESM : CLIENT_CJS);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
    include: ['tasks.ts', 'typed.ts'],
  }));
  // A TypeScript user has @types/node of their own; the package brings none (the Kubernetes client once did): borrow ours.
  if (!existsSync(join(dir, 'node_modules/@types/node'))) {
    mkdirSync(join(dir, 'node_modules/@types'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules/@types/node'), join(dir, 'node_modules/@types/node'));
  }
  return dir;
}

async function serveAndSubmit(dir: string, client: string): Promise<void> {
  // The README's way: npx runs the package's bin; no Redis is configured, so serve starts its private one.
  // Its own process group, so that a stop reaches serve through npx as a Ctrl-C would.
  const serve = spawn('npx', ['--no-install', 'trireme', 'serve', '--port', '0'], { cwd: dir, detached: true, env: { ...process.env, TRIREME_PARENT_PID: String(process.pid), TRIREME_LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'] });
  serves.push(serve);
  let out = '';
  serve.stdout!.on('data', (d) => { out += d; });
  serve.stderr!.on('data', (d) => { out += d; });
  // 'close', not 'exit': npx exits at once on the signal, serve holds the pipes until it has shut down.
  const exited = new Promise<void>((done) => serve.once('close', () => done()));
  await waitFor(() => /dashboard and API at http:\/\//.test(out), 60_000, `serve to listen (output so far: ${out.slice(-500)})`);
  const { stdout } = await run(process.execPath, [client], { cwd: dir, timeout: 90_000 }).catch((e: Error) => {
    throw new Error(`${e.message}\nserve's output:\n${out.slice(-3000)}`);
  });
  const result = JSON.parse(stdout) as { sum: number; pid: number; py: { n: number; job: string } };
  assert.equal(result.sum, 5);
  assert.equal(result.py.n, 42, 'the Python task ran on the runner shipped in the package');
  assert.match(result.py.job, /^work~/);
  assert.notEqual(result.pid, serve.pid, 'a replica ran the task, not serve');
  process.kill(-serve.pid!, 'SIGTERM');
  await exited;
  // npx ends by the signal it forwarded; serve's own shutdown shows in its log: the replica drained and stopped.
  assert.match(out, /"msg":"shutting down: draining replicas"/);
  assert.match(out, /"code":0,"signal":null,"msg":"replica stopped"/, out.slice(-2000));
}

describe('the packed package, installed with --omit=dev', () => {
  before(async () => {
    await run('npm', ['pack', '--pack-destination', work, '--loglevel=error'], { cwd: ROOT, timeout: 240_000 });
    tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
    assert.match(tarball, new RegExp(`/${NAME}-\\d+\\.\\d+\\.\\d+\\.tgz$`));
  });
  after(() => { for (const s of serves) if (s.exitCode === null) { try { process.kill(-s.pid!, 'SIGKILL'); } catch { /* gone */ } } });

  for (const kind of ['esm', 'cjs'] as const) {
    test(`${kind === 'esm' ? 'an ES module' : 'a CommonJS'} project: tsc passes, serve runs the TypeScript task, the client gets the result`, { timeout: 400_000 }, async (t) => {
      const dir = await project(kind);
      const du = await run('du', ['-sk', 'node_modules'], { cwd: dir });
      t.diagnostic(`node_modules after installing the tarball: ${(Number(du.stdout.split('\t')[0]) / 1024).toFixed(0)} MiB`);
      const tsc = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir, timeout: 120_000 }).catch((e) => e as { stdout: string; code: number });
      assert.equal((tsc as { code?: number }).code ?? 0, 0, `tsc --noEmit failed:\n${(tsc as { stdout: string }).stdout}`);
      const version = await run(process.execPath, [join(dir, 'node_modules/.bin/trireme'), '--version'], { cwd: dir });
      assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+/);
      await serveAndSubmit(dir, kind === 'esm' ? 'client.mjs' : 'client.cjs');
    });
  }

  test('a pool on the kubernetes driver without @kubernetes/client-node: refused, naming the package and how to install it', { timeout: 120_000 }, async () => {
    const dir = projects.esm;
    assert.ok(dir, 'the ES module project above was installed');
    let redis: TestRedis | undefined;
    try {
      redis = await startRedis();
      writeFileSync(join(dir, 'kubernetes.yml'), KUBERNETES_CONFIG);
      const serve = await run(process.execPath, [join(dir, 'node_modules/.bin/trireme'), '-c', 'kubernetes.yml', 'serve', '--no-tasks', '--port', '0'], { cwd: dir, timeout: 60_000, env: { ...process.env, TRIREME_REDIS_URL: redis.url, TRIREME_PARENT_PID: String(process.pid) } })
        .then(({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }));
      assert.equal(serve.code, 2, serve.out);
      assert.match(serve.out, /the kubernetes driver \(pool main\) needs the package @kubernetes\/client-node, which is not installed/, serve.out);
      assert.match(serve.out, /npm install @kubernetes\/client-node@\^1/, serve.out);
      assert.doesNotMatch(serve.out, /\n\s+at /, 'no stack trace');
    } finally {
      await redis?.stop();
    }
  });
});
