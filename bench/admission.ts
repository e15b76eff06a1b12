/**
 * Admission control under load, for `npm run bench` (or `node --import tsx bench/admission.ts`):
 * 20 jobs submitted at once to a coordinator process with 2 worker processes, each job's end
 * against its solo time × its place in line, the coordinator's peak memory and threads (from
 * /proc), and its event-loop delay p99 (from its metrics) with one job at a time and under the
 * load. Run with the default admission (--max-running-jobs 1), with 2, and with none (20 at once),
 * which is how every job came to end at the same time (issue 14); LINEAGE_BENCH_LIMITS=1,2 picks.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthesize } from '../core/src/synth/synth.ts';
import { NATS_SERVER_BINARY } from '../test/helpers/nats-server.ts';
import { formatDelay, scrapeDelay } from './event-loop-delay.ts';
import { startProcessCluster, type ProcessCluster } from './process-cluster.ts';

/** LINEAGE_BENCH_JOBS changes the number (default 20, as in the issue that found the problem). */
const JOBS = Number(process.env.LINEAGE_BENCH_JOBS ?? 20);

/** A small pair (the synthetic default shape, 6 layers): a job takes about a second, most of it the report. */
function pair(root: string): { a: string; b: string } {
  const a = join(root, 'admission-base');
  const b = join(root, 'admission-derived');
  mkdirSync(root, { recursive: true });
  if (!existsSync(join(b, 'config.json'))) {
    synthesize('base', { out: a, shape: { layers: 6 } });
    synthesize('derivative', { out: b, like: a, drift: 0.01 });
  }
  return { a, b };
}

/** Peak resident memory and threads of a process, from /proc. */
function procStatus(pid: number): { peakRssMb: number; threads: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { peakRssMb: field('VmHWM') / 1024, threads: field('Threads') };
}

async function run(root: string, models: { a: string; b: string }, maxRunningJobs: number): Promise<void> {
  let cluster: ProcessCluster | null = null;
  try {
    cluster = await startProcessCluster(root, 2, ['--max-running-jobs', String(maxRunningJobs)]);
    const { client: c, coordinator, metricsAddress } = cluster;
    const job = async (jobId: string) => {
      await c.submit({ jobId, modelA: models.a, modelB: models.b });
      await c.result(jobId);
    };
    // A first job warms the processes up (threads started, code compiled); the solo time is the
    // median of three warm runs, so that one run slowed by the machine does not set every ratio.
    await job(`warm-${maxRunningJobs}`);
    const solos: number[] = [];
    const soloStart = await scrapeDelay(metricsAddress);
    for (let k = 0; k < 3; k++) {
      const start = performance.now();
      await job(`solo-${maxRunningJobs}-${k}`);
      solos.push((performance.now() - start) / 1000);
    }
    const solo = solos.sort((x, y) => x - y)[1]!;
    const soloDelay = formatDelay(soloStart, await scrapeDelay(metricsAddress));
    if (process.env.LINEAGE_BENCH_VERBOSE) console.log(`solo jobs: ${solos.map((s) => s.toFixed(2)).join(', ')} s`);
    const loadStart = await scrapeDelay(metricsAddress);
    const t0 = performance.now();
    const ends = await Promise.all(Array.from({ length: JOBS }, async (_, k) => {
      // Submitted in order, a millisecond apart, so the place in line is k + 1.
      await new Promise((r) => setTimeout(r, k));
      await job(`load-${maxRunningJobs}-${k}`);
      return (performance.now() - t0) / 1000;
    }));
    const loadDelay = formatDelay(loadStart, await scrapeDelay(metricsAddress));
    const ratios = ends.map((end, k) => end / (solo * (k + 1)));
    const worst = Math.max(...ratios);
    const worstPlace = ratios.indexOf(worst) + 1;
    if (process.env.LINEAGE_BENCH_VERBOSE) console.log(`end / (solo × place), by place: ${ratios.map((r) => r.toFixed(2)).join(' ')}`);
    const { peakRssMb, threads } = procStatus(coordinator.child.pid!);
    const label = maxRunningJobs >= JOBS ? 'no admission limit' : `--max-running-jobs ${maxRunningJobs}`;
    console.log(`${`${JOBS} jobs at once, 2 workers, ${label}`.padEnd(44)} solo ${solo.toFixed(2)} s; ends ${ends[0]!.toFixed(1)}…${ends.at(-1)!.toFixed(1)} s (first…last submitted); ` +
      `worst end / (solo × place) ${worst.toFixed(2)} at place ${worstPlace} (target ≤ 1.5); coordinator peak RSS ${peakRssMb.toFixed(0)} MB, ${threads} threads`);
    console.log(`${''.padEnd(44)} one job at a time: ${soloDelay}; ${JOBS} at once: ${loadDelay}`);
  } catch (err) {
    // A bench reports what happened and goes on.
    console.log(`admission bench (limit ${maxRunningJobs}) failed: ${(err as Error).message}`);
    if (process.env.LINEAGE_BENCH_VERBOSE && cluster) console.log(`coordinator log (end):\n${cluster.coordinator.log().slice(-4000)}`);
  } finally {
    await cluster?.stop();
  }
}

export async function benchAdmission(root: string): Promise<void> {
  if (!NATS_SERVER_BINARY) {
    console.log('admission: nats-server not installed, skipped');
    return;
  }
  const models = pair(root);
  for (const limit of (process.env.LINEAGE_BENCH_LIMITS ?? `1,2,${JOBS}`).split(',').map(Number)) await run(root, models, limit);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchAdmission(fileURLToPath(new URL('../.bench/', import.meta.url)));
}
