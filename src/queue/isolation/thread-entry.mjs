// Worker threads in Node 20 ignore --import in execArgv, so a thread registers the TypeScript loader itself before
// loading the runner (which reads its request from workerData).
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.runner);
