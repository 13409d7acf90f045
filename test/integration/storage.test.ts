/**
 * Job files on storage.dir, with real files: a multipart upload through the API, replicas (in-process and in a child
 * process) that read the inputs and write outputs, the outputs read back over HTTP (types, ranges), and what must be
 * refused with nothing written: traversal, oversized and too many files, links.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { startRedis, fixtureProject, waitFor, FIXTURE_TASKS, type TestRedis } from '../helpers.js';
import { loadProject } from '../../src/project/project.js';
import { trireme, reapAll, run } from './procs.js';
import { createApi, type Api } from '../../src/api/server.js';
import { PoolWorker } from '../../src/replica/pool-worker.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { ReplicaRegistry } from '../../src/stores/registry.js';
import { JobStorage } from '../../src/storage/job-folders.js';
import { runChecks } from '../../src/control/doctor.js';
import type { Project } from '../../src/project/project.js';

let redis: TestRedis;
let api: Api;
let port: number;
let project: Project;
let client: TriremeClient;
const workers: PoolWorker[] = [];
const base = mkdtempSync(join(tmpdir(), 'trireme-storage-'));
const config = join(base, 'trireme.yml');
const dir = join(base, 'files');

/** A multipart body written by hand, so that file names reach the server exactly as given (../ included). */
function multipart(fields: Record<string, string>, files: { name: string; content: string | Buffer }[]): { body: Buffer; type: string } {
  const boundary = `----trireme${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  for (const f of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`));
    parts.push(Buffer.isBuffer(f.content) ? f.content : Buffer.from(f.content), Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

function send(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<{ status: number; headers: Record<string, unknown>; text: string; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const upload = (fields: Record<string, string>, files: { name: string; content: string | Buffer }[]) => {
  const m = multipart(fields, files);
  return send('POST', '/jobs', { 'content-type': m.type }, m.body);
};
/** Every entry under storage.dir/jobs, staging folders included. */
const jobFolders = () => (existsSync(join(dir, 'jobs')) ? readdirSync(join(dir, 'jobs')).sort() : []);
const waiting = async () => {
  let n = 0;
  for (const q of ['work', 'iso']) n += Object.values(await client.queue(q).getJobCounts('wait', 'active', 'delayed', 'completed', 'failed')).reduce((a, b) => a + b, 0);
  return n;
};

describe('job files on storage.dir', () => {
  before(async () => {
    redis = await startRedis();
    // A config file: the process-isolated pool runs as a real `trireme worker` reading it.
    writeFileSync(config, JSON.stringify({
      prefix: `st${process.pid}`, tasks: [FIXTURE_TASKS], defaultQueue: 'work',
      storage: { dir: 'files', maxFileSize: '4kb', maxFiles: 3 },
      pools: { main: { queues: ['work'], concurrency: 2 }, iso: { queues: ['iso'], concurrency: 1, isolation: 'process' } },
      commands: { 'fx.cmdfiles': { command: ['sh', '-c', 'tr a-z A-Z < "$TRIREME_WORKDIR/input/a.txt" > "$TRIREME_WORKDIR/output/cmd.txt"; echo \'{"ok":true}\''] } },
    }));
    project = await loadProject(config, { TRIREME_REDIS_URL: redis.url });
    client = new TriremeClient(project, redis.url);
    api = await createApi({ project, redisUrl: redis.url });
    port = Number(new URL(await api.listen('127.0.0.1', 0)).port);
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.drain(1_000)));
    await reapAll();
    await api.close();
    await client.close();
    await redis.stop();
  });

  test('refused uploads write nothing and enqueue nothing: traversal, folders, oversize, too many, no task', async () => {
    const cases: [string, Record<string, string>, { name: string; content: string | Buffer }[], number, RegExp][] = [
      ['traversal', { task: 'fx.files' }, [{ name: '../../evil.txt', content: 'x' }], 400, /not an accepted file name/],
      ['a folder', { task: 'fx.files' }, [{ name: 'sub/evil.txt', content: 'x' }], 400, /not an accepted file name/],
      ['a dot file', { task: 'fx.files' }, [{ name: '.bashrc', content: 'x' }], 400, /not an accepted file name/],
      ['over maxFileSize (4 KiB) after a good file', { task: 'fx.files' }, [{ name: 'ok.txt', content: 'fine' }, { name: 'big.bin', content: Buffer.alloc(5000, 1) }], 413, /larger than storage.maxFileSize/],
      ['over maxFiles (3)', { task: 'fx.files' }, ['a', 'b', 'c', 'd'].map((n) => ({ name: `${n}.txt`, content: n })), 413, /storage.maxFiles/],
      ['an unknown task', { task: 'fx.nope' }, [{ name: 'a.txt', content: 'x' }], 400, /unknown task|not served|no pool/],
      ['a payload that is not JSON', { task: 'fx.files', payload: '{' }, [{ name: 'a.txt', content: 'x' }], 400, /not valid JSON/],
      ['two files of one name', { task: 'fx.files' }, [{ name: 'a.txt', content: 'x' }, { name: 'a.txt', content: 'y' }], 400, /two files named "a.txt"/],
      ['jobs with files', { task: 'fx.files', jobs: '[]' }, [{ name: 'a.txt', content: 'x' }], 400, /unknown form field "jobs"/],
    ];
    for (const [what, fields, files, status, message] of cases) {
      const r = await upload(fields, files);
      assert.equal(r.status, status, `${what}: ${r.text}`);
      assert.match(r.json?.error?.message ?? '', message, what);
      assert.deepEqual(jobFolders(), [], `${what}: nothing left under jobs/`);
    }
    assert.ok(!existsSync(join(dir, '..', 'evil.txt')) && !existsSync(join(dir, 'evil.txt')));
    assert.equal(await waiting(), 0, 'no job enqueued');
  });

  test('a multipart payload nested 5 000 deep and a file part with no filename are 400s naming the part, not 500s; nothing is kept', async () => {
    const raw = (parts: string[]) => {
      const b = 'b0undary';
      return send('POST', '/jobs', { 'content-type': `multipart/form-data; boundary=${b}` },
        Buffer.from(`${parts.map((p) => `--${b}\r\n${p}\r\n`).join('')}--${b}--\r\n`));
    };
    const task = 'Content-Disposition: form-data; name="task"\r\n\r\nfx.files';
    const deep = await raw([task, `Content-Disposition: form-data; name="payload"\r\n\r\n{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`]);
    assert.equal(deep.status, 400, deep.text);
    assert.deepEqual([deep.json.error.code, deep.json.error.field], ['invalid_body', 'body.payload']);
    assert.match(deep.json.error.message, /form field payload nests 5001 levels deep; at most 64/);
    const options = await raw([task, `Content-Disposition: form-data; name="options"\r\n\r\n${'['.repeat(100)}${']'.repeat(100)}`]);
    assert.equal(options.status, 400, options.text);
    assert.equal(options.json.error.field, 'body.options');
    const nameless = await raw([task, 'Content-Disposition: form-data; name="file"\r\nContent-Type: application/octet-stream\r\n\r\nabc']);
    assert.equal(nameless.status, 400, nameless.text);
    assert.deepEqual([nameless.json.error.code, nameless.json.error.field], ['invalid_upload', 'files.0']);
    assert.match(nameless.json.error.message, /the file part "file" has no filename/);
    assert.deepEqual(jobFolders(), [], 'nothing left under jobs/');
    assert.equal(await waiting(), 0, 'no job enqueued');
  });

  test('an upload lands in input/, the task writes output/, both are listed and served with types and ranges', async () => {
    workers.push(new PoolWorker({ project, pool: 'main', redisUrl: redis.url }));
    await Promise.all(workers.map((w) => w.start()));
    trireme(['-c', config, 'worker', '--pool', 'iso'], { TRIREME_REDIS_URL: redis.url });
    await waitFor(async () => (await new ReplicaRegistry(client.redis, project.config.prefix).list('iso')).some((r) => r.state === 'idle'), 30_000, 'the iso replica');
    const r = await upload({ task: 'fx.files', payload: '{}', options: '{"retries":1}' }, [{ name: 'a.txt', content: 'hello files' }, { name: 'data 2.csv', content: 'x,y\n1,2\n' }]);
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json.files, ['a.txt', 'data 2.csv']);
    const id = r.json.id as string;
    assert.equal(((await client.waitFor(id, 30_000)) as { files: number }).files, 2);

    const list = await send('GET', `/jobs/${id}/files`);
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.input.map((f: { name: string; size: number }) => [f.name, f.size]), [['a.txt', 11], ['data 2.csv', 8]]);
    assert.deepEqual(list.json.output.map((f: { name: string }) => f.name), ['summary.json', 'upper-a.txt', 'upper-data 2.csv']);
    const summary = await send('GET', list.json.output[0].url);
    assert.equal(summary.status, 200);
    assert.equal(summary.headers['content-type'], 'application/json');
    assert.deepEqual(summary.json, [{ name: 'a.txt', size: 11 }, { name: 'data 2.csv', size: 8 }]);
    const upper = await send('GET', `/jobs/${id}/files/output/upper-a.txt`);
    assert.equal(upper.text, 'HELLO FILES');
    assert.equal(upper.headers['accept-ranges'], 'bytes');
    const csv = await send('GET', `/jobs/${id}/files/input/${encodeURIComponent('data 2.csv')}`);
    assert.match(String(csv.headers['content-type']), /^text\/csv/);
    // Ranges: a slice, a suffix, and one past the end.
    const slice = await send('GET', `/jobs/${id}/files/output/upper-a.txt`, { range: 'bytes=6-8' });
    assert.equal(slice.status, 206);
    assert.equal(slice.text, 'FIL');
    assert.equal(slice.headers['content-range'], 'bytes 6-8/11');
    const suffix = await send('GET', `/jobs/${id}/files/output/upper-a.txt`, { range: 'bytes=-3' });
    assert.equal(suffix.text, 'LES');
    const past = await send('GET', `/jobs/${id}/files/output/upper-a.txt`, { range: 'bytes=50-' });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], 'bytes */11');
    // Names that climb out are refused; a file that is not there is a 404.
    for (const bad of ['..%2F..%2Fetc%2Fpasswd', '..', '%2Fetc%2Fpasswd']) {
      const b = await send('GET', `/jobs/${id}/files/input/${bad}`);
      assert.ok(b.status === 400 || b.status === 404, `${bad}: ${b.status}`);
      assert.doesNotMatch(b.text, /root:/);
    }
    assert.equal((await send('GET', `/jobs/${id}/files/output/nope.txt`)).status, 404);
    // The CLI reads the same folder: a table of files, and a copy of them.
    const cli = await run(['-c', config, 'job', id, '--files'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(cli.code, 0, cli.out);
    assert.match(cli.out, /input\s+a\.txt\s+11\s+\S+\/jobs\/\S+\/input\/a\.txt/);
    assert.match(cli.out, /output\s+summary\.json/);
    const copy = join(base, 'copy');
    const dl = await run(['-c', config, 'job', id, '--download', copy], { TRIREME_REDIS_URL: redis.url });
    assert.equal(dl.code, 0, dl.out);
    assert.equal(readFileSync(join(copy, 'output', 'upper-a.txt'), 'utf8'), 'HELLO FILES');
    const bad = await run(['-c', config, 'job', '../../etc', '--files'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(bad.code, 2, bad.out);
    assert.match(bad.out, /not a job id/);
    assert.equal((await send('GET', `/jobs/..%2F..%2Ftmp/files`)).status, 404);
  });

  test('a process-isolated task and a command task get the workdir too; links in output/ are neither listed nor served', async () => {
    const iso = await upload({ task: 'fx.files', payload: '{"link":true}', options: '{"queue":"iso"}' }, [{ name: 'a.txt', content: 'abc' }]);
    assert.equal(iso.status, 201, iso.text);
    const res = await client.waitFor(iso.json.id, 30_000) as { pid: number };
    assert.notEqual(res.pid, process.pid, 'ran in a child process');
    const list = await send('GET', `/jobs/${iso.json.id}/files`);
    assert.ok(!list.json.output.some((f: { name: string }) => f.name === 'passwd'), 'the link is not listed');
    const link = await send('GET', `/jobs/${iso.json.id}/files/output/passwd`);
    assert.equal(link.status, 403, 'refused as a link, not served');
    assert.match(link.json.error.message, /"passwd" of job \S+ is a symbolic link/);
    assert.doesNotMatch(link.text, /root:/);

    const cmd = await upload({ task: 'fx.cmdfiles' }, [{ name: 'a.txt', content: 'from a command' }]);
    assert.equal(cmd.status, 201, cmd.text);
    await client.waitFor(cmd.json.id, 30_000);
    assert.equal((await send('GET', `/jobs/${cmd.json.id}/files/output/cmd.txt`)).text, 'FROM A COMMAND');
  });

  test('a job folder, or its output/ or input/, replaced by a link to a folder outside is refused: not listed, served or downloaded', async () => {
    // What lies outside storage.dir and must never come out: a folder of secrets (as /etc, or the project's folder).
    const outside = join(base, 'outside');
    mkdirSync(join(outside, 'input'), { recursive: true });
    mkdirSync(join(outside, 'output'), { recursive: true });
    for (const f of ['secret.txt', 'input/secret.txt', 'output/secret.txt']) writeFileSync(join(outside, f), 'TOP SECRET');
    const refusedAll = async (id: string, kind: 'input' | 'output', what: string) => {
      const list = await send('GET', `/jobs/${id}/files`);
      assert.equal(list.status, 403, `${what}: the list: ${list.text}`);
      assert.equal(list.json?.error?.code, 'not_served', what);
      assert.match(list.json.error.message, /symbolic link/, what);
      assert.doesNotMatch(list.text, /secret/, what);
      const file = await send('GET', `/jobs/${id}/files/${kind}/secret.txt`);
      assert.equal(file.status, 403, `${what}: the file: ${file.text}`);
      assert.doesNotMatch(file.text, /TOP SECRET/, what);
      const copy = join(base, `copy-${id.replace(/\W/g, '')}`);
      const dl = await run(['-c', config, 'job', id, '--download', copy], { TRIREME_REDIS_URL: redis.url });
      assert.notEqual(dl.code, 0, `${what}: the CLI download: ${dl.out}`);
      assert.match(dl.out, /symbolic link/, what);
      assert.ok(!existsSync(join(copy, kind, 'secret.txt')), `${what}: nothing copied`);
    };

    // A real task run that swaps its own output/ for a link to the outside folder once it has written it.
    const swap = await upload({ task: 'fx.files', payload: JSON.stringify({ swapOutput: join(outside, 'output') }) }, [{ name: 'a.txt', content: 'x' }]);
    assert.equal(swap.status, 201, swap.text);
    await client.waitFor(swap.json.id, 30_000);
    await refusedAll(swap.json.id, 'output', 'output/ swapped by the task');

    // The test acting as the task: input/ made a link, then the job's folder itself.
    const inp = await upload({ task: 'fx.files', payload: '{}' }, [{ name: 'a.txt', content: 'x' }]);
    await client.waitFor(inp.json.id, 30_000);
    const inDir = join(dir, 'jobs', inp.json.id, 'input');
    renameSync(inDir, `${inDir}-was`);
    symlinkSync(join(outside, 'input'), inDir);
    await refusedAll(inp.json.id, 'input', 'input/ a link');

    const whole = await upload({ task: 'fx.files', payload: '{}' }, [{ name: 'a.txt', content: 'x' }]);
    await client.waitFor(whole.json.id, 30_000);
    const jobDir = join(dir, 'jobs', whole.json.id);
    renameSync(jobDir, `${jobDir}-was`);
    symlinkSync(outside, jobDir);
    await refusedAll(whole.json.id, 'output', 'the job folder a link');
    await refusedAll(whole.json.id, 'input', 'the job folder a link');
    await assert.rejects(new JobStorage(dir, '/').prepare(whole.json.id), /symbolic link/, 'a replica does not run a job in a folder that is a link');

    // A hard link (same filesystem) to a file outside: neither listed nor served.
    const hard = await upload({ task: 'fx.files', payload: '{}' }, [{ name: 'a.txt', content: 'x' }]);
    await client.waitFor(hard.json.id, 30_000);
    linkSync(join(outside, 'secret.txt'), join(dir, 'jobs', hard.json.id, 'output', 'secret.txt'));
    const hlist = await send('GET', `/jobs/${hard.json.id}/files`);
    assert.equal(hlist.status, 200, hlist.text);
    assert.ok(!hlist.json.output.some((f: { name: string }) => f.name === 'secret.txt'), 'a hard-linked file is not listed');
    assert.ok(hlist.json.output.some((f: { name: string }) => f.name === 'summary.json'), 'the job\'s own files still are');
    const hfile = await send('GET', `/jobs/${hard.json.id}/files/output/secret.txt`);
    assert.equal(hfile.status, 403, hfile.text);
    assert.match(hfile.json.error.message, /hard link/);
    assert.doesNotMatch(hfile.text, /TOP SECRET/);

    // storage.dir's jobs/ folder itself replaced by a link: nothing under it is served, and a sweep removes nothing there.
    const root = join(base, 'other-root');
    mkdirSync(root);
    symlinkSync(outside, join(root, 'jobs'));
    mkdirSync(join(outside, 'work~old'));
    const other = new JobStorage(root, '/');
    await assert.rejects(other.list('work~old'), /symbolic link/);
    await assert.rejects(other.open('work~old', 'output', 'secret.txt'), /symbolic link/);
    assert.equal(await other.sweep(async () => false, Date.now() + 10 * 3_600_000, { graceMs: 1 }), 0);
    assert.ok(existsSync(join(outside, 'work~old')), 'the sweep did not follow jobs/ outside');
  });

  test('replicas report the folder writable in their heartbeat and doctor says so per host; a sweep removes folders of jobs that are gone', async () => {
    await waitFor(async () => (await new ReplicaRegistry(client.redis, project.config.prefix).list()).every((r) => r.storage === 'ok'), 10_000, 'replicas to report storage');
    const checks = await runChecks(project, client.redis, { redisLabel: redis.url, url: redis.url });
    const storage = checks.find((c) => c.name === 'storage.dir');
    assert.equal(storage?.status, 'ok', JSON.stringify(checks));
    assert.match(storage!.detail, /writable from 2 replica\(s\)/);

    const storageOf = new JobStorage(dir, '/');
    // Delayed: no replica touches its folder while the test ages it.
    const live = (await client.submit('fx.echo', { value: 1 }, { delay: '1h' })).id;
    mkdirSync(join(dir, 'jobs', live, 'input'), { recursive: true });
    const gone = 'work~gone-job';
    mkdirSync(join(dir, 'jobs', gone, 'output'), { recursive: true });
    writeFileSync(join(dir, 'jobs', gone, 'output', 'x'), 'x');
    const young = 'work~young-job';
    mkdirSync(join(dir, 'jobs', young), { recursive: true });
    const old = (Date.now() - 2 * 3_600_000) / 1000;
    for (const d of [live, gone]) utimesSync(join(dir, 'jobs', d), old, old);
    // A link planted under jobs/ is not followed.
    symlinkSync('/etc', join(dir, 'jobs', 'work~link'));
    const removed = await storageOf.sweep(async (id) => (await client.getJob(id)) !== undefined, Date.now(), { graceMs: 3_600_000 });
    assert.equal(removed, 1);
    assert.ok(!existsSync(join(dir, 'jobs', gone)), 'the folder of a job that is gone');
    assert.ok(existsSync(join(dir, 'jobs', live)), 'a live job keeps its folder');
    assert.ok(existsSync(join(dir, 'jobs', young)), 'a young folder is kept (its job may be on its way)');
    assert.ok(existsSync('/etc/passwd'));
    // Retention: past it, even a live job's folder goes.
    assert.equal(await storageOf.sweep(async () => true, Date.now(), { graceMs: 3_600_000, retentionMs: 3_600_000 }), 1);
    assert.ok(!existsSync(join(dir, 'jobs', live)));
  });

  test('without storage.dir an upload is refused naming the setting, and /files is a 404 saying why', async () => {
    const plain = await fixtureProject({}, { redis: { url: redis.url } });
    const other = await createApi({ project: plain, redisUrl: redis.url });
    const url = await other.listen('127.0.0.1', 0);
    try {
      const m = multipart({ task: 'fx.echo' }, [{ name: 'a.txt', content: 'x' }]);
      const r = await fetch(`${url}/jobs`, { method: 'POST', headers: { 'content-type': m.type }, body: new Uint8Array(m.body) });
      assert.equal(r.status, 400);
      assert.match((await r.json()).error.message, /storage\.dir/);
      const f = await fetch(`${url}/jobs/work~x/files`);
      assert.equal(f.status, 404);
      assert.match((await f.json()).error.message, /storage\.dir/);
    } finally {
      await other.close();
    }
  });
});
