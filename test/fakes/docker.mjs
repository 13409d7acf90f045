#!/usr/bin/env node
// A fake `docker` (with the `compose` plugin) for the Compose driver's tests where no Docker engine runs. It keeps
// containers in a JSON file (FAKE_DOCKER_STATE) and runs each as a real `trireme` process (FAKE_DOCKER_CLI), with
// the service's command and environment from the Compose file and TRIREME_HOSTNAME set to the container id (inside
// a real container the host name is the id). What it prints and refuses follows Docker Engine 20.10 and Compose v2:
// `ps --format '{{json .}}'` lines of the recorded shape (test/fixtures/compose/docker-ps.jsonl), `up --scale` starts
// exited containers again and removes the highest-numbered ones, `rm` refuses a running container, `restart:
// unless-stopped` restarts a container that exited unless `docker stop` stopped it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const statePath = process.env.FAKE_DOCKER_STATE;
const cli = process.env.FAKE_DOCKER_CLI;
const yaml = createRequire(import.meta.url)('yaml');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

async function locked(fn) {
  const lock = `${statePath}.lock`;
  for (let i = 0; ; i++) {
    try { mkdirSync(lock); break; } catch { if (i > 2000) throw new Error('fake docker: state lock held too long'); await sleep(5); }
  }
  try {
    const state = existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')) : { containers: [] };
    const out = await fn(state);
    // Whole or not at all: a reader never sees half a file.
    writeFileSync(`${statePath}.tmp`, JSON.stringify(state));
    renameSync(`${statePath}.tmp`, statePath);
    return out;
  } finally { rmdirSync(lock); }
}

function run(c) {
  const log = openSync(join(dirname(statePath), `${c.name}.log`), 'a');
  // A container's environment is its image's and its service's, not the environment of whoever ran docker.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...c.env, TRIREME_HOSTNAME: c.id };
  const child = spawn(process.execPath, [cli, ...c.command], { env, detached: true, stdio: ['ignore', log, log] });
  child.unref();
  closeSync(log);
  c.pid = child.pid;
  c.state = 'running';
  c.started = Date.now();
  c.stopped = false;
}

/** What the daemon would have done meanwhile: notice exits, apply restart policies. */
function refresh(state) {
  for (const c of state.containers) {
    if (c.state === 'running' && !alive(c.pid)) {
      c.state = 'exited';
      if (c.restart === 'unless-stopped' && !c.stopped) run(c);
    }
  }
}

async function stop(c, seconds) {
  if (c.state !== 'running') return;
  c.stopped = true;
  try { process.kill(c.pid, 'SIGTERM'); } catch { /* gone */ }
  const end = Date.now() + seconds * 1000;
  while (alive(c.pid) && Date.now() < end) await sleep(50);
  if (alive(c.pid)) { try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } }
  while (alive(c.pid)) await sleep(20);
  c.state = 'exited';
}

const fmtTime = (ms) => `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;

function psLine(c) {
  const labels = { 'com.docker.compose.project': c.project, 'com.docker.compose.service': c.service, 'com.docker.compose.container-number': String(c.number), 'com.docker.compose.oneoff': 'False' };
  return JSON.stringify({
    Command: `"trireme ${c.command.join(' ').slice(0, 12)}…"`, CreatedAt: fmtTime(c.created), ID: c.id, Image: c.image,
    Labels: Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','), LocalVolumes: '0', Mounts: '', Names: c.name,
    Networks: 'host', Ports: '', RunningFor: 'Less than a second ago', Size: '0B (virtual 0B)', State: c.state,
    Status: c.state === 'running' ? 'Up Less than a second' : 'Exited (0) Less than a second ago',
  });
}

function interpolate(v) {
  return String(v).replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, name, dflt) => process.env[name] ?? dflt ?? '');
}

const grace = (s) => { const m = /^(\d+)(s|m)?$/.exec(String(s ?? '10s')); return m ? Number(m[1]) * (m[2] === 'm' ? 60 : 1) : 10; };

async function compose(args) {
  let project = 'default'; let file = 'compose.yml';
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-p') project = args[++i];
    else if (args[i] === '-f') file = args[++i];
    else rest.push(args[i]);
  }
  if (rest[0] !== 'up') throw new Error(`fake docker compose: only "up" is implemented, got ${rest.join(' ')}`);
  const scale = Object.fromEntries(rest.flatMap((a, i) => (rest[i - 1] === '--scale' ? [a.split('=')] : [])));
  const spec = yaml.parse(readFileSync(resolve(file), 'utf8'));
  const names = rest.slice(1).filter((a, i, all) => !a.startsWith('-') && all[i - 1] !== '--scale');
  await locked(async (state) => {
    refresh(state);
    for (const service of names) {
      const svc = spec.services[service];
      if (!svc) throw new Error(`no such service: ${service}`);
      const want = Number(scale[service] ?? 1);
      const mine = state.containers.filter((c) => c.project === project && c.service === service).sort((a, b) => a.number - b.number);
      const env = Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, interpolate(v)]));
      const command = (svc.command ?? []).map(interpolate);
      // Compose v2 removes the highest-numbered containers first when the count drops.
      for (const c of mine.slice(want).reverse()) {
        await stop(c, grace(svc.stop_grace_period));
        state.containers.splice(state.containers.indexOf(c), 1);
      }
      for (const c of mine.slice(0, want)) if (c.state !== 'running') run(c);
      for (let n = mine.length; n < want; n++) {
        const number = Math.max(0, ...state.containers.filter((c) => c.project === project && c.service === service).map((c) => c.number)) + 1;
        const c = { id: randomBytes(6).toString('hex'), name: `${project}-${service}-${number}`, project, service, number, image: svc.image, command, env, restart: svc.restart, created: Date.now() };
        state.containers.push(c);
        run(c);
      }
    }
  });
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'compose') return compose(args);
  if (cmd === 'ps') {
    const filters = args.flatMap((a, i) => (args[i - 1] === '--filter' ? [a.replace(/^label=/, '').split('=')] : []));
    const lines = await locked(async (state) => {
      refresh(state);
      return state.containers.filter((c) => filters.every(([k, v]) => (k === 'com.docker.compose.project' ? c.project === v : k === 'com.docker.compose.service' ? c.service === v : true)))
        .filter((c) => args.includes('--all') || c.state === 'running').map(psLine);
    });
    process.stdout.write(lines.map((l) => `${l}\n`).join(''));
    return;
  }
  if (cmd === 'stop') {
    const seconds = Number(args[args.indexOf('-t') + 1] ?? 10);
    const ids = args.filter((a, i) => a !== '-t' && args[i - 1] !== '-t');
    await locked(async (state) => { refresh(state); for (const id of ids) { const c = state.containers.find((x) => x.id === id || x.name === id); if (c) await stop(c, seconds); } });
    process.stdout.write(ids.map((id) => `${id}\n`).join(''));
    return;
  }
  if (cmd === 'rm') {
    await locked(async (state) => {
      refresh(state);
      for (const id of args) {
        const c = state.containers.find((x) => x.id === id || x.name === id);
        if (!c) throw new Error(`Error: No such container: ${id}`);
        if (c.state === 'running') throw new Error(`Error response from daemon: You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`);
        state.containers.splice(state.containers.indexOf(c), 1);
      }
    });
    process.stdout.write(args.map((id) => `${id}\n`).join(''));
    return;
  }
  throw new Error(`fake docker: "${cmd}" is not implemented`);
}

main().catch((e) => { process.stderr.write(`${e.message}\n`); process.exit(1); });
