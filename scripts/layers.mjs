// The layering of src/, written once: what each folder may import. ESLint enforces it (eslint.config.js, the rule
// `trireme/layers`), test/unit/lint.test.ts shows each rule firing on a file that breaks it, and docs/architecture.md
// is written from this table. Dependencies point inwards: a folder imports only folders listed for it, and none of
// them imports it back (test/unit/layers.test.ts checks there is no import cycle between files either).
import { dirname, relative, resolve, sep } from 'node:path';

/** Each folder of src/ and the folders it may import (besides itself). `*`: any. */
export const LAYERS = {
  // Pure: the config model, routing, policies, the autoscaler and the planning pass. No I/O, no clock.
  core: [],
  // The running process: logs, host identity, the package's own files, deadlines on shutdown paths.
  system: ['core'],
  // Connections to Redis, the private redis-server, key names, watching Redis come and go.
  redis: ['core', 'system'],
  // Job folders on storage.dir.
  storage: ['core', 'system'],
  // Where replicas live: the driver contract, its implementations and their exporters.
  drivers: ['core', 'system'],
  // Loading a config file and its task modules.
  project: ['core', 'system', 'drivers'],
  // How one job's code runs: in-process, a worker thread, a child process, a command.
  sandbox: ['core', 'system', 'project'],
  // What the controller reads of each pool's queues: one file per source.
  signals: ['core', 'system', 'redis'],
  // Records in Redis beside BullMQ's: the replica registry, the lease, the control records.
  stores: ['core', 'system', 'redis'],
  // Submitting jobs and everything done to them after: lookup, cancel, retry, follow, arrivals, the task manifest.
  jobs: ['core', 'system', 'redis', 'project'],
  // Job history: the outbox in Redis, the recorder and reader in PostgreSQL.
  history: ['core', 'system', 'redis', 'jobs'],
  // One replica of a pool: the runtime that consumes its queues.
  replica: ['core', 'system', 'redis', 'stores', 'jobs', 'history', 'sandbox', 'storage'],
  // The simulator: the planning pass on a virtual clock, fed a trace.
  sim: ['core', 'system', 'drivers'],
  // What `trireme export` writes: the drivers' deployment files and the other kinds (alert rules), one registry.
  exports: ['core', 'system', 'drivers'],
  // The controller process: observe, plan, act; the read model every face shows; doctor; housekeeping.
  control: ['core', 'system', 'redis', 'stores', 'signals', 'drivers', 'jobs', 'history', 'storage', 'project'],
  // The HTTP API, metrics and events.
  api: ['core', 'system', 'redis', 'stores', 'jobs', 'history', 'storage', 'project', 'control'],
  // The command line: a face over everything.
  cli: ['*'],
  // The package's entry points (src/*.ts).
  '.': ['*'],
};

/** Packages only some folders may import: the datastores and the HTTP server stay behind their folders. */
export const PACKAGES = {
  bullmq: ['redis', 'jobs', 'stores', 'signals', 'replica'],
  ioredis: ['redis', 'jobs', 'stores', 'signals', 'replica'],
  pg: ['history'],
  // The AMQP client reads a Celery pool's RabbitMQ, behind its signal source.
  amqplib: ['signals'],
  fastify: ['api'],
};

/** The top folder of src/ a file is in ('.' for src/*.ts), or undefined outside src/. */
export function layerOf(file, src) {
  const rel = relative(src, file);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(sep);
  return parts.length === 1 ? '.' : parts[0];
}

/** An ESLint plugin with the rule `layers`: relative imports across folders and restricted packages. */
export function layersPlugin(src) {
  const allowed = (from, to) => from === to || LAYERS[from]?.includes('*') || LAYERS[from]?.includes(to);
  return {
    rules: {
      layers: {
        meta: { type: 'problem', schema: [] },
        create(context) {
          const file = context.filename;
          const from = layerOf(file, src);
          if (from === undefined || !(from in LAYERS)) return {};
          const check = (node, spec) => {
            if (typeof spec !== 'string') return;
            if (spec.startsWith('.')) {
              const to = layerOf(resolve(dirname(file), spec), src);
              if (to !== undefined && !allowed(from, to)) {
                context.report({ node, message: `src/${from}/ may not import src/${to}/ (scripts/layers.mjs): ${from} may import ${LAYERS[from].join(', ') || 'nothing outside itself'}` });
              }
              return;
            }
            const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
            const only = PACKAGES[name];
            if (only && !only.includes(from)) context.report({ node, message: `${name} stays behind src/${only.join('/, src/')}/ (scripts/layers.mjs)` });
          };
          return {
            ImportDeclaration: (node) => check(node, node.source.value),
            ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
            ExportAllDeclaration: (node) => check(node, node.source.value),
            ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
          };
        },
      },
    },
  };
}
