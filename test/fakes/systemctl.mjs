#!/usr/bin/env node
// A fake `systemctl` for the systemd driver's multi-host test, where a fleet of machines running systemd cannot be had:
// each host is a network namespace made by the test, and `--host user@ADDRESS` reaches it the way systemd's own
// transport does, over the network: it first connects to ADDRESS:22 (the test runs a listener there for sshd), and
// when that fails it prints what a real `systemctl --host` printed (test/fixtures/systemd/unreachable.txt, exit 1).
//
// Units are read from the real template the test generated with `trireme export systemd` (ExecStart, EnvironmentFile,
// WorkingDirectory, Restart=on-failure with RestartForceExitStatus / RestartPreventExitStatus, KillSignal,
// TimeoutStopSec); paths under /etc/ are taken from the host's own root folder. `start` runs a small supervisor in
// the host's namespace that plays systemd for one instance: it starts ExecStart, restarts it as Restart= says, and on
// `stop` sends KillSignal to the main process and SIGKILL after TimeoutStopSec. Output follows systemd 252:
// `list-units --output=json` lines as recorded in test/fixtures/systemd/list-units.json, stopped instances unlisted,
// `show -p` as KEY=VALUE, `Unknown command verb X.` for the rest.
//
// FAKE_SYSTEMD_HOSTS: a JSON file { "<address>": { "ns": "<netns>", "ip": "<address's IP>", "root": "<folder>" } }.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const HOSTS = JSON.parse(readFileSync(process.env.FAKE_SYSTEMD_HOSTS, 'utf8'));
const UNREACHABLE = readFileSync(new URL('../fixtures/systemd/unreachable.txt', import.meta.url), 'utf8');

async function locked(root, fn) {
  const file = join(root, 'units.json');
  const lock = `${file}.lock`;
  for (let i = 0; ; i++) {
    try { mkdirSync(lock); break; } catch { if (i > 2000) throw new Error('fake systemctl: state lock held too long'); await sleep(5); }
  }
  try {
    const state = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
    const out = await fn(state);
    writeFileSync(`${file}.tmp`, JSON.stringify(state));
    renameSync(`${file}.tmp`, file);
    return out;
  } finally { rmdirSync(lock); }
}

/** The template's [Service] settings, with %i put in. */
function unitFile(root, unit) {
  const m = /^(.+)@(.+)\.service$/.exec(unit);
  if (!m) return undefined;
  const path = join(root, 'etc/systemd/system', `${m[1]}@.service`);
  if (!existsSync(path)) return undefined;
  const s = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (kv) s[kv[1]] = kv[2].replaceAll('%i', m[2]);
  }
  return { instance: m[2], ...s };
}

const etc = (root, p) => (p.startsWith('/etc/') ? join(root, p) : p);

function envFile(path) {
  const env = {};
  if (!existsSync(path)) return env;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const kv = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (kv) env[kv[1]] = kv[2];
  }
  return env;
}

const numbers = (v) => (v ?? '').split(/\s+/).filter(Boolean).map(Number);

/** The supervisor of one instance, in the host's namespace: systemd's part for one unit. */
async function supervise(root, unit) {
  const u = unitFile(root, unit);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...envFile(etc(root, u.EnvironmentFile.replace(/^-/, ''))) };
  const [cmd, ...args] = u.ExecStart.split(/\s+/);
  const log = join(root, `${unit}.log`);
  const stopMs = Number(u.TimeoutStopSec ?? 90) * 1000;
  const restartMs = Number(u.RestartSec ?? 0.1) * 1000;
  let stopping = false;
  let child;
  process.on('SIGTERM', () => {
    stopping = true;
    if (!child || child.exitCode !== null) process.exit(0);
    child.kill(u.KillSignal ?? 'SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), stopMs).unref();
  });
  // The test's process gone: take the units down with it, as a machine's shutdown would.
  const parent = Number(process.env.FAKE_SYSTEMD_PARENT || 0);
  if (parent) setInterval(() => { if (!alive(parent) && !stopping) process.emit('SIGTERM'); }, 500).unref();
  for (let restarts = 0; ; restarts++) {
    const fd = openSync(log, 'a');
    child = spawn(cmd, args, { cwd: u.WorkingDirectory, env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    await locked(root, (s) => { s[unit] = { ...s[unit], active: 'active', sub: 'running', pid: child.pid, supervisor: process.pid, restarts }; });
    const code = await new Promise((done) => child.once('exit', (c, sig) => done(sig ? 128 : c)));
    const clean = code === 0 || numbers(u.SuccessExitStatus).includes(code);
    const restart = !stopping && !numbers(u.RestartPreventExitStatus).includes(code)
      && (numbers(u.RestartForceExitStatus).includes(code) || (u.Restart === 'on-failure' && !clean) || u.Restart === 'always');
    if (!restart) {
      await locked(root, (s) => {
        // A stopped or cleanly exited instance is unloaded (not listed); a failed one stays, failed.
        if (clean || stopping) delete s[unit];
        else s[unit] = { ...s[unit], active: 'failed', sub: 'failed', pid: undefined, supervisor: undefined, result: `exit-code ${code}` };
      });
      process.exit(0);
    }
    await locked(root, (s) => { s[unit] = { ...s[unit], active: 'activating', sub: 'auto-restart' }; });
    await sleep(restartMs);
  }
}

function reachable(ip) {
  return new Promise((ok) => {
    const s = connect({ host: ip, port: 22, timeout: 3_000 });
    s.once('connect', () => { s.destroy(); ok(true); });
    s.once('timeout', () => { s.destroy(); ok(false); });
    s.once('error', () => ok(false));
  });
}

function fail(text, code = 1) {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  process.exit(code);
}

async function main(argv) {
  if (argv[0] === '__supervise') return supervise(argv[1], argv[2]);
  let address;
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--host' || argv[i] === '-H') address = argv[++i];
    else if (argv[i].startsWith('--host=')) address = argv[i].slice(7);
    else if (argv[i] !== '--user') rest.push(argv[i]);
  }
  const host = HOSTS[address ?? ''];
  if (!host) fail(`ssh: Could not resolve hostname ${address}: Name or service not known\nFailed to connect to bus: Transport endpoint is not connected`);
  if (address && !(await reachable(host.ip))) fail(UNREACHABLE.replace('10.9.9.9', host.ip));
  const [verb, ...args] = rest;
  const options = args.filter((a) => a.startsWith('-'));
  const operands = args.filter((a) => !a.startsWith('-'));
  switch (verb) {
    case 'list-units': {
      const pattern = operands[0] ? new RegExp(`^${operands[0].replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`) : /.*/;
      const state = await locked(host.root, (s) => {
        // What systemd would have noticed: a supervisor killed outright takes its unit down with it.
        for (const [unit, x] of Object.entries(s)) if (x.supervisor && !alive(x.supervisor)) delete s[unit];
        return s;
      });
      const lines = Object.entries(state).filter(([unit]) => pattern.test(unit))
        .map(([unit, x]) => ({ unit, load: 'loaded', active: x.active, sub: x.sub, description: `Trireme replica ${unitFile(host.root, unit)?.instance}` }));
      if (!options.includes('--output=json')) fail('fake systemctl: only --output=json is implemented', 1);
      process.stdout.write(`${JSON.stringify(lines)}\n`);
      return;
    }
    case 'set-property': {
      const [unit, ...props] = operands;
      if (!unitFile(host.root, unit)) fail(`Failed to set unit properties on ${unit}: Unit ${unit} not found.`);
      await locked(host.root, (s) => { s[unit] ??= { active: 'inactive', sub: 'dead', loadedOnly: true }; for (const p of props) { const [k, v] = p.split('='); s[unit][k] = v; } });
      return;
    }
    case 'start': {
      for (const unit of operands) {
        if (!unitFile(host.root, unit)) fail(`Failed to start ${unit}: Unit ${unit} not found.`, 5);
        const running = await locked(host.root, (s) => {
          if (s[unit]?.supervisor && alive(s[unit].supervisor)) return true;
          s[unit] = { ...s[unit], active: 'activating', sub: 'start', loadedOnly: false };
          return false;
        });
        if (running) continue;
        const sup = spawn('ip', ['netns', 'exec', host.ns, process.execPath, new URL(import.meta.url).pathname, '__supervise', host.root, unit], { detached: true, stdio: 'ignore' });
        sup.unref();
        await locked(host.root, (s) => { s[unit].supervisor = sup.pid; });
      }
      return;
    }
    case 'stop': {
      for (const unit of operands) {
        const x = await locked(host.root, (s) => {
          const u = s[unit];
          if (u?.supervisor && alive(u.supervisor)) { u.active = 'deactivating'; u.sub = 'stop-sigterm'; }
          return u;
        });
        if (x?.supervisor && alive(x.supervisor)) process.kill(x.supervisor, 'SIGTERM');
      }
      return;
    }
    case 'show': {
      const props = [];
      for (let i = 0; i < args.length; i++) if (args[i] === '-p' || args[i] === '--property') props.push(args[++i]); else if (args[i].startsWith('--property=')) props.push(args[i].slice(11));
      const unit = operands.filter((o) => !props.includes(o))[0];
      const x = (await locked(host.root, (s) => s))[unit] ?? {};
      const value = { ActiveState: x.loadedOnly || !x.active ? 'inactive' : x.active, SubState: x.sub ?? 'dead', MemoryMax: x.MemoryMax ?? 'infinity', NRestarts: String(x.restarts ?? 0), MainPID: String(x.pid ?? 0) };
      process.stdout.write(props.map((p) => `${p}=${value[p] ?? ''}\n`).join(''));
      return;
    }
    default:
      fail(`Unknown command verb ${verb}.`);
  }
}

main(process.argv.slice(2)).catch((err) => fail(`fake systemctl: ${err.stack ?? err}`));
