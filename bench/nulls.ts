/**
 * The expert permutation null per MoE layer (issue 12 item 3): the null as first written
 * (Box–Muller, products in plain JavaScript, the plain Hungarian method) against the fast one
 * (ziggurat, products in WebAssembly SIMD, Jonker–Volgenant), on the same Gram matrices in the
 * same process, at the draws the control runs per layer (PREDICTIVE_NULL_REPLICATES), with each part of a
 * fast draw timed alone, and the layer's router Gram products at a real hidden size. Run alone: `node --import tsx bench/nulls.ts`; `npm run bench` calls it.
 */
import { fileURLToPath } from 'node:url';
import { maximizeAssignmentFlat } from '../core/src/controls/assignment.ts';
import { assignmentNull, centerRows, choleskyPsd, gram, gramJs } from '../core/src/controls/experts.ts';
import { fillNormals } from '../core/src/controls/null-normals.ts';
import { NullProducts } from '../core/src/controls/null-products.ts';
import { PREDICTIVE_NULL_REPLICATES } from '../core/src/controls/null-pvalue.ts';
import { assignmentNullReference } from '../core/src/controls/null-reference.ts';
import { Random } from '../core/src/synth/random.ts';

/** Best of `rounds` timings, in ms (the machine is shared: the minimum is the least disturbed). */
function best(rounds: number, f: () => void): number {
  let least = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    f();
    least = Math.min(least, performance.now() - t0);
  }
  return least;
}

/** Router-like rows: a common direction plus noise, centered and unit (d = hidden size). */
function routerGram(random: Random, experts: number, d: number): Float64Array {
  const common = Array.from({ length: d }, () => random.normal());
  const rows = centerRows(Float64Array.from({ length: experts * d }, (_, k) => 0.3 * common[k % d]! + random.normal()), experts, d);
  return gram(rows.rows, experts, rows.rows, experts, d);
}

export function benchNulls(): void {
  console.log('\nexpert permutation null, per MoE layer (bench/nulls.ts; best of 3, one thread)');
  for (const [experts, layers, model] of [[128, 48, '48 × 128 (Solar-Open-100B layout)'], [256, 61, '61 × 256 (DeepSeek-V3 layout)']] as const) {
    const d = 1024;
    const random = new Random(experts, 'bench-nulls');
    const ga = routerGram(random, experts, d);
    const gb = routerGram(random, experts, d);
    const draws = PREDICTIVE_NULL_REPLICATES;
    // Warm both paths (JIT) before timing.
    assignmentNull(ga, experts, gb, experts, d - 1, 3, 1, 'warm');
    assignmentNullReference(ga, experts, gb, experts, d - 1, 2, 1, 'warm');
    const fast = best(3, () => assignmentNull(ga, experts, gb, experts, d - 1, draws, 1, 'layer'));
    const slow = best(3, () => assignmentNullReference(ga, experts, gb, experts, d - 1, draws, 1, 'layer'));
    console.log(`${`${experts} × ${experts} experts, ${draws} draws`.padEnd(32)} as first written ${slow.toFixed(0).padStart(6)} ms/layer, fast ${fast.toFixed(0).padStart(5)} ms/layer: ${(slow / fast).toFixed(1)}× faster`);
    console.log(`${''.padEnd(32)} a ${model} model: ${(slow * layers / 1000).toFixed(1)} s → ${(fast * layers / 1000).toFixed(1)} s of null`);
    // The predictive p-value (null-pvalue.ts) reads 1% from 39 draws: what the null would cost if analyzeLayer adopted it.
    const predictive = best(3, () => assignmentNull(ga, experts, gb, experts, d - 1, PREDICTIVE_NULL_REPLICATES, 1, 'layer'));
    console.log(`${''.padEnd(32)} with the predictive p-value (${PREDICTIVE_NULL_REPLICATES} draws, not yet read by analyzeLayer): ${predictive.toFixed(0)} ms/layer, ${(predictive * layers / 1000).toFixed(1)} s a model`);
    // One fast draw by parts.
    const products = new NullProducts(choleskyPsd(ga, experts), experts, choleskyPsd(gb, experts), experts);
    const z = new Float64Array(experts * experts);
    const reps = 20;
    const normals = best(3, () => { for (let r = 0; r < reps; r++) fillNormals(random, z); }) / reps;
    const product = best(3, () => { for (let r = 0; r < reps; r++) products.product(z, 1 / Math.sqrt(d - 1)); }) / reps;
    const s = Float64Array.from(products.product(z, 1 / Math.sqrt(d - 1)));
    const assignment = best(3, () => { for (let r = 0; r < reps; r++) maximizeAssignmentFlat(s, experts, experts); }) / reps;
    // The layer's three router Gram products (A·Bᵀ, A·Aᵀ, B·Bᵀ) at a real hidden size.
    const hidden = 4096;
    const rows = Float64Array.from({ length: experts * hidden }, () => random.normal());
    const gramsJs = best(3, () => { for (let r = 0; r < 3; r++) gramJs(rows, experts, rows, experts, hidden); });
    const gramsFast = best(3, () => { for (let r = 0; r < 3; r++) gram(rows, experts, rows, experts, hidden); });
    console.log(`${''.padEnd(32)} router Gram matrices (d = ${hidden}): JavaScript ${gramsJs.toFixed(0)} ms/layer, WebAssembly ${gramsFast.toFixed(0)} ms/layer: ${(gramsJs / gramsFast).toFixed(1)}×`);
    console.log(`${''.padEnd(32)} one fast draw: normals ${normals.toFixed(2)} ms, products ${product.toFixed(2)} ms (${products.simd ? 'WebAssembly SIMD' : 'JavaScript fallback'}), assignment ${assignment.toFixed(2)} ms`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchNulls();
