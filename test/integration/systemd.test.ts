/**
 * The systemd driver across three hosts: each host is a network namespace with its own address (veth pairs made by
 * the test), one Redis in the root namespace, and `systemctl --host` played by test/fakes/systemctl.mjs, which reaches
 * a host over the network and runs the unit template that `trireme export systemd` wrote. A pool of three replicas
 * (one per host) runs counted jobs; one host is cut off mid-job: its job is taken over by another host once its lock
 * expires, the pool is made up to three on the other hosts, and when the host comes back its replica is counted again
 * and the extra is drained. Every job completes; runs beyond one per job are counted, and the job says so (starts).
 *
 * Needs root and `ip netns` (Linux); it skips, saying why, where it cannot create network namespaces.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, waitFor, ROOT, CLI, FIXTURE_TASKS, type TestRedis } from '../helpers.js';
import { loadProject } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { ControlStore } from '../../src/stores/control-store.js';
import type { UnitLine } from '../../src/drivers/systemd/driver.js';
import { trireme, run, reapAll } from './procs.js';

const tag = Math.random().toString(36).slice(2, 6);
const net = 100 + Math.floor(Math.random() * 100);
const HOSTS = [1, 2, 3].map((i) => ({ name: `h${i}`, ns: `tri-${tag}-${i}`, outer: `tro${tag}${i}`, inner: `tri${tag}${i}`, gw: `10.${net}.${i}.1`, ip: `10.${net}.${i}.2` }));
const tmp = mkdtempSync(join(tmpdir(), 'trireme-systemd-'));
const sh = (...argv: string[]) => execFileSync(argv[0], argv.slice(1), { stdio: 'pipe' }).toString();

/** Why this machine cannot run the test, or undefined. */
function unavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  try { sh('ip', 'netns', 'add', `tri-${tag}-probe`); sh('ip', 'netns', 'del', `tri-${tag}-probe`); } catch (e) {
    return `cannot create a network namespace here (${(e as Error).message.split('\n')[0]}); run as root with iproute2`;
  }
  return undefined;
}
const skip = unavailable();

let redis: TestRedis;
const sshd: ChildProcess[] = [];
let config: string;
let hostsFile: string;

function hostRoot(h: { name: string }) { return join(tmp, h.name); }

async function units(h: typeof HOSTS[number]): Promise<UnitLine[]> {
  const file = join(hostRoot(h), 'units.json');
  if (!existsSync(file)) return [];
  const state = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { active: string; sub: string }>;
  return Object.entries(state).map(([unit, x]) => ({ unit, load: 'loaded', active: x.active, sub: x.sub, description: '' }));
}
const live = async (h: typeof HOSTS[number]) => (await units(h)).filter((u) => ['active', 'activating', 'deactivating'].includes(u.active)).map((u) => u.unit);

describe('the systemd driver on three hosts (network namespaces)', { skip }, () => {
  before(async () => {
    // The hosts' /16 is unreachable but through their own links: a host cut off is never reached another way (this
    // machine's default route leads to a proxy that would answer for anyone).
    sh('ip', 'route', 'add', 'unreachable', `10.${net}.0.0/16`);
    for (const h of HOSTS) {
      sh('ip', 'netns', 'add', h.ns);
      sh('ip', 'link', 'add', h.outer, 'type', 'veth', 'peer', 'name', h.inner);
      sh('ip', 'link', 'set', h.inner, 'netns', h.ns);
      sh('ip', 'addr', 'add', `${h.gw}/24`, 'dev', h.outer);
      sh('ip', 'link', 'set', h.outer, 'up');
      sh('ip', '-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', h.inner);
      sh('ip', '-n', h.ns, 'link', 'set', h.inner, 'up');
      sh('ip', '-n', h.ns, 'link', 'set', 'lo', 'up');
      // sshd's port, which the fake systemctl connects to as systemd's SSH transport would.
      sshd.push(spawn('ip', ['netns', 'exec', h.ns, process.execPath, '-e', `require('net').createServer((s) => s.end()).listen(22, '${h.ip}')`], { stdio: 'ignore' }));
    }
    redis = await startRedis({ bind: HOSTS.map((h) => h.gw) });
    const prefix = `tsd${tag}`;
    config = join(tmp, 'trireme.yml');
    writeFileSync(config, `# Written by test/integration/systemd.test.ts
prefix: ${prefix}
tasks: [${FIXTURE_TASKS}]
defaultQueue: fleet
routes: [{ match: "fx.*", queue: fleet }]
controller: { interval: 400ms, leaseTtl: 2s }
api: { port: 0 }
drivers:
  systemd:
    command: [${process.execPath}, ${join(ROOT, 'test/fakes/systemctl.mjs')}]
    timeout: 5s
    hosts:
${HOSTS.map((h) => `      - { name: ${h.name}, address: trireme@${h.ip}, cpu: 2, memory: 4Gi }`).join('\n')}
pools:
  fleet:
    queues: [fleet]
    concurrency: 1
    drainGrace: 20s
    resources: { cpu: 1, memory: 256Mi }
    env: { FLEET_SETTING: "from-the-pool" }
    driver: systemd
    scaling: { min: 3, max: 3, cooldownDown: 0, stabilization: 0 }
`);
    // The package as install.sh lays it out: PREFIX/node_modules/.bin/trireme.
    const bin = join(tmp, 'opt/node_modules/.bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync(CLI, join(bin, 'trireme'));
    const hosts: Record<string, { ns: string; ip: string; root: string }> = {};
    for (const h of HOSTS) {
      const root = hostRoot(h);
      mkdirSync(join(root, 'etc/trireme'), { recursive: true });
      const { code, out } = await run(['-c', config, 'export', 'systemd', '-o', join(root, 'etc/systemd/system'), '--prefix', join(tmp, 'opt'), '--workdir', tmp]);
      assert.equal(code, 0, out);
      writeFileSync(join(root, 'etc/trireme/trireme.env'), [
        `TRIREME_REDIS_URL=redis://${h.gw}:${redis.port}`, `TRIREME_CONFIG=${config}`, `TRIREME_HOSTNAME=${h.name}`,
        'TRIREME_LOG_FORMAT=json', 'TRIREME_LOCK_DURATION=6s', 'TRIREME_STALLED_INTERVAL=2s', '',
      ].join('\n'));
      hosts[`trireme@${h.ip}`] = { ns: h.ns, ip: h.ip, root };
    }
    hostsFile = join(tmp, 'hosts.json');
    writeFileSync(hostsFile, JSON.stringify(hosts));
  });

  after(async () => {
    await reapAll();
    // Stop every unit the way systemd would on shutdown, then take the namespaces down.
    for (const h of HOSTS) {
      const file = join(hostRoot(h), 'units.json');
      const state = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Record<string, { supervisor?: number }> : {};
      for (const x of Object.values(state)) if (x.supervisor) { try { process.kill(x.supervisor, 'SIGKILL'); } catch { /* gone */ } }
      try { for (const pid of sh('ip', 'netns', 'pids', h.ns).split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
      try { sh('ip', 'netns', 'del', h.ns); } catch { /* gone */ }
      try { sh('ip', 'link', 'del', h.outer); } catch { /* went with the namespace */ }
    }
    try { sh('ip', 'route', 'del', 'unreachable', `10.${net}.0.0/16`); } catch { /* not made */ }
    for (const s of sshd) s.kill('SIGKILL');
    await redis?.stop();
  });

  test('a host cut off mid-job: its job completes elsewhere, the pool is made up, the host rejoins and the extra drains', async (t) => {
    const env = { FAKE_SYSTEMD_HOSTS: hostsFile, FAKE_SYSTEMD_PARENT: String(process.pid), TRIREME_REDIS_URL: redis.url };
    const project = await loadProject(config, env);
    const client = new TriremeClient(project, redis.url);
    const store = new ControlStore(client.redis, project.config.prefix);
    const runsFile = join(tmp, 'runs.log');
    writeFileSync(runsFile, '');
    const runs = () => readFileSync(runsFile, 'utf8').split('\n').filter(Boolean).map((l) => { const [id, host] = l.split(' '); return { id, host }; });
    const serve = trireme(['-c', config, 'serve', '--grace', '5s'], env);
    try {
      // One replica per host: placement puts each on the host with the most room.
      const perHost = async () => Promise.all(HOSTS.map(async (h) => (await live(h)).length));
      await waitFor(async () => (await perHost()).join() === '1,1,1', 90_000, 'one replica on each host');
      // Each unit got the pool's memory as its cgroup limit, set before its start.
      for (const h of HOSTS) {
        const [unit] = await live(h);
        const state = JSON.parse(readFileSync(join(hostRoot(h), 'units.json'), 'utf8')) as Record<string, { MemoryMax?: string }>;
        assert.equal(state[unit].MemoryMax, String(256 * 1024 ** 2), `${h.name}: ${unit} MemoryMax`);
      }

      // Three 12 s jobs, one per replica; then cut off the host running the first one's.
      const first = await Promise.all([1, 2, 3].map(() => client.submit('fx.counted', { ms: 12_000, file: runsFile })));
      await waitFor(() => runs().length === 3, 60_000, 'three jobs running, one per host');
      assert.deepEqual(new Set(runs().map((r) => r.host)), new Set(['h1', 'h2', 'h3']), 'one job per host');
      const victim = HOSTS.find((h) => h.name === runs().find((r) => r.id === first[0].id)!.host)!;
      const cutAt = Date.now();
      sh('ip', 'link', 'set', victim.outer, 'down');
      t.diagnostic(`cut ${victim.name} off with ${first[0].id} running on it`);
      // More work meanwhile: it goes to the other hosts.
      const later = await Promise.all([1, 2, 3].map(() => client.submit('fx.counted', { ms: 1_000, file: runsFile })));

      // The host is reported (the pool's health) and the pool is made up to three on the others.
      const decision = await waitFor(async () => { const d = (await store.decisions()).fleet; return d?.health?.includes(victim.name) ? d : undefined; }, 60_000, 'the unreachable host in the pool health');
      assert.match(decision.health!, /^degraded: host unreachable: h\d \(since .*Network is unreachable/);
      const doctor = await run(['-c', config, 'doctor', '--json'], env);
      const check = (JSON.parse(doctor.out) as { checks: { name: string; status: string; detail: string }[] }).checks.find((c) => c.name === 'pool fleet')!;
      assert.equal(check.status, 'warn', check.detail);
      assert.match(check.detail, new RegExp(`host unreachable: ${victim.name}`));
      const others = HOSTS.filter((h) => h !== victim);
      await waitFor(async () => (await Promise.all(others.map(live))).flat().length === 3, 90_000, 'three replicas on the two hosts left');

      // The cut-off host's job is taken over once its lock expires, and every job completes.
      const taken: number = await waitFor(() => (runs().filter((r) => r.id === first[0].id).length === 2 ? Date.now() : 0), 120_000, 'the cut-off job running again elsewhere');
      t.diagnostic(`taken over ${((taken - cutAt) / 1000).toFixed(1)} s after the cut (lock 6 s, stalled check every 2 s)`);
      for (const j of [...first, ...later]) {
        const r = await client.waitFor(j.id, 120_000) as { host: string };
        assert.notEqual(j.id === first[0].id ? r.host : undefined, victim.name, 'the taken-over job completed on another host');
      }

      // The host comes back: its replica is counted again, the pool is above its count, and one replica is drained.
      sh('ip', 'link', 'set', victim.outer, 'up');
      await waitFor(async () => !(await store.decisions()).fleet?.health, 60_000, 'the host answering again');
      await waitFor(async () => (await perHost()).reduce((a, b) => a + b, 0) === 3 && (await store.events()).some((e) => e.pool === 'fleet' && e.from === 4 && e.to === 3), 120_000, 'the extra replica drained');
      const events = (await store.events()).filter((e) => e.pool === 'fleet').reverse();
      t.diagnostic(`events: ${events.map((e) => `${e.from} -> ${e.to} (${e.reason})`).join('; ')}`);
      assert.ok(events.some((e) => e.from === 2 && e.to === 3), 'made up from two to three while the host was away');

      // Nothing lost, nothing stuck; runs beyond one per job counted, and the job tells of them.
      const counts = await client.queue('fleet').getJobCounts('wait', 'active', 'delayed', 'failed', 'completed');
      assert.deepEqual(counts, { wait: 0, active: 0, delayed: 0, failed: 0, completed: 6 });
      const perJob = new Map<string, number>();
      for (const r of runs()) perJob.set(r.id, (perJob.get(r.id) ?? 0) + 1);
      const extra = [...perJob].filter(([, n]) => n > 1);
      t.diagnostic(`runs: ${runs().length} for 6 jobs; beyond one per job: ${extra.map(([id, n]) => `${id} x${n}`).join(', ') || 'none'}`);
      assert.deepEqual(extra, [[first[0].id, 2]], 'only the cut-off job ran twice');
      const view = await client.getJob(first[0].id);
      assert.deepEqual([view!.starts, view!.stalls, view!.attempts], [2, 1, 1]);
      for (const j of [...first.slice(1), ...later]) assert.equal((await client.getJob(j.id))!.starts, 1);
      serve.child.kill('SIGTERM');
      assert.equal((await serve.exited).code, 0, serve.output().slice(-3000));
    } catch (err) {
      t.diagnostic(`decision: ${JSON.stringify((await store.decisions()).fleet)}`);
      t.diagnostic(`replicas: ${JSON.stringify(await client.redis.keys(`${project.config.prefix}:*replica*`))}`);
      t.diagnostic(serve.output().slice(-6000));
      for (const h of HOSTS) for (const u of await units(h)) { const log = join(hostRoot(h), `${u.unit}.log`); if (existsSync(log)) t.diagnostic(`${h.name} ${u.unit}: ${readFileSync(log, 'utf8').slice(-1500)}`); }
      throw err;
    } finally {
      await client.close();
    }
  });
});
