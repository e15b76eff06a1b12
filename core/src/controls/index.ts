/**
 * The controls of a comparison (DESIGN.md items 4 and 5, issue 5): what unrelated weights would
 * show, so that each cross-model value is read against a baseline rather than alone.
 */
import type { ItemResult } from '../exec/run-task.ts';
import type { PreparedComparison } from '../compare/model-report.ts';
import { relatedThreshold } from '../verdict/verdict.ts';
import { alignLayers, type BaselinePoint, type LayerAlignment } from './layers.ts';
import { normControls, type NormControl } from './norms.ts';

export interface Controls {
  norms: { tensors: NormControl[] };
  /** Within model A, the centered cosine between layers of the alignment role, by layer distance. */
  baselines: Record<string, BaselinePoint[]>;
  layers: LayerAlignment[];
  /** Filled by the expert and embedding controls where they apply. */
  experts: unknown[];
  embeddings: unknown | null;
}

export async function computeControls(prepared: PreparedComparison, results: ItemResult[], options: { threads?: number; seed?: number } = {}): Promise<Controls> {
  const layers = await alignLayers(prepared.a, prepared.b, (v, n) => v !== null && v > relatedThreshold(n), options);
  return {
    norms: { tensors: normControls(prepared.matched, results) },
    baselines: layers ? { [layers.alignment.role]: layers.baseline } : {},
    layers: layers ? [layers.alignment] : [],
    experts: [],
    embeddings: null,
  };
}
