/**
 * The `weights` section of the report: one entry per matched tensor (fields fixed by DESIGN.md),
 * and pooled figures per layer and per role, all merged in tensor order.
 */
import type { HashAlgorithm } from '../hash/content-hash.ts';
import type { KernelName } from '../kernels/kernel.ts';
import type { MatchedTensor } from '../roles/match.ts';
import type { RoleGroup } from '../roles/roles.ts';
import type { ItemResult } from '../exec/run-task.ts';
import { elementCount } from '../checkpoint/dtype.ts';
import { sampledElements } from '../plan/plan.ts';
import type { SamplePlan } from '../sample/blocks.ts';
import { around, INTERVAL_STATS, stratifiedIntervals, sumsOf, type StatName, type Stratum } from '../sample/estimate.ts';
import { expertsRead, expertStratumOf, planExpertStrata, type ExpertStratum } from '../sample/experts.ts';
import { emptyMoments, finalizeMoments, mergeMoments, type Moments } from '../stats/moments.ts';
import { runStepsPaced, threadTurns } from '../exec/next-turn.ts';
import { runSteps, type Steps } from '../steps.ts';

export interface TensorReport {
  name: string | null;
  nameB: string | null;
  role: string;
  group: RoleGroup;
  layer: number | null;
  expert: number | null;
  shape: number[] | null;
  shapeB: number[] | null;
  dtypeA: string | null;
  dtypeB: string | null;
  n: number | null;
  cosine: number | null;
  centeredCosine: number | null;
  relL2: number | null;
  mse: number | null;
  maxAbsDiff: number | null;
  /** Byte-identical (same dtype, shape and content hash). */
  identical: boolean | null;
  hashA: string | null;
  hashB: string | null;
  nanA: number;
  infA: number;
  nanB: number;
  infB: number;
  note: string | null;
  /** Confidence intervals [low, high]; zero-width when the tensor was read whole. Null when the value is. */
  ci: Record<StatName, [number, number] | null>;
  /** Sampled mode: what was read of this tensor; null when it was read whole (or not at all). */
  sampled: { blocks: number; totalBlocks: number; rowsPerBlock: number; fraction: number } | null;
  /**
   * Sampled mode, routed experts sampled as one stratum per layer and role: which, and whether this
   * expert was read. One not read has no values of its own (n null): it is estimated through its
   * stratum (weights.expertStrata and the layer's and role's pooled figures), never counted as compared.
   */
  stratum: { layer: number; role: string; read: boolean } | null;
}

/** One stratum of sampled experts: its estimate and interval stand for all of its experts. */
export interface ExpertStratumReport {
  layer: number;
  role: string;
  experts: number;
  expertsRead: number;
  /** Row blocks (the stratum's units) drawn, of all of its experts' blocks. */
  blocks: number;
  totalBlocks: number;
  /** Share of the stratum's elements read. */
  fraction: number;
  cosine: number | null;
  centeredCosine: number | null;
  relL2: number | null;
  ci: Record<StatName, [number, number] | null>;
}

export interface PooledReport {
  tensors: number;
  identical: number;
  n: number;
  /** Statistics of all compared tensors of the group taken as one concatenated vector. */
  cosine: number | null;
  centeredCosine: number | null;
  relL2: number | null;
  /** Plain mean and minimum of the per-tensor values. */
  meanCosine: number | null;
  minCosine: number | null;
  meanCenteredCosine: number | null;
  minCenteredCosine: number | null;
  /** Intervals of the pooled values (stratified over the group's tensors); zero-width when all were read whole. */
  ci: Record<StatName, [number, number] | null>;
}

export interface SamplingSettings {
  fraction: number;
  confidence: number;
  seed: number;
  targetHalfwidth: number | null;
}

export interface WeightsSection {
  mode: 'exact' | 'sampled';
  /** Sampled mode: the settings and how much was read (elements of compared pairs). */
  sampling: (SamplingSettings & { elementsRead: number; elementsTotal: number; fractionRead: number }) | null;
  confidence: number;
  kernel: KernelName;
  hashAlgorithm: HashAlgorithm | null;
  summary: {
    tensorsA: number;
    tensorsB: number;
    compared: number;
    identical: number;
    notCompared: number;
    onlyA: number;
    onlyB: number;
    failed: number;
    elementsCompared: number;
    /** Sampled experts not read, estimated through their stratum. */
    estimated: number;
  };
  tensors: TensorReport[];
  layers: (PooledReport & { layer: number })[];
  roles: (PooledReport & { role: string; group: RoleGroup })[];
  /** Sampled mode: the strata of sampled experts (empty otherwise). */
  expertStrata: ExpertStratumReport[];
}

export interface WeightsMeta {
  kernel: KernelName;
  hashAlgorithm: HashAlgorithm | null;
  /** The sample plan of each item, by index (null: read whole). */
  samples?: (SamplePlan | null)[];
  sampling?: SamplingSettings | null;
  /** Confidence of the intervals (default 0.95). */
  confidence?: number;
}

export function buildWeightsSection(matched: MatchedTensor[], results: ItemResult[], meta: WeightsMeta): WeightsSection {
  return runSteps(sectionSteps(matched, results, meta));
}

/**
 * The same section, built in steps with the event loop served between them: compareModels builds
 * it while the control tasks run on the pool's threads, and a thread that finishes one waits for
 * this thread to hand it the next (0.2-0.6 s of building at 19k tensors would hold them).
 */
export function buildWeightsSectionYielding(matched: MatchedTensor[], results: ItemResult[], meta: WeightsMeta, turns = threadTurns): Promise<WeightsSection> {
  return runStepsPaced(sectionSteps(matched, results, meta), turns);
}

/** Tensors reported or pooled between two steps (a few milliseconds of work). */
const STEP_TENSORS = 256;

function* sectionSteps(matched: MatchedTensor[], results: ItemResult[], meta: WeightsMeta): Steps<WeightsSection> {
  const confidence = meta.sampling?.confidence ?? meta.confidence ?? 0.95;
  const moments: (Moments | null)[] = [];
  const strata: (Stratum | null)[] = [];
  // The same expert strata the plan drew (sample/experts.ts), from the run's fraction and seed.
  const experts = meta.sampling ? planExpertStrata(matched, meta.sampling.fraction, meta.sampling.seed) : [];
  const samples = meta.samples ?? [];
  const expertOf = new Map<number, { plan: ExpertStratum; stratum: Stratum; how: string }>();
  for (const plan of experts) {
    const stratum = expertStratumOf(plan, results);
    const how = `${expertsRead(plan, results)} of ${plan.members.length} experts of layer ${plan.layer} ${plan.role} read, in ${plan.drawn} row blocks drawn across them`;
    for (const i of plan.members) expertOf.set(i, { plan, stratum, how });
  }
  yield;
  const tensors: TensorReport[] = [];
  for (let i = 0; i < matched.length; i++) {
    if (i > 0 && i % STEP_TENSORS === 0) yield;
    const m = matched[i]!;
    const r = results[i];
    moments.push(r?.moments ?? null);
    const stratum = stratumOf(r, samples[i] ?? null);
    strata.push(stratum);
    const report = tensorReport(m, r, samples[i] ?? null, stratum, confidence);
    tensors.push(report);
    const e = expertOf.get(i);
    if (!e) continue;
    const read = e.plan.within.has(i);
    // The entry is this tensor's own (tensorReport made it): set in place, no copy of each of a MoE's thousands.
    report.note = [read ? report.note : m.note, `${read ? 'drawn' : 'not read: estimated'} through its stratum (${e.how}; see weights.expertStrata)`].filter(Boolean).join('; ');
    report.stratum = { layer: e.plan.layer, role: e.plan.role, read };
  }
  yield;
  // The counts in one pass, in steps.
  let elementsTotal = 0;
  let elementsRead = 0;
  const summary = {
    tensorsA: 0, tensorsB: 0, compared: 0, identical: 0, notCompared: 0, onlyA: 0, onlyB: 0, failed: 0, elementsCompared: 0, estimated: 0,
  };
  for (let i = 0; i < matched.length; i++) {
    if (i > 0 && i % STEP_TENSORS === 0) yield;
    const m = matched[i]!;
    const t = tensors[i]!;
    const r = results[i];
    if (r?.moments || (expertOf.has(i) && !r)) elementsTotal += elementCount(m.a!.shape);
    if (r?.moments) elementsRead += r.moments.n + r.moments.excluded;
    if (m.a) summary.tensorsA++;
    if (m.b) summary.tensorsB++;
    if (t.n !== null) summary.compared++;
    if (t.identical) summary.identical++;
    if (m.a && m.b && !m.comparable) summary.notCompared++;
    if (m.a && !m.b) summary.onlyA++;
    if (!m.a && m.b) summary.onlyB++;
    if (r?.error) summary.failed++;
    summary.elementsCompared += t.n ?? 0;
    if (t.stratum && !t.stratum.read) summary.estimated++;
  }
  yield;
  const stratumOfTensor = (i: number): Stratum | null => expertOf.get(i)?.stratum ?? strata[i] ?? null;
  const layers = (yield* pool(tensors, moments, stratumOfTensor, confidence, (t) => (t.layer === null ? null : String(t.layer)))).map(([k, p]) => ({ layer: Number(k), ...p }));
  yield;
  const roles = (yield* pool(tensors, moments, stratumOfTensor, confidence, (t) => t.role)).map(([k, p]) => ({ role: k, group: tensors.find((t) => t.role === k)!.group, ...p }));
  yield;
  return {
    mode: meta.sampling ? 'sampled' : 'exact',
    sampling: meta.sampling ? { ...meta.sampling, elementsRead, elementsTotal, fractionRead: elementsTotal ? elementsRead / elementsTotal : 0 } : null,
    confidence,
    kernel: meta.kernel,
    hashAlgorithm: meta.hashAlgorithm,
    summary,
    tensors,
    layers,
    roles,
    expertStrata: experts.map((plan) => expertStratumReport(plan, expertOf.get(plan.members[0]!)!.stratum, results, confidence)),
  };
}

function expertStratumReport(plan: ExpertStratum, stratum: Stratum, results: ItemResult[], confidence: number): ExpertStratumReport {
  const pass = stratifiedIntervals([stratum], confidence);
  return {
    layer: plan.layer,
    role: plan.role,
    experts: plan.members.length,
    expertsRead: expertsRead(plan, results),
    blocks: stratum.blocks.length,
    totalBlocks: stratum.totalBlocks,
    fraction: plan.fraction,
    cosine: pass.cosine.estimate,
    centeredCosine: pass.centeredCosine.estimate,
    relL2: pass.relL2.estimate,
    ci: Object.fromEntries(INTERVAL_STATS.map((stat) => [stat, around(pass[stat].estimate, pass[stat].halfwidth, stat)])) as Record<StatName, [number, number] | null>,
  };
}

/** The tensor as a stratum: its sampled blocks, or its whole data as one exact unit. */
function stratumOf(r: ItemResult | undefined, sample: SamplePlan | null): Stratum | null {
  if (!r?.moments) return null;
  if (sample && r.blocks) return { blocks: r.blocks.map(sumsOf), totalBlocks: sample.totalBlocks, exact: false };
  return { blocks: [sumsOf(r.moments)], totalBlocks: 1, exact: true };
}

function intervals(point: Record<StatName, number | null>, strata: Stratum[], confidence: number): Record<StatName, [number, number] | null> {
  const out = {} as Record<StatName, [number, number] | null>;
  const exact = strata.every((h) => h.exact);
  const pass = exact ? null : stratifiedIntervals(strata, confidence);
  for (const stat of INTERVAL_STATS) {
    if (!pass) {
      const v = point[stat];
      out[stat] = v === null ? null : [v, v];
    } else {
      out[stat] = around(point[stat], pass[stat].halfwidth, stat);
    }
  }
  return out;
}

function tensorReport(m: MatchedTensor, r: ItemResult | undefined, sample: SamplePlan | null, stratum: Stratum | null, confidence: number): TensorReport {
  const stats = r?.moments ? finalizeMoments(r.moments) : null;
  const sampled = sample && r?.blocks
    ? { blocks: sample.blocks.length, totalBlocks: sample.totalBlocks, rowsPerBlock: sample.rowsPerBlock, fraction: sampledElements(sample) / elementCount(m.a!.shape) }
    : null;
  const notes = [
    m.note,
    r?.error ? `failed: ${r.error}` : null,
    sampled ? `sampled ${sampled.blocks} of ${sampled.totalBlocks} row blocks (${(100 * sampled.fraction).toFixed(1)}% of elements); not hashed` : null,
    ...(stats?.notes ?? []),
  ].filter(Boolean);
  const point = { cosine: stats?.cosine ?? null, centeredCosine: stats?.centeredCosine ?? null, relL2: stats?.relL2 ?? null };
  const hashA = r?.hashA ?? null;
  const hashB = r?.hashB ?? null;
  const sameLayout = !!m.a && !!m.b && m.a.dtype === m.b.dtype && m.a.shape.join() === m.b.shape.join();
  return {
    name: m.name,
    nameB: m.nameB,
    role: m.role,
    group: m.group,
    layer: m.layer,
    expert: m.expert,
    shape: m.a?.shape ?? null,
    shapeB: m.b?.shape ?? null,
    dtypeA: m.a?.dtype ?? null,
    dtypeB: m.b?.dtype ?? null,
    n: stats?.n ?? null,
    cosine: stats?.cosine ?? null,
    centeredCosine: stats?.centeredCosine ?? null,
    relL2: stats?.relL2 ?? null,
    mse: stats?.mse ?? null,
    maxAbsDiff: stats?.maxAbsDiff ?? null,
    identical: hashA && hashB ? sameLayout && hashA === hashB : null,
    hashA,
    hashB,
    nanA: stats?.nanA ?? 0,
    infA: stats?.infA ?? 0,
    nanB: stats?.nanB ?? 0,
    infB: stats?.infB ?? 0,
    note: notes.length ? notes.join('; ') : null,
    ci: stratum ? intervals(point, [stratum], confidence) : { cosine: null, centeredCosine: null, relL2: null },
    sampled,
    stratum: null,
  };
}

/**
 * Pooled figures per key (layer or role), in steps: a group after another, the grouping a few
 * hundred tensors at a time. A sampled expert stands in the pool through its stratum, which enters
 * once and stands for every expert of it, those not read included.
 */
function* pool(
  tensors: TensorReport[], moments: (Moments | null)[], stratumOf: (i: number) => Stratum | null, confidence: number, keyOf: (t: TensorReport) => string | null,
): Steps<[string, PooledReport][]> {
  const groups = new Map<string, number[]>();
  for (let i = 0; i < tensors.length; i++) {
    if (i > 0 && i % STEP_TENSORS === 0) yield;
    const t = tensors[i]!;
    const key = keyOf(t);
    const estimated = !!t.stratum && !t.stratum.read;
    if (key === null || (!moments[i] && !estimated)) continue;
    const list = groups.get(key);
    if (list) list.push(i);
    else groups.set(key, [i]);
  }
  const pooled: [string, PooledReport][] = [];
  for (const group of groups) {
    yield;
    pooled.push(yield* pooledGroup(group, tensors, moments, stratumOf, confidence));
  }
  return pooled;
}

/** One group's pooled figures (a layer's or a role's: up to thousands of experts), merged in steps. */
function* pooledGroup(
  [key, indices]: [string, number[]], tensors: TensorReport[], moments: (Moments | null)[], stratumOf: (i: number) => Stratum | null, confidence: number,
): Steps<[string, PooledReport]> {
  const groupStrata = [...new Set(indices.map(stratumOf).filter((h): h is Stratum => h !== null))];
  const allExact = groupStrata.every((h) => h.exact);
  let n: number;
  let values: Record<StatName, number | null>;
  let ci: Record<StatName, [number, number] | null>;
  if (allExact) {
    let merged = emptyMoments();
    for (let k = 0; k < indices.length; k++) {
      if (k > 0 && k % STEP_TENSORS === 0) yield;
      merged = mergeMoments(merged, moments[indices[k]!]!);
    }
    const exactPooled = finalizeMoments(merged);
    n = exactPooled.n;
    values = { cosine: exactPooled.cosine, centeredCosine: exactPooled.centeredCosine, relL2: exactPooled.relL2 };
    ci = intervals(values, groupStrata, confidence);
  } else {
    // Sampled tensors weigh by their whole size (expansion estimate), not by what was read: each
    // statistic's estimate and interval come from one stratified pass (of what was read, only the
    // count is needed: merging thousands of experts' moments would cost more than the pass).
    n = indices.reduce((s, i) => s + (moments[i]?.n ?? 0), 0);
    const pass = stratifiedIntervals(groupStrata, confidence);
    values = { cosine: pass.cosine.estimate, centeredCosine: pass.centeredCosine.estimate, relL2: pass.relL2.estimate };
    ci = Object.fromEntries(INTERVAL_STATS.map((stat) => [stat, around(pass[stat].estimate, pass[stat].halfwidth, stat)])) as Record<StatName, [number, number] | null>;
  }
  const pooled = { n, ...values };
  const cos = indices.map((i) => tensors[i]!.cosine).filter((x): x is number => x !== null);
  const ccos = indices.map((i) => tensors[i]!.centeredCosine).filter((x): x is number => x !== null);
  return [key, {
    tensors: indices.length,
    identical: indices.filter((i) => tensors[i]!.identical).length,
    n: pooled.n,
    cosine: pooled.cosine,
    centeredCosine: pooled.centeredCosine,
    relL2: pooled.relL2,
    meanCosine: mean(cos),
    minCosine: cos.length ? Math.min(...cos) : null,
    meanCenteredCosine: mean(ccos),
    minCenteredCosine: ccos.length ? Math.min(...ccos) : null,
    ci,
  }];
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null;
}
