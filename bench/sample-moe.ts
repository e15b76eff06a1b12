/**
 * Sampled experts on the 48-layer × 128-expert MoE pair (the Solar-Open-100B tensor count, 0.65 GB
 * a side): `lineage compare` exact against `--sample 0.1`, end to end and for the weights pass
 * alone, and the share of the routed experts' bytes the sampled run read. Run alone with
 * `node --import tsx bench/sample-moe.ts` (LINEAGE_BENCH_E2E=0 leaves out the end-to-end runs,
 * which the controls dominate today); `npm run bench` calls it too.
 */
import { fileURLToPath } from 'node:url';
import { openCheckpoint, type Checkpoint } from '../core/src/checkpoint/folder.ts';
import { compareModels } from '../core/src/compare/model-report.ts';
import { executeLocally, planComparison } from '../core/src/compare/weights.ts';
import { buildWeightsSection, type WeightsSection } from '../core/src/report/weights.ts';
import { matchTensors } from '../core/src/roles/match.ts';
import { synthPair } from './synth-pair.ts';

const SHAPE = {
  layout: 'moe' as const, layers: 48, experts: 128, expertsPerToken: 8, hidden: 256, intermediate: 512,
  moeIntermediate: 64, heads: 4, kvHeads: 2, vocab: 16000,
};
const SHAPE_FLAGS = '--layout moe --layers 48 --experts 128 --experts-per-token 8 --hidden 256 --intermediate 512 --moe-intermediate 64 --heads 4 --kv-heads 2 --vocab 16000';

async function seconds<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await f();
  return [out, (performance.now() - t0) / 1000];
}

/** Elements of the routed experts read, over all of theirs (a not-read expert counts its whole size). */
function expertShare(w: WeightsSection): { read: number; total: number; experts: number } {
  let read = 0;
  let total = 0;
  let experts = 0;
  for (const t of w.tensors) {
    if (t.group !== 'routed_expert' || !t.shape) continue;
    experts++;
    total += t.shape.reduce((x, y) => x * y, 1);
    read += t.n ?? 0;
  }
  return { read, total, experts };
}

/** The pair (and an independent model) in `root`, generated when missing; bench/cluster-moe.ts runs it on a cluster. */
export function prepare(root: string): { base: string; derived: string; independent: string } {
  return synthPair(root, 'moe-48x128', SHAPE, SHAPE_FLAGS, ['derived', 'independent']);
}

/** The weights pass in its phases: match and plan (per tensor, whatever is read), execute (the reads), report. */
async function weightsPass(a: Checkpoint, b: Checkpoint, sample?: number): Promise<{ w: WeightsSection; plan: number; execute: number; report: number }> {
  const t0 = performance.now();
  const matched = matchTensors(a.tensors, b.tensors);
  const plan = planComparison(matched, { sample, seed: 1 });
  const t1 = performance.now();
  const { results, meta } = await executeLocally(matched, plan, { threads: 1, sample, seed: 1 });
  const t2 = performance.now();
  const w = buildWeightsSection(matched, results, meta);
  const t3 = performance.now();
  return { w, plan: (t1 - t0) / 1000, execute: (t2 - t1) / 1000, report: (t3 - t2) / 1000 };
}

const phases = (r: { plan: number; execute: number; report: number }) =>
  `${(r.plan + r.execute + r.report).toFixed(2)} s (match+plan ${r.plan.toFixed(2)}, reads+kernels ${r.execute.toFixed(2)}, report ${r.report.toFixed(2)})`;

export async function benchSampleMoe(root: string): Promise<void> {
  const { base, derived, independent } = prepare(root);
  console.log('sampled experts: 48 layers × 128 experts (moe-intermediate 64, hidden 256), 1 thread, page cache warm');
  const a = openCheckpoint(base);
  for (const [label, other] of [['derived', derived], ['independent', independent]] as const) {
    const b = openCheckpoint(other);
    await weightsPass(a, b, 0.1); // warm the cache and the JIT
    const exact = await weightsPass(a, b);
    const sampled = await weightsPass(a, b, 0.1);
    const share = expertShare(sampled.w);
    const withInterval = sampled.w.layers.filter((l) => l.ci.cosine !== null).length;
    console.log(`  ${label}, weights pass: exact ${phases(exact)}`);
    console.log(`  ${label}, weights pass: --sample 0.1 ${phases(sampled)}; reads+kernels ${((100 * sampled.execute) / exact.execute).toFixed(1)}% of exact's, whole pass ${((100 * (sampled.plan + sampled.execute + sampled.report)) / (exact.plan + exact.execute + exact.report)).toFixed(1)}%`);
    console.log(`    expert elements read ${((100 * share.read) / share.total).toFixed(1)}% (${share.read} of ${share.total}); all elements ${(100 * sampled.w.sampling!.fractionRead).toFixed(1)}%;`
      + ` ${sampled.w.summary.estimated} of ${share.experts} experts not read (estimated through ${sampled.w.expertStrata.length} strata); ${withInterval} of ${sampled.w.layers.length} layers with an interval`);
  }
  if (process.env.LINEAGE_BENCH_E2E === '0') return;
  // End to end (controls included): `lineage compare A B --threads 1 [--sample 0.1] --json FILE`.
  for (const [label, other] of [['derived', derived], ['independent', independent]] as const) {
    const [exact, te] = await seconds(() => compareModels(base, other, { threads: 1 }));
    const [sampled, ts] = await seconds(() => compareModels(base, other, { threads: 1, sample: 0.1 }));
    const align = (r: typeof exact) => Object.values(r.run.alignmentSeconds ?? {}).reduce((s, x) => s + x, 0);
    const intervals = sampled.weights.layers.every((l) => l.ci.cosine !== null) && sampled.weights.roles.every((r) => r.ci.cosine !== null) && sampled.weights.expertStrata.every((h) => h.ci.cosine !== null);
    console.log(`  ${label} end to end: lineage compare ${base} ${other} --threads 1: ${te.toFixed(1)} s (aligned tests ${align(exact).toFixed(1)} s), verdict ${exact.verdict.label}`);
    console.log(`  ${label} end to end: … --threads 1 --sample 0.1: ${ts.toFixed(1)} s (aligned tests ${align(sampled).toFixed(1)} s) = ${((100 * ts) / te).toFixed(1)}% of exact, verdict ${sampled.verdict.label}; every layer, role and stratum interval reported: ${intervals}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await benchSampleMoe(fileURLToPath(new URL('../.bench/', import.meta.url)));
}
