/**
 * A fake Kubernetes API server for the driver's tests, since no cluster runs here. It answers the calls the driver
 * makes in the shapes real servers answer them (test/fixtures/kubernetes/, checked by a test), and does what the
 * Deployment and ReplicaSet controllers do with them: pods are real `trireme worker` processes, named by pod;
 * scaling in deletes pods not ready first, then those with the lowest `controller.kubernetes.io/pod-deletion-cost`,
 * then the newest; a deleted pod gets SIGTERM, then SIGKILL after terminationGracePeriodSeconds; a container that
 * exits is restarted (restartPolicy: Always). RBAC: a set of "verb resource" pairs it refuses with a 403 Status.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeDeployment {
  namespace: string;
  name: string;
  replicas: number;
  labels: Record<string, string>;
  /** The container: `trireme` arguments (the pod name is appended as --id), and its environment. */
  cli: string;
  args: string[];
  env: Record<string, string>;
  terminationGracePeriodSeconds: number;
}

interface Pod {
  name: string;
  deployment: FakeDeployment;
  uid: string;
  created: string;
  deleting?: string;
  annotations: Record<string, string>;
  ready: boolean;
  restarts: number;
  process?: ChildProcess;
  output: string;
}

export class FakeKubernetes {
  readonly deployments = new Map<string, FakeDeployment>();
  readonly pods = new Map<string, Pod>();
  /** "verb resource" pairs refused with 403, e.g. "patch deployments/scale". */
  readonly forbid = new Set<string>();
  /** Every request, for assertions: "PATCH /apis/apps/v1/.../scale". */
  readonly requests: string[] = [];
  /** Pods deleted so far, in order, with their deletion cost then. */
  readonly deleted: { name: string; cost: string | undefined; ready: boolean }[] = [];
  private server?: Server;
  private version = 1000;
  /** The server's certificate, which the kubeconfig carries as its certificate authority, as a cluster's does. */
  private cert = '';
  url = '';

  constructor(readonly token = randomBytes(12).toString('hex'), private readonly user = 'system:serviceaccount:trireme:trireme-controller') {}

  add(d: FakeDeployment): void {
    this.deployments.set(`${d.namespace}/${d.name}`, d);
    this.reconcile(d);
  }

  async start(): Promise<string> {
    // TLS as an API server serves it: a certificate for 127.0.0.1 that the client verifies against the kubeconfig.
    const dir = mkdtempSync(join(tmpdir(), 'trireme-fake-k8s-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=kubernetes',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    this.cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    this.server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: this.cert }, (req, res) => { void this.handle(req, res); });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const addr = this.server.address() as { port: number };
    this.url = `https://127.0.0.1:${addr.port}`;
    return this.url;
  }

  /** Requests from a test, trusting this server's certificate. */
  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const { request } = await import('node:https');
    return new Promise((resolve, reject) => {
      const req = request(`${this.url}${path}`, {
        method, ca: this.cert,
        headers: { authorization: `Bearer ${this.token}`, ...(body ? { 'content-type': 'application/merge-patch+json' } : {}) },
      }, (res) => {
        let raw = '';
        res.on('data', (d) => { raw += d; });
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(raw) }));
      });
      req.on('error', reject);
      req.end(body ? JSON.stringify(body) : undefined);
    });
  }

  /** A kubeconfig for this server, as `kubectl config view --raw` writes one. */
  kubeconfig(): string {
    return [
      'apiVersion: v1', 'kind: Config', 'current-context: fake',
      'clusters:', '- name: fake', '  cluster:', `    server: ${this.url}`, `    certificate-authority-data: ${Buffer.from(this.cert).toString('base64')}`,
      'contexts:', '- name: fake', '  context:', '    cluster: fake', '    user: controller', '    namespace: trireme',
      'users:', '- name: controller', '  user:', `    token: ${this.token}`, '',
    ].join('\n');
  }

  private stopping = false;

  async stop(): Promise<void> {
    this.stopping = true;
    for (const p of this.pods.values()) p.process?.kill('SIGKILL');
    await Promise.all([...this.pods.values()].map((p) => (p.process && p.process.exitCode === null ? new Promise((r) => p.process!.once('exit', r)) : undefined)));
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private status(res: ServerResponse, code: number, reason: string, message: string, details: Record<string, string>): void {
    this.send(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const url = new URL(req.url!, 'http://x');
    this.requests.push(`${req.method} ${url.pathname}`);
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      this.status(res, 401, 'Unauthorized', 'Unauthorized', {});
      return;
    }
    const body = raw ? JSON.parse(raw) : {};
    let m: RegExpExecArray | null;
    const verb = req.method === 'GET' ? 'get' : req.method === 'PATCH' ? 'patch' : req.method === 'PUT' ? 'update' : 'other';
    const refuse = (v: string, resource: string, group: string, kind: string, name?: string) => {
      if (!this.forbid.has(`${v} ${resource}`)) return false;
      const ns = url.pathname.split('/')[url.pathname.startsWith('/api/') ? 4 : 5];
      this.status(res, 403, 'Forbidden', `${kind}${group ? `.${group}` : ''}${name ? ` "${name}"` : ''} is forbidden: User "${this.user}" cannot ${v} resource "${resource}" in API group "${group}" in the namespace "${ns}"`, { ...(name ? { name } : {}), group, kind });
      return true;
    };
    if ((m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)(\/scale)?$/.exec(url.pathname))) {
      const [, ns, name, scale] = m;
      const d = this.deployments.get(`${ns}/${name}`);
      if (refuse(verb, scale ? 'deployments/scale' : 'deployments', 'apps', 'deployments', name)) return;
      if (!d) { this.status(res, 404, 'NotFound', `deployments.apps "${name}" not found`, { name, group: 'apps', kind: 'deployments' }); return; }
      if (scale && (req.method === 'PATCH' || req.method === 'PUT')) {
        const replicas = body?.spec?.replicas;
        if (!Number.isInteger(replicas) || replicas < 0) { this.status(res, 422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0`, { name, group: 'autoscaling', kind: 'Scale' }); return; }
        d.replicas = replicas;
        this.version++;
        this.reconcile(d);
      }
      this.send(res, 200, scale ? this.scaleOf(d) : this.deploymentOf(d));
      return;
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname)) && req.method === 'GET') {
      if (refuse('list', 'pods', '', 'pods')) return;
      const selector = Object.fromEntries((url.searchParams.get('labelSelector') ?? '').split(',').filter(Boolean).map((kv) => kv.split('=')));
      const items = [...this.pods.values()].filter((p) => p.deployment.namespace === m![1] && Object.entries(selector).every(([k, v]) => p.deployment.labels[k] === v));
      this.send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.version) }, items: items.map((p) => this.podOf(p)) });
      return;
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(url.pathname)) && req.method === 'PATCH') {
      if (refuse('patch', 'pods', '', 'pods', m[2])) return;
      const pod = this.pods.get(m[2]);
      if (!pod) { this.status(res, 404, 'NotFound', `pods "${m[2]}" not found`, { name: m[2], kind: 'pods' }); return; }
      if (!String(req.headers['content-type']).startsWith('application/merge-patch+json')) {
        this.status(res, 415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`, {});
        return;
      }
      Object.assign(pod.annotations, body?.metadata?.annotations ?? {});
      this.version++;
      this.send(res, 200, { kind: 'Pod', apiVersion: 'v1', ...this.podOf(pod) });
      return;
    }
    this.status(res, 404, 'NotFound', 'the server could not find the requested resource', {});
  }

  private scaleOf(d: FakeDeployment) {
    return {
      kind: 'Scale', apiVersion: 'autoscaling/v1',
      metadata: { name: d.name, namespace: d.namespace, uid: `uid-${d.name}`, resourceVersion: String(this.version), creationTimestamp: '2026-11-23T00:00:00Z' },
      spec: { replicas: d.replicas },
      status: { replicas: this.live(d).length, selector: Object.entries(d.labels).map(([k, v]) => `${k}=${v}`).join(',') },
    };
  }

  private deploymentOf(d: FakeDeployment) {
    const live = this.live(d);
    const ready = live.filter((p) => p.ready).length;
    const at = new Date().toISOString().slice(0, 19) + 'Z';
    return {
      kind: 'Deployment', apiVersion: 'apps/v1',
      metadata: { name: d.name, namespace: d.namespace, uid: `uid-${d.name}`, resourceVersion: String(this.version), creationTimestamp: '2026-11-23T00:00:00Z' },
      spec: { replicas: d.replicas, selector: { matchLabels: d.labels } },
      status: {
        availableReplicas: ready,
        conditions: [{ lastTransitionTime: at, lastUpdateTime: at, message: 'Deployment has minimum availability.', reason: 'MinimumReplicasAvailable', status: 'True', type: 'Available' }],
        observedGeneration: 1, readyReplicas: ready, replicas: live.length, updatedReplicas: live.length,
      },
    };
  }

  private podOf(p: Pod) {
    const at = p.created;
    return {
      metadata: {
        name: p.name, generateName: `${p.deployment.name}-5d6b548959-`, namespace: p.deployment.namespace, uid: p.uid,
        resourceVersion: String(this.version), creationTimestamp: p.created,
        ...(p.deleting ? { deletionTimestamp: p.deleting } : {}),
        labels: { ...p.deployment.labels, 'pod-template-hash': '5d6b548959' }, annotations: { ...p.annotations },
      },
      status: {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: p.ready ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: at }],
        startTime: at,
      },
    };
  }

  private live(d: FakeDeployment): Pod[] {
    return [...this.pods.values()].filter((p) => p.deployment === d && !p.deleting);
  }

  /** The ReplicaSet controller: as many pods as replicas, removing the least valuable first. */
  private reconcile(d: FakeDeployment): void {
    const live = this.live(d);
    for (let i = live.length; i < d.replicas; i++) this.create(d);
    if (live.length <= d.replicas) return;
    const cost = (p: Pod) => Number(p.annotations['controller.kubernetes.io/pod-deletion-cost'] ?? 0);
    const ranked = [...live].sort((a, b) => Number(a.ready) - Number(b.ready) || cost(a) - cost(b) || b.created.localeCompare(a.created));
    for (const p of ranked.slice(0, live.length - d.replicas)) this.remove(p);
  }

  private create(d: FakeDeployment): void {
    const name = `${d.name}-5d6b548959-${randomBytes(3).toString('hex').slice(0, 5)}`;
    const pod: Pod = { name, deployment: d, uid: randomBytes(8).toString('hex'), created: new Date().toISOString(), annotations: {}, ready: false, restarts: 0, output: '' };
    this.pods.set(name, pod);
    this.run(pod);
  }

  private run(pod: Pod): void {
    const d = pod.deployment;
    // A container's environment is its pod spec's, not the API server's.
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...d.env, POD_NAME: pod.name };
    const child = spawn(process.execPath, [d.cli, ...d.args, '--id', pod.name], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    pod.process = child;
    const read = (chunk: Buffer) => {
      pod.output += chunk;
      // The readiness probe: the replica has said it serves.
      if (!pod.ready && pod.output.includes('"msg":"replica started"')) { pod.ready = true; this.version++; }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', () => {
      pod.ready = false;
      if (pod.deleting || this.stopping) { this.pods.delete(pod.name); return; }
      // restartPolicy: Always: the kubelet starts the container again in the same pod.
      pod.restarts++;
      pod.output = '';
      this.run(pod);
    });
  }

  private remove(p: Pod): void {
    p.deleting = new Date().toISOString();
    this.deleted.push({ name: p.name, cost: p.annotations['controller.kubernetes.io/pod-deletion-cost'], ready: p.ready });
    this.version++;
    if (!p.process || p.process.exitCode !== null) { this.pods.delete(p.name); return; }
    p.process.kill('SIGTERM');
    const timer = setTimeout(() => p.process?.kill('SIGKILL'), p.deployment.terminationGracePeriodSeconds * 1000);
    p.process.once('exit', () => clearTimeout(timer));
  }
}
