/**
 * A Compose file from a config: Redis with AOF, `serve` (controller, API, dashboard) driving the pools through the
 * host's Docker engine, and one service per pool from the replica spec: its image (the pool's own, else --image),
 * its command (a Celery pool's worker: its entrypoint too, named `POOL@<container>`), env, CPU and memory limits,
 * stop_grace_period from the drain grace, `restart: unless-stopped` (a recycled replica, exit 75, comes back), and
 * its min as the starting count.
 *
 * serve runs `docker compose` on this same file from inside its container, so the project folder is mounted at the
 * path it has on the host (relative paths in the file then mean the same thing to the engine) with the Docker socket.
 * Compose interpolates `$` in every value: `${PWD}` is meant, what comes from the config is escaped (`$$`).
 *
 * Compose runs every pool on this machine's engine, so the export also says (on stderr, not in the file, which may
 * be used elsewhere) which pools ask for more than this machine has, before `docker compose up` refuses them.
 */
import { availableParallelism, totalmem } from 'node:os';
import type { Project } from '../../core/project.js';
import { oversizedPools } from '../../core/host-fit.js';
import { replicaSpec } from '../spec.js';
import { escapeDollars, foreignWithoutImage, IMAGE_CONFIG_PATH, yamlFile, type ExportFile, type ExportOptions } from '../export.js';
import { serviceOf } from './settings.js';

const seconds = (ms: number) => `${Math.ceil(ms / 1000)}s`;
const megabytes = (bytes: number) => `${Math.ceil(bytes / 1024 ** 2)}M`;

export function composeFile(project: Project, o: ExportOptions): ExportFile[] {
  const cfg = project.config;
  const configPath = o.configPath ?? IMAGE_CONFIG_PATH;
  const redisUrl = 'redis://redis:6379';
  const services: Record<string, unknown> = {
    redis: {
      image: 'redis:7-bookworm',
      command: ['redis-server', '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'],
      volumes: ['redis-data:/data'],
      restart: 'unless-stopped',
    },
    serve: {
      image: o.controllerImage,
      // The Docker socket: serve starts and stops the pools' containers. Root inside the container to reach it.
      user: 'root',
      command: ['-c', '${PWD}/trireme.yml', 'serve', '--host', '0.0.0.0', '--no-tasks'],
      working_dir: '${PWD}',
      environment: { TRIREME_REDIS_URL: redisUrl, PWD: '${PWD}', TRIREME_API_TOKEN: '${TRIREME_API_TOKEN:?set TRIREME_API_TOKEN (openssl rand -hex 24)}' },
      volumes: ['/var/run/docker.sock:/var/run/docker.sock', '${PWD}:${PWD}:ro'],
      ports: [`127.0.0.1:${cfg.api.port}:${cfg.api.port}`],
      depends_on: ['redis'],
      restart: 'unless-stopped',
    },
  };
  for (const [pool, p] of Object.entries(cfg.pools)) {
    const spec = replicaSpec(project, pool, { configPath });
    services[serviceOf(cfg, pool)] = {
      // A pool's own image (a Celery pool's Python one, a GPU tier's CUDA one), else the deployment's.
      image: spec.image ?? o.image,
      // A replica of another program (a Celery worker) replaces the image's entrypoint; Trireme's gives its arguments.
      ...(spec.entrypoint ? { entrypoint: spec.entrypoint.map(escapeDollars) } : {}),
      command: spec.args.map(escapeDollars),
      environment: { TRIREME_REDIS_URL: redisUrl, ...Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, escapeDollars(v)])) },
      volumes: [`./trireme.yml:${escapeDollars(configPath)}:ro`],
      deploy: { resources: { limits: { cpus: String(spec.resources.cpu), memory: megabytes(spec.resources.memory) } } },
      stop_grace_period: seconds(spec.stopGraceMs),
      restart: 'unless-stopped',
      scale: p.scaling.min,
      depends_on: ['redis'],
    };
  }
  const file = yamlFile('compose.yml', o.source, [{ services, volumes: { 'redis-data': {} } }], 'serve scales the pool services with `docker compose up --scale`.', foreignWithoutImage(project));
  const host = { cpu: availableParallelism(), memory: totalmem() };
  const unfit = oversizedPools(cfg.pools, host, (r) => (r === 'cpu'
    ? "Docker refuses to start a container whose cpus limit is above the host's CPUs"
    : 'its memory limit cannot be met here')).map((x) => x.message);
  return [unfit.length ? { ...file, warnings: [...file.warnings ?? [], ...unfit] } : file];
}
