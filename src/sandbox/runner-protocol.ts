/**
 * The runner protocol, Trireme's side (docs/runners.md is the reference a runner is written from). A runner is a
 * long-lived program: Trireme writes requests to its fd 3 and reads its replies from its fd 4, one JSON object per
 * line, UTF-8. Not stdin/stdout: what a task prints cannot corrupt the channel, and the program's stdout and stderr
 * go to the running job's log as they are.
 */

/** The runner reads requests here. */
export const REQUEST_FD = 3;
/** The runner writes replies here. */
export const REPLY_FD = 4;

/** What a job's code may know of its job. `timeLimit`: milliseconds the job has, when it has a limit. */
export interface JobInfo { id: string; task: string; queue: string; attempt: number; workdir?: string; timeLimit?: number }

export type RunnerRequest =
  /** Run one task. `id` names this run in the replies; the runner runs one at a time. */
  | { t: 'run'; id: string; task: string; payload: unknown; job: JobInfo }
  /** Stop run `id` if you can (the job was cancelled or handed back); Trireme kills the runner after a grace. */
  | { t: 'cancel'; id: string; reason: string }
  /** Finish and exit 0 (the runner is recycled, or its replica is leaving). End of file on fd 3 means the same, at once. */
  | { t: 'exit' };

export type RunnerReply =
  /** Loaded and waiting for work; `tasks`: the task names it can run, when it knows them. */
  | { t: 'ready'; tasks?: string[] }
  | { t: 'log'; id: string; line: string }
  | { t: 'progress'; id: string; value: number | Record<string, unknown> }
  | { t: 'done'; id: string; result?: unknown }
  /**
   * The task failed. `type` (ValueError) and `message` make the job's error; `traceback` follows them. `retry: false`
   * fails the job for good (no retry left or not).
   */
  | { t: 'error'; id: string; type?: string; message: string; traceback?: string; retry?: boolean };

export function encodeRequest(req: RunnerRequest): string {
  return `${JSON.stringify(req)}\n`;
}

/** One reply line, checked: the reply, or a problem in words (the line is then ignored and the problem logged). */
export function parseReply(line: string): RunnerReply | { problem: string } {
  let m: unknown;
  try { m = JSON.parse(line); } catch { return { problem: `not JSON: ${clip(line)}` }; }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return { problem: `not a JSON object: ${clip(line)}` };
  const r = m as Record<string, unknown>;
  const id = typeof r.id === 'string' || typeof r.id === 'number' ? String(r.id) : undefined;
  const needId = (): { problem: string } | undefined => (id === undefined ? { problem: `"${String(r.t)}" without its run's "id": ${clip(line)}` } : undefined);
  switch (r.t) {
    case 'ready':
      return { t: 'ready', ...(Array.isArray(r.tasks) ? { tasks: r.tasks.map(String) } : {}) };
    case 'log':
      return needId() ?? { t: 'log', id: id!, line: typeof r.line === 'string' ? r.line : JSON.stringify(r.line) };
    case 'progress':
      if (typeof r.value !== 'number' && (typeof r.value !== 'object' || r.value === null || Array.isArray(r.value))) return { problem: `progress needs a number or an object as "value": ${clip(line)}` };
      return needId() ?? { t: 'progress', id: id!, value: r.value as number | Record<string, unknown> };
    case 'done':
      return needId() ?? { t: 'done', id: id!, result: r.result };
    case 'error':
      return needId() ?? {
        t: 'error', id: id!, message: typeof r.message === 'string' ? r.message : String(r.message ?? 'failed'),
        ...(typeof r.type === 'string' ? { type: r.type } : {}),
        ...(typeof r.traceback === 'string' ? { traceback: r.traceback } : {}),
        ...(r.retry === false ? { retry: false } : {}),
      };
    default:
      return { problem: `unknown message type ${JSON.stringify(r.t)}: ${clip(line)}` };
  }
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}
