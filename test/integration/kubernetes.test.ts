/**
 * The Kubernetes driver against a fake API server (no cluster runs here) whose answers are checked against responses
 * real servers sent (test/fixtures/kubernetes/): a pool scaled 0 -> 3 -> 1 -> 0 through a real `trireme serve`, the
 * busy pod kept and the drained idle pods deleted on scale-in, and a 403 that names the missing verb and resource.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, waitFor, ROOT, CLI, type TestRedis } from '../helpers.js';
import { loadProject, type Project } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { ControlStore } from '../../src/stores/control-store.js';
import { explain, podReplica, type PodLike } from '../../src/drivers/kubernetes/driver.js';
import { FakeKubernetes } from '../fakes/kubernetes.js';
import { trireme, reapAll, run } from './procs.js';

const CONFIG = join(ROOT, 'test/fixtures/kubernetes.yml');
const recorded = (f: string) => JSON.parse(readFileSync(join(ROOT, 'test/fixtures/kubernetes', f), 'utf8'));
/** Every field path of a JSON value with its type; maps keyed by names (labels, annotations) collapse to `*`. */
function shape(v: unknown, path = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) { for (const x of v) shape(x, `${path}[]`, out); return out; }
  if (v !== null && typeof v === 'object') {
    const map = /(labels|annotations|matchLabels)$/.test(path);
    for (const [k, x] of Object.entries(v)) shape(x, `${path}.${map ? '*' : k}`, out);
    return out;
  }
  out.add(`${path}:${v === null ? 'null' : typeof v}`);
  return out;
}
const invented = (fake: unknown, real: unknown) => [...shape(fake)].filter((p) => !shape(real).has(p));

let redis: TestRedis;
let fake: FakeKubernetes;
let project: Project;
let client: TriremeClient;
let store: ControlStore;
let env: NodeJS.ProcessEnv;
const tmp = mkdtempSync(join(tmpdir(), 'trireme-k8s-'));

describe('the Kubernetes driver', () => {
  before(async () => {
    redis = await startRedis();
    fake = new FakeKubernetes();
    await fake.start();
    writeFileSync(join(tmp, 'kubeconfig'), fake.kubeconfig());
    env = { TRIREME_REDIS_URL: redis.url, KUBECONFIG: join(tmp, 'kubeconfig') };
    fake.add({
      namespace: 'trireme', name: 'trireme-heavy', replicas: 0, labels: { 'app.kubernetes.io/name': 'trireme-heavy' },
      cli: CLI, args: ['-c', CONFIG, 'worker', '--pool', 'heavy', '--lock', '2s', '--stalled-interval', '500ms', '--heartbeat', '250ms'],
      env: { TRIREME_REDIS_URL: redis.url, TRIREME_LOG_FORMAT: 'json' }, terminationGracePeriodSeconds: 30,
    });
    project = await loadProject(CONFIG, env);
    client = new TriremeClient(project, redis.url);
    store = new ControlStore(client.redis, project.config.prefix);
  });
  after(async () => {
    await reapAll();
    await fake.stop();
    await client.close();
    await redis.stop();
  });

  test('the fake answers in the shapes real API servers answer: no field it writes is missing from a recorded response', async () => {
    const deployment = '/apis/apps/v1/namespaces/trireme/deployments/trireme-heavy';
    assert.deepEqual(invented((await fake.request('GET', `${deployment}/scale`)).json, recorded('scale.json')), []);
    assert.deepEqual(invented(((await fake.request('GET', deployment)).json as { status: unknown }).status, recorded('deployment-status.json')), []);
    fake.forbid.add('patch deployments/scale');
    const refused = await fake.request('PATCH', `${deployment}/scale`, { spec: { replicas: 1 } });
    assert.equal(refused.status, 403);
    assert.deepEqual(invented(refused.json, recorded('status-403.json')), []);
    fake.forbid.clear();
    await fake.request('PATCH', `${deployment}/scale`, { spec: { replicas: 1 } });
    const pods = (await fake.request('GET', '/api/v1/namespaces/trireme/pods?labelSelector=app.kubernetes.io%2Fname%3Dtrireme-heavy')).json as { items: unknown[] };
    assert.equal(pods.items.length, 1);
    assert.deepEqual(invented(pods, recorded('podlist.json')), []);
    await fake.request('PATCH', `${deployment}/scale`, { spec: { replicas: 0 } });
    await waitFor(() => fake.pods.size === 0, 20_000, 'the test pod gone');
    fake.deleted.length = 0;
  });

  test('the driver reads recorded responses: a pod (by name) and a 403 (naming the verb, resource and group)', () => {
    const pod = (recorded('podlist.json') as { items: PodLike[] }).items[0];
    assert.deepEqual(podReplica(pod, 'heavy'), {
      id: 'busybox-6944bc9f7b-45ptk', pool: 'heavy', handle: 'pod busybox-6944bc9f7b-45ptk', host: 'busybox-6944bc9f7b-45ptk',
      startedAt: Date.parse('2018-01-11T21:05:31Z'), phase: 'running',
    });
    const e = explain({ code: 403, body: JSON.stringify(recorded('status-403.json')) }, { verb: 'patch', resource: 'deployments/scale', group: 'apps', namespace: 'default', name: 'coffee' });
    assert.equal(e.message, 'kubernetes: forbidden to patch deployments/scale "coffee" in namespace default as system:serviceaccount:longevity:rollout-mgr: give the controller\'s Role the verb "patch" on resource "deployments/scale" in API group "apps" (deploy/kubernetes/rbac.yaml has the least rights the driver needs)');
  });

  test('a pool 0 -> 3 -> 1 -> 0 through serve: the busy pod is kept, the drained idle pods are the ones deleted', { timeout: 180_000 }, async () => {
    const serve = trireme(['-c', CONFIG, 'serve', '--grace', '5s'], env);
    await waitFor(async () => (await store.decisions()).heavy, 20_000, 'the controller');
    // One batch, so that the wake's pass sees all three jobs (three submits one by one race the wake).
    const [long, ...short] = await client.submitMany('fx.sleep', [{ ms: 8_000 }, { ms: 300 }, { ms: 300 }]);
    await waitFor(() => fake.deployments.get('trireme/trireme-heavy')!.replicas === 3, 20_000, 'the Deployment scaled to 3');
    for (const j of short) await client.waitFor(j.id, 30_000);
    await waitFor(async () => (await client.getJob(long.id))?.state === 'active', 20_000, 'the long job running');
    // Two pods idle, one busy: the pool goes to 1, and the busy pod must be the one that stays.
    await waitFor(() => fake.deployments.get('trireme/trireme-heavy')!.replicas === 1, 30_000, 'scaled in to 1');
    assert.equal(fake.deleted.length, 2);
    for (const d of fake.deleted) assert.equal(d.cost, '-1000', `${d.name} was a drained victim`);
    const kept = [...fake.pods.values()].filter((p) => !p.deleting);
    assert.equal(kept.length, 1);
    assert.equal(kept[0].annotations['controller.kubernetes.io/pod-deletion-cost'], '1000', 'the busy pod was marked to be kept');
    const result = await client.waitFor(long.id, 30_000) as { slept: number; attempt: number };
    assert.deepEqual([result.slept, result.attempt], [8_000, 1], 'the long job finished on its first attempt');
    await waitFor(() => fake.deployments.get('trireme/trireme-heavy')!.replicas === 0 && fake.pods.size === 0, 30_000, 'back to zero');
    // Up to 3 at once; down to 1 in one step or two (the short jobs end a moment apart); then to 0.
    const events = (await store.events()).filter((e) => e.pool === 'heavy').reverse();
    assert.deepEqual([events[0].from, events[0].to], [0, 3]);
    assert.deepEqual([events.at(-1)!.from, events.at(-1)!.to], [1, 0]);
    for (const e of events.slice(1, -1)) assert.ok(e.to < e.from && e.to >= 1, `a scale-in step ${e.from} -> ${e.to}`);
    serve.child.kill('SIGTERM');
    assert.equal((await serve.exited).code, 0);
    assert.equal(fake.deployments.get('trireme/trireme-heavy')!.replicas, 0, 'serve leaves the Deployment as it is');
  });

  test('a 403 is reported with the verb and resource to grant, and the pool scales once the Role allows it', { timeout: 120_000 }, async () => {
    fake.forbid.add('patch deployments/scale');
    const serve = trireme(['-c', CONFIG, 'serve', '--grace', '5s'], env);
    const job = await client.submit('fx.sleep', { ms: 100 });
    const d = await waitFor(async () => { const x = (await store.decisions()).heavy; return x?.health?.startsWith('error') ? x : undefined; }, 20_000, 'the 403 in the decision');
    assert.match(d.health!, /forbidden to patch deployments\/scale "trireme-heavy" in namespace trireme as system:serviceaccount:trireme:trireme-controller: give the controller's Role the verb "patch" on resource "deployments\/scale" in API group "apps"/);
    const status = await run(['-c', CONFIG, 'status'], env);
    assert.match(status.out, /\[error: kubernetes: forbidden to patch deployments\/scale/);
    fake.forbid.clear();
    await client.waitFor(job.id, 30_000);
    serve.child.kill('SIGTERM');
    assert.equal((await serve.exited).code, 0);
  });
});
