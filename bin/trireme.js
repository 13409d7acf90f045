#!/usr/bin/env node
// The trireme command. It runs the TypeScript sources through tsx so that task modules written in TypeScript load
// the same way in the CLI, in workers and in isolated runners.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
