// Builds dist/: the library (tsc: ES modules and .d.ts files, mirroring src/ without the CLI), the dashboard's
// static files, and dist/bin/, the command line bundled by esbuild. The bundles exist for start-up time: Node 20 has
// no compile cache, and loading BullMQ and its dependencies module by module costs ~250 ms on a small machine
// against ~100 ms from one file. They are CommonJS because the ES module loader alone adds ~20 ms to every start.
// main.cjs holds the verbs' options only; each verb's body is its own bundle, read only when that verb runs.
// Users' task modules are never bundled: they load from their own folder, through tsx when they are TypeScript.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
// `--clean` (prepack) starts from nothing, so no file of a removed module ships; otherwise tsc builds incrementally.
if (process.argv.includes('--clean')) rmSync(`${root}/dist`, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
mkdirSync(`${root}/dist/dashboard`, { recursive: true });
cpSync(`${root}/src/dashboard`, `${root}/dist/dashboard`, { recursive: true });

const verbs = readdirSync(`${root}/src/cli/run`).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));
rmSync(`${root}/dist/bin`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: {
    main: 'src/cli/main.ts',
    runner: 'src/sandbox/runner.ts',
    ...Object.fromEntries(verbs.map((v) => [`verb-${v}`, `src/cli/run/${v}.ts`])),
  },
  outdir: 'dist/bin',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Dependencies' ES module builds where they have one: esbuild can then leave out what is never used.
  mainFields: ['module', 'main'],
  // Readable bundles: kept names and line structure make stack traces legible without source maps, and shrinking
  // whitespace saved ~5 ms of a ~150 ms load.
  minifySyntax: true,
  keepNames: true,
  // Loaded at run time from node_modules: tsx (and its esbuild) for users' TypeScript task modules, native addons,
  // and the Kubernetes client, which only a pool on the Kubernetes driver needs.
  external: ['tsx', 'tsx/*', 'esbuild', 'msgpackr-extract', 'pg-native', '@kubernetes/client-node'],
  // The sources find their neighbours from import.meta.url, which CommonJS spells differently.
  define: { 'import.meta.url': '__trireme_module_url' },
  banner: { js: "const __trireme_module_url = require('node:url').pathToFileURL(__filename).href;" },
  legalComments: 'linked',
  logLevel: 'warning',
});
