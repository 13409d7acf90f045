/**
 * The load for bench:api, in its own process: submits no-op jobs through the Trireme client at a fixed rate, in a
 * batch every 20 ms, until killed. Prints how many it submitted each second.
 */
import { loadProject } from '../src/project/project.js';
import { TriremeClient } from '../src/jobs/client.js';

const [config, rateArg] = process.argv.slice(2);
const rate = Number(rateArg);
const project = await loadProject(config);
const client = new TriremeClient(project, process.env.TRIREME_REDIS_URL!);
const started = performance.now();
let sent = 0;
for (;;) {
  // Catch up to where the rate says we should be: a slow batch is made up by the next, not lost.
  const due = Math.floor(((performance.now() - started) / 1000) * rate) - sent;
  if (due > 0) {
    await Promise.all(Array.from({ length: due }, () => client.submit('bench.noop', {})));
    sent += due;
  }
  await new Promise((r) => setTimeout(r, 20));
}
