/**
 * The architecture evidence: two configs → normalized descriptions, parameter counts, the
 * field-by-field diff, which tensor groups can be compared at all, and caveats. Pure: the caller
 * reads the files (loadConfig) and passes what it found.
 */
import { compareRoleGroups, type ComparableGroup } from './comparable.ts';
import { estimateCompute, type ComputeEstimate } from './compute.ts';
import { diffArchitectures, runLength, type FieldDiff } from './diff.ts';
import { checkIndexSize, type IndexSizeCheck } from './index-size.ts';
import type { CheckpointIndexInfo } from './load.ts';
import { normalizeConfig } from './normalize.ts';
import { countParams } from './params.ts';
import { checkParamsAgainstTensors, countParamsFromTensors, type ParamCheck } from './tensor-params.ts';
import type { NormalizedArch, ParamBreakdown } from './types.ts';
import { runSteps, type Steps } from '../steps.ts';

export { loadConfig, loadCheckpointIndex, parseCheckpointIndex, configFileOf, holdsWeights, type CheckpointIndexInfo } from './load.ts';
export { normalizeConfig } from './normalize.ts';
export { countParams } from './params.ts';
export { countParamsFromTensors, checkParamsAgainstTensors, totalTensorElements, type TensorParamCount, type ParamCheck } from './tensor-params.ts';
export { parseTokenCount, estimateCompute, type ComputeEstimate } from './compute.ts';
export { diffArchitectures, type FieldDiff } from './diff.ts';
export { compareRoleGroups, type ComparableGroup, type ComparableStatus } from './comparable.ts';
export { checkIndexSize, type IndexSizeCheck } from './index-size.ts';
export { renderArchitectureText } from './summary.ts';
export type { NormalizedArch, ParamCount, ParamBreakdown } from './types.ts';

export interface AnalyzeOptions {
  /** Names for the two configs in messages and errors (usually their paths). */
  labelA?: string;
  labelB?: string;
  /** Training tokens D for the 6·N·D compute estimate. */
  tokens?: number;
  /** model.safetensors.index.json found beside each config. */
  indexA?: CheckpointIndexInfo | null;
  indexB?: CheckpointIndexInfo | null;
  /** Tensor names and shapes, where the weights are at hand. */
  tensorsA?: readonly { name: string; shape: readonly number[] }[] | null;
  tensorsB?: readonly { name: string; shape: readonly number[] }[] | null;
}

/** One model in the section: the normalized description with per-layer lists shortened, and its counts. */
export interface ModelArchitecture extends Omit<NormalizedArch, 'mixers' | 'ffns'> {
  source: string | null;
  /** Run-length summaries of the per-layer token mixers and FFNs. */
  mixerLayout: string;
  ffnLayout: string;
  totalParams: number | null;
  activeParams: number | null;
  activeParamsNonEmbedding: number | null;
  params: {
    breakdown: ParamBreakdown | null;
    mtpParams: number;
    visionParams: number | null;
    checkpointParams: number | null;
    notes: string[];
  };
  /** The checkpoint's recorded byte size against the config's count (when an index was found). */
  indexCheck: IndexSizeCheck | null;
  /** The tensors' element counts against the config's count (when weights were read). */
  tensorCheck: ParamCheck | null;
}

export type ArchitectureRelation = 'identical' | 'same-shapes' | 'partly-comparable' | 'incomparable';

export interface ArchitectureSection {
  a: ModelArchitecture;
  b: ModelArchitecture;
  diffs: FieldDiff[];
  /** Labels of the fields both configs agree on. */
  identical: string[];
  comparable: ComparableGroup[];
  summary: {
    relation: ArchitectureRelation;
    sameFamily: boolean;
    /** Differences that change tensor shapes. */
    shapeDiffs: number;
    comparableGroups: number;
    partialGroups: number;
    notComparableGroups: number;
  };
  compute: { tokens: number; formula: string; a: ComputeEstimate; b: ComputeEstimate } | null;
  notes: string[];
}

const CAVEATS = [
  'Identical or near-identical configs are weak evidence: architectures are copied legitimately, and many independent models share Llama\'s exact shapes.',
  'Different shapes do not prove independence: layers can be added or pruned, heads regrouped, vocabularies extended and experts upcycled or pruned; the tensors whose shapes still match can be compared.',
];

export function analyzeArchitecture(configA: unknown, configB: unknown, options: AnalyzeOptions = {}): ArchitectureSection {
  return runSteps(analyzeArchitectureSteps(configA, configB, options));
}

/** The same, in steps: each model's tensor count is tens of milliseconds at 19k tensors. */
export function* analyzeArchitectureSteps(configA: unknown, configB: unknown, options: AnalyzeOptions = {}): Steps<ArchitectureSection> {
  const archA = normalizeConfig(configA, options.labelA ?? 'config A');
  const archB = normalizeConfig(configB, options.labelB ?? 'config B');
  const a = describe(archA, options.labelA ?? null, options.indexA ?? null, options.tensorsA ?? null);
  yield;
  const b = describe(archB, options.labelB ?? null, options.indexB ?? null, options.tensorsB ?? null);
  yield;
  const { diffs, identical } = diffArchitectures(archA, archB);
  const comparable = compareRoleGroups(archA, archB);

  const count = (status: string) => comparable.filter((g) => g.status === status).length;
  const meaningful = diffs.filter((d) => d.field !== 'dtype' && d.field !== 'quantization');
  const relation: ArchitectureRelation = meaningful.length === 0
    ? 'identical'
    : comparable.every((g) => g.status === 'comparable')
      ? 'same-shapes'
      : count('comparable') + count('partial') > 0 ? 'partly-comparable' : 'incomparable';

  const notes = [...CAVEATS];
  if (relation === 'identical') notes.push('The two configs describe the same architecture: every tensor can be compared, and only the weights can tell derivation from a copied design.');
  if (archA.family !== archB.family && relation === 'same-shapes') {
    notes.push(`Different families (${archA.familyLabel}, ${archB.familyLabel}) with identical shapes: a conversion between layouts keeps weights comparable.`);
  }
  for (const [side, arch, model] of [['A', archA, a], ['B', archB, b]] as const) {
    for (const assumption of arch.assumptions) notes.push(`${side}: ${assumption}.`);
    for (const note of model.params.notes) notes.push(`${side}: ${note}.`);
    if (model.indexCheck?.note) notes.push(`${side}: ${model.indexCheck.note}.`);
    for (const note of model.tensorCheck?.notes ?? []) notes.push(`${side}: ${note}.`);
    if (model.tensorCheck && model.tensorCheck.difference !== null && model.tensorCheck.difference !== 0) {
      notes.push(`${side}: the tensors hold ${model.tensorCheck.tensorParams.toLocaleString('en-US')} parameters, the config predicts ${model.tensorCheck.configParams!.toLocaleString('en-US')}.`);
    }
    if (arch.family === 'unknown') notes.push(`${side}: model_type ${JSON.stringify(arch.modelType)} is not a known family: read as a Llama-style decoder, so its counts are indicative only.`);
  }

  let compute: ArchitectureSection['compute'] = null;
  if (options.tokens !== undefined) {
    compute = {
      tokens: options.tokens,
      formula: '6 · N_active · D',
      a: estimateCompute(a, options.tokens),
      b: estimateCompute(b, options.tokens),
    };
  }

  return {
    a,
    b,
    diffs,
    identical,
    comparable,
    summary: {
      relation,
      sameFamily: archA.family === archB.family,
      shapeDiffs: diffs.filter((d) => d.effect === 'shapes').length,
      comparableGroups: count('comparable'),
      partialGroups: count('partial'),
      notComparableGroups: count('not-comparable'),
    },
    compute,
    notes,
  };
}

function describe(
  arch: NormalizedArch,
  source: string | null,
  index: CheckpointIndexInfo | null,
  tensors: readonly { name: string; shape: readonly number[] }[] | null,
): ModelArchitecture {
  const params = countParams(arch);
  const { mixers, ffns, ...rest } = arch;
  return {
    source,
    ...rest,
    mixerLayout: runLength(mixers),
    ffnLayout: runLength(ffns),
    totalParams: params.totalParams,
    activeParams: params.activeParams,
    activeParamsNonEmbedding: params.activeParamsNonEmbedding,
    params: {
      breakdown: params.breakdown,
      mtpParams: params.mtpParams,
      visionParams: params.visionParams,
      checkpointParams: params.checkpointParams,
      notes: params.notes,
    },
    indexCheck: index ? checkIndexSize(arch, params, index) : null,
    tensorCheck: tensors ? checkParamsAgainstTensors(params, countParamsFromTensors(tensors, { numLayers: arch.numLayers })) : null,
  };
}
