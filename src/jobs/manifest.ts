/**
 * The task manifest: what a submitter needs to know of each task without its code — the queue it overrides routing
 * with, its retries, backoff and priority. Every process that loads the task modules (replicas, serve) writes it;
 * a routes-only client (a web app that does not import the task code) reads it, so that a job submitted from there
 * gets the same retries as one submitted from the CLI, and an unknown task name is refused.
 */
import type { Redis } from '../redis/connection.js';
import { taskSettings, type Project, type TaskEntry } from '../core/project.js';
import type { TaskOptions } from '../core/task.js';
import { keys } from '../redis/keys.js';
import { ownPrefix } from '../redis/keyspace.js';

/** The part of a task's options that can travel without its code. */
export type ManifestEntry = Pick<TaskOptions, 'queue' | 'retries' | 'backoff' | 'priority'> & { kind: TaskEntry['kind'] };

export function manifestOf(project: Project): Record<string, ManifestEntry> {
  const out: Record<string, ManifestEntry> = {};
  for (const t of project.tasks.values()) {
    const { queue, retries, backoff, priority } = taskSettings(t);
    out[t.name] = { kind: t.kind, queue, retries, backoff, priority };
  }
  return out;
}

/** Writes this project's tasks into the manifest (one round trip). */
export async function writeManifest(redis: Redis, project: Project): Promise<void> {
  const entries = manifestOf(project);
  if (!project.tasksLoaded || Object.keys(entries).length === 0) return;
  await redis.hset(keys.tasks(ownPrefix(redis, project.config.prefix)), Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, JSON.stringify(v)])));
}

export async function readManifest(redis: Redis, prefix: string): Promise<Map<string, ManifestEntry>> {
  const h = await redis.hgetall(keys.tasks(ownPrefix(redis, prefix)));
  return new Map(Object.entries(h).map(([k, v]) => [k, JSON.parse(v) as ManifestEntry]));
}
