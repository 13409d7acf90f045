/**
 * Job files on `storage.dir` (a local folder or a shared mount every worker host sees): a folder per job,
 * `<dir>/jobs/<job id>/input/` for what was uploaded with the job and `output/` for what its task writes.
 *
 * Names are checked, never joined blindly: a job id or file name that could climb out of its folder is refused, and
 * symbolic links are neither listed nor followed (files are opened with O_NOFOLLOW after an lstat), so a task that
 * leaves a link to /etc/passwd in output/ does not publish it.
 */
import { constants, createReadStream, type ReadStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rm, stat, writeFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

export type FileKind = 'input' | 'output';
export interface StoredFile { name: string; size: number; modified: number }
export interface JobFiles { input: StoredFile[]; output: StoredFile[] }

export class StorageError extends Error {
  constructor(readonly code: 'invalid_name' | 'not_found' | 'too_large' | 'too_many', message: string, readonly field?: string) {
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

  /** Creates the job's output/ folder (and its parents) before a run; returns the job's folder. */
  async prepare(jobId: string): Promise<string> {
    const dir = this.dirOf(jobId);
    await mkdir(join(dir, 'output'), { recursive: true });
    return dir;
  }

  /** A folder for uploads not yet given to a job: made whole, then renamed to the job's (see stageUploads). */
  async staging(): Promise<string> {
    const dir = join(this.root, 'jobs', `.staging-${hostname()}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
    await mkdir(join(dir, 'input'), { recursive: true });
    return dir;
  }

  async list(jobId: string): Promise<JobFiles> {
    const dir = this.dirOf(jobId);
    const [input, output] = await Promise.all([listRegular(join(dir, 'input')), listRegular(join(dir, 'output'))]);
    return { input, output };
  }

  /**
   * Opens one stored file for reading, regular files only and never through a link, at the bytes a Range header
   * asks for (the whole file without one). An unsatisfiable range opens nothing: `stream` is then absent.
   */
  async open(jobId: string, kind: FileKind, name: string, rangeHeader?: string): Promise<{ stream?: ReadStream; size: number; modified: number; range: ReturnType<typeof parseRange> }> {
    checkFileName(name, 'params.name');
    const path = join(this.dirOf(jobId), kind, name);
    const info = await lstat(path).catch(() => undefined);
    if (!info?.isFile()) throw new StorageError('not_found', `job ${jobId} has no ${kind} file "${name}"`, 'params.name');
    const range = parseRange(rangeHeader, info.size);
    if (range === 'unsatisfiable') return { size: info.size, modified: info.mtimeMs, range };
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    const stream = createReadStream('', { fd: handle, start: range?.start, end: range?.end, autoClose: true });
    return { stream, size: info.size, modified: info.mtimeMs, range };
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

async function listRegular(dir: string): Promise<StoredFile[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: StoredFile[] = [];
  for (const e of entries) {
    if (!e.isFile()) continue; // links, folders, sockets: not served
    const info = await stat(join(dir, e.name)).catch(() => undefined);
    if (info) files.push({ name: e.name, size: info.size, modified: info.mtimeMs });
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
