/**
 * A cluster job of the 48-layer × 128-expert MoE pair (bench/sample-moe.ts: the Solar-Open-100B
 * tensor count, 0.65 GB a side) on a coordinator process and 2 worker processes of one thread:
 * its report against the local one (weights and controls), its time, and the coordinator's
 * event-loop delay p99 over the job (issue 12: goal < 50 ms). `npm run bench` runs it;
 * alone: `node --import tsx bench/cluster-moe.ts`.
 */
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { compareModels, type ComparisonReport } from '../core/src/compare/model-report.ts';
import { NATS_SERVER_BINARY } from '../test/helpers/nats-server.ts';
import { formatDelay, scrapeDelay } from './event-loop-delay.ts';
import { startProcessCluster } from './process-cluster.ts';
import { prepare } from './sample-moe.ts';

/** The report sections that must not depend on where the comparison ran, and whether each is equal. */
function sameSections(cluster: ComparisonReport, local: ComparisonReport): string {
  const sections = ['weights', 'controls', 'verdict'] as const;
  const differ = sections.filter((s) => !isDeepStrictEqual(cluster[s], local[s]));
  return differ.length === 0 ? `report equal to local (${sections.join(', ')})` : `REPORT DIFFERS from local in ${differ.join(', ')}`;
}

export async function benchClusterMoe(root: string): Promise<void> {
  if (!NATS_SERVER_BINARY) {
    console.log('cluster MoE: nats-server not installed, skipped');
    return;
  }
  const { base, derived } = prepare(root);
  let t0 = performance.now();
  const local = await compareModels(base, derived, { threads: 2 });
  const localSeconds = (performance.now() - t0) / 1000;
  const cluster = await startProcessCluster(root, 2);
  try {
    const before = await scrapeDelay(cluster.metricsAddress);
    t0 = performance.now();
    const { job } = await cluster.client.submit({ modelA: base, modelB: derived });
    const report = await cluster.client.result(job.jobId);
    const seconds = (performance.now() - t0) / 1000;
    const delay = formatDelay(before, await scrapeDelay(cluster.metricsAddress));
    console.log(`${'48×128 MoE pair, 2 workers × 1 thread'.padEnd(44)} ${seconds.toFixed(1).padStart(6)} s (local, 2 threads: ${localSeconds.toFixed(1)} s); ${sameSections(report, local)}; ${delay}${cluster.fromBuild ? '' : ' (processes from the sources through tsx: the build is missing or stale)'}`);
  } catch (err) {
    console.log(`cluster MoE bench failed: ${(err as Error).message}`);
  } finally {
    await cluster.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchClusterMoe(fileURLToPath(new URL('../.bench/', import.meta.url)));
}
