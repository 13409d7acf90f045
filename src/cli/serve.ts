/**
 * `trireme serve`: the controller with the local driver on this machine (reconcile loop, on-submit wake, local worker
 * replicas and their standbys), the HTTP API, /metrics and the dashboard. With no Redis configured it runs a private
 * redis-server for itself and its workers.
 */
import type { Command } from 'commander';
import { action, globals, verb } from './common.js';

export interface ServeCli { grace?: string; host?: string; port?: string; api: boolean; demo?: boolean; tasks: boolean; record?: string }

export function registerServe(program: Command): void {
  program.command('serve')
    .description('run the controller and local worker replicas for every pool, the HTTP API, /metrics and the dashboard')
    .option('--grace <duration>', "on shutdown, the longest replicas may take to finish running jobs before handing them back (default: each pool's drainGrace); a second Ctrl-C stops at once")
    .option('--host <host>', 'API and dashboard address (default: api.host, 127.0.0.1); beyond loopback needs a token')
    .option('--port <port>', 'API and dashboard port (default: api.port, 7070; 0 picks a free one)')
    .option('--no-api', 'run the controller and workers without the HTTP API and dashboard')
    .option('--demo', 'also submit a built-in bursty workload to every pool (for a first look at the dashboard)')
    .option('--record <file>', 'write every controller pass (what it observed and planned) to FILE as JSON lines, for replay through the simulator\'s planning pass')
    .option('--no-tasks', 'do not load the task modules: a controller whose image lacks the task code (submits are then checked by the replicas)')
    .action(action(async (o: ServeCli, cmd: Command) => verb<typeof import('./run/serve.js')>('serve').runServe(globals(cmd), o)));
}
