/**
 * Pairs the tensors of two checkpoints by role, layer and expert. Every tensor of either side
 * ends up somewhere: in a comparable pair, in a pair that cannot be compared (shape or dtype,
 * with the reason), or alone (no counterpart). Nothing is dropped silently.
 */
import { COMPARABLE_DTYPES, elementCount, type DType } from '../checkpoint/dtype.ts';
import type { TensorEntry } from '../checkpoint/folder.ts';
import { runSteps, type Steps } from '../steps.ts';
import { classifyTensor, roleKey, type TensorRole } from './roles.ts';

export interface MatchedTensor extends TensorRole {
  /** A's name, or null for a tensor only B has. */
  name: string | null;
  nameB: string | null;
  a: TensorEntry | null;
  b: TensorEntry | null;
  /** FP8 block scales (`weight_scale_inv`) that belong to a or b. */
  scalesA: TensorEntry | null;
  scalesB: TensorEntry | null;
  /** True when the weights are compared element by element. */
  comparable: boolean;
  /** Why not (or what to keep in mind), when set. */
  note: string | null;
}

export function matchTensors(tensorsA: TensorEntry[], tensorsB: TensorEntry[]): MatchedTensor[] {
  return runSteps(matchTensorsSteps(tensorsA, tensorsB));
}

/** Tensors classified or paired between two steps. */
const STEP_TENSORS = 256;

/** The same, in steps of a few hundred tensors (~0.1 s in all at 19k tensors a side). */
export function* matchTensorsSteps(tensorsA: TensorEntry[], tensorsB: TensorEntry[]): Steps<MatchedTensor[]> {
  const sideA = yield* index(tensorsA);
  const sideB = yield* index(tensorsB);
  const out: MatchedTensor[] = [];
  let keys = 0;
  for (const [key, listA] of sideA.byKey) {
    const listB = sideB.byKey.get(key) ?? [];
    const pairs = pairWithin(listA, listB);
    for (const [a, b] of pairs) out.push(describe(a, b, sideA, sideB));
    sideB.byKey.delete(key);
    if (++keys % STEP_TENSORS === 0) yield;
  }
  for (const listB of sideB.byKey.values()) for (const b of listB) out.push(describe(null, b, sideA, sideB));
  yield;
  return out.sort(compareOrder);
}

interface Side {
  byKey: Map<string, TensorEntry[]>;
  scales: Map<string, TensorEntry>;
}

/** The weight an FP8 block-scale tensor (`weight_scale_inv`, `.scale`) scales. */
function scaledWeight(scaleName: string): string {
  return scaleName.replace(/_scale_inv$|\.scale$/, (m) => (m === '.scale' ? '.weight' : ''));
}

/** FP8 block-scale tensors (`weight_scale_inv`, `.scale`) by the name of the weight they scale. */
export function blockScalesByWeight(tensors: TensorEntry[]): Map<string, TensorEntry> {
  const scales = new Map<string, TensorEntry>();
  for (const t of tensors) {
    if (classifyTensor(t.name).role === 'quant.scale') scales.set(scaledWeight(t.name), t);
  }
  return scales;
}

/** One pass over a side's tensors: the weights by role key, and the block scales by the weight they scale. */
function* index(tensors: TensorEntry[]): Steps<Side> {
  const byKey = new Map<string, TensorEntry[]>();
  const scales = new Map<string, TensorEntry>();
  for (let i = 0; i < tensors.length; i++) {
    if (i > 0 && i % STEP_TENSORS === 0) yield;
    const t = tensors[i]!;
    const role = classifyTensor(t.name);
    if (role.role === 'quant.scale') {
      scales.set(scaledWeight(t.name), t);
      continue;
    }
    const key = roleKey(role);
    const list = byKey.get(key);
    if (list) list.push(t);
    else byKey.set(key, [t]);
  }
  return { byKey, scales };
}

/** One tensor per key is the rule; several (unusual names) are paired by name, then by order. */
function pairWithin(listA: TensorEntry[], listB: TensorEntry[]): [TensorEntry | null, TensorEntry | null][] {
  if (listA.length === 1 && listB.length <= 1) return [[listA[0]!, listB[0] ?? null]];
  const pairs: [TensorEntry | null, TensorEntry | null][] = [];
  const restB = [...listB];
  for (const a of listA) {
    const i = restB.findIndex((b) => b.name === a.name);
    pairs.push([a, i >= 0 ? restB.splice(i, 1)[0]! : null]);
  }
  for (const b of restB) pairs.push([null, b]);
  return pairs;
}

function describe(a: TensorEntry | null, b: TensorEntry | null, sideA: Side, sideB: Side): MatchedTensor {
  const role = classifyTensor((a ?? b)!.name);
  const { comparable, note } = comparability(a, b);
  // One literal, fields in the order the role's and then these come (19k of them for a 100B MoE: no spreads).
  return {
    role: role.role, group: role.group, layer: role.layer, expert: role.expert, fusedExperts: role.fusedExperts,
    name: a?.name ?? null, nameB: b?.name ?? null, a, b,
    scalesA: a ? sideA.scales.get(a.name) ?? null : null, scalesB: b ? sideB.scales.get(b.name) ?? null : null,
    comparable, note,
  };
}

function comparability(a: TensorEntry | null, b: TensorEntry | null): { comparable: boolean; note: string | null } {
  if (!a) return { comparable: false, note: 'only in B: no tensor of this role, layer and expert in A' };
  if (!b) return { comparable: false, note: 'only in A: no tensor of this role, layer and expert in B' };
  if (a.note) return { comparable: false, note: `A: ${a.note}` };
  if (b.note) return { comparable: false, note: `B: ${b.note}` };
  for (const [side, t] of [['A', a], ['B', b]] as const) {
    if (!COMPARABLE_DTYPES.has(t.dtype as DType)) return { comparable: false, note: `${side} is ${t.dtype}, not a floating weight dtype compared here` };
  }
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    return { comparable: false, note: `shapes differ: ${JSON.stringify(a.shape)} vs ${JSON.stringify(b.shape)}` };
  }
  if (elementCount(a.shape) === 0) return { comparable: false, note: 'empty tensor' };
  return { comparable: true, note: null };
}

const GROUP_ORDER = ['embedding', 'attention', 'norm', 'mlp', 'router', 'shared_expert', 'routed_expert', 'other', 'quant', 'lm_head'];

/** Embedding first, then layer by layer (experts in index order), top-level tensors, lm_head last. */
function compareOrder(x: MatchedTensor, y: MatchedTensor): number {
  const rank = (t: MatchedTensor) => (t.group === 'embedding' ? 0 : t.layer !== null ? 1 : t.group === 'lm_head' ? 3 : 2);
  return (
    rank(x) - rank(y) ||
    (x.layer ?? -1) - (y.layer ?? -1) ||
    (x.expert ?? -1) - (y.expert ?? -1) ||
    GROUP_ORDER.indexOf(x.group) - GROUP_ORDER.indexOf(y.group) ||
    x.role.localeCompare(y.role) ||
    (x.name ?? x.nameB ?? '').localeCompare(y.name ?? y.nameB ?? '')
  );
}
