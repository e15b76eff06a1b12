/**
 * The controls of a comparison (DESIGN.md items 4 and 5, issue 5): what unrelated weights would
 * show, so that each cross-model value is read against a baseline rather than alone.
 */
import type { ItemResult } from '../exec/run-task.ts';
import type { PreparedComparison } from '../compare/model-report.ts';
import { relatedThreshold } from '../policy.ts';
import { alignLayers, type BaselinePoint, type LayerAlignment } from './layers.ts';
import { normControls, type NormControl } from './norms.ts';
import { analyzeExperts, moeLayers, type ExpertLayer } from './experts.ts';
import { analyzeSharedEmbeddings, type EmbeddingControl } from './embeddings.ts';
import { classifyTensor } from '../roles/roles.ts';
import { LineageError } from '../errors.ts';
import { finalizeMoments } from '../stats/moments.ts';
import { neuronPermutationTest, type NeuronPermutationTest } from './neurons.ts';
import { sharedTokenIds } from './embeddings.ts';
import { alignModels, type AlignmentSection } from '../align/index.ts';
import type { PreparedComparison as Prepared } from '../compare/model-report.ts';

export interface Controls {
  norms: { tensors: NormControl[] };
  /** Within model A, the centered cosine between layers of the alignment role, by layer distance. */
  baselines: Record<string, BaselinePoint[]>;
  layers: LayerAlignment[];
  /** MoE layers present in both: experts matched across the models (router rows, then weights). */
  experts: ExpertLayer[];
  /** When the vocabularies (and so the embeddings' shapes) differ: rows of the tokens both hold. */
  embeddings: EmbeddingControl | null;
  /** MLP neurons matched across models whatever their order (one layer), with a p-value. */
  neurons: NeuronPermutationTest | null;
  /**
   * The aligned tests (core/src/align): hidden dimension aligned, heads, neurons, routers and
   * experts matched in every layer, each against the same matching on unrelated pairs. The
   * verdict rests on them where they ran.
   */
  alignment: AlignmentSection | null;
  /** Controls that could not run (their tensors unreadable), each with the reason. */
  unavailable: UnavailableControl[];
}

export interface UnavailableControl {
  control: string;
  available: false;
  reason: string;
}

/**
 * Rows of the embeddings that hold the same token: through the tokenizers when both are known,
 * else by id when the vocabularies have the same size (and no tokenizer says otherwise).
 */
export function tokenPairsOf(prepared: Prepared): [number, number][] | null {
  const rows = (ck: Prepared['a']) => ck.tensors.find((t) => classifyTensor(t.name).role === 'embedding')?.shape[0] ?? null;
  const [ra, rb] = [rows(prepared.a), rows(prepared.b)];
  if (ra === null || rb === null) return null;
  const { a: tokA, b: tokB } = prepared.tokenizers;
  if (tokA && tokB) {
    const { pairs } = sharedTokenIds(tokA, tokB, ra, rb);
    return pairs.length ? pairs : null;
  }
  if (ra !== rb || tokA || tokB) return null;
  return Array.from({ length: ra }, (_, i) => [i, i] as [number, number]);
}

function mlpRelatedByIndex(prepared: PreparedComparison, results: ItemResult[]): boolean {
  const values: number[] = [];
  prepared.matched.forEach((m, i) => {
    const moments = results[i]?.moments;
    if (m.group !== 'mlp' || !moments) return;
    const s = finalizeMoments(moments);
    if (s.centeredCosine !== null) values.push(s.centeredCosine - relatedThreshold(s.n));
  });
  // The median MLP tensor's margin above its threshold.
  values.sort((x, y) => x - y);
  return values.length > 0 && values[Math.floor(values.length / 2)]! > 0;
}

export async function computeControls(
  prepared: PreparedComparison, results: ItemResult[],
  options: { threads?: number; seed?: number; /** Filled with the aligned tests' seconds by phase. */ timings?: Record<string, number> } = {},
): Promise<Controls> {
  // Each control on its own: one that cannot read its tensors (a shard cut short, a mount gone)
  // is reported unavailable with the reason; the comparison and the other controls go on.
  const unavailable: UnavailableControl[] = [];
  const isolated = async <T>(control: string, fallback: T, run: () => Promise<T> | T): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof LineageError)) throw err;
      unavailable.push({ control, available: false, reason: err.message });
      return fallback;
    }
  };
  const layers = await isolated('layers', null, () => alignLayers(prepared.a, prepared.b, (v, n) => v !== null && v > relatedThreshold(n), options));
  const moe = moeLayers(prepared.a).size > 0 && moeLayers(prepared.b).size > 0;
  const experts = moe ? await isolated('experts', [], () => analyzeExperts(prepared.a, prepared.b, { sample: 0.05, seed: options.seed, threads: options.threads })) : [];
  const embedA = prepared.a.tensors.find((t) => classifyTensor(t.name).role === 'embedding');
  const embedB = prepared.b.tensors.find((t) => classifyTensor(t.name).role === 'embedding');
  // Rows pair by id only when the vocabularies do: otherwise compare the rows of shared tokens.
  const sameIdRate = prepared.tokenizer.available ? prepared.tokenizer.sameIdRate : null;
  const vocabDiffers = !!embedA && !!embedB && (embedA.shape.join() !== embedB.shape.join() || (typeof sameIdRate === 'number' && sameIdRate < 0.99));
  const embeddings = vocabDiffers
    ? await isolated('embeddings', null, () => analyzeSharedEmbeddings(prepared.a, prepared.b, prepared.tokenizers.a, prepared.tokenizers.b, { seed: options.seed, threads: options.threads }))
    : null;
  // Depth changed: pair B's layers with A's through the layer alignment.
  const layerPairs = layers ? layers.alignment.alignment.map((x) => [x.a, x.b] as [number, number]) : null;
  const alignment = await isolated('alignment', null, () => alignModels({ a: prepared.a, b: prepared.b, tokenPairs: tokenPairsOf(prepared), layerPairs, seed: options.seed, timings: options.timings }));
  // Only where it can change the reading: the MLP looks unrelated when compared by index.
  const neurons = mlpRelatedByIndex(prepared, results) ? null : await isolated('neurons', null, () => neuronPermutationTest(prepared.a, prepared.b, { seed: options.seed, rows: 32 }));
  return {
    alignment,
    norms: { tensors: normControls(prepared.matched, results) },
    baselines: layers ? { [layers.alignment.role]: layers.baseline } : {},
    layers: layers ? [layers.alignment] : [],
    experts,
    embeddings,
    neurons,
    unavailable,
  };
}
