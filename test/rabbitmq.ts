/**
 * A private RabbitMQ for tests: Debian's rabbitmq-server (`apt-get install rabbitmq-server`; .ci/run installs it)
 * with its data, logs, config and Erlang cookie in a temp folder, on free loopback ports (AMQP, Erlang distribution,
 * and an epmd of its own, so that neither the machine's RabbitMQ nor its epmd is touched). Stopped with its process
 * group; the epmd it used goes with it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'amqplib';
import { freePort } from '../src/redis/embedded.js';
import { waitFor } from './helpers.js';

export interface TestRabbit { url: string; port: number; stop(): Promise<void> }

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

/** Whether Debian's rabbitmq-server is installed. */
export const rabbitInstalled = (): boolean => existsSync(SERVER);

export async function startRabbit(): Promise<TestRabbit> {
  if (!rabbitInstalled()) throw new Error('rabbitmq-server is not installed: apt-get install rabbitmq-server (.ci/run does)');
  const dir = mkdtempSync(join(tmpdir(), 'trireme-rabbit-'));
  const [port, dist, epmdPort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(join(dir, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${port}\n`);
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: dir,
    RABBITMQ_NODENAME: `trireme-test-${port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(dist),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_FEATURE_FLAGS_FILE: join(dir, 'feature_flags'),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_PID_FILE: join(dir, 'pid'),
  };
  // Its own epmd, in the foreground, so that it can be stopped (rabbitmq-server would start a daemon that outlives it).
  const epmd: ChildProcess = spawn('epmd', ['-port', String(epmdPort), '-address', '127.0.0.1'], { env, stdio: 'ignore', detached: true });
  const server: ChildProcess = spawn(SERVER, [], { env, cwd: dir, stdio: 'ignore', detached: true });
  const url = `amqp://guest:guest@127.0.0.1:${port}//`;
  const stopGroup = async (c: ChildProcess, ms: number) => {
    if (c.exitCode !== null || c.signalCode !== null || !c.pid) return;
    const exited = new Promise<void>((done) => c.once('exit', () => done()));
    try { process.kill(-c.pid, 'SIGTERM'); } catch { return; }
    const timer = setTimeout(() => { try { process.kill(-c.pid!, 'SIGKILL'); } catch { /* gone */ } }, ms);
    await exited;
    clearTimeout(timer);
    // What it started in its group (beam's port programs) goes too.
    try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  const stop = async () => { await stopGroup(server, 15_000); await stopGroup(epmd, 2_000); };
  try {
    await waitFor(async () => {
      if (server.exitCode !== null) throw new Error(`rabbitmq-server exited with ${server.exitCode} (logs in ${join(dir, 'log')})`);
      const c = await connect(url).catch(() => undefined);
      if (!c) return false;
      await c.close().catch(() => {});
      return true;
    }, 90_000, 'the private RabbitMQ to accept connections');
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, port, stop };
}
