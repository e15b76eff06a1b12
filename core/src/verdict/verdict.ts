/**
 * The verdict. Where the aligned tests ran (core/src/align: hidden dimension aligned, heads,
 * neurons and experts matched, every statistic against the same matching on unrelated pairs),
 * the label comes from them (aligned.ts). Otherwise (remote models, no config) it falls back to
 * the by-index reading below: each compared matrix is related when its centered cosine exceeds
 * max(0.1, 10/√n), corrected by the controls (experts matched through the router, embedding rows
 * of shared tokens, layer alignment, neurons matched in one layer). That fallback cannot see a
 * permuted hidden dimension and its threshold was set by hand: the report says which path ran.
 * Norm vectors are never judged by raw cosine: independent models' norms sit near 1.0 together.
 */
import type { RoleGroup } from '../roles/roles.ts';
import type { TensorReport, WeightsSection } from '../report/weights.ts';
import type { Controls } from '../controls/index.ts';
import { judgeAligned } from './aligned.ts';
import { identityExplanation, identityIsEvidence, noIdentityText } from './identity.ts';
import { relatedThreshold } from '../policy.ts';

export type VerdictLabel = 'derived' | 'partially-derived' | 'independent' | 'inconclusive';

export interface Evidence {
  signal: string;
  value: number | string | null;
  /** What independent models would show, for comparison. */
  baseline: string;
  /** 1 when the label rests on it, 0 when it is context only. */
  weight: number;
  explanation: string;
}

export interface ComponentFinding {
  component: string;
  compared: number;
  related: number;
  identical: number;
  /** Median centered cosine of the component's matrices. */
  medianCenteredCosine: number | null;
  finding: 'copied' | 'related' | 'unrelated' | 'mixed' | 'not compared';
  /** Aligned path: the component's combined p-value, what the null's matching gives, units at their own index. */
  pValue?: number | null;
  medianNull?: number | null;
  sameIndexShare?: number | null;
  /** Which evidence judged it: aligned tests, identical bytes, by-index statistics, or none. */
  channel?: 'aligned' | 'bytes' | 'by index' | 'behaviour' | 'none';
}

export interface Verdict {
  label: VerdictLabel;
  confidence: number;
  summary: string;
  evidence: Evidence[];
  components: ComponentFinding[];
  /** How the label and confidence were reached. */
  procedure?: string;
}

/** Kept here too: the fallback's threshold has been part of the verdict's API. */
export { relatedThreshold };

const JUDGED: RoleGroup[] = ['embedding', 'attention', 'mlp', 'router', 'shared_expert', 'routed_expert', 'lm_head'];

function componentOf(t: TensorReport): string {
  return t.group === 'routed_expert' ? 'routed experts' : t.group === 'shared_expert' ? 'shared experts' : t.group === 'mlp' ? 'dense MLP' : t.group;
}

function isMatrix(t: TensorReport): boolean {
  return JUDGED.includes(t.group) && !t.role.endsWith('.bias') && (t.shape?.length ?? 0) >= 2;
}

function relatedByValue(t: TensorReport): boolean {
  if (identityIsEvidence(t)) return true;
  if (t.centeredCosine === null || t.n === null) return false;
  // In sampled mode a tensor is related only if its whole interval says so.
  const low = t.ci?.centeredCosine?.[0] ?? t.centeredCosine;
  return low > relatedThreshold(t.n);
}

/** All within-model layer pairs pooled: their mean and spread (not per distance, where a pair may stand alone). */
function describeBaseline(points: { distance: number; n: number; mean: number; sd: number }[] | undefined): string {
  const total = points?.reduce((s, p) => s + p.n, 0) ?? 0;
  if (!points || total === 0) return 'not measured';
  const mean = points.reduce((s, p) => s + p.n * p.mean, 0) / total;
  const ss = points.reduce((s, p) => s + (p.n - 1) * p.sd ** 2 + p.n * (p.mean - mean) ** 2, 0);
  const sd = total > 1 ? Math.sqrt(ss / (total - 1)) : 0;
  return `centered cosine ${mean.toFixed(3)} ± ${sd.toFixed(3)} over ${total} pairs of layers`;
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export function judgeWeights(
  weights: WeightsSection,
  context: { tokenizerRelation?: string | null; controls?: Controls | null; behaviour?: BehaviourEvidence | null } = {},
): Verdict {
  const alignment = context.controls?.alignment;
  const fromWeights = alignment && alignment.components.length > 0
    ? judgeAligned(weights, alignment, context)
    : { ...judgeByIndex(weights, context), procedure: BY_INDEX_PROCEDURE };
  const unavailable = (context.controls?.unavailable ?? []).map((u): Evidence => ({
    signal: `control unavailable: ${u.control}`, value: 'not run', baseline: '', weight: 0, explanation: u.reason,
  }));
  return withBehaviour({ ...fromWeights, evidence: [...fromWeights.evidence, ...unavailable] }, context.behaviour ?? null);
}

/** The function-preserving edit the verdict cannot see through: a rotation with nothing shared to anchor a basis (align/token-basis.ts). */
export const ROTATION_NOT_TESTED = 'a rotated hidden basis with the token embedding replaced and the blocks trained on until their probes\' geometry is no longer A\'s, or blocks that give no probes (no gate, another depth, matrices over 64 Mi elements as at widths of 8192); a rotation, or a slice of the stream as SliceGPT deletes, is seen through the shared tokens\' embeddings where they are reused, else through probes of the blocks themselves';

/** Context both paths report and neither weighs: norm vectors (the LayerNorm trap), the rotation left untested, the tokenizer. */
export function contextEvidence(tokenizerRelation: string | null | undefined): Evidence[] {
  const out: Evidence[] = [{
    signal: 'norm vectors', value: 'context only', baseline: 'raw cosine 0.95–0.99 even between unrelated models', weight: 0,
    explanation: 'norm scales start at 1.0, so their raw cosine says nothing; they are not weighed on their own',
  }, {
    signal: 'not tested', value: ROTATION_NOT_TESTED, baseline: '', weight: 0,
    explanation: 'an orthogonal rotation of the residual stream with the norms folded keeps the function and mixes every hidden dimension; where the shared tokens\' embeddings keep A\'s geometry the cells compare the models in the basis of those embeddings, which no rotation changes; where the embedding was replaced too, probes made from each model\'s own blocks (words in W_qᵀW_k, W_oW_v, W_downW_up applied to mean gate rows) anchor one, while a fine-tune leaves their geometry A\'s (README, "A rotated hidden basis")',
  }];
  if (tokenizerRelation) {
    out.push({
      signal: 'tokenizer relation', value: tokenizerRelation, baseline: 'independent or overlapping for unrelated models', weight: 0,
      explanation: 'a shared tokenizer is weak evidence (tokenizers are reused legitimately): reported, not weighed',
    });
  }
  return out;
}

/** What the verdict reads of the behaviour section (core/src/behaviour). */
export interface BehaviourEvidence {
  related: boolean | null;
  pValue: number | null;
  agreement: number | null;
  reason: string;
}

/**
 * Behaviour is a component beside the weights. Where weights were tested they decide (a chat
 * fine-tune may answer differently from its base, and distillation makes unrelated weights answer
 * alike); behaviour is reported beside them, and the summary says whether it agrees. Where no
 * weight could be tested, behaviour decides alone, and the summary says it is the only evidence.
 */
function withBehaviour(v: Verdict, b: BehaviourEvidence | null): Verdict {
  if (!b || b.related === null) return v;
  const component: ComponentFinding = {
    component: 'behaviour', compared: 1, related: b.related ? 1 : 0, identical: 0, medianCenteredCosine: b.agreement,
    finding: b.related ? 'related' : 'unrelated', pValue: b.pValue, medianNull: null, sameIndexShare: null, channel: 'behaviour',
  };
  const evidence: Evidence = {
    signal: 'behaviour (next-token agreement on probes)', value: `${b.related ? 'related' : 'not related'}; agreement ${b.agreement?.toFixed(3) ?? '—'}, p = ${b.pValue ?? '—'}`,
    baseline: 'the permutation null of the behaviour section', weight: v.label === 'inconclusive' ? 1 : 0, explanation: b.reason,
  };
  if (v.label === 'inconclusive') {
    return {
      ...v, label: b.related ? 'derived' : 'independent', confidence: b.related ? Math.round(Math.min(0.999, 1 - (b.pValue ?? 1)) * 1000) / 1000 : 0.95,
      summary: `behaviour is the only evidence: ${b.related ? 'the models answer alike beyond chance (derived, or trained on the other\'s outputs)' : 'the models do not answer alike beyond chance'}; the weights could not be compared (${v.summary})`,
      evidence: [evidence, ...v.evidence], components: [...v.components, component],
      procedure: 'weights untestable: the label follows the behaviour section\'s test (related at its stated false-positive rate); confidence 1 − its p-value when related, 0.95 when not',
    };
  }
  const weightsSayRelated = v.label !== 'independent';
  const agrees = weightsSayRelated === b.related;
  return {
    ...v, summary: `${v.summary}; behaviour ${agrees ? 'agrees' : `disagrees (${b.related ? 'the models answer alike' : 'the models answer differently'}: weights decide)`}`,
    evidence: [...v.evidence, evidence], components: [...v.components, component],
  };
}

/** Why no matrix was compared: constant ones (no information), else shapes. */
function whyNoMatrix(weights: WeightsSection): string {
  const constant = weights.tensors.filter((t) => isMatrix(t) && t.n !== null && t.centeredCosine === null).length;
  return constant > 0
    ? `${constant} weight matrices are constant, all zeros say, and carry no information; no other could be compared`
    : 'shapes differ or are missing';
}

const BY_INDEX_PROCEDURE = 'fallback (the aligned tests did not run): a matrix is related when its centered cosine exceeds max(0.1, 10/√n); components by the share of related matrices; confidence from a fixed formula on the counts';

function judgeByIndex(weights: WeightsSection, context: { tokenizerRelation?: string | null; controls?: Controls | null }): Verdict {
  // Controls that see what a by-index, same-shape comparison cannot: experts matched through the
  // router (reordered experts), embedding rows of shared tokens (a vocabulary changed).
  const controls = context.controls ?? null;
  const matchedExpertLayers = new Set(
    (controls?.experts ?? []).filter((l) => l.pValue <= 0.01 && (l.experts === null || (l.experts.z ?? 0) > 5)).map((l) => l.layer),
  );
  const sharedRowsRelated = !!controls?.embeddings && (controls.embeddings.z ?? 0) > 10;
  const n = controls?.neurons ?? null;
  const neuronsMatch = !!n && n.pValue <= 0.05 && n.nullSd > 0 && (n.statistic - n.nullMean) / n.nullSd > 5;
  const neuronsPermuted = neuronsMatch && n!.sameIndexShare < 0.5;
  const viaControl = (t: TensorReport): boolean =>
    (t.group === 'routed_expert' && t.layer !== null && matchedExpertLayers.has(t.layer)) ||
    ((t.group === 'embedding' || t.group === 'lm_head') && t.n === null && sharedRowsRelated) ||
    (t.group === 'mlp' && neuronsPermuted);
  // A constant tensor has no centered cosine: compared, it says nothing either way.
  const isCompared = (t: TensorReport) => t.centeredCosine !== null || identityIsEvidence(t) || viaControl(t);
  const related = (t: TensorReport) => relatedByValue(t) || viaControl(t);
  const matrices = weights.tensors.filter((t) => isMatrix(t) && isCompared(t));
  const byComponent = new Map<string, TensorReport[]>();
  for (const t of weights.tensors.filter(isMatrix)) {
    const list = byComponent.get(componentOf(t)) ?? [];
    list.push(t);
    byComponent.set(componentOf(t), list);
  }
  const components: ComponentFinding[] = [...byComponent].map(([component, list]) => {
    const compared = list.filter(isCompared);
    const rel = compared.filter(related).length;
    const identical = compared.filter(identityIsEvidence).length;
    const share = compared.length ? rel / compared.length : 0;
    return {
      component,
      compared: compared.length,
      related: rel,
      identical,
      medianCenteredCosine: median(compared.map((t) => t.centeredCosine).filter((x): x is number => x !== null)),
      finding: compared.length === 0 ? 'not compared'
        : identical === compared.length ? 'copied'
        : share >= 0.8 ? 'related'
        : share <= 0.05 ? 'unrelated'
        : 'mixed',
    };
  });
  const relatedCount = matrices.filter(related).length;
  const identicalCount = weights.tensors.filter(identityIsEvidence).length;
  const share = matrices.length ? relatedCount / matrices.length : 0;
  const evidence: Evidence[] = [
    {
      signal: 'related matrices', value: matrices.length ? `${relatedCount} of ${matrices.length}` : null,
      baseline: 'independent models: none (centered cosine within ±0.02 on real independently trained weights)', weight: 1,
      explanation: 'a weight matrix whose centered cosine exceeds max(0.1, 10/√n) was not trained independently of its counterpart',
    },
    {
      signal: 'byte-identical tensors', value: identicalCount,
      baseline: 'independent models: 0', weight: 1,
      explanation: identityExplanation(weights.tensors),
    },
    {
      signal: 'median centered cosine of matrices', value: median(matrices.map((t) => t.centeredCosine).filter((x): x is number => x !== null)),
      baseline: '≈ 0 for independent models; ≥ 0.9 for light fine-tunes', weight: 0,
      explanation: 'how far the weights moved, where they are related',
    },
  ];
  evidence.push(...contextEvidence(context.tokenizerRelation));
  const uncompared = weights.tensors.filter((t) => isMatrix(t) && !isCompared(t)).length;
  if (uncompared > 0) {
    evidence.push({
      signal: 'matrices not compared', value: uncompared, baseline: '0 when the architectures match', weight: 0,
      explanation: 'shapes differ or a counterpart is missing (layers added, vocabulary extended, experts pruned); such tensors are weighed only through the controls (layer alignment, shared-token rows)',
    });
  }
  if (controls && controls.experts.length > 0) {
    const significant = controls.experts.filter((l) => matchedExpertLayers.has(l.layer));
    const reordered = significant.filter((l) => l.permuted);
    evidence.push({
      signal: 'routed experts matched across models', value: `${significant.length} of ${controls.experts.length} MoE layers match (p ≤ 0.01)${reordered.length ? `, ${reordered.length} with the experts reordered` : ''}`,
      baseline: `independent models: the best matching stays at its permutation null (mean z ${mean(controls.experts.map((l) => l.z ?? 0)).toFixed(1)} here)`, weight: 1,
      explanation: 'experts are matched by linear assignment on router rows (checked on the experts\' weights) and tested against a permutation null, so reordered experts are recognised',
    });
  } else if (weights.tensors.some((t) => t.group === 'routed_expert')) {
    evidence.push({
      signal: 'routed experts compared by index', value: 'limitation', baseline: '', weight: 0,
      explanation: 'experts are paired by index (the expert matching control did not run)',
    });
  }
  if (n) {
    evidence.push({
      signal: 'MLP neurons matched whatever their order', value: `${n.role} layer ${n.layer}: best-match centered cosine ${n.statistic.toFixed(3)}, ${Math.round(100 * n.sameIndexShare)}% at the same index, p = ${n.pValue.toFixed(3)}`,
      baseline: `input coordinates shuffled: ${n.nullMean.toFixed(3)} ± ${n.nullSd.toFixed(3)}`, weight: neuronsPermuted ? 1 : 0,
      explanation: 'a derivative may reorder an MLP\'s hidden neurons; matching each neuron to its best counterpart finds it where a by-index comparison cannot',
    });
  }
  if (controls?.embeddings) {
    const e = controls.embeddings;
    evidence.push({
      signal: 'embedding rows of shared tokens', value: `${e.rowsCompared} of ${e.sharedTokens} shared tokens: centered cosine ${e.centeredCosine?.toFixed(3) ?? '—'}, z ${e.z?.toFixed(1) ?? '—'}`,
      baseline: `unrelated rows: ${e.nullMean?.toFixed(3) ?? '—'} ± ${e.nullSd?.toFixed(3) ?? '—'} (${e.nullKind})`, weight: 1,
      explanation: 'when vocabularies differ, the rows of the tokens both hold are compared: an extended vocabulary keeps its old rows',
    });
  }

  // Layer alignment: layers duplicated, removed or shifted are paired by index wrongly; the
  // monotone alignment through the layer × layer matrix pairs them right.
  const aligned = context.controls?.layers[0];
  let alignedShare = 0;
  if (aligned) {
    const n = (aligned.matrix.length && weights.tensors.find((t) => t.role === aligned.role)?.n) || 1;
    alignedShare = aligned.alignment.filter((x) => x.value !== null && x.value > relatedThreshold(n)).length / Math.max(1, aligned.alignment.length);
    evidence.push({
      signal: `layer alignment (${aligned.role})`, value: `${aligned.pattern}: ${Math.round(alignedShare * aligned.alignment.length)} of ${aligned.layersB} layers of B align with a related layer of A`,
      baseline: `within A, layers at any distance: ${describeBaseline(context.controls!.baselines[aligned.role])}`, weight: aligned.pattern === 'identity' ? 0 : 1,
      explanation: 'duplicated (depth up-scaling), removed or shifted layers are found by the best monotone alignment of the layer × layer similarity matrix',
    });
  }
  const depthChanged = aligned && aligned.pattern !== 'identity' && aligned.pattern !== 'none' && aligned.pattern !== 'reordered' && alignedShare >= 0.8;

  const relatedComponents = components.filter((c) => c.finding === 'copied' || c.finding === 'related' || c.finding === 'mixed');
  let label: VerdictLabel;
  let confidence: number;
  if (matrices.length === 0) {
    label = identicalCount > 0 ? 'partially-derived' : 'inconclusive';
    confidence = identicalCount > 0 ? 0.7 : 0;
  } else if (share >= 0.8 || depthChanged) {
    label = 'derived';
    confidence = Math.min(0.99, 0.6 + 0.4 * share * Math.min(1, matrices.length / 20));
  } else if (relatedCount === 0 && identicalCount === 0) {
    label = 'independent';
    confidence = Math.min(0.99, 0.5 + 0.5 * Math.min(1, matrices.length / 20));
  } else {
    label = relatedComponents.length > 0 ? 'partially-derived' : 'inconclusive';
    confidence = 0.6 + 0.3 * Math.min(1, relatedCount / 5);
  }
  const summary = {
    derived: depthChanged && share < 0.8
      ? `B's layers are A's layers ${aligned!.pattern} (${Math.round(100 * alignedShare)}% align with a related layer): the model is derived with its depth changed`
      : `${relatedCount} of ${matrices.length} weight matrices are related to their counterparts: the model is derived`,
    'partially-derived': `some components are reused (${relatedComponents.map((c) => `${c.component}: ${c.finding}`).join(', ')}) while the rest is new`,
    independent: `none of ${matrices.length} weight matrices is related to its counterpart and ${noIdentityText(weights.tensors)}; not tested: ${ROTATION_NOT_TESTED}`,
    inconclusive: `no weight matrix could be compared (${whyNoMatrix(weights)}): weights alone cannot decide. Evidence that would decide: behavioural probes (lineage probe A B, or compare --behaviour on), a shared tokenizer (to compare embedding rows), or config.json with the attention heads`,
  }[label];
  return { label, confidence: Math.round(confidence * 100) / 100, summary, evidence, components };
}
