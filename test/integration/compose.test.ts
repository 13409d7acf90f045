/**
 * The Compose driver: against a fake `docker` whose output is checked against a real engine's recorded output, and
 * against the real Docker engine with Compose and the image built from the packed package, where an engine answers
 * here (the test says so and skips otherwise). A pool scales 0 -> 3 -> 1 -> 0 through a real `trireme serve`; the
 * container running a job is never stopped, and the drained idle ones are the ones removed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRedis, waitFor, ROOT, CLI, type TestRedis } from '../helpers.js';
import { loadProject } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { ControlStore } from '../../src/stores/control-store.js';
import { parseContainers } from '../../src/drivers/compose/driver.js';
import { trireme, reapAll } from './procs.js';

const exec = promisify(execFile);
const CONFIG = join(ROOT, 'test/fixtures/compose-pools.yml');
const recordedLines = readFileSync(join(ROOT, 'test/fixtures/compose/docker-ps.jsonl'), 'utf8');
let redis: TestRedis;
const tmp = mkdtempSync(join(tmpdir(), 'trireme-compose-'));

/** A PATH whose `docker` is the fake, with its state in a folder of its own. */
function fakeEnv(): NodeJS.ProcessEnv {
  const bin = join(tmp, 'bin');
  mkdirSync(bin, { recursive: true });
  try { symlinkSync(join(ROOT, 'test/fakes/docker.mjs'), join(bin, 'docker')); } catch { /* made already */ }
  return { PATH: `${bin}:${process.env.PATH}`, FAKE_DOCKER_STATE: join(tmp, 'state.json'), FAKE_DOCKER_CLI: CLI, TRIREME_TEST_CONFIG: CONFIG, TRIREME_REDIS_URL: redis.url };
}

/** Scales a pool 0 -> 3 -> 1 -> 0 through serve; the busy replica must survive the scale-in. */
async function scenario(config: string, env: NodeJS.ProcessEnv, running: () => Promise<{ name: string; id: string }[]>) {
  const project = await loadProject(config, env);
  const client = new TriremeClient(project, redis.url);
  const store = new ControlStore(client.redis, project.config.prefix);
  const since = Date.now();
  const serve = trireme(['-c', config, 'serve', '--grace', '5s'], env);
  try {
    await waitFor(async () => (await store.decisions()).heavy, 60_000, 'the controller');
    const long = await client.submit('fx.sleep', { ms: 10_000 });
    const short = await Promise.all([1, 2].map(() => client.submit('fx.sleep', { ms: 300 })));
    await waitFor(async () => (await running()).length === 3, 120_000, 'three containers');
    for (const j of short) await client.waitFor(j.id, 60_000);
    const longView = await waitFor(async () => { const v = await client.getJob(long.id); return v?.state === 'active' ? v : undefined; }, 60_000, 'the long job running');
    await waitFor(async () => (await running()).length === 1, 60_000, 'scaled in to one container');
    const result = await client.waitFor(long.id, 60_000) as { slept: number; attempt: number };
    assert.deepEqual([result.slept, result.attempt], [10_000, 1], 'the long job finished on its first attempt: its container was kept');
    assert.ok(longView.startedAt);
    await waitFor(async () => (await running()).length === 0 && (await store.events())[0]?.to === 0, 60_000, 'back to zero containers, recorded');
    const events = (await store.events()).filter((e) => e.pool === 'heavy' && e.at >= since).reverse();
    assert.deepEqual([events[0].from, events[0].to], [0, 3]);
    assert.deepEqual([events.at(-1)!.from, events.at(-1)!.to], [1, 0]);
    for (const e of events.slice(1, -1)) assert.ok(e.to < e.from && e.to >= 1, `a scale-in step ${e.from} -> ${e.to}`);
    for (const e of events) assert.doesNotMatch(e.reason, /highest-numbered/, 'only drained containers were removed');
    serve.child.kill('SIGTERM');
    assert.equal((await serve.exited).code, 0);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- serve's output ---\n${serve.output().split('\n').filter((l) => !/"pool":"light"/.test(l)).slice(-60).join('\n')}`);
  } finally {
    await client.close();
  }
}

describe('the Compose driver', () => {
  before(async () => { redis = await startRedis(); });
  after(async () => { await reapAll(); await redis.stop(); });

  test('the fake prints `docker ps` lines of the recorded shape, and the driver reads the recorded lines', async () => {
    const env = { ...process.env, ...fakeEnv() };
    const compose = join(ROOT, 'test/fixtures/compose/compose.yml');
    await exec('docker', ['compose', '-p', 'shape', '-f', compose, 'up', '-d', '--no-recreate', '--scale', 'heavy=1', 'heavy'], { env });
    const { stdout } = await exec('docker', ['ps', '--all', '--filter', 'label=com.docker.compose.project=shape', '--format', '{{json .}}'], { env });
    const fields = (line: string) => Object.entries(JSON.parse(line)).map(([k, v]) => `${k}:${typeof v}`);
    const recorded = new Set(recordedLines.trim().split('\n').flatMap(fields));
    for (const line of stdout.trim().split('\n')) assert.deepEqual(fields(line).filter((f) => !recorded.has(f)), []);
    await exec('docker', ['compose', '-p', 'shape', '-f', compose, 'up', '-d', '--no-recreate', '--scale', 'heavy=0', 'heavy'], { env });
    assert.deepEqual(parseContainers(recordedLines).map((c) => [c.name, c.state, c.number, c.id]), [['cp_w_1', 'running', 1, '36571606f1c7'], ['cp_w_2', 'exited', 2, '7314606527e5']]);
    assert.equal(parseContainers(recordedLines)[0].createdAt, Date.parse('2026-11-23T11:01:40Z'));
  });

  test('fake engine: 0 -> 3 -> 1 -> 0 through serve; the busy container is kept, the drained ones are removed', { timeout: 240_000 }, async () => {
    const env = fakeEnv();
    const state = () => JSON.parse(readFileSync(env.FAKE_DOCKER_STATE!, 'utf8')) as { containers: { name: string; id: string; state: string; project: string }[] };
    await scenario(CONFIG, env, async () => state().containers.filter((c) => c.project === 'trifake' && c.state === 'running'));
  });

  test('real Docker engine and Compose, with the image built from the packed package', { timeout: 600_000 }, async (t) => {
    const compose = ['docker-compose', 'docker'].find((c) => { try { execFileSync(c, c === 'docker' ? ['compose', 'version'] : ['version'], { stdio: 'ignore' }); return true; } catch { return false; } });
    try { execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }); } catch { t.skip('no Docker engine answers here (docker info failed): the fake engine test above stands in'); return; }
    if (!compose) { t.skip('no Compose command (docker compose or docker-compose) is installed'); return; }
    // The image, from the tarball npm pack makes, on this machine's Node (no registry to pull node:20 from).
    const base = execFileSync(join(ROOT, 'test/engines/node-image.sh'), ['trireme-test-node:20'], { encoding: 'utf8' }).trim();
    const ctx = join(tmp, 'image');
    mkdirSync(ctx, { recursive: true });
    await exec('npm', ['pack', '--pack-destination', ctx, '--loglevel=error'], { cwd: ROOT, timeout: 240_000 });
    writeFileSync(join(ctx, '.dockerignore'), '*\n!trireme-jobs-*.tgz\n');
    await exec('docker', ['build', '--network', 'host', '--target', 'runtime', '--build-arg', `NODE_IMAGE=${base}`, '-f', join(ROOT, 'deploy/docker/Dockerfile'), '-t', 'trireme:test', ctx], { timeout: 400_000, maxBuffer: 64 * 1024 ** 2 });
    // A project as a user has it: tasks importing 'trireme-jobs', mounted into /app of the image.
    const app = join(tmp, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, join(app, 'node_modules/trireme-jobs'));
    writeFileSync(join(app, 'tasks.ts'), "import { defineTask } from 'trireme-jobs';\nexport const sleep = defineTask('fx.sleep', async (p: { ms: number }, ctx) => { await new Promise((r) => setTimeout(r, p.ms)); return { slept: p.ms, attempt: ctx.attempt }; });\n");
    writeFileSync(join(app, 'trireme.yml'), readFileSync(CONFIG, 'utf8').replace('project: trifake, command: [docker, compose]', `project: trireal, command: [${compose === 'docker' ? 'docker, compose' : 'docker-compose'}]`));
    writeFileSync(join(app, 'compose.yml'), `services:
  heavy:
    image: trireme:test
    command: ["-c", "/app/trireme.yml", "worker", "--pool", "heavy", "--lock", "2s", "--stalled-interval", "500ms", "--heartbeat", "250ms"]
    environment: { TRIREME_REDIS_URL: "${redis.url}", TRIREME_LOG_FORMAT: json }
    volumes: ["./trireme.yml:/app/trireme.yml:ro", "./tasks.ts:/app/tasks.ts:ro"]
    network_mode: host
    restart: unless-stopped
    stop_grace_period: 30s
`);
    writeFileSync(join(app, 'trireme.yml'), readFileSync(join(app, 'trireme.yml'), 'utf8').replace('file: compose/compose.yml', 'file: compose.yml'));
    const running = async () => {
      const { stdout } = await exec('docker', ['ps', '--filter', 'label=com.docker.compose.project=trireal', '--format', '{{json .}}']);
      return parseContainers(stdout);
    };
    try {
      await scenario(join(app, 'trireme.yml'), { TRIREME_REDIS_URL: redis.url }, running);
    } finally {
      const { stdout } = await exec('docker', ['ps', '--all', '--quiet', '--filter', 'label=com.docker.compose.project=trireal']);
      const ids = stdout.split('\n').filter(Boolean);
      if (ids.length) await exec('docker', ['rm', '--force', ...ids]);
    }
    assert.ok(readdirSync(ctx).some((f) => f.endsWith('.tgz')));
  });
});
