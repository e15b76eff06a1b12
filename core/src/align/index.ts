/**
 * Lineage that survives re-parameterization (issue 11): align, then compare, against nulls that
 * pay for the same matching.
 *
 * 1. The hidden dimensions of A and B are put in correspondence (hidden.ts): identity, a
 *    permutation (with signs, where the embedding shows them), or a partial one when the widths
 *    differ.
 * 2. Under that correspondence every layer's units are matched whatever their order (units.ts):
 *    attention heads (as their QK and OV circuits), MLP neurons, router rows, and the experts the router pairs.
 *    Embedding and lm_head rows of the tokens both vocabularies hold are compared row for row.
 * 3. Each (component, layer) cell is one statistic read against null draws computed by the very
 *    same matching on pairs that cannot be related: A's layer against *other* layers of B (same
 *    shapes, same alignment, same marginal structure), A's dimensions shuffled among dimensions of
 *    similar energy, mismatched experts, mismatched tokens. Matching inflates similarity between
 *    unrelated weights; the null is inflated alike, so "related" means above what matching finds
 *    by chance. p-value: the observed value as one more draw of the null (Student's t on the
 *    draws' mean and spread, stats.ts); a cell is related at p ≤ CELL_LEVEL; a component's cells
 *    combine by Fisher's method.
 *
 * The level was chosen before looking at the evaluation set and is checked by `npm run eval`'s
 * calibration table on independent pairs that are not the labelled cases (bench/calibration.ts).
 */
import type { Checkpoint } from '../checkpoint/folder.ts';
import { maximizeAssignmentFlat } from '../controls/assignment.ts';
import { Random } from '../synth/random.ts';
import { alignHidden, identityMap, type DimMap, type HiddenAlignment } from './hidden.ts';
import { ModelView } from './model-view.ts';
import { TokenBasisView } from './token-basis.ts';
import { attentionCircuits, CIRCUIT_DIMS } from './circuits.ts';
import { BLOCK_GEOMETRY_LEVEL, ROTATION_CKA_LEVEL } from './geometry.ts';
import { circuitLayerPairs } from './layer-circuits.ts';
import { basisFor, BlockBasisView, internalProbes, planProbes, probeGeometry, type ProbePlan } from './internal-basis.ts';
import { freezeOperand } from './dots.ts';
export { indexTensorsSteps } from './model-view.ts';
import { evenlySpaced, fisherCombine, median, predictivePValue, shuffled } from './stats.ts';
import { controlsFraction, sampledCellPairs } from '../sample/controls.ts';
import {
  assigned, magnitudeCorrelation, mlpUnits, nearestNeighbour, routerUnits, selectDims, similarities, tokenUnits,
  type DimSelection, type UnitBuilder, type Units,
} from './units.ts';

import { CELL_LEVEL, COMPONENT_LEVEL } from '../policy.ts';
export { CELL_LEVEL, COMPONENT_LEVEL };
/** Hidden dimensions compared per unit (a seeded choice among the matched ones). */
const MAX_DIMS = 256;
/** Shared tokens whose embeddings are the basis where B's hidden basis is rotated (align/token-basis.ts), and the fewest that will do. */
const PROBE_TOKENS = 256;
const MIN_PROBES = 64;
/**
 * Probes of the models' own blocks that are the basis where B is A rotated and no tokens anchor
 * one (align/internal-basis.ts), and the words of length 0 and 1 whose geometry decides it.
 */
const BLOCK_PROBES = 256;
/** Mean profile correlation of matched dimensions from which the permutation is trusted (a choice of cost, not of correctness: see alignHiddenPart). */
const STRONG_MATCH = 0.9;
/** Neurons of A matched per cell (each against every neuron of B). */
const NEURONS_PER_CELL = 64;
/**
 * MLPs of more than LARGE_MLP neurons (a 4096-wide model has 14,336): half the neurons per cell
 * and half the dimensions per neuron, which keeps a cell a few seconds on one thread while a
 * derivative's matched similarity (≈ 1) stays far above the null's (≈ 0.2 at these sizes).
 */
const LARGE_MLP = 4096;
/** Other layers of B used as null cells, and dimension-shuffle draws beside them. */
const CROSS_LAYER_NULLS = 6;
const MIN_NULL_DRAWS = 10;
const TOKEN_ROWS = 512;
const EXPERTS_PER_LAYER = 3;
const SD_FLOOR = 0.005;
/** A magnitude correlation over 32-64 matched neurons spreads ~0.15 under the null: a floor well below that. */
const MAGNITUDE_SD_FLOOR = 0.02;
const MIN_MAGNITUDE_DRAWS = 5;
/**
 * Layer and routed-expert cells read their null sequentially: after EARLY_DRAWS draws (enough for
 * the magnitude channel), a cell stops where more draws cannot change its reading: far beyond the
 * null (p ≤ EARLY_CELL_P, as a derivative's cells are), or too close to it for the rest of its
 * draws to bring it to the cell level (0.01): each channel at p ≥ CELL_FUTILITY_P. Stopping there
 * can only lower the rate of cells called related; the first rule adds at most EARLY_CELL_P to
 * it (the calibration table checks the whole). Both read the cell's p-values as the report
 * combines them (cellSettled).
 */
const EARLY_DRAWS = MIN_MAGNITUDE_DRAWS;
const EARLY_CELL_P = 1e-4;
const CELL_FUTILITY_P = 0.1;

export type AlignedComponent = 'embedding' | 'attention' | 'dense MLP' | 'router' | 'shared experts' | 'routed experts' | 'lm_head';

export interface AlignedCell {
  layerA: number | null;
  layerB: number | null;
  expertA?: number;
  expertB?: number;
  /** The matched statistic (mean centered cosine of matched units). */
  statistic: number;
  nullMean: number;
  nullSd: number;
  nullDraws: number;
  pValue: number;
  related: boolean;
  /** Share of units matched at their own index (1 when nothing was reordered). */
  sameIndexShare: number;
  /**
   * Neuron cells: the correlation of matched neurons' invariant magnitudes (log‖gate‖ + log‖up‖ +
   * log‖down‖: a fine-tune keeps them, unrelated weights give ~0), its null mean and its p-value
   * against the same null draws; `pValue` is then Fisher's combination of the direction's
   * (`directionPValue`) and this one. Null where the cell has no magnitudes (other components, or
   * magnitudes without spread).
   */
  magnitude: number | null;
  magnitudeNullMean: number | null;
  magnitudePValue: number | null;
  directionPValue: number;
}

export interface AlignedComponentResult {
  component: AlignedComponent;
  statistic: string;
  cells: AlignedCell[];
  related: number;
  /** Fisher's combination of the cells' p-values. */
  pValue: number;
  medianStatistic: number | null;
  medianNull: number | null;
  /** Share of units at their own index over the cells (low: reordered heads, neurons or experts). */
  sameIndexShare: number | null;
  finding: 'related' | 'mixed' | 'unrelated';
}

export interface AlignmentSection {
  hidden: HiddenAlignment | null;
  /** How layers were paired: by index, or through the layer alignment (depth changed). */
  layerPairing: 'index' | 'layer alignment' | 'relative depth' | 'layer circuits';
  components: AlignedComponentResult[];
  level: { cell: number; component: number };
  nulls: string;
  dimensionsCompared: number;
  notes: string[];
}

export interface AlignmentInput {
  a: Checkpoint;
  b: Checkpoint;
  /** Rows of tokens both vocabularies hold, [row in A, row in B]; null when unknown. */
  tokenPairs: [number, number][] | null;
  /** B's layers paired with A's when depths differ (from the layer alignment): [layerA, layerB]. */
  layerPairs?: [number, number][] | null;
  seed?: number;
  /**
   * Filled with seconds by phase (hidden alignment, each component's cells): timings belong to
   * the report's `run`, the one part that differs between two runs of a comparison.
   */
  timings?: Record<string, number>;
}

/** One cell's null draws and observed value, before its p-value. */
export interface CellDraft {
  component: AlignedComponent;
  layerA: number | null;
  layerB: number | null;
  expertA?: number;
  expertB?: number;
  observed: Observed | null;
  draws: number[];
  /** The magnitude correlation under each null draw that had one (neuron cells). */
  magnitudeDraws?: number[];
}

interface Observed {
  statistic: number;
  sameIndexShare: number;
  magnitude?: number | null;
}

/** The dimensions compared, as plain arrays (parts cross threads and the network as JSON). */
export interface PlainSelection {
  a: number[];
  b: number[];
  sign: number[];
  /**
   * Present where B is A in a rotated hidden basis (align/token-basis.ts): the shared tokens
   * [row in A, row in B] whose embeddings are the basis; `a` and `b` then index them.
   */
  probes?: [number, number][];
  /** Present where B is A rotated with no tokens to anchor a basis: the probes of both models' own blocks (align/internal-basis.ts); `a` and `b` index them. */
  blocks?: ProbePlan[];
}

/** Step 1's result: the hidden alignment, and the dimensions every cell compares under it. */
export interface HiddenPart {
  hidden: HiddenAlignment | null;
  /** Null when the hidden dimensions could not be put in correspondence (no cells then). */
  selection: PlainSelection | null;
  unreadable: string[];
  seconds: number;
}

/** The groups of cells step 2 is cut into; each runs on its own, over a run of layer pairs. */
export type CellGroup = 'attention' | 'dense MLP' | 'shared experts' | 'router' | 'routed experts' | 'embedding and lm_head';
export const CELL_GROUPS: readonly CellGroup[] = ['attention', 'dense MLP', 'shared experts', 'router', 'routed experts', 'embedding and lm_head'];

export interface CellsSpec {
  group: CellGroup;
  /** The layer pairs whose cells this part computes. */
  pairs: [number, number][];
  /** Every layer pair of the comparison: null partners (other layers of B) are drawn among them. */
  allPairs: [number, number][];
  selection: PlainSelection;
  /** Shared-token rows (the embedding and lm_head group only). */
  tokenPairs: [number, number][] | null;
  seed: number;
  /** Names this part's random stream: parts draw independently, so any split gives one result. */
  stream: string;
}

export interface CellsPart {
  drafts: CellDraft[];
  notes: string[];
  unreadable: string[];
  seconds: number;
}

/** Layer pairs given cells (evenly spaced over the depth). */
const ALIGNED_LAYERS = 12;
/** Runs of at most this many layer pairs per part: small enough to spread, large enough that B's null layers are mostly read for several cells. */
const PAIRS_PER_PART = 8;

export interface AlignmentPlan {
  pairs: [number, number][];
  /** The layer pairs the models have, of which `pairs` were chosen. */
  candidates: number;
  pairing: AlignmentSection['layerPairing'];
  /** The groups of layer cells that have tensors to compare (no task is planned for the others). */
  groups: CellGroup[];
}

/**
 * How layers pair, and which groups of cells have tensors on the sides they need (no tensor is
 * read). `sample`: the run's --sample fraction, under which fewer layer pairs get cells.
 */
export function planAlignment(a: Checkpoint, b: Checkpoint, layerPairsGiven: [number, number][] | null, sample: number | null = null, circuits: [number, number][] | null = null): AlignmentPlan {
  const [va, vb] = [new ModelView(a), new ModelView(b)];
  try {
    const has = (v: ModelView, role: string) => v.layers.some((l) => v.tensor(role, l) !== null);
    const moe = (v: ModelView) => v.layers.some((l) => v.experts('expert.down', l).length > 0);
    const groups: CellGroup[] = [];
    if (has(va, 'attn.q') && has(vb, 'attn.q')) groups.push('attention');
    if (has(va, 'mlp.down') && has(vb, 'mlp.down')) groups.push('dense MLP');
    if (has(va, 'shared.down') && has(vb, 'shared.down')) groups.push('shared experts');
    if (has(va, 'router.weight') && has(vb, 'router.weight')) groups.push('router');
    // Experts on both sides, or on one (upcycling: its experts against the other's dense MLP).
    if (moe(va) || moe(vb)) groups.push('routed experts');
    const { pairs, pairing } = layerPairs(va, vb, layerPairsGiven);
    // At most ALIGNED_LAYERS pairs, evenly spaced: null partners are drawn among them too, so the
    // cells read ~2·ALIGNED_LAYERS layers whatever the depth (any reused run longer than
    // depth/(ALIGNED_LAYERS−1) layers still has a cell in it). Sampled: about F of them, at least
    // 4 (sampledCellPairs), their null partners still among them: with 3 partners a cell tops its
    // draws up to MIN_NULL_DRAWS with dimension shuffles (layerCells).
    const count = sampledCellPairs(ALIGNED_LAYERS, controlsFraction(sample));
    const chosen = (list: [number, number][]) => evenlySpaced(list.length, count).map((i) => list[i]!);
    if (va.layers.length !== vb.layers.length && circuits) {
      // Depth changed: B's layers paired with A's through their circuits (layer-circuits.ts),
      // which no reparametrization inside a block or of the hidden basis changes.
      const valid = circuits.filter(([la, lb]) => va.layers.includes(la) && vb.layers.includes(lb));
      if (valid.length) return { pairs: chosen(valid), candidates: valid.length, pairing: 'layer circuits', groups };
    }
    return { pairs: chosen(pairs), candidates: pairs.length, pairing, groups };
  } finally {
    va.close();
    vb.close();
  }
}

/**
 * A part's work relative to the others', to hand the heaviest out first: the last parts to start
 * are then small ones, and a few threads or workers finish together instead of one running the
 * largest part alone at the end (on two threads, a 22 x 16 MoE pair's two routed-experts parts,
 * dispatched last in plan order, left a thread idle for ~0.2 s). Per layer pair, rounded from the
 * aligned tests' seconds per pair (run.alignmentSeconds) on the bench pairs (22 x 16 MoE, 48 x 128
 * MoE, Solar's widths): attention and routed experts ~4 times the shared experts, the router cells
 * ~1/100 of them; the token rows' one part about two attention pairs. A dense MLP reads as much as
 * the routed experts. Only the order of dispatch depends on it, never a result.
 */
const GROUP_WORK: Record<CellGroup, number> = { attention: 4, 'dense MLP': 4, 'routed experts': 4, 'shared experts': 1, router: 0.04, 'embedding and lm_head': 8 };

export function cellsWork(spec: CellsSpec): number {
  return spec.group === 'embedding and lm_head' ? GROUP_WORK[spec.group] : GROUP_WORK[spec.group] * spec.pairs.length;
}

/** The parts of step 2: each group of cells over runs of layer pairs (the token rows as one part). */
export function cellSpecs(plan: AlignmentPlan, hidden: HiddenPart, tokenPairs: [number, number][] | null, seed: number): { specs: CellsSpec[]; notes: string[] } {
  if (!hidden.selection) return { specs: [], notes: [] };
  const specs: CellsSpec[] = [];
  for (const group of plan.groups) {
    for (let i = 0; i < plan.pairs.length; i += PAIRS_PER_PART) {
      specs.push({ group, pairs: plan.pairs.slice(i, i + PAIRS_PER_PART), allPairs: plan.pairs, selection: hidden.selection, tokenPairs: null, seed, stream: `alignment/${group}/${i}` });
    }
  }
  const notes: string[] = [];
  if (tokenPairs && tokenPairs.length >= 32) {
    specs.push({ group: 'embedding and lm_head', pairs: [], allPairs: plan.pairs, selection: hidden.selection, tokenPairs, seed, stream: 'alignment/tokens' });
  } else {
    notes.push('embedding and lm_head not compared under the alignment: no tokens known to be shared');
  }
  return { specs, notes };
}

/** Everything in one thread, in order (tests, benches; the comparison runs the parts as tasks). */
export function alignModels(input: AlignmentInput): AlignmentSection | null {
  const seed = input.seed ?? 1;
  const hidden = alignHiddenPart(input.a, input.b, input.tokenPairs, seed);
  if (!hidden) return null;
  // No stage-1 layer alignment here: where depths differ and none is given, pair through the circuits.
  const circuits = !input.layerPairs && hidden.selection && depthsDiffer(input.a, input.b) ? alignLayersByCircuits(input.a, input.b, hidden.selection) : null;
  const plan = planAlignment(input.a, input.b, input.layerPairs ?? null, null, circuits);
  const { specs, notes } = cellSpecs(plan, hidden, input.tokenPairs, seed);
  const parts = specs.map((spec) => alignedCellsPart(input.a, input.b, spec));
  if (input.timings) addCellTimings(input.timings, specs, parts);
  return alignmentSection(hidden, plan, parts, notes, input.timings);
}

/** Whether the models have different numbers of layers (their cells then need a layer pairing). */
export function depthsDiffer(ca: Checkpoint, cb: Checkpoint): boolean {
  const [a, b] = [new ModelView(ca), new ModelView(cb)];
  try {
    return a.layers.length !== b.layers.length;
  } finally {
    a.close();
    b.close();
  }
}

/** Step 1: the hidden dimensions put in correspondence, and the dimensions the cells compare. Null when a side has no hidden size. */
export function alignHiddenPart(ca: Checkpoint, cb: Checkpoint, tokenPairs: [number, number][] | null, seed: number): HiddenPart | null {
  const started = Date.now();
  const [a, b] = [new ModelView(ca), new ModelView(cb)];
  try {
    if (!a.hidden || !b.hidden) return null;
    const found = alignHidden({ a, b, tokenPairs, seed });
    const random = new Random(seed, 'alignment');
    // The shared tokens' embeddings have A's geometry, yet no permutation of the hidden dimensions
    // matches well: B is A in another basis (rotated). The cells then compare both in the basis of
    // those tokens' embeddings, where a rotation leaves every number as it was. That basis is valid
    // for any correspondence (a permutation is a rotation too); it reads whole matrices, so a
    // strong permutation match (a plain or permuted copy) keeps the cheaper dimension-wise cells.
    const geometry = found?.alignment.embeddingGeometry ?? null;
    const weakMatch = !!found && (found.alignment.kind === 'none' || found.alignment.score < STRONG_MATCH);
    let selection: PlainSelection | null = null;
    const blocks = found && weakMatch ? blockBasis(a, b, found.alignment) : null;
    if (found && weakMatch && geometry && geometry.cka >= ROTATION_CKA_LEVEL && tokenPairs && tokenPairs.length >= MIN_PROBES) {
      const probes = evenlySpaced(tokenPairs.length, Math.min(PROBE_TOKENS, tokenPairs.length)).map((i) => tokenPairs[i]!);
      const sel = selectDims(identityMap(probes.length), MAX_DIMS, () => random.uniform());
      found.alignment.rotated = { tokens: probes.length };
      selection = { a: [...sel.a], b: [...sel.b], sign: [...sel.sign], probes };
    } else if (found && blocks) {
      // No tokens anchor a basis, yet the probes of both models' blocks have the same geometry: B is
      // A rotated with its token interface replaced. The cells compare both in those probes' basis.
      const sel = selectDims(identityMap(BLOCK_PROBES), MAX_DIMS, () => random.uniform());
      found.alignment.blockBasis = { probes: BLOCK_PROBES };
      selection = { a: [...sel.a], b: [...sel.b], sign: [...sel.sign], blocks };
    } else {
      // Any fixed correspondence is valid for the tests below (their nulls share it); the found one is
      // used unless it is no better than chance, where indices are kept (the first dimensions of each,
      // where the widths differ). A map no better than chance carries no signal, only the bias of
      // having been fitted: it was chosen to match the shared tokens' embedding columns, which the
      // embedding cell then compares against mismatched tokens that it was not fitted on. Independent
      // models 64 and 48 wide read their embedding related under it in 65 of 66 calibration pairs.
      let map: DimMap | null = found?.map ?? null;
      if (!found || found.alignment.kind === 'none') map = indexMap(a.hidden, b.hidden);
      const sel = map ? selectDims(map, MAX_DIMS, () => random.uniform()) : null;
      selection = sel ? { a: [...sel.a], b: [...sel.b], sign: [...sel.sign] } : null;
    }
    return { hidden: found?.alignment ?? null, selection, unreadable: readingNotes(a, b), seconds: (Date.now() - started) / 1000 };
  } finally {
    a.close();
    b.close();
  }
}

/**
 * Where the hidden dimensions matched no permutation: the geometry of both models' block probes
 * (words of length 0 and 1, align/internal-basis.ts), recorded in `hidden.blockGeometry`; the plan
 * of the cells' basis where it is A's (BLOCK_GEOMETRY_LEVEL), else null. Not where the tokens
 * already show a rotation (their basis is used).
 */
function blockBasis(a: ModelView, b: ModelView, hidden: HiddenAlignment): ProbePlan[] | null {
  if (hidden.embeddingGeometry && hidden.embeddingGeometry.cka >= ROTATION_CKA_LEVEL) return null;
  const plans = planProbes(a, b, BLOCK_PROBES);
  hidden.blockGeometry = null;
  if (!plans) return null;
  // Each plan's starts and words of one letter (a few dozen probes, the least drift): their mean.
  let sum = 0;
  let probes = 0;
  for (const plan of plans) {
    const gate = { ...plan, count: plan.starts.length * (1 + plan.operators.length * plan.layers.length) };
    const [pa, pb] = [internalProbes(a, gate), internalProbes(b, gate)];
    if (!pa || !pb) return null;
    sum += probeGeometry(pa, pb);
    probes += pa.rows;
  }
  const correlation = sum / plans.length;
  hidden.blockGeometry = { correlation: Math.round(correlation * 1e4) / 1e4, probes, layers: [...new Set(plans.flatMap((p) => p.layers))].sort((x, y) => x - y) };
  return correlation >= BLOCK_GEOMETRY_LEVEL ? plans : null;
}

/**
 * Where the depths differ and the layer alignment of raw rows found no layer of B related to A's
 * (a reparametrization scrambles them): B's layers paired with A's through their circuits, in the
 * basis the cells will use (the token basis where the selection has probes), layer-circuits.ts.
 * A task of its own, between the hidden alignment and the cells: it reads every layer's attention
 * and MLP on both sides (whole matrices in the token basis), so only where it is needed.
 */
export function alignLayersByCircuits(ca: Checkpoint, cb: Checkpoint, selection: PlainSelection): [number, number][] | null {
  const { probes } = selection;
  const [a, b] = probes
    ? [new TokenBasisView(ca, probes.map((p) => p[0])), new TokenBasisView(cb, probes.map((p) => p[1]))]
    : [new ModelView(ca), new ModelView(cb)];
  try {
    return circuitLayerPairs(a, b, { a: Int32Array.from(selection.a), b: Int32Array.from(selection.b), sign: Float32Array.from(selection.sign) });
  } finally {
    a.close();
    b.close();
  }
}

/** Dimension i of A to dimension i of B, for the first min(widths) of them. */
function indexMap(widthA: number, widthB: number): DimMap {
  const map = identityMap(widthA);
  for (let i = widthB; i < widthA; i++) map.toB[i] = -1;
  return map;
}

/** What the views could not read, and how they read fused projections. */
function readingNotes(a: ModelView, b: ModelView): string[] {
  const out: string[] = [];
  for (const [view, side] of [[a, 'A'], [b, 'B']] as const) {
    for (const [name, reason] of view.unreadable) out.push(`${side}'s ${name} could not be read and was left out: ${reason}`);
    for (const note of view.fusedNotes) out.push(`${side}'s ${note}`);
  }
  return out;
}

/** Step 2, one part: a group of cells over a run of layer pairs, with its own random stream. */
export function alignedCellsPart(ca: Checkpoint, cb: Checkpoint, spec: CellsSpec): CellsPart {
  const started = Date.now();
  const { probes, blocks } = spec.selection;
  const random = new Random(spec.seed, spec.stream);
  const uniform = () => random.uniform();
  const sel: DimSelection = { a: Int32Array.from(spec.selection.a), b: Int32Array.from(spec.selection.b), sign: Float32Array.from(spec.selection.sign) };
  if (blocks) return blockBasisCells(ca, cb, spec, blocks, sel, uniform, started);
  const [a, b] = probes
    ? [new TokenBasisView(ca, probes.map((p) => p[0])), new TokenBasisView(cb, probes.map((p) => p[1]))]
    : [new ModelView(ca), new ModelView(cb)];
  try {
    const { drafts, notes } = groupCells(a, b, spec, sel, uniform);
    return { drafts, notes, unreadable: readingNotes(a, b), seconds: (Date.now() - started) / 1000 };
  } finally {
    a.close();
    b.close();
  }
}

/**
 * A part's cells in the bases of the models' own blocks: each layer pair in the basis whose probes
 * were not made from A's layer (internal-basis.ts basisFor), its nulls in the same basis; the
 * drafts then in the order of the part's pairs.
 */
function blockBasisCells(ca: Checkpoint, cb: Checkpoint, spec: CellsSpec, plans: ProbePlan[], sel: DimSelection, uniform: () => number, started: number): CellsPart {
  const drafts: CellDraft[] = [];
  const notes = new Set<string>();
  const unreadable = new Set<string>();
  plans.forEach((plan, k) => {
    const pairs = spec.pairs.filter((p) => basisFor(plans, p[0]) === k);
    if (pairs.length === 0 && !(spec.group === 'embedding and lm_head' && k === 0)) return;
    const [a, b] = [new BlockBasisView(ca, plan), new BlockBasisView(cb, plan)];
    try {
      const part = groupCells(a, b, { ...spec, pairs }, sel, uniform);
      drafts.push(...part.drafts);
      part.notes.forEach((n) => notes.add(n));
      readingNotes(a, b).forEach((n) => unreadable.add(n));
    } finally {
      a.close();
      b.close();
    }
  });
  const order = (d: CellDraft) => spec.pairs.findIndex((p) => p[0] === d.layerA && p[1] === d.layerB);
  drafts.sort((x, y) => order(x) - order(y));
  return { drafts, notes: [...notes], unreadable: [...unreadable], seconds: (Date.now() - started) / 1000 };
}

function groupCells(a: ModelView, b: ModelView, spec: CellsSpec, sel: DimSelection, uniform: () => number): { drafts: CellDraft[]; notes: string[] } {
  const { pairs, allPairs } = spec;
  switch (spec.group) {
    case 'attention': {
      const attention = a.attention();
      const attentionB = b.attention();
      if (attention && attentionB && attention.headDim === attentionB.headDim) {
        const circuitSel = atMost(sel, CIRCUIT_DIMS);
        return {
          drafts: layerCells(pairs, allPairs, circuitSel, uniform, 'attention', (v, layer) => {
            const u = attentionCircuits({ view: v, layer, dims: v === a ? circuitSel.a : circuitSel.b }, attention.headDim);
            return u ? [u] : null;
          }, a, b, (x, y) => pairStatistic(x, y)),
          notes: [],
        };
      }
      return { drafts: [], notes: attention || attentionB ? ['attention not compared: head dimensions differ or the config does not state the heads'] : [] };
    }
    case 'dense MLP': {
      const neurons = a.tensor('mlp.down', allPairs[0]?.[0] ?? 0)?.shape[1] ?? 0;
      const mlpSel = neurons > LARGE_MLP ? halfOf(sel) : sel;
      return { drafts: layerCells(pairs, allPairs, mlpSel, uniform, 'dense MLP', (v, layer) => one(mlpUnits({ view: v, layer, dims: v === a ? mlpSel.a : mlpSel.b }, 'mlp')), a, b, neuronStatistic(uniform)), notes: [] };
    }
    case 'shared experts':
      return { drafts: layerCells(pairs, allPairs, sel, uniform, 'shared experts', (v, layer) => one(mlpUnits({ view: v, layer, dims: v === a ? sel.a : sel.b }, 'shared')), a, b, neuronStatistic(uniform)), notes: [] };
    case 'router':
      return {
        drafts: layerCells(pairs, allPairs, sel, uniform, 'router', (v, layer) => one(routerUnits({ view: v, layer, dims: v === a ? sel.a : sel.b })), a, b, (x, y) => {
          const sim = similarities(x[0]!, null, y[0]!);
          return assigned(sim, x[0]!.count, y[0]!.count);
        }),
        notes: [],
      };
    case 'routed experts':
      return { drafts: [...expertCells(a, b, pairs, sel, uniform), ...upcycledCells(a, b, pairs, allPairs, sel, uniform)], notes: [] };
    case 'embedding and lm_head': {
      const drafts: CellDraft[] = [];
      for (const role of ['embedding', 'lm_head'] as const) {
        const cell = spec.tokenPairs ? tokenCell(a, b, role, spec.tokenPairs, sel, uniform) : null;
        if (cell) drafts.push(cell);
      }
      return { drafts, notes: [] };
    }
  }
}

/** The report's section from the parts (in plan order, so the result does not depend on which finished first). */
export function alignmentSection(hidden: HiddenPart, plan: AlignmentPlan, parts: CellsPart[], planNotes: string[], timings?: Record<string, number>): AlignmentSection {
  const level = { cell: CELL_LEVEL, component: COMPONENT_LEVEL };
  if (timings) {
    // Seconds of work by phase (parts may have run side by side: these add up, they are not wall time).
    timings['hidden alignment'] = Math.round(((timings['hidden alignment'] ?? 0) + hidden.seconds) * 1000) / 1000;
  }
  if (!hidden.selection) {
    return { hidden: hidden.hidden, layerPairing: 'index', components: [], level, nulls: NULLS, dimensionsCompared: 0, notes: ['the hidden dimensions could not be put in correspondence', ...hidden.unreadable] };
  }
  const notes = new Set<string>(hidden.unreadable);
  for (const p of parts) for (const n of [...p.notes, ...p.unreadable]) notes.add(n);
  for (const n of planNotes) notes.add(n);
  const drafts = parts.flatMap((p) => p.drafts);
  const components = summarize(drafts.filter((d) => !d.observed || !withoutInformation(d)));
  const blind = new Map<AlignedComponent, number>();
  for (const d of drafts) if (d.observed && withoutInformation(d)) blind.set(d.component, (blind.get(d.component) ?? 0) + 1);
  for (const [component, count] of blind) {
    notes.add(`${component}: ${count} cell(s) left out: the matching gives the same value under every permutation (constant units, e.g. all zeros), so they tell neither way`);
  }
  return {
    hidden: hidden.hidden,
    layerPairing: plan.pairing,
    components,
    level,
    nulls: NULLS,
    dimensionsCompared: hidden.selection.a.length,
    notes: [...notes],
  };
}

/** Adds each part's seconds to its group's timing. */
export function addCellTimings(timings: Record<string, number>, specs: CellsSpec[], parts: (CellsPart | null)[]): void {
  specs.forEach((spec, i) => {
    const part = parts[i];
    if (part) timings[spec.group] = Math.round(((timings[spec.group] ?? 0) + part.seconds) * 1000) / 1000;
  });
}

const NULLS = `per cell: A's layer against up to ${CROSS_LAYER_NULLS} other layers of B under the same alignment, plus A's dimensions shuffled among dimensions of similar energy (${MIN_NULL_DRAWS} draws in all); experts: mismatched experts; embedding and lm_head: mismatched tokens. p-value: Student's t predictive test on the draws. Layer and expert cells read their draws sequentially: ${EARLY_DRAWS} first, the rest only where more could change the reading (p ≤ ${EARLY_CELL_P} stops it related, every channel at p ≥ ${CELL_FUTILITY_P} unrelated; nullDraws gives each cell's count)`;

/** Every other selected dimension. */
function halfOf(sel: DimSelection): DimSelection {
  const keep = (x: Int32Array | Float32Array) => x.filter((_, i) => i % 2 === 0);
  return { a: keep(sel.a) as Int32Array, b: keep(sel.b) as Int32Array, sign: keep(sel.sign) as Float32Array };
}

/** At most `max` of the selected dimensions, evenly spaced. */
function atMost(sel: DimSelection, max: number): DimSelection {
  if (sel.a.length <= max) return sel;
  const keep = evenlySpaced(sel.a.length, max);
  return { a: Int32Array.from(keep, (i) => sel.a[i]!), b: Int32Array.from(keep, (i) => sel.b[i]!), sign: Float32Array.from(keep, (i) => sel.sign[i]!) };
}

function one(u: UnitBuilder | null): UnitBuilder[] | null {
  return u ? [u] : null;
}

/** B's layer for each of A's: by index when depths agree, else the layer alignment or relative depth. */
function layerPairs(a: ModelView, b: ModelView, given: [number, number][] | null): { pairs: [number, number][]; pairing: AlignmentSection['layerPairing'] } {
  if (a.layers.length === b.layers.length) return { pairs: a.layers.map((l, i) => [l, b.layers[i]!]), pairing: 'index' };
  if (given && given.length) {
    // One cell per layer of B (its aligned layer of A); A's layers may repeat (duplicated layers).
    return { pairs: given.filter(([la, lb]) => a.layers.includes(la) && b.layers.includes(lb)), pairing: 'layer alignment' };
  }
  return {
    pairs: b.layers.map((lb, j) => [a.layers[Math.min(a.layers.length - 1, Math.round((j * a.layers.length) / b.layers.length))]!, lb]),
    pairing: 'relative depth',
  };
}

type Statistic = (x: Units[], y: Units[]) => Observed;

/** Heads: the mean of their assigned similarities (one list of units per kind). */
function pairStatistic(x: Units[], y: Units[]): { statistic: number; sameIndexShare: number } {
  const parts = x.map((ux, i) => assigned(similarities(ux, null, y[i]!), ux.count, y[i]!.count));
  return { statistic: parts.reduce((s, p) => s + p.statistic, 0) / parts.length, sameIndexShare: parts.reduce((s, p) => s + p.sameIndexShare, 0) / parts.length };
}

/** Neurons: a seeded sample of A's matched to their nearest neighbour among all of B's. */
function neuronStatistic(uniform: () => number): Statistic & { chosen(count: number): Int32Array } {
  const chosenFor = new Map<number, Int32Array>();
  const chosenOf = (count: number) => {
    const k = count > LARGE_MLP ? NEURONS_PER_CELL / 2 : NEURONS_PER_CELL;
    if (!chosenFor.has(count)) chosenFor.set(count, freezeOperand(Int32Array.from(shuffled(count, uniform).slice(0, Math.min(k, count))).sort()));
    return chosenFor.get(count)!;
  };
  const statistic = (x: Units[], y: Units[]): Observed => {
    const ux = x[0]!;
    const chosen = chosenOf(ux.count);
    const uy = y[0]!;
    const { statistic, sameIndexShare, matches } = nearestNeighbour(similarities(ux, chosen, uy), chosen.length, uy.count, chosen);
    const magnitude = ux.magnitude && uy.magnitude ? magnitudeCorrelation(ux.magnitude, chosen, uy.magnitude, matches) : null;
    return { statistic, sameIndexShare, magnitude };
  };
  return Object.assign(statistic, { chosen: chosenOf });
}

/** Dimensions shuffled within strata of similar energy: keeps large dimensions with large ones. */
function stratifiedShuffle(energy: Float64Array, uniform: () => number, stratum = 8): Int32Array {
  const order = Array.from(energy.keys()).sort((x, y) => energy[x]! - energy[y]!);
  const out = new Int32Array(energy.length);
  for (let s = 0; s < order.length; s += stratum) {
    const block = order.slice(s, s + stratum);
    const p = shuffled(block.length, uniform);
    block.forEach((d, i) => { out[d] = block[p[i]!]!; });
  }
  return out;
}

/** What layerCells keeps between its two stages (A's loaded matrices, B's units), beyond which it reads again. */
const CELL_CACHE_BYTES = 256 * 2 ** 20;

interface PreparedCell {
  draft: CellDraft;
  observed: Units[];
  /** A's dimension shuffles, all drawn up front (the random stream does not depend on which cells stop early). */
  shuffles: Int32Array[];
  /** Units of the shuffles built so far (the first stage's, then the rest for an open cell). */
  shuffled: Units[][];
  /** The first `firstCross` of `cross` (B's other layers) are first-stage draws, as are `shuffled` at first. */
  cross: number[];
  firstCross: number;
  /** A's units of the layer, kept for the second stage while within CELL_CACHE_BYTES. */
  builders: UnitBuilder[] | null;
  only: Int32Array | null;
}

/**
 * Cells for one component over layers: A's units for the observed alignment and each dimension
 * shuffle are cut per layer of A; B is read once per layer and compared with every A layer that
 * needs it (its own pair, or a null partner).
 *
 * The null is read sequentially, as the routed-expert cells' is: a first stage gives each cell
 * EARLY_DRAWS draws, shuffles and other layers in the proportion of the whole null; a
 * second gives the rest only to cells whose reading more draws could still change (cellSettled).
 * A derivative's cells, far beyond their null, stop at the first stage. What the first stage
 * loaded is kept for the second up to CELL_CACHE_BYTES and read again beyond.
 */
function layerCells(
  pairs: [number, number][], allPairs: [number, number][], sel: DimSelection, uniform: () => number, component: AlignedComponent,
  load: (view: ModelView, layer: number) => UnitBuilder[] | null, a: ModelView, b: ModelView, statistic: Statistic & { chosen?: (count: number) => Int32Array },
): CellDraft[] {
  const layersB = [...new Set(allPairs.map((p) => p[1]))].sort((x, y) => x - y);
  const crossFor = (la: number, lb: number) => {
    // Not B's layers paired with the same layer of A (a duplicated layer is related to its twin).
    const twins = new Set(allPairs.filter((p) => p[0] === la).map((p) => p[1]));
    const others = layersB.filter((m) => m !== lb && !twins.has(m)).sort((x, y) => Math.abs(x - lb) - Math.abs(y - lb));
    // Prefer layers at distance 2 or more (neighbours of one model can share a little).
    const far = others.filter((m) => Math.abs(m - lb) >= 2);
    return [...far, ...others.filter((m) => Math.abs(m - lb) < 2)].slice(0, CROSS_LAYER_NULLS);
  };
  let kept = 0;
  const keep = (bytes: number) => { if (kept + bytes > CELL_CACHE_BYTES) return false; kept += bytes; return true; };
  // Units on each list of dimensions, one builder's cuts after another:
  // the thread's cutter lays a builder's matrices out once for all of them, not once per draw.
  const cut = (builders: UnitBuilder[], dimsList: Int32Array[], only: Int32Array | null): Units[][] => {
    const byBuilder = builders.map((u) => dimsList.map((dims) => u.build(dims, null, only)));
    return dimsList.map((_, d) => byBuilder.map((built) => built[d]!));
  };
  const prepared: PreparedCell[] = [];
  for (const [la, lb] of pairs) {
    const builders = load(a, la);
    if (!builders) continue;
    // A statistic that reads a sample of A's units (neurons) gets only those built, for every draw.
    const only = statistic.chosen && builders.length === 1 ? statistic.chosen(builders[0]!.count) : null;
    const cross = crossFor(la, lb);
    const count = Math.max(2, MIN_NULL_DRAWS - cross.length);
    const energy = builders.map((u) => u.energy(sel.a)).reduce((s, e) => s.map((x, i) => x + e[i]!));
    const shuffles = Array.from({ length: count }, () => Int32Array.from(stratifiedShuffle(energy, uniform), (k) => sel.a[k]!));
    const firstCross = Math.min(cross.length, Math.ceil((EARLY_DRAWS * cross.length) / (cross.length + count)));
    // The observed units, and the first stage's shuffles.
    const [observed, ...shuffled] = cut(builders, [sel.a, ...shuffles.slice(0, Math.max(0, Math.min(count, EARLY_DRAWS - firstCross)))], only);
    const p: PreparedCell = {
      draft: { component, layerA: la, layerB: lb, observed: null, draws: [] },
      observed: observed!, shuffles, shuffled, cross, firstCross, builders: null, only,
    };
    // Counted twice: the cutter holds a copy of the matrices laid out for its kernel.
    if (keep(2 * builders.reduce((s, u) => s + u.bytes, 0))) p.builders = builders;
    prepared.push(p);
  }
  const cacheB = new Map<number, Units[]>();
  const unitsOfB = (m: number, stage: 1 | 2): Units[] | null => {
    const hit = cacheB.get(m);
    if (hit) return hit;
    const builders = load(b, m);
    if (!builders) return null;
    const units = builders.map((u) => u.build(sel.b, sel.sign));
    if (stage === 1 && keep(units.reduce((s, u) => s + u.data.byteLength, 0))) cacheB.set(m, units);
    return units;
  };
  const visit = (cells: PreparedCell[], stage: 1 | 2, crossOf: (p: PreparedCell) => number[], shufflesFrom: (p: PreparedCell) => number) => {
    for (const m of layersB) {
      const needed = cells.filter((p) => (p.draft.layerB === m && p.shuffled.length > shufflesFrom(p)) || (stage === 1 && p.draft.layerB === m) || crossOf(p).includes(m));
      if (needed.length === 0) continue;
      const unitsB = unitsOfB(m, stage);
      if (!unitsB) continue;
      for (const p of needed) {
        if (unitsB.some((u, i) => u.width !== p.observed[i]!.width)) continue;
        if (p.draft.layerB === m) {
          if (stage === 1) p.draft.observed = statistic(p.observed, unitsB);
          for (const draw of p.shuffled.slice(shufflesFrom(p))) addDraw(p.draft, statistic(draw, unitsB));
        }
        if (crossOf(p).includes(m)) addDraw(p.draft, statistic(p.observed, unitsB));
      }
    }
  };
  // Stage 1: the observed value, the first shuffles and the first other layers.
  visit(prepared, 1, (p) => p.cross.slice(0, p.firstCross), () => 0);
  // Stage 2: the rest of the null, for the cells not settled.
  // A cell short of its first-stage draws (a null layer of B unreadable) is not judged early.
  const open = prepared.filter((p) => p.draft.observed !== null && !(p.draft.draws.length >= EARLY_DRAWS && cellSettled(p.draft)));
  const firstShuffles = new Map(open.map((p) => [p, p.shuffled.length]));
  for (const p of open) {
    const builders = p.builders ?? load(a, p.draft.layerA!);
    if (builders) p.shuffled.push(...cut(builders, p.shuffles.slice(p.shuffled.length), p.only));
  }
  for (const p of prepared) p.builders = null;
  visit(open, 2, (p) => p.cross.slice(p.firstCross), (p) => firstShuffles.get(p)!);
  return prepared.map((p) => p.draft).filter((d) => d.observed !== null);
}

/** A cell's reading cannot change with more draws: its p-value (both channels where it has two) far beyond the null, or each channel too close to it. */
function cellSettled(draft: CellDraft): boolean {
  const { pValue, directionPValue, magnitudePValue } = cellPValues(draft);
  return pValue <= EARLY_CELL_P || (directionPValue >= CELL_FUTILITY_P && (magnitudePValue === null || magnitudePValue >= CELL_FUTILITY_P));
}

/** A null draw into its cell: the direction statistic, and the magnitude correlation where there is one. */
function addDraw(draft: CellDraft, drawn: Observed): void {
  draft.draws.push(drawn.statistic);
  if (typeof drawn.magnitude === 'number') (draft.magnitudeDraws ??= []).push(drawn.magnitude);
}

/** Routed experts: pairs found by the router under the alignment, each against mismatched experts. */
function expertCells(a: ModelView, b: ModelView, pairs: [number, number][], sel: DimSelection, uniform: () => number): CellDraft[] {
  const drafts: CellDraft[] = [];
  const stat = neuronStatistic(uniform);
  for (const [la, lb] of pairs) {
    const expertsA = a.experts('expert.down', la);
    const expertsB = b.experts('expert.down', lb);
    if (expertsA.length < 2 || expertsB.length < 2) continue;
    const ra = routerUnits({ view: a, layer: la, dims: sel.a });
    const rb = routerUnits({ view: b, layer: lb, dims: sel.b });
    let toB: number[];
    if (ra && rb && ra.count === expertsA.length && rb.count === expertsB.length) {
      const x = ra.build(sel.a, null);
      const y = rb.build(sel.b, sel.sign);
      const sim = similarities(x, null, y);
      toB = maximizeAssignmentFlat(sim, x.count, y.count).rowToCol;
    } else {
      toB = expertsA.map((e) => (e < expertsB.length ? e : -1));
    }
    const picked = [...shuffled(expertsA.length, uniform)].filter((e) => toB[e]! >= 0).slice(0, EXPERTS_PER_LAYER);
    // One set of mismatched experts of B serves the layer's cells (each leaves out its own match):
    // B's experts are read once per layer, not once per cell.
    const candidates = [...shuffled(expertsB.length, uniform)].slice(0, MIN_NULL_DRAWS + EXPERTS_PER_LAYER);
    const builtB = new Map<number, Units[] | null>();
    const unitsOf = (e: number) => {
      if (!builtB.has(e)) { const u = mlpUnits({ view: b, layer: lb, expert: e, dims: sel.b }, 'expert'); builtB.set(e, u ? [u.build(sel.b, sel.sign)] : null); }
      return builtB.get(e)!;
    };
    for (const ea of picked) {
      const ua = mlpUnits({ view: a, layer: la, expert: ea, dims: sel.a }, 'expert');
      if (!ua) continue;
      const eb = toB[ea]!;
      const others = candidates.filter((e) => e !== eb).slice(0, MIN_NULL_DRAWS);
      const yb = unitsOf(eb);
      if (!yb || yb[0]!.width !== ua.widthFor(sel.a)) continue;
      // Only the neurons the statistic reads (drawn here, where the statistic would draw them first).
      const x = [ua.build(sel.a, null, stat.chosen(ua.count))];
      const draft: CellDraft = { component: 'routed experts', layerA: la, layerB: lb, expertA: ea, expertB: eb, observed: stat(x, yb), draws: [] };
      for (const e of others) {
        const y = unitsOf(e);
        if (y) addDraw(draft, stat(x, y));
        if (draft.draws.length === EARLY_DRAWS && cellSettled(draft)) break;
      }
      drafts.push(draft);
    }
  }
  return drafts;
}

/**
 * Upcycling (dense to MoE, or back): the experts of the MoE side against the dense side's MLP,
 * each expert's neurons matched to their nearest dense neurons, against the dense side's other
 * layers and energy-stratified dimension shuffles.
 */
function upcycledCells(a: ModelView, b: ModelView, pairs: [number, number][], allPairs: [number, number][], sel: DimSelection, uniform: () => number): CellDraft[] {
  const dense = (v: ModelView) => v.layers.some((l) => v.tensor('mlp.down', l) !== null);
  const moe = (v: ModelView) => v.layers.some((l) => v.experts('expert.down', l).length > 0);
  let side: { moe: ModelView; dense: ModelView; moeDims: Int32Array; moeSign: Float32Array | null; denseDims: Int32Array; denseSign: Float32Array | null; moeIsA: boolean };
  if (dense(a) && !moe(a) && moe(b) && !dense(b)) side = { moe: b, dense: a, moeDims: sel.b, moeSign: sel.sign, denseDims: sel.a, denseSign: null, moeIsA: false };
  else if (moe(a) && !dense(a) && dense(b) && !moe(b)) side = { moe: a, dense: b, moeDims: sel.a, moeSign: null, denseDims: sel.b, denseSign: sel.sign, moeIsA: true };
  else return [];
  const stat = neuronStatistic(uniform);
  const denseUnits = new Map<number, Units[] | null>();
  const unitsAt = (layer: number) => {
    if (!denseUnits.has(layer)) { const u = mlpUnits({ view: side.dense, layer, dims: side.denseDims }, 'mlp'); denseUnits.set(layer, u ? [u.build(side.denseDims, side.denseSign)] : null); }
    return denseUnits.get(layer)!;
  };
  const denseLayers = [...new Set(allPairs.map(([la, lb]) => (side.moeIsA ? lb : la)))];
  const drafts: CellDraft[] = [];
  for (const [la, lb] of pairs) {
    const [lm, ld] = side.moeIsA ? [la, lb] : [lb, la];
    const base = unitsAt(ld);
    if (!base) continue;
    for (const e of [...shuffled(side.moe.experts('expert.down', lm).length, uniform)].slice(0, EXPERTS_PER_LAYER)) {
      const builder = mlpUnits({ view: side.moe, layer: lm, expert: e, dims: side.moeDims }, 'expert');
      if (!builder) continue;
      const x = [builder.build(side.moeDims, side.moeSign)];
      if (x[0]!.width !== base[0]!.width) continue;
      const draft: CellDraft = { component: 'routed experts', layerA: la, layerB: lb, ...(side.moeIsA ? { expertA: e } : { expertB: e }), observed: stat(x, base), draws: [] };
      for (const u of denseLayers.filter((m) => m !== ld).slice(0, CROSS_LAYER_NULLS).map(unitsAt)) if (u) addDraw(draft, stat(x, u));
      const energy = builder.energy(side.moeDims);
      while (draft.draws.length < MIN_NULL_DRAWS) {
        const p = stratifiedShuffle(energy, uniform);
        addDraw(draft, stat([builder.build(Int32Array.from(p, (k) => side.moeDims[k]!), side.moeSign)], base));
      }
      drafts.push(draft);
    }
  }
  return drafts;
}

/** Embedding or lm_head: rows of shared tokens, matched row for row, against mismatched tokens. */
function tokenCell(a: ModelView, b: ModelView, role: 'embedding' | 'lm_head', tokenPairs: [number, number][], sel: DimSelection, uniform: () => number): CellDraft | null {
  const pick = [...shuffled(tokenPairs.length, uniform)].slice(0, TOKEN_ROWS).sort((x, y) => x - y).map((k) => tokenPairs[k]!);
  const ua = tokenUnits(a, role, pick.map((p) => p[0]));
  const ub = tokenUnits(b, role, pick.map((p) => p[1]));
  if (!ua || !ub) return null;
  const x = ua.build(sel.a, null);
  const y = ub.build(sel.b, sel.sign);
  const n = x.count;
  const rowDot = (i: number, j: number) => {
    let s = 0;
    for (let k = 0; k < x.width; k++) s += x.data[i * x.width + k]! * y.data[j * y.width + k]!;
    return s;
  };
  let observed = 0;
  for (let i = 0; i < n; i++) observed += rowDot(i, i);
  const draws: number[] = [];
  for (let d = 0; d < MIN_NULL_DRAWS; d++) {
    const p = shuffled(n, uniform);
    let s = 0;
    for (let i = 0; i < n; i++) s += rowDot(i, p[i] === i ? p[(i + 1) % n]! : p[i]!);
    draws.push(s / n);
  }
  return { component: role, layerA: null, layerB: null, observed: { statistic: observed / n, sameIndexShare: 1 }, draws };
}

/**
 * A cell whose null draws and observed value are all the same number: its units are constant (all
 * zeros, say), and any permutation matches them equally well. Its p-value (0.5 by symmetry) would
 * read as "unrelated" on no information; such a cell is left out, and its component, if nothing
 * else of it is, is not compared. Real weights always spread the draws.
 */
function withoutInformation(d: CellDraft): boolean {
  const same = (xs: readonly number[], v: number) => xs.length > 0 && xs.every((x) => Math.abs(x - v) <= 1e-12);
  const direction = same(d.draws, d.observed!.statistic);
  const mag = d.observed!.magnitude;
  const magnitude = typeof mag !== 'number' || (d.magnitudeDraws ?? []).length === 0 || same(d.magnitudeDraws!, mag);
  return direction && magnitude;
}

/** A cell's test on its draws: the direction, the magnitude channel where it has one (against the same null draws), and both combined. */
function cellPValues(d: CellDraft): { test: ReturnType<typeof predictivePValue>; magTest: ReturnType<typeof predictivePValue> | null; pValue: number; directionPValue: number; magnitudePValue: number | null } {
  const test = predictivePValue(d.observed!.statistic, d.draws, SD_FLOOR);
  const mag = d.observed!.magnitude;
  const magDraws = d.magnitudeDraws ?? [];
  const magTest = typeof mag === 'number' && magDraws.length >= MIN_MAGNITUDE_DRAWS ? predictivePValue(mag, magDraws, MAGNITUDE_SD_FLOOR) : null;
  const pValue = magTest ? fisherCombine([test.pValue, magTest.pValue]) : test.pValue;
  return { test, magTest, pValue, directionPValue: test.pValue, magnitudePValue: magTest?.pValue ?? null };
}

function summarize(drafts: CellDraft[]): AlignedComponentResult[] {
  const order: AlignedComponent[] = ['embedding', 'attention', 'dense MLP', 'router', 'shared experts', 'routed experts', 'lm_head'];
  const statistics: Record<AlignedComponent, string> = {
    embedding: 'mean centered cosine of the rows of shared tokens, under the hidden alignment',
    attention: `mean centered cosine of query heads under the best one-to-one assignment, each head as its QK (W_qᵀW_k) and OV (W_oW_v) circuits on ${CIRCUIT_DIMS} of the aligned dimensions, which no turn or scale of its q/k RoPE planes and no rotation of its values changes`,
    'dense MLP': `mean over ${NEURONS_PER_CELL} neurons of A of the best centered cosine with any neuron of B (gate and up rows with the down column); with it, the correlation of the matched neurons' magnitudes (log‖gate‖ + log‖up‖ + log‖down‖), each against the same nulls, combined by Fisher's method`,
    router: 'mean centered cosine of router rows under the best one-to-one assignment of experts',
    'shared experts': `mean over ${NEURONS_PER_CELL} neurons of A of the best centered cosine with any neuron of B, and the matched neurons' magnitude correlation, combined`,
    'routed experts': 'neurons of an expert of A against the expert of B its router row is assigned to (upcycling: an expert\'s neurons against the other model\'s dense MLP), directions and magnitudes combined',
    lm_head: 'mean centered cosine of the rows of shared tokens (effective lm_head), under the hidden alignment',
  };
  const out: AlignedComponentResult[] = [];
  for (const component of order) {
    const cells: AlignedCell[] = drafts.filter((d) => d.component === component && d.observed).map((d) => {
      const { test, magTest, pValue } = cellPValues(d);
      const mag = d.observed!.magnitude;
      return {
        layerA: d.layerA, layerB: d.layerB, ...(d.expertA !== undefined ? { expertA: d.expertA } : {}), ...(d.expertB !== undefined ? { expertB: d.expertB } : {}),
        statistic: round(d.observed!.statistic), nullMean: round(test.mean), nullSd: round(test.sd), nullDraws: d.draws.length,
        pValue, related: pValue <= CELL_LEVEL, sameIndexShare: round(d.observed!.sameIndexShare),
        magnitude: magTest ? round(mag!) : null, magnitudeNullMean: magTest ? round(magTest.mean) : null, magnitudePValue: magTest ? magTest.pValue : null,
        directionPValue: test.pValue,
      };
    });
    if (cells.length === 0) continue;
    const related = cells.filter((c) => c.related).length;
    const share = related / cells.length;
    out.push({
      component, statistic: statistics[component], cells, related,
      pValue: fisherCombine(cells.map((c) => c.pValue)),
      medianStatistic: median(cells.map((c) => c.statistic)),
      medianNull: median(cells.map((c) => c.nullMean)),
      sameIndexShare: median(cells.map((c) => c.sameIndexShare)),
      finding: share >= 0.8 ? 'related' : related === 0 ? 'unrelated' : 'mixed',
    });
  }
  return out;
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
