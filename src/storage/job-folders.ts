/**
 * Job files on `storage.dir` (a local folder or a shared mount every worker host sees): a folder per job,
 * `<dir>/jobs/<job id>/input/` for what was uploaded with the job and `output/` for what its task writes.
 *
 * Names are checked, never joined blindly: a job id or file name that could climb out of its folder is refused. What
 * a task leaves in its folder is not trusted: every folder on the way (`jobs/`, the job's, `input/` or `output/`)
 * must be a real folder, not a symbolic link (a task that replaces output/ with a link to /etc publishes nothing);
 * files are opened with O_NOFOLLOW, must be regular files with one link (a hard link may name a file outside the
 * job's folder), and once open, the file is checked to be the one at the expected place inside storage.dir (so a
 * folder swapped for a link between the checks and the open is caught too).
 */
import { constants, createReadStream, type ReadStream, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, realpath, rm, writeFile, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

export type FileKind = 'input' | 'output';
export interface StoredFile { name: string; size: number; modified: number }
export interface JobFiles { input: StoredFile[]; output: StoredFile[] }

export class StorageError extends Error {
  /** `not_served`: a folder on the way is a link (or not a folder), or the file has other hard links: refused, not missing. */
  constructor(readonly code: 'invalid_name' | 'not_found' | 'not_served' | 'too_large' | 'too_many', message: string, readonly field?: string) {
    super(message);
    this.name = 'StorageError';
  }
}

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._ -]{0,199}$/;
const SAFE_ID = /^[A-Za-z0-9._-]+~[A-Za-z0-9._-]+$/;

/** A file name as it may be stored: no folders, no leading dot, no "..", at most 200 characters. */
export function checkFileName(name: string, field = 'file'): string {
  if (!SAFE_NAME.test(name) || name.includes('..') || name.endsWith(' ') || name.endsWith('.')) {
    throw new StorageError('invalid_name', `"${name.slice(0, 100)}" is not an accepted file name: use letters, digits, ".", "_", "-" and spaces, starting with a letter, digit or "_", no folders, at most 200 characters`, field);
  }
  return name;
}

export class JobStorage {
  readonly root: string;
  constructor(dir: string, baseDir: string) { this.root = resolve(baseDir, dir); }

  /** The job's folder; throws for a string that is not a job id (it could name a path outside jobs/). */
  dirOf(jobId: string): string {
    if (!SAFE_ID.test(jobId)) throw new StorageError('not_found', `no files for "${jobId.slice(0, 100)}": not a job id`, 'params.id');
    return join(this.root, 'jobs', jobId);
  }

  /**
   * Creates the job's output/ folder (and its parents) before a run; returns the job's folder. Refuses (the run then
   * fails) a job folder or output/ that is a link: left by an earlier run, or planted for this job by another task.
   */
  async prepare(jobId: string): Promise<string> {
    const dir = this.dirOf(jobId);
    await mkdir(join(dir, 'output'), { recursive: true });
    await this.folder(jobId, 'output');
    return dir;
  }

  /**
   * The real path of the job's folder, or of its input/ or output/: storage.dir resolved (it may itself be a link the
   * operator made), then each folder below it checked with lstat. A link, even to a folder, is refused (not_served);
   * a folder that is not there is not_found.
   */
  private async folder(jobId: string, kind?: FileKind): Promise<string> {
    this.dirOf(jobId);
    let path = await realpath(this.root).catch(() => undefined);
    if (!path) throw new StorageError('not_found', `no files for ${jobId}: ${this.root} does not exist`, 'params.id');
    const steps: [string, string][] = [['jobs', 'storage.dir\'s jobs/ folder'], [jobId, `the folder of job ${jobId}`]];
    if (kind) steps.push([kind, `the ${kind}/ folder of job ${jobId}`]);
    for (const [name, what] of steps) {
      path = join(path, name);
      const info = await lstat(path).catch(() => undefined);
      if (!info) throw new StorageError('not_found', `${what} does not exist`, 'params.id');
      if (!info.isDirectory()) throw notServed(`${what} is ${info.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}`, kind ? 'params.kind' : 'params.id');
    }
    return path;
  }

  /** A folder for uploads not yet given to a job: made whole, then renamed to the job's (see stageUploads). */
  async staging(): Promise<string> {
    const dir = join(this.root, 'jobs', `.staging-${hostname()}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
    await mkdir(join(dir, 'input'), { recursive: true });
    return dir;
  }

  /** The job's regular files with one link each; a folder not there lists nothing, a folder that is a link is refused. */
  async list(jobId: string): Promise<JobFiles> {
    this.dirOf(jobId);
    const kindOf = (kind: FileKind) => this.folder(jobId, kind).then(listRegular, (e: unknown) => {
      if (e instanceof StorageError && e.code === 'not_found') return [];
      throw e;
    });
    const [input, output] = await Promise.all([kindOf('input'), kindOf('output')]);
    return { input, output };
  }

  /**
   * Opens one stored file for reading, at the bytes a Range header asks for (the whole file without one): a regular
   * file with one link, never through a link, inside a real folder (see the header). An unsatisfiable range opens
   * nothing: `stream` is then absent.
   */
  async open(jobId: string, kind: FileKind, name: string, rangeHeader?: string): Promise<{ stream?: ReadStream; size: number; modified: number; range: ReturnType<typeof parseRange> }> {
    checkFileName(name, 'params.name');
    const path = join(await this.folder(jobId, kind), name);
    const missing = () => new StorageError('not_found', `job ${jobId} has no ${kind} file "${name}"`, 'params.name');
    // O_NONBLOCK: a FIFO left under the name must not hang the open (it is then refused as not a regular file).
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ELOOP') throw notServed(`${kind} file "${name}" of job ${jobId} is a symbolic link`);
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR' || e.code === 'EISDIR') throw missing();
      throw e;
    });
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw missing();
      if (info.nlink > 1) throw notServed(`${kind} file "${name}" of job ${jobId} has other hard links (it may be a file from outside the job's folder); copy it instead of linking it`);
      await openedAt(handle, info, path, () => this.folder(jobId, kind));
      const range = parseRange(rangeHeader, info.size);
      if (range === 'unsatisfiable') { await handle.close(); return { size: info.size, modified: info.mtimeMs, range }; }
      const stream = createReadStream('', { fd: handle, start: range?.start, end: range?.end, autoClose: true });
      return { stream, size: info.size, modified: info.mtimeMs, range };
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** Whether this host can write the folder: a probe file written and removed. "ok" or what went wrong. */
  async probe(): Promise<string> {
    const file = join(this.root, `.probe-${hostname()}-${process.pid}`);
    try {
      await mkdir(this.root, { recursive: true });
      await writeFile(file, 'trireme');
      await unlink(file);
      return 'ok';
    } catch (e) {
      return `${this.root} is not writable from ${hostname()}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
  }

  /**
   * Removes job folders whose job is gone (`exists` says no, and the folder is older than `graceMs`, so that uploads
   * for a job being submitted are not swept) or older than `retentionMs`. Staging folders older than `graceMs` are
   * leftovers of a submit that died. Returns how many folders went.
   */
  async sweep(exists: (jobId: string) => Promise<boolean>, now: number, opts: { graceMs: number; retentionMs?: number }): Promise<number> {
    const jobs = join(this.root, 'jobs');
    // jobs/ replaced by a link: what it points at is not ours to remove.
    if (!(await lstat(jobs).catch(() => undefined))?.isDirectory()) return 0;
    const names = await readdir(jobs).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      const path = join(jobs, name);
      const info = await lstat(path).catch(() => undefined);
      if (!info?.isDirectory()) continue;
      const age = now - info.mtimeMs;
      const gone = name.startsWith('.staging-') ? age > opts.graceMs
        : SAFE_ID.test(name) && ((opts.retentionMs !== undefined && age > opts.retentionMs) || (age > opts.graceMs && !(await exists(name))));
      if (gone) { await rm(path, { recursive: true, force: true }); removed++; }
    }
    return removed;
  }
}

const notServed = (what: string, field = 'params.name') => new StorageError('not_served', `${what}: not served (a job's files are served only as regular files in real folders inside storage.dir; docs/storage.md)`, field);

/**
 * Checks that an open file is the one at `path`, so that a folder swapped for a link between the checks and the
 * open is caught. On Linux the kernel says which file the descriptor holds (/proc/self/fd); elsewhere the folders are
 * checked again and the path must still name the same file (device and inode).
 */
async function openedAt(handle: FileHandle, info: Stats, path: string, recheck: () => Promise<unknown>): Promise<void> {
  const held = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
  if (held !== undefined) {
    if (held !== path) throw notServed(`the file opened for ${path} is ${held}, outside its folder (a folder was swapped for a link)`);
    return;
  }
  await recheck();
  const now = await lstat(path).catch(() => undefined);
  if (!now || now.dev !== info.dev || now.ino !== info.ino) throw notServed(`${path} changed while it was being opened`);
}

/** Regular files with one link (links, folders, sockets and hard-linked files are not served, so not listed). */
async function listRegular(dir: string): Promise<StoredFile[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: StoredFile[] = [];
  for (const e of entries) {
    if (!e.isFile()) continue;
    const info = await lstat(join(dir, e.name)).catch(() => undefined);
    if (info?.isFile() && info.nlink === 1) files.push({ name: e.name, size: info.size, modified: info.mtimeMs });
  }
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

/** A Range header against a file of `size` bytes: the bytes to send, 'unsatisfiable', or undefined for the whole file. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // not one range we read: the whole file, as RFC 9110 allows
  let start: number;
  let end: number;
  if (m[1] === '') { start = Math.max(0, size - Number(m[2])); end = size - 1; } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

const TYPES: Record<string, string> = {
  json: 'application/json', txt: 'text/plain; charset=utf-8', log: 'text/plain; charset=utf-8', csv: 'text/csv; charset=utf-8',
  md: 'text/markdown; charset=utf-8', html: 'text/plain; charset=utf-8', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg',
  gif: 'image/gif', svg: 'text/plain; charset=utf-8', pdf: 'application/pdf', zip: 'application/zip', gz: 'application/gzip',
  parquet: 'application/vnd.apache.parquet', npy: 'application/octet-stream', pkl: 'application/octet-stream',
};

/** The content type a stored file is served with (HTML and SVG as text: a job's output must not run in the API's origin). */
export function contentTypeOf(name: string): string {
  const ext = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1).toLowerCase() : '';
  return TYPES[ext] ?? 'application/octet-stream';
}
