/**
 * The committed package-lock.json is complete: `npm ci` on a clean clone (every Dockerfile and CI runner) accepts it,
 * and `npm install` there leaves it as it is. npm 11 once wrote a lock without msgpackr-extract's packages for other
 * platforms; `npm ci` then stopped with "Missing: @msgpackr-extract/msgpackr-extract-darwin-arm64@3.0.7 from lock
 * file". And every package it locks runs on this Node (20): none asks for a newer one (npm's EBADENGINE warning, once
 * given for @kubernetes-models/* and cookie 2, which want Node 22). The checks run on a copy of package.json and the
 * lock alone, as a fresh clone has them (no node_modules).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers.js';

const run = promisify(execFile);

/** A folder holding only package.json and package-lock.json, as a clone has them before its first install. */
function cleanCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'trireme-lock-'));
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(dir, f));
  return dir;
}

async function npm(dir: string, args: string[]): Promise<{ code: number; out: string }> {
  return run('npm', [...args, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, timeout: 240_000, maxBuffer: 16 * 1024 ** 2 })
    .then(({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }));
}

test('npm ci accepts the committed lock file (every platform\'s optional packages are in it)', { timeout: 300_000 }, async () => {
  const dir = cleanCopy();
  try {
    const ci = await npm(dir, ['ci', '--dry-run']);
    assert.equal(ci.code, 0, `npm ci refused the lock file:\n${ci.out.split('\n').filter((l) => /^npm error (code|`npm ci`|Missing|Invalid)/.test(l)).join('\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every package in the lock file runs on this Node (no EBADENGINE), dev dependencies included', { timeout: 300_000 }, async () => {
  const dir = cleanCopy();
  try {
    const ci = await npm(dir, ['ci', '--dry-run']);
    const wanting = [...ci.out.matchAll(/package: '([^']+)',\n.*required: \{ node: '([^']+)'/g)].map((m) => `${m[1]} wants node ${m[2]}`);
    assert.deepEqual(wanting, [], `on Node ${process.versions.node}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm install on a clean clone leaves the committed lock file unchanged', { timeout: 300_000 }, async () => {
  const dir = cleanCopy();
  try {
    const install = await npm(dir, ['install', '--package-lock-only']);
    assert.equal(install.code, 0, install.out);
    const before = readFileSync(join(ROOT, 'package-lock.json'), 'utf8');
    const after = readFileSync(join(dir, 'package-lock.json'), 'utf8');
    const added = after.split('\n').filter((l) => !before.includes(l)).slice(0, 20);
    assert.ok(after === before, `npm install rewrote package-lock.json; lines it added include:\n${added.join('\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
