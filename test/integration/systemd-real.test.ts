/**
 * The systemd driver against real systemd: a Debian 12 container that boots systemd as its init (made by
 * test/engines/systemd-image.sh), prepared the way a worker host is, by deploy/systemd/install.sh with the packed
 * tarball and a project whose task module imports 'trireme-jobs'. `serve` runs here and reaches the container's
 * systemd through `docker exec CONTAINER systemctl` (the driver's `command`); the container shares this machine's
 * network, so its replicas reach the test's Redis on loopback. What real systemd does is checked: the unit template
 * installs and starts, MemoryMax is set from the pool before the start, the pool's env reaches the task, a replica
 * that recycles (exit 75) is restarted by systemd with a new pid, and the pool goes back to zero units.
 *
 * Skips, saying why, where no Docker engine answers or the image cannot be built (no debootstrap or no mirror).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync, cpSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRedis, waitFor, ROOT, type TestRedis } from '../helpers.js';
import { loadProject } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { trireme, reapAll } from './procs.js';

const exec = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), 'trireme-systemd-real-'));
const name = `trireme-systemd-${Math.random().toString(36).slice(2, 8)}`;

function unavailable(): string | undefined {
  try { execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }); } catch { return 'no Docker engine answers here (docker info failed): the fake systemctl test stands in'; }
  return undefined;
}
const skip = unavailable();

let redis: TestRedis;
let image = '';
const sctl = (...args: string[]) => exec('docker', ['exec', name, 'systemctl', ...args]).then((r) => r.stdout);
const units = async () => JSON.parse(await sctl('list-units', '--all', '--output=json', 'trireme-worker@*')) as { unit: string; active: string }[];
const show = async (unit: string, ...props: string[]) => Object.fromEntries((await sctl('show', unit, ...props.flatMap((p) => ['-p', p]))).trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));

const TASKS = `import { defineTask } from 'trireme-jobs';
export const env = defineTask('box.env', () => ({ setting: process.env.FLEET_SETTING ?? null, host: process.env.TRIREME_HOSTNAME ?? null, pid: process.pid, user: process.getuid?.() }));
`;

describe('the systemd driver on real systemd (a container booting systemd)', { skip }, () => {
  before(async () => {
    try {
      image = execFileSync(join(ROOT, 'test/engines/systemd-image.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 }).trim();
    } catch (e) {
      image = '';
      process.stderr.write(`# systemd image not built: ${(e as { stderr?: string }).stderr?.toString().trim().split('\n').slice(-2).join(' ') ?? (e as Error).message}\n`);
      return;
    }
    redis = await startRedis();
    await exec('npm', ['pack', '--pack-destination', tmp, '--loglevel=error'], { cwd: ROOT, timeout: 240_000 });
    const project = join(tmp, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'tasks.ts'), TASKS);
    writeFileSync(join(project, 'trireme.yml'), `prefix: ${name.replace(/-/g, '')}
tasks: [./tasks.ts]
defaultQueue: box
drivers:
  systemd:
    command: [docker, exec, ${name}, systemctl]
    hosts: [{ name: box1, cpu: 4, memory: 4Gi }]
pools:
  box:
    queues: [box]
    concurrency: 1
    maxTasksPerChild: 2
    drainGrace: 5s
    resources: { cpu: 1, memory: 300Mi }
    env: { FLEET_SETTING: from-the-pool }
    driver: systemd
    scaling: { policy: target, min: 0, max: 2, idleShutdown: 4s, cooldownDown: 0, stabilization: 0, startupTime: 2s }
controller: { interval: 500ms, leaseTtl: 3s }
`);
    cpSync(join(ROOT, 'deploy/systemd'), join(tmp, 'deploy'), { recursive: true });
    // Boot it: systemd as PID 1 needs the cgroup tree and a few capabilities; the host's network for Redis and npm.
    await exec('docker', ['run', '-d', '--name', name, '--network', 'host', '--cap-add', 'SYS_ADMIN', '--security-opt', 'seccomp=unconfined',
      '--security-opt', 'apparmor=unconfined', '--cgroupns=host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '--tmpfs', '/run', '--tmpfs', '/run/lock',
      '-v', `${tmp}:/x`, '-v', `${join(homedir(), '.npm')}:/root/.npm`, image]);
    await waitFor(async () => /^(running|degraded)/.test(await sctl('is-system-running').catch((e) => String(e.stdout ?? ''))), 120_000, 'systemd to boot in the container');
    const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
    await exec('docker', ['exec', '-e', 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', name, 'sh', '/x/deploy/install.sh',
      '--package', `/x/${tarball}`, '--project', '/x/project', '--redis', redis.url, '--name', 'box1'], { timeout: 400_000, maxBuffer: 16 * 1024 ** 2 });
  });
  after(async () => {
    await reapAll();
    await exec('docker', ['rm', '--force', name]).catch(() => {});
    await redis?.stop();
  });

  test('install.sh, then 0 -> 1 -> 0 through serve: MemoryMax from the pool, its env, recycle restarts with a new pid', { timeout: 600_000 }, async (t) => {
    if (!image) { t.skip('the systemd image could not be built here (see the line above)'); return; }
    const unitFile = await exec('docker', ['exec', name, 'cat', '/etc/systemd/system/trireme-worker@.service']);
    assert.match(unitFile.stdout, /^RestartForceExitStatus=75$/m);
    const config = join(tmp, 'project/trireme.yml');
    const serve = trireme(['-c', config, 'serve', '--no-tasks', '--port', '0', '--grace', '10s'], { TRIREME_REDIS_URL: redis.url });
    const p = await loadProject(config, { TRIREME_REDIS_URL: redis.url }, { tasks: false });
    const client = new TriremeClient(p, redis.url);
    try {
      const first = await client.submit('box.env', {});
      const r1 = await client.waitFor(first.id, 240_000) as { setting: string; host: string; pid: number; user: number };
      assert.deepEqual([r1.setting, r1.host], ['from-the-pool', 'box1'], 'the pool\'s env and the host name from trireme.env');
      assert.notEqual(r1.user, 0, 'the unit runs as the trireme user, not root');
      const [unit] = (await units()).filter((u) => u.active === 'active').map((u) => u.unit);
      assert.equal(unit, 'trireme-worker@box-1.service');
      assert.equal((await show(unit, 'MemoryMax')).MemoryMax, String(300 * 1024 ** 2), 'set-property before the start');
      // maxTasksPerChild 2: the second job recycles the replica (exit 75); systemd starts it again at once.
      const second = await client.submit('box.env', {});
      const r2 = await client.waitFor(second.id, 120_000) as { pid: number };
      assert.equal(r2.pid, r1.pid, 'the same process ran both');
      await waitFor(async () => Number((await show(unit, 'NRestarts')).NRestarts) >= 1, 60_000, 'systemd to restart the recycled replica');
      const third = await client.submit('box.env', {});
      const r3 = await client.waitFor(third.id, 120_000) as { pid: number; setting: string };
      assert.notEqual(r3.pid, r1.pid, 'a new process after the recycle');
      assert.equal(r3.setting, 'from-the-pool');
      // Idle 4 s: back to zero; systemctl stop drains it and the unit is gone from the active ones.
      await waitFor(async () => (await units()).every((u) => u.active !== 'active' && u.active !== 'deactivating'), 120_000, 'the pool back at zero units');
      const st = await show(unit, 'ActiveState', 'Result');
      assert.deepEqual([st.ActiveState, st.Result], ['inactive', 'success'], 'stopped cleanly (drained), not killed');
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- serve ---\n${serve.output().slice(-3000)}\n--- journal ---\n${(await exec('docker', ['exec', name, 'journalctl', '-u', 'trireme-worker@*', '--no-pager', '-n', '60']).catch((e) => e)).stdout ?? ''}`);
    } finally {
      await client.close();
    }
  });
});
