/**
 * The `runners:` block of the config: the shapes a team writes, the mistakes it makes (each named by its path, with
 * the fix), which pools keep which runner, the standby a runner pool gets, and how a runner's program is built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseConfig, ConfigError } from '../../src/core/config.js';
import { standbyGroupOf } from '../../src/drivers/index.js';
import { runnersOfPool } from '../../src/core/runners.js';
import { taskSettings, type TaskEntry } from '../../src/core/project.js';
import { runnerSpec } from '../../src/sandbox/runner-spec.js';
import { pythonRunnerPath } from '../../src/system/paths.js';
import { parseReply } from '../../src/sandbox/runner-protocol.js';

const problems = (cfg: unknown): string[] => {
  try { parseConfig(cfg); } catch (e) { if (e instanceof ConfigError) return e.problems; throw e; }
  return [];
};
const base = {
  routes: [{ match: 'ml.*', queue: 'ml' }],
  pools: { light: { queues: ['default'] }, heavy: { queues: ['ml'], concurrency: 2, env: {} } },
};

test('a runner is written as python (modules) or command, with its tasks as names or objects', () => {
  const cfg = parseConfig({
    ...base,
    runners: {
      ml: { python: './ml/tasks.py', tasks: ['ml.predict', { name: 'ml.train', retries: 2, timeLimit: '1h' }], timeLimit: '10m', maxMemory: '2Gi', retries: 1 },
      echo: { command: ['node', 'echo.mjs'], tasks: ['echo.upper'], startTimeout: '30s' },
    },
  });
  assert.deepEqual(cfg.runners.ml.python, ['./ml/tasks.py']);
  assert.deepEqual(cfg.runners.ml.tasks, [{ name: 'ml.predict' }, { name: 'ml.train', retries: 2, timeLimit: 3_600_000 }]);
  assert.equal(cfg.runners.ml.maxMemory, 2 * 1024 ** 3);
  assert.equal(cfg.runners.ml.startTimeout, 300_000, 'five minutes to load by default');
  assert.equal(cfg.runners.echo.startTimeout, 30_000);
  const entry = (name: string): TaskEntry => ({ kind: 'runner', name, runner: 'ml', config: cfg.runners.ml, task: cfg.runners.ml.tasks.find((t) => t.name === name)!, baseDir: '/' });
  assert.deepEqual(taskSettings(entry('ml.predict')), { retries: 1, queue: undefined, timeLimit: 600_000 }, 'the runner\'s settings');
  assert.deepEqual(taskSettings(entry('ml.train')), { retries: 2, queue: undefined, timeLimit: 600_000 }, 'its own retries; the shorter limit');
});

test('runner mistakes are named by path, with the fix', () => {
  const p = problems({
    ...base,
    commands: { 'ml.report': { command: ['python3', 'r.py'] } },
    runners: {
      none: { tasks: ['a.b'] },
      both: { python: 'x.py', command: ['node', 'x.mjs'], tasks: ['c.d'] },
      stray: { command: ['node', 'x.mjs'], interpreter: '/usr/bin/python3', tasks: ['e.f'] },
      empty: { python: 'x.py', tasks: [] },
      twice: { python: 'x.py', tasks: ['g.h', 'g.h', 'ml.report', { name: 'i.j', queue: 'nowhere' }, { name: 'k', bogus: 1 }, 5], queue: 'elsewhere', maxMemory: 'lots' },
    },
  });
  const at = (path: string) => p.find((x) => x.startsWith(`${path}: `));
  assert.match(at('runners.none') ?? p.join('\n'), /give command \(a program that speaks the runner protocol, docs\/runners\.md\) or python/);
  assert.match(at('runners.both') ?? p.join('\n'), /give command or python, not both/);
  assert.match(at('runners.stray.interpreter') ?? p.join('\n'), /interpreter is for python runners/);
  assert.match(at('runners.empty.tasks') ?? p.join('\n'), /list the task names this runner serves, e\.g\. \[ml\.predict\]/);
  assert.match(at('runners.twice.tasks.1') ?? p.join('\n'), /task "g\.h" is listed twice/);
  assert.match(at('runners.twice.tasks.2') ?? p.join('\n'), /task "ml\.report" is already served by commands\.ml\.report/);
  assert.match(at('runners.twice.tasks.3.queue') ?? p.join('\n'), /queue "nowhere" is served by no pool/);
  assert.match(at('runners.twice.tasks.4') ?? p.join('\n'), /unknown field\(s\) "bogus"/);
  assert.match(at('runners.twice.tasks.5') ?? p.join('\n'), /write a task name \(ml\.predict\) or \{ name, retries\?, timeLimit\?, queue\? \}/);
  assert.match(at('runners.twice.queue') ?? p.join('\n'), /queue "elsewhere" is served by no pool/);
  assert.match(at('runners.twice.maxMemory') ?? p.join('\n'), /write it like 512Mi/);
});

test('a task name belongs to one runner', () => {
  const p = problems({ ...base, runners: { a: { python: 'a.py', tasks: ['x.y'] }, b: { command: ['b'], tasks: ['x.y'] } } });
  assert.deepEqual(p, ['runners.b.tasks.0: task "x.y" is already served by runners.a; a task name belongs to one runner or command']);
});

test('the pools that routing sends a runner\'s tasks to keep it, and get a standby of their own', () => {
  const cfg = parseConfig({
    ...base,
    runners: {
      ml: { python: 'ml.py', tasks: ['ml.predict'] },
      misc: { command: ['node', 'misc.mjs'], tasks: ['misc.one', { name: 'misc.two', queue: 'ml' }] },
      pinned: { command: ['node', 'p.mjs'], tasks: ['ml.pinned'], queue: 'default' },
    },
  });
  assert.deepEqual(runnersOfPool(cfg, 'heavy'), ['ml', 'misc']);
  assert.deepEqual(runnersOfPool(cfg, 'light'), ['misc', 'pinned']);
  // light has no env and no GPU: it would share the host's standby, which cannot load a pool's runners.
  assert.equal(standbyGroupOf(cfg, 'light'), 'pool:light');
  const plain = parseConfig(base);
  assert.equal(standbyGroupOf(plain, 'light'), 'host');
});

test('python: runs the shipped runner with the modules found from the config\'s folder; command runs as written', () => {
  const cfg = parseConfig({ ...base, runners: {
    ml: { python: ['./ml/tasks.py', 'pkg.tasks', '/abs/t.py'], tasks: ['ml.predict'], env: { A: '1' }, cwd: 'work' },
    deb: { python: 'x.py', interpreter: '/usr/bin/python3', tasks: ['ml.deb'] },
    echo: { command: ['node', 'echo.mjs', '--fast'], tasks: ['echo.x'] },
  } });
  const ml = runnerSpec('ml', cfg.runners.ml, '/srv/app');
  assert.equal(ml.program, 'python3');
  assert.deepEqual(ml.args, [pythonRunnerPath(), '/srv/app/ml/tasks.py', 'pkg.tasks', '/abs/t.py']);
  assert.equal(ml.cwd, '/srv/app/work');
  assert.deepEqual(ml.env, { A: '1' });
  assert.equal(runnerSpec('deb', cfg.runners.deb, '/srv/app').program, '/usr/bin/python3');
  const echo = runnerSpec('echo', cfg.runners.echo, '/srv/app');
  assert.deepEqual([echo.program, ...echo.args], ['node', 'echo.mjs', '--fast']);
  assert.equal(echo.cwd, '/srv/app');
  assert.ok(pythonRunnerPath().endsWith(join('runners', 'python', 'trireme.py')));
});

test('replies are checked: what is not a reply is named, not trusted', () => {
  assert.deepEqual(parseReply('{"t":"done","id":7,"result":{"a":1}}'), { t: 'done', id: '7', result: { a: 1 } });
  assert.deepEqual(parseReply('{"t":"ready"}'), { t: 'ready' });
  assert.deepEqual(parseReply('{"t":"error","id":"1","message":"m","retry":false}'), { t: 'error', id: '1', message: 'm', retry: false });
  assert.match((parseReply('hello') as { problem: string }).problem, /^not JSON: hello/);
  assert.match((parseReply('[1]') as { problem: string }).problem, /not a JSON object/);
  assert.match((parseReply('{"t":"done"}') as { problem: string }).problem, /"done" without its run's "id"/);
  assert.match((parseReply('{"t":"progress","id":"1","value":"x"}') as { problem: string }).problem, /a number or an object/);
  assert.match((parseReply('{"t":"shout","id":"1"}') as { problem: string }).problem, /unknown message type "shout"/);
});
