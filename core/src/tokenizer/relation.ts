/**
 * The relation between two tokenizers, decided from overlap, id alignment and merge order.
 *
 * The seed's overlap bands (>98% reuse, 90-98% extension, <90% independent) are not enough on
 * their own: measured on real pairs, 95% of Llama 2's vocabulary is inside Gemma's and 75% of it
 * inside Mistral's, yet both were trained independently, while Qwen's vocabulary holds 98.9% of
 * cl100k in the same order because it was built from it. What separates them is the order: a
 * reused vocabulary keeps its token order (ids, possibly shifted) and its merge order far into
 * the list, where independent training on similar text agrees only loosely. Thresholds, from the
 * pairs in test/tokenizer-relation.test.ts:
 * - late merge-order Spearman: 1.0 for Llama 3/cl100k, Qwen/cl100k, Phi-3/Llama 2; >= 0.996 for
 *   tokenizers of one lineage (StarCoder/Refact/Granite, DeepSeek LLM/Coder, Llama 3/Qwen);
 *   <= 0.83 for independent pairs (Llama 2/Mistral 0.73, GPT-2/NeoX 0.75, cl100k/o200k 0.76,
 *   Falcon/GPT-2 0.82, Gemma/Llama 2 0.63).
 * - id order (Spearman of shared tokens' ids): >= 0.996 within a lineage, <= 0.84 between
 *   independent vocabularies with large overlap.
 */
import type { EncodingAgreement } from './encoding.ts';
import type { MergeSection } from './merges.ts';
import type { OverlapResult, TokenSetDiff } from './overlap.ts';
import type { VocabView } from './vocab.ts';

export type Relation = 'identical' | 'extension' | 'reordered' | 'overlapping' | 'independent';

export interface RelationInput {
  viewA: VocabView;
  viewB: VocabView;
  overlap: OverlapResult;
  merges: MergeSection;
  encoding: EncodingAgreement;
  /** The normalized vocabularies are equal id by id (vocab hashes match). */
  identicalVocab: boolean;
  /** The normalized vocabularies hold the same token set (set hashes match). */
  sameSet: boolean;
}

/** Share of the smaller vocabulary found in the larger one at or above which it counts as contained. */
export const CONTAINED = 0.98;
/** Late merge-order Spearman at or above which the merge orders share an origin. */
export const MERGE_ORDER_AGREES = 0.99;
/** Below this the late merge order is what independent training gives. */
export const MERGE_ORDER_UNRELATED = 0.9;
/** Id-order Spearman at or above which shared tokens keep their relative order. */
export const ID_ORDER_KEPT = 0.99;
/** Late merges needed before their order is taken as evidence. */
const MIN_LATE_MERGES = 50;

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(x > 0.999 && x < 1 ? 3 : 1)}%`);
const num = (x: number | null) => (x === null ? 'n/a' : x.toFixed(4));

function scripts(d: TokenSetDiff): string {
  const entries = Object.entries(d.scripts).slice(0, 3).map(([s, n]) => `${s} ${n}`);
  const parts = [...entries];
  if (d.special) parts.push(`${d.special} special/added`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function range(d: TokenSetDiff): string {
  return d.idRange ? `, ids ${d.idRange[0]}-${d.idRange[1]}` : '';
}

/** The late merge-order correlation, when there are enough late merges to judge by. */
function lateOrder(m: MergeSection): number | null {
  if (!m.available || m.late.shared < MIN_LATE_MERGES) return null;
  return m.late.rankCorrelation;
}

function mergeNote(m: MergeSection): string {
  if (!m.available) return `merge order not compared (${m.reason})`;
  return `late merge order (after the first ${m.late.from}) Spearman ${num(m.late.rankCorrelation)}, neighbour agreement ${num(m.late.orderAgreement)}`;
}

/** The seed's overlap band for the share of the smaller vocabulary that the larger one holds. */
export function overlapBand(o: OverlapResult): string {
  const contained = Math.max(o.shareOfA ?? 0, o.shareOfB ?? 0);
  const band = contained > 0.98 ? '>98%: reuse suggested' : contained >= 0.9 ? '90-98%: extension or continued pre-training suggested' : '<90%: independent suggested';
  return `${pct(contained)} of the smaller vocabulary is in the larger (seed band ${band}; the relation weighs id and merge order too)`;
}

export function decideRelation(input: RelationInput): { relation: Relation; reason: string } {
  const { viewA, viewB, overlap: o, merges: m } = input;
  // "Small" is the side with fewer ids (the one an extension would extend).
  const aSmaller = viewA.size < viewB.size || (viewA.size === viewB.size && viewA.distinct <= viewB.distinct);
  const [small, large] = aSmaller ? ['A', 'B'] : ['B', 'A'];
  const smallDistinct = aSmaller ? viewA.distinct : viewB.distinct;
  const onlySmall = aSmaller ? o.onlyA : o.onlyB;
  const onlyLarge = aSmaller ? o.onlyB : o.onlyA;
  const contained = smallDistinct === 0 ? 0 : o.shared / smallDistinct;
  const mutual = Math.min(o.shareOfA ?? 0, o.shareOfB ?? 0);
  const late = lateOrder(m);
  const mergesAgree = late !== null && late >= MERGE_ORDER_AGREES;
  const mergesUnrelated = late !== null && late < MERGE_ORDER_UNRELATED;
  // Exact order: every shared token keeps its place relative to its neighbours (same ids, or ids
  // shifted in blocks where tokens were removed or inserted).
  const exactOrder = (o.idNeighbourAgreement ?? 0) >= ID_ORDER_KEPT;
  // Loose order: the ids correlate as only a common origin makes them.
  const looseOrder = o.idOrderCorrelation !== null && o.idOrderCorrelation >= ID_ORDER_KEPT;
  const sameIds = (o.sameIdRate ?? 0) >= CONTAINED;
  const regularOnlyA = o.onlyA.count - o.onlyA.special;
  const regularOnlyB = o.onlyB.count - o.onlyB.special;
  const mergesSame = !m.available || (m.commonPrefix === m.countA && m.countA === m.countB) || (mergesAgree && (m.jaccard ?? 0) >= 0.999);
  const idNote = sameIds
    ? 'with the same ids'
    : exactOrder
      ? `in the same order (ids shifted: ${pct(o.sameIdRate)} keep their id; commonest shift ${o.dominantOffset} for ${pct(o.dominantOffsetShare)})`
      : `renumbered (${pct(o.sameIdRate)} keep their id; id-order Spearman ${num(o.idOrderCorrelation)}, neighbour agreement ${num(o.idNeighbourAgreement)})`;

  // Same regular tokens at the same ids and the same merge order: identical when the ids are the
  // same too; when one side has more ids (added special tokens), an extension.
  const regularIdentical = regularOnlyA === 0 && regularOnlyB === 0 && o.sharedRegularSameId === o.sharedRegular;
  if ((input.identicalVocab || regularIdentical) && mergesSame) {
    const specialNote = o.onlyA.special + o.onlyB.special
      ? `; special tokens differ (${o.onlyA.special} only in A, ${o.onlyB.special} only in B)`
      : o.special.sharedSameId < o.special.shared.length ? '; some special tokens have other ids' : '';
    if (viewA.size === viewB.size) {
      return {
        relation: 'identical',
        reason: `the same ${o.sharedRegular} regular tokens at the same ids${m.available ? ', same merge order' : ''}${specialNote}`,
      };
    }
    return {
      relation: 'extension',
      reason: `${large} has the same ${o.sharedRegular} regular tokens at the same ids${m.available ? ' and the same merge order' : ''} and ${viewA.size > viewB.size ? viewA.size - viewB.size : viewB.size - viewA.size} more ids: adds ${onlyLarge.count} tokens${range(onlyLarge)}${scripts(onlyLarge)}` +
        (onlySmall.count ? `; ${small} has ${onlySmall.count} special tokens ${large} lacks` : ''),
    };
  }
  if (input.identicalVocab || regularIdentical) {
    return {
      relation: 'reordered',
      reason: `the same tokens at the same ids, but the merge order differs (${mergeNote(m)})`,
    };
  }

  const missing = onlySmall.count - onlySmall.special;
  const missingNote = missing > 0 ? `; ${missing} of ${small}'s tokens are not in ${large}${scripts({ ...onlySmall, special: 0 })}` : '';
  if (contained >= CONTAINED && onlyLarge.count > 0 && exactOrder && !mergesUnrelated && (mergesAgree || late === null)) {
    return {
      relation: 'extension',
      reason:
        `${large} holds ${pct(contained)} of ${small}'s tokens (${o.shared} of ${smallDistinct}) ${idNote} and adds ${onlyLarge.count}${range(onlyLarge)}${scripts(onlyLarge)}` +
        `${missingNote}; ${mergeNote(m)}`,
    };
  }
  if (mutual >= CONTAINED || (contained >= CONTAINED && (looseOrder || mergesAgree))) {
    if (sameIds) {
      return {
        relation: 'overlapping',
        reason: `the same ids for ${pct(o.sameIdRate)} of ${o.shared} shared tokens, with ${regularOnlyA} regular tokens only in A and ${regularOnlyB} only in B (tokens replaced in place: reuse with edits); ${mergeNote(m)}`,
      };
    }
    return {
      relation: 'reordered',
      reason: `${pct(contained)} of ${small}'s tokens are in ${large} (${pct(mutual)} both ways), ${idNote}; ${mergeNote(m)}`,
    };
  }
  const commonOrigin = mergesAgree || (late === null && looseOrder);
  if (commonOrigin && contained >= 0.3) {
    return {
      relation: 'overlapping',
      reason:
        `${pct(contained)} of ${small}'s tokens are in ${large}, ${idNote}, and ${late !== null ? `the ${mergeNote(m)} agrees` : 'the shared tokens keep their order'}: ` +
        'a common origin (one built from the other, or both from one ancestor) without either containing the other',
    };
  }
  const despite = contained >= 0.5 ? `despite ${pct(contained)} of ${small}'s tokens being in ${large}, ` : `only ${pct(contained)} of ${small}'s tokens are in ${large}; `;
  const orderEvidence = late !== null ? `${mergeNote(m)}, as between independently trained vocabularies` : `shared tokens ${idNote}`;
  return {
    relation: 'independent',
    reason: `${despite}ids differ (${pct(o.sameIdRate)} the same) and ${orderEvidence}`,
  };
}
