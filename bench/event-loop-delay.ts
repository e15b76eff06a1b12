/**
 * The coordinator's event-loop delay over a stretch of a bench, from its metrics endpoint
 * (lineage_coordinator_event_loop_delay_seconds): scrape before and after, and the quantile of
 * the samples in between, interpolated within a bucket as Prometheus' histogram_quantile does.
 */
const NAME = 'lineage_coordinator_event_loop_delay_seconds';

/** Cumulative counts by bucket upper bound (Infinity last). */
export type DelaySnapshot = [number, number][];

export async function scrapeDelay(metricsAddress: string): Promise<DelaySnapshot> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  const buckets: DelaySnapshot = [];
  for (const m of text.matchAll(new RegExp(`^${NAME}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm'))) {
    buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  if (buckets.length === 0) throw new Error(`${metricsAddress} does not export ${NAME}`);
  return buckets.sort(([a], [b]) => a - b);
}

/** The q-quantile (0..1) in seconds of the samples taken between two scrapes, and how many there were. */
export function delayQuantile(before: DelaySnapshot, after: DelaySnapshot, q: number): { seconds: number; samples: number } {
  const counts = after.map(([le, n], i) => [le, n - (before[i]?.[1] ?? 0)] as [number, number]);
  const total = counts.at(-1)![1];
  if (total === 0) return { seconds: NaN, samples: 0 };
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, n] of counts) {
    if (n >= rank) {
      // The last finite bound stands for the +Inf bucket, as in Prometheus.
      if (le === Infinity) return { seconds: lower, samples: total };
      return { seconds: lower + (le - lower) * ((rank - below) / Math.max(n - below, 1)), samples: total };
    }
    lower = le;
    below = n;
  }
  return { seconds: lower, samples: total };
}

/** "p99 12 ms (4,100 samples)", or why there is none. */
export function formatDelay(before: DelaySnapshot, after: DelaySnapshot): string {
  const { seconds, samples } = delayQuantile(before, after, 0.99);
  return samples === 0 ? 'no event-loop samples' : `coordinator event-loop delay p99 ${(seconds * 1000).toFixed(0)} ms (goal < 50 ms; ${samples} samples)`;
}
