/**
 * The controls' share of a comparison (issue 12): on the 48-layer × 128-expert MoE pair (the
 * Solar-Open-100B tensor count, 0.65 GB a side), derived and independent, `compareModels` on one
 * and two threads, exact and `--sample 0.1`: the whole run, the controls phase (its tasks, wall
 * seconds, and the tensor bytes its tasks read against the weights' bytes). Then the controls of
 * the Solar-Open-100B layout itself (205 GB a side, ../shared/data/layouts) run for real on sparse
 * shards: what they read, against the weights' bytes; and a whole comparison of that layout on the
 * same shards (~2 minutes): the controls' share at full size. Then a pair at Solar's tensor widths (4 layers
 * of 16 experts, 3.0 GB a side): the controls' share where tensors are real-sized. Run alone with
 * `node --import tsx bench/controls.ts [ROOT]`; `npm run bench` calls it. The same figures come
 * from any run's report: `run.durationSeconds` and `run.controls` (its `seconds` run from the end
 * of the weights pass; on two threads the hidden and layer alignments start once the models are
 * open, beside the planning and the weights pass, for `besideWeightsSeconds`, and shorten the run
 * rather than add to it).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareModels, prepareComparison } from '../core/src/compare/model-report.ts';
import { computeControls } from '../core/src/controls/index.ts';
import { solarFolder } from './cluster.ts';
import { prepare } from './sample-moe.ts';
import { synthPair } from './synth-pair.ts';

export async function benchControls(root: string): Promise<void> {
  const pair = prepare(root);
  console.log('\ncontrols share, 48 × 128 MoE pair (bench/controls.ts; lineage compare A B --threads T [--sample 0.1], run.controls of the report)');
  for (const [label, b] of [['derived', pair.derived], ['independent', pair.independent]] as const) {
    const exactTotal = new Map<number, number>();
    // Warms the page cache (the Solar runs before evict it) and the compiled code: else the first
    // exact run is cold and every sampled ratio against it flatters.
    await compareModels(pair.base, b, { threads: 2 });
    for (const sample of [undefined, 0.1]) {
      for (const threads of [1, 2]) {
        const report = await compareModels(pair.base, b, { threads, sample });
        const c = report.run.controls!;
        const total = report.run.durationSeconds;
        const weightsBytes = report.models.a.bytes + report.models.b.bytes;
        console.log(`${`${label}${sample ? ', --sample 0.1' : ''}, ${threads} thread(s)`.padEnd(36)} total ${total.toFixed(1).padStart(6)} s, controls ${c.seconds.toFixed(1).padStart(5)} s after the weights pass (${(100 * c.seconds / total).toFixed(0)}%, ${c.tasks} tasks${c.besideWeightsSeconds ? `; the first beside it for ${c.besideWeightsSeconds.toFixed(1)} s` : ''}), controls read ${((c.bytes ?? 0) / 1e6).toFixed(0)} MB = ${(100 * (c.bytes ?? 0) / weightsBytes).toFixed(1)}% of the weights' bytes; ${report.verdict.label} ${report.verdict.confidence}`);
        if (!sample) {
          exactTotal.set(threads, total);
          continue;
        }
        const s = report.controls?.sampled;
        const w = report.weights;
        const intervals = w.layers.every((l) => l.ci.cosine !== null) && w.roles.every((r) => r.ci.cosine !== null) && w.expertStrata.every((h) => h.ci.cosine !== null);
        console.log(`${''.padEnd(36)} = ${(100 * total / exactTotal.get(threads)!).toFixed(0)}% of exact's total (goal <= 25% with 2 threads); every layer, role and stratum interval reported: ${intervals}`
          + (s ? `; controls sampled: ${s.expertLayers.analysed} of ${s.expertLayers.of} MoE layers matched, cells on ${s.alignedLayerPairs ? `${s.alignedLayerPairs.chosen} of ${s.alignedLayerPairs.of}` : 'no'} layer pairs` : ''));
      }
    }
  }
}

/**
 * The Solar-Open-100B layout against itself, on sparse shards (headers real, data holes read as
 * zeros): the controls run whole, then as `--sample 0.1` plans them, on two threads, and the
 * pread readers count what they read.
 * What a control reads does not depend on the values, with one exception: the expert weight
 * check also reads the same-index pairs where the matching is not the identity (up to twice that
 * part for unrelated models; it is the identity here).
 */
export async function benchSolarControls(root: string): Promise<void> {
  const dir = solarFolder(root, 'controls');
  if (!dir) return;
  const prepared = await prepareComparison(dir, dir);
  for (const sample of [undefined, 0.1]) {
    const stats = { bytes: 0 };
    let tasks = 0;
    const t0 = performance.now();
    // No weights results: the MLP then looks unrelated by index, so the neuron test is planned too.
    const controls = await computeControls(prepared, [], { threads: 2, seed: 1, sample, stats, onStage: (_, n) => { tasks += n; } });
    const seconds = (performance.now() - t0) / 1000;
    const weights = prepared.a.totalBytes + prepared.b.totalBytes;
    const s = controls.sampled;
    console.log(`${`Solar-Open-100B layout, controls${sample ? ' --sample 0.1' : ''} (sparse shards, 2 threads)`.padEnd(72)} ${tasks} tasks, ${seconds.toFixed(1)} s; read ${(stats.bytes / 1e9).toFixed(2)} GB = ${(100 * stats.bytes / weights).toFixed(2)}% of the weights' ${(weights / 1e9).toFixed(0)} GB${sample ? '' : ' (goal <= 2%)'}`
      + (s ? `; ${s.expertLayers.analysed} of ${s.expertLayers.of} MoE layers matched, cells on ${s.alignedLayerPairs ? `${s.alignedLayerPairs.chosen} of ${s.alignedLayerPairs.of}` : 'no'} layer pairs` : ''));
  }
}

/**
 * A whole comparison of the Solar-Open-100B layout against itself on its sparse shards (411 GB
 * read, all of it holes), on two threads: the controls' share at the size they were designed for,
 * where the 48 x 128 pair's share is bound by structure. What the zeros change: the hidden
 * alignment finds no profile feature and an all-zero embedding, so no correspondence (where real
 * weights take ~1 s); the attention cells find constant heads and skip them, and every cell on
 * constant units is left out; reads cost a page of zeros each rather than a copy from the cache.
 * Constant tensors and cells tell neither way, so the verdict on the model against itself is
 * 'inconclusive' (verdict/identity.ts), exact or sampled.
 */
export async function benchSolarCompare(root: string): Promise<void> {
  const dir = solarFolder(root, 'compare');
  if (!dir) return;
  let exact = 0;
  for (const sample of [undefined, 0.1]) {
    const report = await compareModels(dir, dir, { threads: 2, sample });
    const c = report.run.controls!;
    const total = report.run.durationSeconds;
    const weightsBytes = report.models.a.bytes + report.models.b.bytes;
    const parts = Object.entries(report.run.alignmentSeconds ?? {}).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
    console.log(`Solar-Open-100B layout, whole comparison${sample ? ' --sample 0.1' : ''} (sparse shards, 2 threads; lineage compare ${dir} ${dir} --threads 2${sample ? ' --sample 0.1' : ''}): total ${total.toFixed(0)} s for ${(weightsBytes / 1e9).toFixed(0)} GB (${(weightsBytes / 1e9 / total).toFixed(1)} GB/s)${sample ? ` = ${(100 * total / exact).toFixed(0)}% of exact's (goal of the 48 x 128 pair: <= 25%)` : ''}, controls ${c.seconds.toFixed(1)} s after the weights pass = ${(100 * c.seconds / total).toFixed(1)}% of the run (goal of the 48 x 128 pair: <= 10%), their first tasks beside it for ${(c.besideWeightsSeconds ?? 0).toFixed(0)} s; aligned tests' seconds: ${parts}; ${report.verdict.label} (holes: see benchSolarCompare)`);
    if (!sample) exact = total;
  }
}

/** Solar-Open-100B's widths (hidden 4096, 32 heads of 128, 8 KV heads, routed experts of 1280 x 4096, a shared one), 4 layers of 16 experts: 3.0 GB a side. */
const WIDE = { layout: 'moe' as const, layers: 4, experts: 16, expertsPerToken: 8, hidden: 4096, intermediate: 11008, moeIntermediate: 1280, heads: 32, kvHeads: 8, vocab: 32000 };
const WIDE_FLAGS = '--layout moe --layers 4 --experts 16 --experts-per-token 8 --hidden 4096 --intermediate 11008 --moe-intermediate 1280 --heads 32 --kv-heads 8 --vocab 32000';

/** The pair at Solar-Open-100B's tensor widths (4 layers of 16 experts, 3.0 GB a side), generated when missing. */
export function widePair(root: string): { base: string; derived: string } {
  return synthPair(root, 'wide-4x16', WIDE, WIDE_FLAGS, ['derived']);
}

/**
 * The controls at real tensor widths: the 48 x 128 pair has Solar's tensor count but 1/300 of its
 * bytes, so its controls (bound by structure: layers, experts, null draws) dwarf its weights
 * pass. Here the tensors are Solar's size and the model is cut in depth and experts instead; the
 * aligned cells and the hidden alignment's profiles read at most 12 layers whatever the depth,
 * the expert matching grows with the MoE layers.
 */
export async function benchWideControls(root: string): Promise<void> {
  const { base, derived } = widePair(root);
  console.log(`\ncontrols at Solar-Open-100B's tensor widths, 4 layers x 16 experts, 3.0 GB a side (bench/controls.ts; lineage compare ${base} ${derived} --threads T)`);
  await compareModels(base, derived, { threads: 2 }); // warms the page cache
  for (const threads of [1, 2]) {
    const report = await compareModels(base, derived, { threads });
    const c = report.run.controls!;
    const total = report.run.durationSeconds;
    const weightsBytes = report.models.a.bytes + report.models.b.bytes;
    const parts = Object.entries(report.run.alignmentSeconds ?? {}).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
    console.log(`  ${threads} thread(s): total ${total.toFixed(1)} s, controls ${c.seconds.toFixed(1)} s after the weights pass (${(100 * c.seconds / total).toFixed(0)}%${c.besideWeightsSeconds ? `; their first tasks beside it for ${c.besideWeightsSeconds.toFixed(1)} s` : ''}), read ${((c.bytes ?? 0) / 1e9).toFixed(2)} GB = ${(100 * (c.bytes ?? 0) / weightsBytes).toFixed(0)}% of the weights' bytes; aligned tests' seconds: ${parts}; ${report.verdict.label}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? join(process.cwd(), '.bench');
  await benchSolarControls(root);
  await benchSolarCompare(root);
  await benchControls(root);
  await benchWideControls(root);
}
