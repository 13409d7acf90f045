/**
 * Loads users' task modules. JavaScript modules are imported as they are. TypeScript modules go through tsx: by
 * default its CommonJS hook, which compiles in this thread (about 50 ms for the example's tasks), rather than its
 * ES module hooks, which start a loader thread (about 350 ms) — every replica and isolated runner pays this at
 * start. `import.meta.url` keeps working under the CommonJS hook; a module that needs ES module semantics (top-level
 * await, an `.mts` file) loads through the ES module hooks instead, and TRIREME_TS_LOADER=esm forces those for all.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const TYPESCRIPT = /\.[cm]?tsx?$/;
const nodeRequire = createRequire(import.meta.url);

let cjsRegistered = false;
type ScopedImport = (specifier: string, parentURL: string) => Promise<Record<string, unknown>>;
let esm: Promise<ScopedImport> | undefined;

/** Imports a task module by absolute path. */
export async function importTaskModule(path: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path).href;
  if (!TYPESCRIPT.test(path)) return import(url) as Promise<Record<string, unknown>>;
  if (!path.endsWith('.mts') && process.env.TRIREME_TS_LOADER !== 'esm') {
    try {
      if (!cjsRegistered) {
        (nodeRequire('tsx/cjs/api') as { register(): unknown }).register();
        cjsRegistered = true;
      }
      return nodeRequire(path) as Record<string, unknown>;
    } catch (e) {
      // Compiling to CommonJS failed before the module ran (top-level await): load it as an ES module.
      if ((e as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ASYNC_MODULE') throw e;
    }
  }
  // One namespace per process: its hooks are registered once, however many modules load through it.
  esm ??= import('tsx/esm/api').then(({ register }) => register({ namespace: 'trireme-tasks' }).import as ScopedImport);
  return (await esm)(url, import.meta.url);
}
