/**
 * Fixed histogram buckets for job durations and queue waits. Replicas on any host add their counts into Redis per
 * bucket between heartbeats; the API sums them into Prometheus histograms. Fixed buckets make those sums exact.
 */

/** Upper bounds in seconds, Prometheus style (`le`); the last, +Inf, bucket is implied. */
export const JOB_SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600] as const;

/** Index of the bucket a value falls in: the first whose bound is >= seconds, or the +Inf bucket. */
export function bucketIndex(seconds: number): number {
  for (let i = 0; i < JOB_SECONDS_BUCKETS.length; i++) if (seconds <= JOB_SECONDS_BUCKETS[i]) return i;
  return JOB_SECONDS_BUCKETS.length;
}

/** Per-bucket counts to the cumulative counts Prometheus expects (`le` includes everything below). */
export function cumulative(counts: number[]): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i <= JOB_SECONDS_BUCKETS.length; i++) { sum += counts[i] ?? 0; out.push(sum); }
  return out;
}

/**
 * The q-quantile (0..1) of per-bucket counts, interpolated linearly inside its bucket as Prometheus'
 * histogram_quantile does; undefined with no observations. Past the last bound it answers the last bound.
 */
export function quantile(counts: number[], q: number): number | undefined {
  const total = counts.reduce((a, b) => a + (b ?? 0), 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i <= JOB_SECONDS_BUCKETS.length; i++) {
    const n = counts[i] ?? 0;
    if (below + n >= rank && n > 0) {
      if (i === JOB_SECONDS_BUCKETS.length) return JOB_SECONDS_BUCKETS[i - 1];
      const lo = i === 0 ? 0 : JOB_SECONDS_BUCKETS[i - 1];
      return lo + (JOB_SECONDS_BUCKETS[i] - lo) * ((rank - below) / n);
    }
    below += n;
  }
  return JOB_SECONDS_BUCKETS[JOB_SECONDS_BUCKETS.length - 1];
}

/** The q-quantile (0 < q <= 1) of values sorted ascending, by nearest rank (the value itself, no interpolation). */
export function nearestRank(sorted: ArrayLike<number>, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
