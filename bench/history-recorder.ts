/**
 * The history recorder on its own, as `serve` runs it beside the replicas: bench:history starts it as a separate
 * process so that its work is not counted in the replica's event loop. Runs until SIGTERM.
 *
 *   node --import tsx bench/history-recorder.ts POSTGRES_URL REDIS_URL PREFIX
 */
import { HistoryRecorder } from '../src/history/recorder.js';
import { connect } from '../src/redis/connection.js';

const [url, redisUrl, prefix] = process.argv.slice(2);
const redis = connect(redisUrl);
const recorder = new HistoryRecorder({ url, redis, prefix, batch: 500 });
const running = recorder.run();
process.once('SIGTERM', () => {
  void recorder.stopLoop().then(() => running).then(() => recorder.stop()).then(() => { redis.disconnect(); process.exit(0); });
});
process.send?.('ready');
