/**
 * `POST /jobs` as multipart/form-data: the fields `task`, `payload` (JSON) and `options` (JSON) and any number of
 * files up to `storage.maxFiles`, each up to `storage.maxFileSize`. Files are written to a staging folder first and
 * moved into the job's folder only once the job is valid, just before it is enqueued: a refused upload leaves
 * nothing behind, and a replica never starts a job whose inputs are not all there.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';
import { checkDepth } from './guard.js';
import { checkFileName, StorageError, type JobStorage } from '../storage/job-folders.js';

export interface Upload { body: Record<string, unknown>; staged?: string; files: string[] }

const FIELDS = new Set(['task', 'payload', 'options']);
const uploads = new WeakMap<FastifyRequest, Upload>();

/** The upload a multipart request carried (filled in as readUpload reads it). */
export const uploadOf = (req: FastifyRequest): Upload | undefined => uploads.get(req);

/** Reads a multipart request into a submit body and staged files; refuses, with nothing kept, what breaks a rule. */
export async function readUpload(req: FastifyRequest, storage: JobStorage | undefined, limits: { maxFiles: number; maxFileSize: number }): Promise<Upload> {
  if (!storage) throw new ApiError(400, 'storage_off', 'file uploads need storage.dir in the config (docs/storage.md); send JSON instead', 'body');
  // Known from the start, so that discardUpload finds what was staged however reading ends. The staging folder is
  // made at the first file: a request that brings none (or is refused before one) writes nothing.
  const upload: Upload = { body: {}, files: [] };
  uploads.set(req, upload);
  const { body, files } = upload;
  for await (const part of req.parts()) {
    if (part.type === 'file') {
      let name: string;
      try {
        // A part sent as a file (a Content-Type other than text) but with no filename: say which, do not crash on it.
        if (!part.filename) throw new ApiError(400, 'invalid_upload', `the file part "${part.fieldname.slice(0, 50)}" has no filename; send each file with filename="name.ext" in its Content-Disposition`, `files.${files.length}`);
        name = checkFileName(part.filename, `files.${files.length}`);
      } catch (e) {
        part.file.resume();
        throw e;
      }
      if (files.includes(name)) { part.file.resume(); throw new ApiError(400, 'invalid_upload', `two files named "${name}"`, `files.${files.length}`); }
      upload.staged ??= await storage.staging();
      // "wx": never through a link or over a file already there.
      await pipeline(part.file, createWriteStream(join(upload.staged, 'input', name), { flags: 'wx' }));
      if (part.file.truncated) throw new ApiError(413, 'file_too_large', `"${name}" is larger than storage.maxFileSize (${limits.maxFileSize} bytes)`, `files.${files.length}`);
      files.push(name);
    } else {
      if (!FIELDS.has(part.fieldname)) throw new ApiError(400, 'invalid_upload', `unknown form field "${part.fieldname.slice(0, 50)}"; send task, payload (JSON), options (JSON) and files`, `body.${part.fieldname.slice(0, 50)}`);
      const text = String(part.value);
      if (part.fieldname === 'task') body.task = text;
      else {
        // The same nesting limit as a JSON body: a payload 5 000 arrays deep would overflow the stack further on.
        checkDepth(text, `form field ${part.fieldname}`, `body.${part.fieldname}`);
        try { body[part.fieldname] = JSON.parse(text); } catch { throw new ApiError(400, 'invalid_json', `form field ${part.fieldname} is not valid JSON`, `body.${part.fieldname}`); }
      }
    }
  }
  return upload;
}

/**
 * Moves staged files into the job's folder; the submit calls it with the job's id before the job is enqueued. A job
 * that already has a folder (the same idempotency key sent again) keeps its first inputs.
 */
export async function placeUpload(storage: JobStorage, upload: Upload, jobId: string): Promise<void> {
  const target = storage.dirOf(jobId);
  if (!upload.staged || await stat(target).then(() => true, () => false)) return;
  await rename(upload.staged, target);
}

/** Removes what a request staged and did not place (a refusal, an error): called after every multipart request. */
export async function discardUpload(req: FastifyRequest): Promise<void> {
  const dir = uploads.get(req)?.staged;
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** Multipart's own refusals (@fastify/multipart's limits) and storage's, in the API's shape. */
export function uploadError(err: unknown, limits: { maxFiles: number; maxFileSize: number }): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof StorageError) return new ApiError(err.code === 'not_found' ? 404 : err.code === 'not_served' ? 403 : 400, err.code, err.message, err.field);
  const code = (err as { code?: string }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') return new ApiError(413, 'file_too_large', `a file is larger than storage.maxFileSize (${limits.maxFileSize} bytes); nothing was kept`, 'files');
  if (code === 'FST_FILES_LIMIT') return new ApiError(413, 'too_many_files', `more than storage.maxFiles (${limits.maxFiles}) files; nothing was kept`, 'files');
  if (code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') return new ApiError(413, 'too_many_parts', 'too many form fields; send task, payload, options and files', 'body');
  if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE' || code === 'FST_PROTO_VIOLATION') return new ApiError(400, 'invalid_upload', 'the multipart body is malformed', 'body');
  if (code === 'EEXIST') return new ApiError(400, 'invalid_upload', 'two files with the same name', 'files');
  return undefined;
}
