/**
 * The Kubernetes client is an optional peer dependency: only the kubernetes driver loads it, when it is built. A
 * project that uses the driver without having installed it is told which package to install and how, instead of
 * Node's "Cannot find package". The loader is injected; the errors are Node's own, from a real import made in a
 * folder where the package is not installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadKubernetesClient, KUBERNETES_CLIENT } from '../../src/drivers/kubernetes/client.js';
import { MissingPackageError } from '../../src/core/errors.js';
import { ROOT } from '../helpers.js';

/** A loader that imports `specifier` from a folder with no node_modules, so Node fails as it does for a user. */
function importFromNowhere(specifier: string): () => Promise<typeof import('@kubernetes/client-node')> {
  const dir = mkdtempSync(join(tmpdir(), 'trireme-k8s-client-'));
  writeFileSync(join(dir, 'load.mjs'), `export default () => import(${JSON.stringify(specifier)});\n`);
  return async () => (await import(pathToFileURL(join(dir, 'load.mjs')).href)).default();
}

test('without the package: a MissingPackageError naming it, the pools that need it and the install command', async () => {
  const err = await loadKubernetesClient(['heavy', 'light'], importFromNowhere(KUBERNETES_CLIENT)).then(() => undefined, (e: Error) => e);
  assert.ok(err instanceof MissingPackageError, `got ${err}`);
  assert.equal(err.name, 'MissingPackageError');
  assert.match(err.message, /^the kubernetes driver \(pools heavy, light\) needs the package @kubernetes\/client-node, which is not installed/);
  assert.match(err.message, /npm install @kubernetes\/client-node@\^1\.\d+\.\d+/);
  assert.match(err.message, /optional peer dependency of trireme-jobs/);
});

test('a package the client itself lacks is not mistaken for the client missing: Node\'s error goes through', async () => {
  const err = await loadKubernetesClient(['heavy'], importFromNowhere('@kubernetes/client-node-helper')).then(() => undefined, (e: Error) => e);
  assert.ok(err && !(err instanceof MissingPackageError), `got ${err}`);
  assert.match(err.message, /Cannot find package '@kubernetes\/client-node-helper'/);
});

test('the install lines in the README and docs ask for the version range the package declares', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string>; peerDependenciesMeta: Record<string, { optional?: boolean }> };
  assert.equal(pkg.peerDependenciesMeta[KUBERNETES_CLIENT]?.optional, true, 'an optional peer dependency');
  const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const ranges = docs.flatMap((f) => [...readFileSync(join(ROOT, f), 'utf8').matchAll(/@kubernetes\/client-node@([^\s`;)]+)/g)].map((m) => `${f}: ${m[1]}`));
  assert.ok(ranges.length >= 2, `found ${ranges.join(', ')}`);
  for (const r of ranges) assert.equal(r.split(': ')[1], pkg.peerDependencies[KUBERNETES_CLIENT], r);
});

test('with the package installed (as the dev dependencies have it), the client module loads', async () => {
  const k8s = await loadKubernetesClient(['heavy']);
  assert.equal(typeof k8s.KubeConfig, 'function');
});
