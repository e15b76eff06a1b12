/**
 * Permutation-robust evidence for MLP weights. A derivative can reorder the hidden neurons of an
 * MLP (rows of gate/up, columns of down) without changing what the model computes; compared by
 * index its MLP then looks unrelated. Here each of k sampled neurons (rows) of A is matched to its
 * most similar row of B among all of B's rows, and the mean of those best matches is tested
 * against a null in which A's input coordinates are shuffled (which breaks any relation while
 * keeping both models' row structure). In the spirit of the published independence tests for
 * language models, which match neurons before comparing them.
 */
import type { Checkpoint, TensorEntry } from '../checkpoint/folder.ts';
import { bytesPerElement, type DType } from '../checkpoint/dtype.ts';
import { blockingReader, type BlockingReader } from '../io/blocking.ts';
import { blockScalesFrom, toFloat32, type BlockScales } from '../kernels/decode.ts';
import { blockScalesByWeight } from '../roles/match.ts';
import { classifyTensor } from '../roles/roles.ts';
import { Random } from '../synth/random.ts';
import { BestDots } from '../align/dots.ts';

export interface NeuronPermutationTest {
  role: string;
  layer: number;
  /** Rows (neurons) of A tested, and rows of B searched for each. */
  rows: number;
  candidates: number;
  /** Mean over the tested rows of the best centered cosine with any row of B. */
  statistic: number;
  nullMean: number;
  nullSd: number;
  /** (1 + null draws ≥ statistic) / (1 + draws). */
  pValue: number;
  replicates: number;
  /** Share of tested rows whose best match has the same index (1 when nothing was permuted). */
  sameIndexShare: number;
  /** Best-match centered cosine above which a row counts as matched (max over the null draws). */
  note: string;
}

/**
 * The gate first: inside the nonlinearity, no function-preserving edit can flip or rescale its
 * rows, where a gated MLP's up row can change sign (or scale) with its down column and would read
 * −1 against its own original. Up where there is no gate.
 */
const ROLES = ['mlp.gate', 'mlp.up', 'shared.gate', 'shared.up', 'expert.gate', 'expert.up'];

function findTensor(ck: Checkpoint, role: string, layer: number): TensorEntry | null {
  for (const t of ck.tensors) {
    const r = classifyTensor(t.name);
    if (r.role === role && r.layer === layer && (r.expert === null || r.expert === 0)) return t;
  }
  return null;
}

/** Rows centred and scaled to unit length, as float32 (the dot product is then the centered cosine). */
function unitRows(t: TensorEntry, reader: BlockingReader, scale: TensorEntry | undefined): Float32Array {
  const raw = new Uint8Array(t.byteLength);
  reader.readSync(t.file, t.offset, raw);
  const [rows, cols] = [t.shape[0]!, t.shape[1]!];
  const values = new Float32Array(rows * cols);
  // FP8 weights dequantized with their block scales, as everywhere else.
  let scales: BlockScales | undefined;
  if (scale) {
    const bytes = new Uint8Array(scale.byteLength);
    reader.readSync(scale.file, scale.offset, bytes);
    scales = blockScalesFrom(bytes, scale, t);
  }
  toFloat32(t.dtype as DType, raw, values, rows * cols, 0, scales);
  for (let r = 0; r < rows; r++) {
    const row = values.subarray(r * cols, (r + 1) * cols);
    let mean = 0;
    for (let j = 0; j < cols; j++) mean += row[j]!;
    mean /= cols;
    let ss = 0;
    for (let j = 0; j < cols; j++) { row[j] = row[j]! - mean; ss += row[j]! * row[j]!; }
    const scale = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let j = 0; j < cols; j++) row[j] = row[j]! * scale;
  }
  return values;
}

/** For each query row, the best dot product with any row of B and where it was found (align/dots.ts: the JavaScript loop's sums, in WebAssembly SIMD). */
function bestMatches(queries: Float32Array[], rowsB: BestDots): { value: number; at: number }[] {
  const { value, at } = rowsB.best(queries);
  return queries.map((_, i) => ({ value: value[i]!, at: at[i]! }));
}

export function neuronPermutationTest(
  a: Checkpoint, b: Checkpoint, options: { rows?: number; replicates?: number; seed?: number; maxElements?: number; budget?: number } = {},
): NeuronPermutationTest | null {
  const layers = [...new Set(a.tensors.map((t) => classifyTensor(t.name).layer).filter((l): l is number => l !== null))].sort((x, y) => x - y);
  if (layers.length === 0) return null;
  const layer = layers[Math.floor(layers.length / 2)]!;
  for (const role of ROLES) {
    const ta = findTensor(a, role, layer);
    const tb = findTensor(b, role, layer);
    if (!ta || !tb || ta.shape.length !== 2 || tb.shape.length !== 2 || ta.shape[1] !== tb.shape[1]) continue;
    // Whole rows of both matrices are needed; skip matrices too large to hold (a sampled variant would go here).
    const max = options.maxElements ?? 64 * 1024 * 1024;
    if (ta.shape[0]! * ta.shape[1]! > max || tb.shape[0]! * tb.shape[1]! > max) continue;
    if (!['BF16', 'F16', 'F32', 'F8_E4M3'].includes(ta.dtype) || bytesPerElement(ta.dtype as DType) === 0) continue;
    const cols = ta.shape[1]!;
    const countA = ta.shape[0]!;
    const countB = tb.shape[0]!;
    // Each draw is k·rows(B)·cols multiply-adds in JavaScript: keep the whole test within budget.
    let k = Math.min(options.rows ?? 48, countA);
    let replicates = options.replicates ?? 19;
    const budget = options.budget ?? 2e9;
    if (k * countB * cols * (replicates + 1) > budget) { k = Math.min(k, 16); replicates = Math.min(replicates, 9); }
    if (k * countB * cols * (replicates + 1) > budget) continue;
    const reader = blockingReader();
    try {
      const rowsA = unitRows(ta, reader, blockScalesByWeight(a.tensors).get(ta.name));
      const rowsB = new BestDots(unitRows(tb, reader, blockScalesByWeight(b.tensors).get(tb.name)), countB, cols);
      const random = new Random(options.seed ?? 1, `neurons:${role}:${layer}`);
      const chosen = new Set<number>();
      while (chosen.size < k) chosen.add(Math.floor(random.uniform() * countA));
      const picked = [...chosen].sort((x, y) => x - y);
      const queries = picked.map((r) => rowsA.subarray(r * cols, (r + 1) * cols));
      const observed = bestMatches(queries, rowsB);
      const statistic = observed.reduce((s, m) => s + m.value, 0) / k;
      const nulls: number[] = [];
      for (let rep = 0; rep < replicates; rep++) {
        const perm = Array.from({ length: cols }, (_, i) => i);
        for (let i = cols - 1; i > 0; i--) {
          const j = Math.floor(random.uniform() * (i + 1));
          [perm[i], perm[j]] = [perm[j]!, perm[i]!];
        }
        // A plain loop: Float32Array.from(perm, fn) iterates, an object per element (~1M a test).
        const shuffled = queries.map((q) => {
          const out = new Float32Array(cols);
          for (let i = 0; i < cols; i++) out[i] = q[perm[i]!]!;
          return out;
        });
        nulls.push(bestMatches(shuffled, rowsB).reduce((s, m) => s + m.value, 0) / k);
      }
      const nullMean = nulls.reduce((s, x) => s + x, 0) / replicates;
      const nullSd = Math.sqrt(nulls.reduce((s, x) => s + (x - nullMean) ** 2, 0) / Math.max(1, replicates - 1));
      return {
        role,
        layer,
        rows: k,
        candidates: countB,
        statistic,
        nullMean,
        nullSd,
        pValue: (1 + nulls.filter((x) => x >= statistic).length) / (1 + replicates),
        replicates,
        sameIndexShare: observed.filter((m, i) => m.at === picked[i]).length / k,
        note: `${k} neurons of A's ${role} (layer ${layer}) each matched to its best row of B among ${countB}; null: A's input coordinates shuffled, ${replicates} draws`,
      };
    } finally {
      reader.close();
    }
  }
  return null;
}
