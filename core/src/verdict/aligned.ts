/**
 * The verdict from aligned evidence (issue 11). Each component (embedding, attention, dense MLP,
 * router, shared and routed experts, lm_head) is judged on its own from its cells' p-values
 * (core/src/align): related when Fisher's combination is at most COMPONENT_LEVEL. The label
 * follows from which components are related, and names them:
 *
 *  - derived: every component that could be tested is related (or byte-identical, identity
 *    counted only where independent models would not share it: verdict/identity.ts);
 *  - partially-derived: some are related and some are not (blocks reused with the token
 *    interface replaced; a few layers reused; embeddings alone copied);
 *  - independent: components were tested and none is related, and no tensor is identical;
 *  - inconclusive: nothing could be tested; the summary says which evidence would decide.
 *
 * Confidence, by a stated procedure: for derived and partially-derived, 1 − the largest combined
 * p-value among the related components (how surely the least certain reused part is reused);
 * for independent, (1 − CELL_LEVEL) × the share of B's judged matrices that were tested (a test
 * that covered half the model can only speak for half). Capped at 0.999.
 */
import type { AlignedComponentResult, AlignmentSection } from '../align/index.ts';
import type { TensorReport, WeightsSection } from '../report/weights.ts';
import { contextEvidence, ROTATION_NOT_TESTED, type ComponentFinding, type Evidence, type Verdict, type VerdictLabel } from './verdict.ts';
import { CELL_LEVEL, COMPONENT_LEVEL } from '../policy.ts';
import { identityExplanation, identityIsEvidence, noIdentityText } from './identity.ts';
import { BLOCK_GEOMETRY_CALIBRATION, BLOCK_GEOMETRY_LEVEL, ROTATION_CKA_LEVEL } from '../align/geometry.ts';

const COMPONENT_OF_GROUP: Record<string, string> = {
  embedding: 'embedding', attention: 'attention', mlp: 'dense MLP', router: 'router',
  shared_expert: 'shared experts', routed_expert: 'routed experts', lm_head: 'lm_head',
};

function isJudgedMatrix(t: TensorReport): boolean {
  return t.group in COMPONENT_OF_GROUP && !t.role.endsWith('.bias') && (t.shape?.length ?? 0) >= 2;
}

const fmtP = (p: number) => (p < 1e-4 ? p.toExponential(1) : p.toFixed(4));

export function judgeAligned(weights: WeightsSection, alignment: AlignmentSection, context: { tokenizerRelation?: string | null } = {}): Verdict {
  const matrices = weights.tensors.filter(isJudgedMatrix);
  const byComponent = new Map<string, TensorReport[]>();
  for (const t of matrices) {
    const c = COMPONENT_OF_GROUP[t.group]!;
    // Appended in place: a 128-expert model has ~18k routed-expert matrices (copying the list each time was quadratic).
    let list = byComponent.get(c);
    if (!list) byComponent.set(c, (list = []));
    list.push(t);
  }
  const tested = new Map(alignment.components.map((c) => [c.component as string, c]));
  const components: ComponentFinding[] = [];
  const names = [...new Set([...byComponent.keys(), ...tested.keys()])];
  for (const name of names) {
    const list = byComponent.get(name) ?? [];
    const identical = list.filter(identityIsEvidence).length;
    const c = tested.get(name);
    const copied = list.length > 0 && identical === list.length;
    components.push({
      component: name,
      compared: c ? c.cells.length : 0,
      related: c ? c.related : 0,
      identical,
      medianCenteredCosine: c ? c.medianStatistic : null,
      finding: copied ? 'copied' : !c ? 'not compared' : componentRelated(c) ? (c.finding === 'mixed' ? 'mixed' : 'related') : 'unrelated',
      pValue: c ? c.pValue : null,
      medianNull: c ? c.medianNull : null,
      sameIndexShare: c ? c.sameIndexShare : null,
      channel: c ? 'aligned' : identical > 0 ? 'bytes' : 'none',
    });
  }
  const geometry = alignment.hidden?.embeddingGeometry ?? null;
  const reused = components.filter((c) => c.finding === 'copied' || c.finding === 'related' || c.finding === 'mixed');
  const judged = components.filter((c) => c.finding !== 'not compared');
  const fresh = judged.filter((c) => c.finding === 'unrelated');
  const identicalCount = weights.tensors.filter(identityIsEvidence).length;

  let label: VerdictLabel;
  let confidence: number;
  const worstReusedP = Math.max(0, ...reused.map((c) => c.pValue ?? 0));
  if (judged.length === 0) {
    label = identicalCount > 0 ? 'partially-derived' : 'inconclusive';
    confidence = identicalCount > 0 ? 0.9 : 0;
  } else if (reused.length === 0 && identicalCount === 0) {
    label = 'independent';
    const testedMatrices = matrices.filter((t) => tested.has(COMPONENT_OF_GROUP[t.group]!)).length;
    confidence = (1 - CELL_LEVEL) * (matrices.length ? testedMatrices / matrices.length : 1);
  } else if (fresh.length === 0 && reused.every((c) => c.finding !== 'mixed')) {
    label = 'derived';
    confidence = 1 - worstReusedP;
  } else {
    label = 'partially-derived';
    confidence = 1 - worstReusedP;
  }
  confidence = Math.min(0.999, Math.max(0, confidence));

  const list = (cs: ComponentFinding[]) => cs.map((c) => `${c.component} (${c.finding}${c.pValue !== null && c.pValue !== undefined ? `, p = ${fmtP(c.pValue)}` : ''})`).join(', ');
  const h = alignment.hidden;
  const dimensionText = !h ? 'no hidden-dimension alignment' : h.kind === 'identity' ? 'hidden dimensions in the same order'
    : h.kind === 'permuted' ? `hidden dimension permuted (${h.matched} of ${h.widthA} dimensions matched)`
    : h.kind === 'partial' ? `hidden widths differ (${h.widthA} vs ${h.widthB}): ${h.matched} dimensions matched`
    : 'no hidden-dimension correspondence stands out';
  const hiddenText = h?.rotated
    ? `${dimensionText}, but the shared tokens' embeddings have A's geometry: compared in the basis of ${h.rotated.tokens} of them, which a rotation of the hidden dimensions cannot change`
    : h?.blockBasis && h.blockGeometry
      ? `${dimensionText} and no shared tokens anchor a basis, but probes made from each model's own blocks have A's geometry (correlation ${h.blockGeometry.correlation.toFixed(3)}): compared in the basis of ${h.blockBasis.probes} of them, which a rotation of the hidden dimensions cannot change, each layer in probes made from other layers`
      : dimensionText;
  const tokenInterface = ['embedding', 'lm_head'];
  const blocksReused = reused.some((c) => !tokenInterface.includes(c.component));
  const interfaceFresh = fresh.some((c) => tokenInterface.includes(c.component)) && !reused.some((c) => tokenInterface.includes(c.component));
  const summary = {
    derived: `every tested component is reused: ${list(reused)}; ${hiddenText}${alignment.layerPairing !== 'index' ? `; layers paired through the ${alignment.layerPairing} (depth changed)` : ''}: the model is derived`,
    'partially-derived': blocksReused && interfaceFresh
      ? `blocks reused, token interface replaced: reused ${list(reused)}; new ${list(fresh)}; ${hiddenText}`
      : fresh.length
        ? `some components are reused (${reused.length ? list(reused) : identicalText(weights.tensors)}) while others are new (${list(fresh)}); ${hiddenText}`
        // Nothing new: partly derived because a component is related in some layers only.
        : `components are reused (${list(reused)}), but ${reused.filter((c) => c.finding === 'mixed').map((c) => c.component).join(', ')} only in some of the layers compared (their other cells at their null); ${hiddenText}`,
    independent: `no tested component is related beyond what matching finds between unrelated weights (${list(judged)}), and ${noIdentityText(weights.tensors)}; ${hiddenText}; not tested: ${ROTATION_NOT_TESTED}`,
    inconclusive: `no component could be tested: ${alignment.notes.join('; ') || 'shapes differ and no correspondence was found'}. Evidence that would decide: a shared tokenizer (to compare embedding rows), config.json with the attention heads, or behavioural probes (lineage probe A B, or compare --behaviour on)`,
  }[label];

  const evidence: Evidence[] = [];
  if (h) {
    evidence.push({
      signal: 'hidden-dimension alignment', value: `${h.kind}: ${h.matched} of ${h.widthA} matched, ${Math.round(100 * h.sameIndexShare)}% at their own index; profile correlation ${h.score.toFixed(3)}`,
      baseline: `null (${h.nullKind}): ${h.nullMean.toFixed(3)} ± ${h.nullSd.toFixed(3)}`, weight: 0,
      explanation: 'every comparison below is made under this correspondence; it decides nothing by itself (its nulls carry the same alignment)',
    });
  }
  for (const c of alignment.components) {
    evidence.push({
      signal: `${c.component}: ${c.related} of ${c.cells.length} cells related (p ≤ ${CELL_LEVEL})`,
      value: `${c.statistic}: median ${c.medianStatistic?.toFixed(3)}; combined p = ${fmtP(c.pValue)}`,
      baseline: `the same matching on unrelated pairs: median ${c.medianNull?.toFixed(3)}`, weight: 1,
      explanation: `${componentRelated(c) ? 'related' : 'not related'} at the component level (Fisher's combination ≤ ${COMPONENT_LEVEL}); ${c.sameIndexShare !== null && c.sameIndexShare < 0.5 && componentRelated(c) ? 'its units were reordered' : 'units matched whatever their order'}`,
    });
  }
  evidence.push({
    signal: 'byte-identical tensors', value: identicalCount, baseline: 'independent models: 0', weight: 1,
    explanation: identityExplanation(weights.tensors),
  });
  const byIndex = matrices.filter((t) => t.centeredCosine !== null).length;
  evidence.push({
    signal: 'matrices compared by index', value: byIndex, baseline: 'see weights.tensors', weight: 0,
    explanation: 'the tensor-by-tensor statistics are reported for every pair of equal shape; the label rests on the aligned tests above, which a permutation or rescaling cannot hide from',
  });
  if (geometry) {
    evidence.push({
      signal: 'embedding geometry (any hidden basis)', value: `linear CKA ${geometry.cka.toFixed(4)} over ${geometry.tokens} shared tokens`,
      baseline: `independent synthetic pairs: at most 0.28 in calibration, 0.50 on a bench pair; taken as the same embedding from ${ROTATION_CKA_LEVEL}`, weight: 0,
      explanation: alignment.hidden?.rotated
        ? 'the same under any rotation of the hidden dimensions: at this level, with no permutation matching well, the cells compared the models in the basis of the shared tokens\' embeddings (alignment.hidden.rotated); the components above carry the verdict'
        : 'the same under any permutation, sign flip or rotation of the hidden dimensions: at the level, where no permutation matches well, it puts the cells in the basis of the shared tokens\' embeddings; context here',
    });
  }
  const blocks = alignment.hidden?.blockGeometry;
  if (blocks) {
    evidence.push({
      signal: 'block-probe geometry (any hidden basis)', value: `correlation ${blocks.correlation.toFixed(4)} over ${blocks.probes} probes of layers ${blocks.layers.join(', ')}`,
      baseline: `independent pairs: at most ${BLOCK_GEOMETRY_CALIBRATION} in calibration (real BabyLlama-105/361 the highest); taken as A's from ${BLOCK_GEOMETRY_LEVEL}`, weight: 0,
      explanation: alignment.hidden?.blockBasis
        ? 'the same under any rotation of the hidden dimensions: at this level, with no permutation matching and no tokens anchoring a basis, the cells compared the models in the basis of their blocks\' probes (alignment.hidden.blockBasis); the components above carry the verdict'
        : 'the same under any rotation of the hidden dimensions and any edit inside a block that keeps its function: at the level it puts the cells in the basis of the blocks\' probes; context here',
    });
  }
  evidence.push(...contextEvidence(context.tokenizerRelation));
  for (const note of alignment.notes) evidence.push({ signal: 'not tested', value: note, baseline: '', weight: 0, explanation: 'a component that could not be tested does not count either way' });

  return {
    label, confidence: Math.round(confidence * 1000) / 1000, summary, evidence, components,
    procedure: `components related at combined p ≤ ${COMPONENT_LEVEL} (Fisher over cells; a cell is one layer's matched statistic against the same matching on unrelated pairs); confidence: 1 − the largest p of a reused component, or for independent (1 − ${CELL_LEVEL}) × the share of matrices tested`,
  };
}

export function componentRelated(c: AlignedComponentResult): boolean {
  return c.related > 0 && c.pValue <= COMPONENT_LEVEL;
}

/** Where no component's cells are related, the identical tensors that make a model partly derived. */
function identicalText(tensors: readonly TensorReport[]): string {
  const names = tensors.filter(identityIsEvidence).map((t) => t.name ?? t.nameB ?? t.role);
  return `no component by its cells, but ${names.length} tensor(s) byte-identical to A's: ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}`;
}
