/**
 * For each tensor role group: can A's weights be compared with B's at all? Shapes decide it, and
 * they come from the configs alone, before any weight is read.
 *
 * A shape mismatch is not evidence of independence (layers are added, vocabularies extended,
 * experts upcycled or pruned); it only says which comparisons the weight analysis can make.
 */
import { formatShape, roleGroupShapes, ROLE_GROUP_LABELS, sameShape, type RoleGroupName, type RoleGroupShapes, type ShapedTensor } from './shapes.ts';
import type { NormalizedArch } from './types.ts';

export type ComparableStatus = 'comparable' | 'partial' | 'not-comparable' | 'absent';

export interface ComparableSide {
  tensors: ShapedTensor[];
  layers: number;
  perLayer: number;
}

export interface ComparableGroup {
  group: RoleGroupName;
  label: string;
  status: ComparableStatus;
  a: ComparableSide | null;
  b: ComparableSide | null;
  /** Tensor pairs of identical shape the weight analysis can compare directly (0 when none). */
  pairs: number;
  note: string;
}

const ORDER: RoleGroupName[] = [
  'embedding', 'position_embedding', 'lm_head', 'attention.q', 'attention.k', 'attention.v', 'attention.kv', 'attention.o',
  'other_mixers', 'norms', 'mlp', 'router', 'shared_experts', 'routed_experts',
];

export function compareRoleGroups(archA: NormalizedArch, archB: NormalizedArch): ComparableGroup[] {
  const groupsA = roleGroupShapes(archA);
  const groupsB = roleGroupShapes(archB);
  const out: ComparableGroup[] = [];
  for (const group of ORDER) {
    const a = groupsA.get(group) ?? null;
    const b = groupsB.get(group) ?? null;
    if (!a && !b) continue;
    out.push(compareGroup(group, a, b, groupsA, groupsB, archA, archB));
  }
  return out;
}

function side(g: RoleGroupShapes | null): ComparableSide | null {
  return g ? { tensors: g.tensors, layers: g.layers, perLayer: g.perLayer } : null;
}

function compareGroup(
  group: RoleGroupName,
  a: RoleGroupShapes | null,
  b: RoleGroupShapes | null,
  groupsA: Map<RoleGroupName, RoleGroupShapes>,
  groupsB: Map<RoleGroupName, RoleGroupShapes>,
  archA: NormalizedArch,
  archB: NormalizedArch,
): ComparableGroup {
  const base = { group, label: ROLE_GROUP_LABELS[group], a: side(a), b: side(b) };
  if (!a || !b) return { ...base, ...oneSided(group, a, b, groupsA, groupsB, archA, archB) };

  const matching = a.tensors.filter((t) => b.tensors.some((u) => u.name === t.name && sameShape(t.shape, u.shape)));
  const layers = Math.min(a.layers, b.layers);
  const copies = Math.min(a.perLayer, b.perLayer);
  const pairs = matching.length * layers * copies;
  const notes: string[] = [];

  if (group === 'embedding' && !sameShape(a.tensors[0]!.shape, b.tensors[0]!.shape)) {
    if (archA.hiddenSize === archB.hiddenSize) {
      return {
        ...base, status: 'partial', pairs: 0,
        note: `vocabularies differ (${archA.vocabSize} vs ${archB.vocabSize} rows): compare the rows of tokens both vocabularies share`,
      };
    }
    return { ...base, status: 'not-comparable', pairs: 0, note: `hidden sizes differ (${archA.hiddenSize} vs ${archB.hiddenSize})` };
  }
  if (group === 'lm_head' && !sameShape(a.tensors[0]!.shape, b.tensors[0]!.shape) && archA.hiddenSize === archB.hiddenSize) {
    return { ...base, status: 'partial', pairs: 0, note: 'vocabularies differ: compare the rows of shared tokens' };
  }

  if (matching.length === 0) {
    return { ...base, status: 'not-comparable', pairs: 0, note: shapeDifference(a, b) };
  }
  let status: ComparableStatus = 'comparable';
  if (matching.length < a.tensors.length || matching.length < b.tensors.length) {
    status = 'partial';
    notes.push(`only ${matching.map((t) => t.name).join(', ')} match in shape; ${shapeDifference(a, b)}`);
  }
  if (a.layers !== b.layers) {
    status = 'partial';
    notes.push(`${a.layers} vs ${b.layers} layers: at most ${layers} layer pairs (layers may have been duplicated, inserted or pruned, so match them by content, not only by index)`);
  }
  if (a.perLayer !== b.perLayer && group === 'routed_experts') {
    status = 'partial';
    notes.push(`${a.perLayer} vs ${b.perLayer} experts per layer: experts may have been pruned, merged or added; match them by content, not by index`);
  }
  if (group === 'norms') {
    notes.push('norm weights start at 1.0: judge them by centered cosine against controls, never by raw cosine');
    if (a.perLayer !== b.perLayer) notes.push(`${a.perLayer} vs ${b.perLayer} norms per layer`);
  }
  if (group === 'attention.q' && status === 'comparable' && archA.numAttentionHeads !== archB.numAttentionHeads) {
    notes.push(`same shape but a different head split (${archA.numAttentionHeads} vs ${archB.numAttentionHeads} heads)`);
  }
  if (status === 'comparable' && notes.length === 0) notes.push('same shapes');
  return { ...base, status, pairs, note: notes.join('; ') };
}

/** A group only one model has: say what the other one has instead, when that can be compared. */
function oneSided(
  group: RoleGroupName,
  a: RoleGroupShapes | null,
  b: RoleGroupShapes | null,
  groupsA: Map<RoleGroupName, RoleGroupShapes>,
  groupsB: Map<RoleGroupName, RoleGroupShapes>,
  archA: NormalizedArch,
  archB: NormalizedArch,
): { status: ComparableStatus; pairs: number; note: string } {
  const has = a ? 'A' : 'B';
  const lacks = a ? 'B' : 'A';
  const present = (a ?? b)!;
  const otherGroups = a ? groupsB : groupsA;
  if (group === 'lm_head') {
    const tied = otherGroups.get('embedding');
    if (tied && sameShape(tied.tensors[0]!.shape, present.tensors[0]!.shape)) {
      return { status: 'partial', pairs: 1, note: `${lacks} ties lm_head to its embedding: compare ${has}'s lm_head with ${lacks}'s embedding` };
    }
    return { status: 'absent', pairs: 0, note: `${lacks} ties lm_head to its embedding` };
  }
  if (group === 'routed_experts' || group === 'mlp') {
    // Sparse upcycling: experts initialised as copies of a dense model's MLP keep its shape.
    const counterpart = otherGroups.get(group === 'routed_experts' ? 'mlp' : 'routed_experts');
    if (counterpart && counterpart.tensors.length === present.tensors.length
      && counterpart.tensors.every((t, i) => sameShape(t.shape, present.tensors[i]!.shape))) {
      const expertSide = group === 'routed_experts' ? has : lacks;
      const denseSide = group === 'routed_experts' ? lacks : has;
      return {
        status: 'partial',
        pairs: Math.min(present.layers, counterpart.layers) * (group === 'routed_experts' ? present.perLayer : counterpart.perLayer)
          * present.tensors.length,
        note: `${expertSide}'s experts have the shape of ${denseSide}'s dense MLP: compare each expert with it (sparse upcycling starts experts as copies)`,
      };
    }
  }
  const moe = (arch: NormalizedArch) => (arch.numRoutedExperts ? 'mixture-of-experts' : 'dense');
  const what = group === 'router' || group === 'shared_experts' || group === 'routed_experts' || group === 'mlp'
    ? ` (A is ${moe(archA)}, B is ${moe(archB)})`
    : '';
  return { status: 'absent', pairs: 0, note: `only ${has} has ${ROLE_GROUP_LABELS[group]}${what}` };
}

function shapeDifference(a: RoleGroupShapes, b: RoleGroupShapes): string {
  const differing = a.tensors
    .map((t) => ({ t, u: b.tensors.find((u) => u.name === t.name) }))
    .filter(({ t, u }) => !u || !sameShape(t.shape, u.shape))
    .map(({ t, u }) => `${t.name} ${formatShape(t.shape)} vs ${u ? formatShape(u.shape) : 'absent'}`);
  const onlyB = b.tensors.filter((u) => !a.tensors.some((t) => t.name === u.name)).map((u) => `${u.name} only in B`);
  return `shapes differ: ${[...differing, ...onlyB].join(', ')}`;
}
