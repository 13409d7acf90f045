/**
 * `trireme export` as a user pipes it: the stdout stream is what a multi-document YAML parser (and kubectl) reads,
 * every object of both example configs and deploy/kubernetes passes the Kubernetes schema and the restricted Pod
 * Security level, the preStop hook drains its pod's replica when run exactly as the kubelet runs it, env values with
 * `$` survive Kubernetes' and Compose's expansion, the secret keys the manifests read are the ones docs/deploy.md
 * creates, and what an export cannot do as asked is said: an image with no registry or tag and an HPA that cannot
 * reach zero on stderr and in the files, a pool bigger than this machine on stderr (by `plan` too).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT, CLI, startRedis, waitFor, type TestRedis } from '../helpers.js';
import { containerEnv, expandKubernetes, restrictedViolations, RESTRICTED_RULES, validateObject, type KubeObject } from '../kubernetes-checks.js';
import { loadProject } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { Inspector } from '../../src/control/inspect.js';
import { trireme as start, reapAll } from './procs.js';

const tmp = mkdtempSync(join(tmpdir(), 'trireme-export-'));
const IMAGE = 'registry.example/jobs:1';
const CONFIGS = ['examples/three-tier/trireme.yml', 'examples/three-tier/production.yml', 'deploy/kubernetes/trireme.yml', 'examples/celery/trireme.yml'].map((c) => join(ROOT, c));

/** Runs the CLI to completion, whatever its exit code. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, cwd: tmp, maxBuffer: 16 * 1024 ** 2 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Every object of a YAML stream; a parse error or warning fails the test. */
function objects(text: string, what: string): KubeObject[] {
  const docs = parseAllDocuments(text);
  for (const d of docs) {
    assert.deepEqual(d.errors.map((e) => e.message), [], `${what}: YAML errors`);
    assert.deepEqual(d.warnings.map((e) => e.message), [], `${what}: YAML warnings`);
  }
  return docs.map((d) => d.toJSON() as KubeObject).filter((o) => o !== null);
}

let n = 0;
/** The files `export KIND -o DIR` writes, by name. */
async function exportedFiles(config: string, kind: string, extra: string[] = []): Promise<Map<string, string>> {
  const out = join(tmp, `out-${n++}`);
  const r = await cli(['-c', config, 'export', kind, '-o', out, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return new Map(readdirSync(out).map((f) => [f, readFileSync(join(out, f), 'utf8')]));
}

const ids = (os: KubeObject[]) => os.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();

describe('trireme export', () => {
  let redis: TestRedis;
  before(async () => { redis = await startRedis(); });
  after(async () => { await reapAll(); await redis.stop(); });

  test('`export kubernetes` to stdout is one multi-document YAML stream holding every object the folder export writes', async () => {
    for (const config of CONFIGS) {
      for (const kind of ['kubernetes', 'keda', 'hpa']) {
        const r = await cli(['-c', config, 'export', kind, '--image', IMAGE]);
        assert.equal(r.code, 0, r.stderr);
        const streamed = objects(r.stdout, `${kind} from ${config}`);
        const files = [...(await exportedFiles(config, kind, ['--image', IMAGE])).entries()].flatMap(([f, text]) => objects(text, f));
        assert.deepEqual(ids(streamed), ids(files), `${kind} from ${config}: the stream and the files differ`);
        if (kind === 'kubernetes') {
          const pools = Object.keys(parse(readFileSync(config, 'utf8')).pools).length;
          // A Namespace, a ConfigMap, the pools' and the controller's Deployments, a Service, a ServiceAccount, a Role and its binding.
          assert.equal(streamed.length, pools + 7, `${config}: ${ids(streamed).join(', ')}`);
          assert.equal(streamed[0].kind, 'Namespace', 'the Namespace comes first, so that kubectl creates it before what lives in it');
        }
      }
    }
  });

  test('every exported object passes the Kubernetes schema, and every pod the restricted Pod Security level with a read-only root', async () => {
    const user = Number(/^USER (\d+):(\d+)$/m.exec(readFileSync(join(ROOT, 'deploy/docker/Dockerfile'), 'utf8'))?.[1]);
    assert.ok(user > 0, "deploy/docker/Dockerfile's runtime runs as a numeric non-root USER");
    let checked = 0;
    let pods = 0;
    for (const config of CONFIGS) {
      for (const kind of ['kubernetes', 'keda', 'hpa']) {
        const r = await cli(['-c', config, 'export', kind, '--image', IMAGE]);
        for (const o of objects(r.stdout, `${kind} from ${config}`)) {
          await assert.doesNotReject(validateObject(o), `${config}: ${o.kind} ${o.metadata.name}`);
          checked++;
          if (o.kind === 'Namespace') assert.equal(o.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
          if (o.kind !== 'Deployment') continue;
          const pod = o.spec.template.spec;
          assert.deepEqual(restrictedViolations(pod, o.spec.template.metadata.annotations), [], `${config}: ${o.metadata.name}`);
          assert.equal(pod.securityContext.runAsUser, user, 'the pod runs as the image\'s user');
          for (const c of pod.containers) {
            assert.equal(c.securityContext.readOnlyRootFilesystem, true, `${o.metadata.name}: a read-only root`);
            // What a replica and serve write: the ready file and tsx's cache in /tmp, serve's run folder in .trireme.
            const mounts = new Map<string, string>(c.volumeMounts.map((m: { mountPath: string; name: string }) => [m.mountPath, m.name]));
            for (const path of ['/tmp', '/app/.trireme']) {
              const volume = pod.volumes.find((v: { name: string }) => v.name === mounts.get(path));
              assert.ok(volume?.emptyDir, `${o.metadata.name}: ${path} is an emptyDir`);
            }
          }
          pods++;
        }
      }
    }
    assert.ok(checked >= 40 && pods >= 8, `checked ${checked} objects, ${pods} pods`);
  });

  test('the restricted checker fires on a pod that breaks each of its rules', () => {
    const good = () => ({
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'c', image: 'x', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
      volumes: [{ name: 'tmp', emptyDir: {} }],
    }) as Record<string, any>;
    assert.deepEqual(restrictedViolations(good()), []);
    const breaks: Record<string, (p: Record<string, any>) => void> = {
      'HostProcess': (p) => { p.securityContext.windowsOptions = { hostProcess: true }; },
      'Host Namespaces': (p) => { p.hostNetwork = true; },
      'Privileged Containers': (p) => { p.containers[0].securityContext.privileged = true; },
      'Capabilities (baseline)': (p) => { p.containers[0].securityContext.capabilities.add = ['SYS_ADMIN']; },
      'HostPath Volumes': (p) => { p.volumes.push({ name: 'h', hostPath: { path: '/' } }); },
      'Host Ports': (p) => { p.containers[0].ports = [{ containerPort: 80, hostPort: 80 }]; },
      'AppArmor': (p) => { p.securityContext.appArmorProfile = { type: 'Unconfined' }; },
      'SELinux': (p) => { p.securityContext.seLinuxOptions = { type: 'spc_t' }; },
      '/proc Mount Type': (p) => { p.containers[0].securityContext.procMount = 'Unmasked'; },
      'Sysctls': (p) => { p.securityContext.sysctls = [{ name: 'kernel.msgmax', value: '1' }]; },
      'Volume Types': (p) => { p.volumes.push({ name: 'n', nfs: { server: 'nfs', path: '/' } }); },
      'Privilege Escalation': (p) => { delete p.containers[0].securityContext.allowPrivilegeEscalation; },
      'Running as Non-root': (p) => { p.containers[0].securityContext.runAsNonRoot = false; },
      'Running as Non-root user': (p) => { p.containers[0].securityContext.runAsUser = 0; },
      'Seccomp': (p) => { p.containers[0].securityContext.seccompProfile = { type: 'Unconfined' }; },
      'Capabilities': (p) => { p.containers[0].securityContext.capabilities = {}; },
    };
    assert.deepEqual(Object.keys(breaks).sort(), RESTRICTED_RULES.map(([r]) => r).sort(), 'a breaking pod for every rule');
    for (const [rule, breakIt] of Object.entries(breaks)) {
      const pod = good();
      breakIt(pod);
      const found = restrictedViolations(pod);
      assert.ok(found.some((v) => v.startsWith(`${rule}: `)), `${rule}: not caught (${found.join('; ')})`);
    }
    assert.match(restrictedViolations(good(), { 'container.apparmor.security.beta.kubernetes.io/c': 'unconfined' }).join(), /^AppArmor: /);
  });

  test('the preStop hook, run exactly as the kubelet runs it, drains its own pod\'s replica while its job finishes', { timeout: 120_000 }, async () => {
    const config = join(ROOT, 'test/fixtures/kubernetes.yml');
    const r = await cli(['-c', config, 'export', 'kubernetes', '--image', IMAGE, '--config-path', config]);
    const deployment = objects(r.stdout, 'kubernetes').find((o) => o.kind === 'Deployment' && o.metadata.name === 'trireme-heavy')!;
    const container = deployment.spec.template.spec.containers[0];
    // The pod's environment: POD_NAME from the downward API, the Redis URL from the Secret; args expanded with it.
    const podName = 'trireme-heavy-7d9f8b6c5-x2x4k';
    const env = { ...containerEnv(container, { fieldRef: { 'metadata.name': podName }, secret: { 'redis-url': redis.url } }), TRIREME_READY_FILE: join(tmp, 'ready') };
    const args = container.args.map((a: string) => expandKubernetes(a, env));
    assert.deepEqual(args.slice(-2), ['--id', podName]);
    const replica = start(args, env);
    const project = await loadProject(config, { TRIREME_REDIS_URL: redis.url });
    const client = new TriremeClient(project, redis.url);
    try {
      const registry = new Inspector(project, client.redis).registry;
      await waitFor(async () => (await registry.list()).some((x) => x.id === podName), 30_000, 'the replica registered under the pod\'s name');
      const job = await client.submit('fx.sleep', { ms: 1_500 });
      await waitFor(async () => (await client.getJob(job.id))?.state === 'active', 30_000, 'the job running');
      // The image's PATH has `trireme`; here a shim runs the built CLI. Exec hooks get the container's env, unexpanded.
      const bin = join(tmp, 'bin');
      execFileSync('mkdir', ['-p', bin]);
      writeFileSync(join(bin, 'trireme'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
      chmodSync(join(bin, 'trireme'), 0o755);
      const [command, ...rest] = container.lifecycle.preStop.exec.command as string[];
      const hook = spawn(command, rest, { env: { PATH: `${bin}:${process.env.PATH}`, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      hook.stdout.on('data', (d) => { out += d; });
      hook.stderr.on('data', (d) => { out += d; });
      const code = await new Promise((done) => hook.once('exit', done));
      assert.equal(code, 0, `the hook failed: ${out}`);
      assert.match(out, new RegExp(`${podName}: drained`));
      assert.equal((await client.getJob(job.id))?.state, 'completed', 'the hook returned once the running job had finished');
      assert.deepEqual(await replica.exited, { code: 0, signal: null }, 'the replica drained and exited');
    } finally {
      await client.close();
    }
  });

  test('env values and paths with `$` reach the replica as written through Kubernetes\' and Compose\'s expansion', async () => {
    const odd = 'a$b$(c) $$ $(POD_NAME) ${PWD} $PWD';
    const dir = mkdtempSync(join(tmp, 'dollar-'));
    const config = join(dir, 'trireme.yml');
    writeFileSync(config, `redis: { url: "redis://127.0.0.1:1" }\ndrivers: { compose: { file: compose.yml } }\npools:\n  p:\n    queues: [default]\n    env: { ODD: ${JSON.stringify(odd)} }\n    driver: compose\n`);
    const path = '/app/$(HOME)/$x/trireme.yml';
    const k8s = objects((await cli(['-c', config, 'export', 'kubernetes', '--image', IMAGE, '--config-path', path])).stdout, 'kubernetes');
    const c = k8s.find((o) => o.kind === 'Deployment' && o.metadata.name === 'trireme-p')!.spec.template.spec.containers[0];
    const env = containerEnv(c, { fieldRef: { 'metadata.name': 'pod-1' }, secret: { 'redis-url': 'redis://r' } });
    assert.equal(env.ODD, odd, 'Kubernetes expands $(VAR) and $$ in env values');
    assert.equal(c.args.map((a: string) => expandKubernetes(a, { ...env, HOME: '/home' }))[1], path, 'and in args');

    const compose = await cli(['-c', config, 'export', 'compose', '--image', IMAGE, '--config-path', path]);
    assert.equal(compose.code, 0, compose.stderr);
    const file = join(dir, 'compose.yml');
    writeFileSync(file, compose.stdout);
    const vars = { PWD: dir, TRIREME_API_TOKEN: 'x'.repeat(24) };
    const service = interpolateCompose(parse(compose.stdout), vars).services.p;
    assert.equal(service.environment.ODD, odd, 'Compose interpolates $VAR, ${VAR} and $$ in every value');
    assert.equal(service.command[1], path);
    assert.equal(service.volumes[0], `./trireme.yml:${path}:ro`);
    let dc: string | undefined;
    try { execFileSync('docker-compose', ['version'], { stdio: 'ignore' }); dc = 'docker-compose'; } catch { /* not installed */ }
    if (!dc) return;
    // docker-compose config prints the interpolated file with each `$` escaped again as `$$`.
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => execFile(dc, ['-f', file, 'config'], { env: { ...process.env, ...vars } }, (e, so, se) => (e ? reject(new Error(se)) : resolve({ stdout: so }))));
    const seen = parse(stdout).services.p;
    assert.equal(seen.environment.ODD.replaceAll('$$', '$'), odd, 'as docker-compose reads it');
    assert.equal(seen.command[1].replaceAll('$$', '$'), path);
  });

  test('every Secret key the manifests read is one that docs/deploy.md\'s recipe creates', async () => {
    const docs = readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8');
    const recipe = /kubectl -n \S+ create secret generic trireme([^`]*)`/.exec(docs.replace(/\n\s*/g, ' '));
    assert.ok(recipe, 'docs/deploy.md creates the Secret "trireme"');
    const created = new Set([...recipe[1].matchAll(/--from-literal=([\w.-]+)=/g)].map((m) => m[1]));
    const read = new Set<string>();
    const r = await Promise.all(['kubernetes', 'keda'].map((k) => cli(['-c', CONFIGS[2], 'export', k, '--image', IMAGE])));
    for (const o of r.flatMap((x) => objects(x.stdout, 'export'))) {
      for (const c of o.kind === 'Deployment' ? o.spec.template.spec.containers : []) {
        for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) { assert.equal(e.valueFrom.secretKeyRef.name, 'trireme'); read.add(e.valueFrom.secretKeyRef.key); }
      }
      for (const ref of o.kind === 'TriggerAuthentication' ? o.spec.secretTargetRef : []) { assert.equal(ref.name, 'trireme'); read.add(ref.key); }
    }
    assert.ok(read.has('redis-address'), 'KEDA reads the Redis address');
    assert.deepEqual([...read].filter((k) => !created.has(k)), [], `the recipe creates ${[...created].join(', ')}`);
  });

  test('an image with no registry or tag, and an HPA that cannot scale to zero, are said on stderr and in the files', async () => {
    const bare = await cli(['-c', CONFIGS[1], 'export', 'kubernetes']);
    assert.equal(bare.code, 0, bare.stderr);
    assert.match(bare.stderr, /warning: image "trireme" has no registry and no tag/);
    assert.match(bare.stderr, /--image/);
    const comments = bare.stdout.split('\n').filter((l) => /^# WARNING: image "trireme"/.test(l));
    assert.ok(comments.length >= 4, 'each file with a pod says so');
    const tagged = await cli(['-c', CONFIGS[1], 'export', 'kubernetes', '--image', IMAGE]);
    assert.doesNotMatch(tagged.stderr + tagged.stdout, /WARNING|warning/);

    const hpa = await cli(['-c', CONFIGS[1], 'export', 'hpa']);
    assert.match(hpa.stderr, /warning: pool heavy has min: 0, but an HPA keeps at least one replica: its minReplicas is 1/);
    assert.match(hpa.stdout, /# WARNING: pool heavy has min: 0, but an HPA keeps at least one replica/);
    const light = objects(hpa.stdout, 'hpa').find((o) => o.metadata.name === 'trireme-light')!;
    assert.equal(light.spec.minReplicas, 2);
    assert.doesNotMatch(hpa.stderr, /pool light/);
  });

  test('a Celery pool is exported from its own image as its worker, named by pod or container; KEDA and the HPA leave it to the controller', async () => {
    const dir = mkdtempSync(join(tmp, 'celery-'));
    const config = join(dir, 'trireme.yml');
    writeFileSync(config, `redis: { url: "redis://127.0.0.1:1" }
drivers: { compose: { file: compose.yml } }
pools:
  light: { queues: [default] }
  shap:
    celery: { broker: "redis://broker:6379/0", app: tasks, queues: [shap, causal], args: ["--loglevel=INFO"] }
    concurrency: 2
    drainGrace: 45s
    image: registry.example/celery-shap:1
`);
    const k8s = objects((await cli(['-c', config, 'export', 'kubernetes', '--image', IMAGE])).stdout, 'kubernetes');
    const shap = k8s.find((o) => o.kind === 'Deployment' && o.metadata.name === 'trireme-shap')!;
    await assert.doesNotReject(validateObject(shap));
    assert.deepEqual(restrictedViolations(shap.spec.template.spec, undefined), []);
    const worker = shap.spec.template.spec.containers[0];
    assert.equal(worker.image, 'registry.example/celery-shap:1');
    assert.deepEqual(worker.command, ['python3', '-m', 'celery']);
    assert.deepEqual(worker.args, ['-A', 'tasks', 'worker', '-Q', 'shap,causal', '-c', '2', '-n', '$(POD_NAME)@%h', '-E', '-O', 'fair',
      '--prefetch-multiplier=1', '--without-mingle', '--without-gossip', '--loglevel=INFO']);
    assert.equal(containerEnv(worker, {}).CELERY_BROKER_URL, 'redis://broker:6379/0');
    // Its SIGTERM is its warm shutdown: no preStop drain and no ready file of Trireme's; the grace covers its tasks.
    assert.equal(worker.lifecycle, undefined);
    assert.equal(worker.readinessProbe, undefined);
    assert.equal(shap.spec.template.spec.terminationGracePeriodSeconds, 55);
    // Trireme's own pool keeps the deployment's image and its command.
    const light = k8s.find((o) => o.kind === 'Deployment' && o.metadata.name === 'trireme-light')!.spec.template.spec.containers[0];
    assert.equal(light.image, IMAGE);
    assert.equal(light.command, undefined);

    const compose = parse((await cli(['-c', config, 'export', 'compose', '--image', IMAGE])).stdout).services;
    assert.equal(compose.shap.image, 'registry.example/celery-shap:1');
    assert.deepEqual(compose.shap.entrypoint, ['python3', '-m', 'celery']);
    assert.ok(compose.shap.command.includes('shap@%h'), 'named after its container (Celery expands %h)');
    assert.equal(compose.light.image, IMAGE);
    assert.equal(compose.light.entrypoint, undefined);

    // Without an image of its own it would run from Trireme's, which has no Celery: said on stderr and in the files.
    writeFileSync(config, readFileSync(config, 'utf8').replace('    image: registry.example/celery-shap:1\n', ''));
    for (const kind of ['kubernetes', 'compose']) {
      const r = await cli(['-c', config, 'export', kind, '--image', IMAGE]);
      assert.match(r.stderr, /warning: pool shap runs python3 -m celery but names no image of its own: it would run from --image/);
      assert.match(r.stdout, /# WARNING: pool shap runs python3 -m celery but names no image of its own/);
    }

    for (const kind of ['keda', 'hpa']) {
      const r = await cli(['-c', config, 'export', kind, '--image', IMAGE]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /warning: pool shap is a celery pool: left out, its scaling is Trireme's controller's/);
      assert.deepEqual(objects(r.stdout, kind).filter((o) => o.kind !== 'TriggerAuthentication').map((o) => o.metadata.name), ['trireme-light']);
    }
  });

  test('export compose and plan say when a pool asks for more CPUs or memory than this machine has, and how to lower it', async () => {
    const dir = mkdtempSync(join(tmp, 'big-'));
    const config = join(dir, 'trireme.yml');
    const pools = (driver: string) => `pools:\n  small:\n    queues: [default]\n    resources: { cpu: 0.5, memory: 64Mi }\n    driver: ${driver}\n  huge:\n    queues: [huge]\n    resources: { cpu: 100000, memory: 900Ti }\n    driver: ${driver}\n`;
    writeFileSync(config, `redis: { url: "redis://127.0.0.1:1" }\ndrivers: { compose: { file: compose.yml } }\n${pools('compose')}`);
    const compose = await cli(['-c', config, 'export', 'compose', '--image', IMAGE]);
    assert.equal(compose.code, 0, compose.stderr);
    assert.match(compose.stderr, /warning: pool huge asks for 100000 CPUs a replica; this machine has \d+(\.\d+)?: Docker refuses to start a container whose cpus limit is above the host's CPUs\. Lower pools\.huge\.resources\.cpu/);
    assert.match(compose.stderr, /warning: pool huge asks for 900Ti of memory a replica; this machine has [\d.]+[GT]i/);
    assert.doesNotMatch(compose.stderr, /pool small/);
    // plan measures the pools whose replicas run on this machine (the local driver's) against it.
    writeFileSync(config, `redis: { url: "redis://127.0.0.1:1" }\n${pools('local')}`);
    const plan = await cli(['-c', config, 'plan']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stderr, /warning: pool huge asks for 100000 CPUs a replica; this machine has/);
    // Pools that run elsewhere (a cluster's nodes, a Docker engine) are not measured against this machine.
    writeFileSync(config, `redis: { url: "redis://127.0.0.1:1" }\n${pools('kubernetes')}`);
    assert.doesNotMatch((await cli(['-c', config, 'plan'])).stderr, /warning/);
  });
});

/**
 * Compose's interpolation (the Compose specification, "Interpolation"): `$$` is one `$`, `${VAR}` and `$VAR` are
 * replaced (unset: empty), with the `:-`, `-`, `:?`, `?`, `:+` and `+` forms; a `$` followed by anything else is an
 * error. Applied to every string of the file, as Compose does.
 */
function interpolateCompose(v: any, vars: Record<string, string>): any {
  if (Array.isArray(v)) return v.map((x) => interpolateCompose(x, vars));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolateCompose(x, vars)]));
  if (typeof v !== 'string') return v;
  return v.replace(/\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(.|$))/g, (_, dollar, braced, bare, other) => {
    if (dollar) return '$';
    if (bare) return vars[bare] ?? '';
    if (braced !== undefined) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$/s.exec(braced);
      if (!m) throw new Error(`invalid interpolation: \${${braced}}`);
      const [, name, op, arg] = m;
      const set = vars[name] !== undefined && (!op?.startsWith(':') || vars[name] !== '');
      if (!op) return vars[name] ?? '';
      if (op.endsWith('-')) return set ? vars[name] : arg;
      if (op.endsWith('?')) { if (!set) throw new Error(arg); return vars[name]; }
      return set ? arg : '';
    }
    throw new Error(`invalid interpolation: "$${other}" in "${v}"`);
  });
}
