/**
 * BPE merge order, compared across formats. Every BPE vocabulary implies the order in which its
 * merges created its tokens: the merges list of tokenizer.json and GGUF, the ranks of tiktoken,
 * the scores of SentencePiece BPE. Comparing that creation order (as byte strings) works between
 * any two of them; where both sides list explicit merge pairs, the pair sets are compared too.
 *
 * The first merges of any English-heavy vocabulary are the same few hundred (`t h`, `i n`,
 * `e r` ...), so agreement there means nothing; what separates a reused tokenizer from an
 * independent one trained on similar text is agreement late in the order, where merges are rare
 * and their order is an accident of one training run.
 */
import type { Tokenizer } from './model.ts';
import { pieceKey } from './pieces.ts';
import { adjacentConcordance, ratio, round, spearman } from './stats.ts';

/** The first merges are treated as universal; late agreement is measured after them. */
export const UNIVERSAL_MERGES = 1000;

export type CreationOrder = { keys: string[]; basis: 'merges' | 'ranks' | 'scores' } | { keys: null; reason: string };

function key(tok: Tokenizer, piece: string): string {
  return pieceKey(piece, tok.pieceStyle);
}

/** The byte keys of a BPE tokenizer's multi-symbol tokens in the order its merges create them. */
export function creationOrder(tok: Tokenizer): CreationOrder {
  if (tok.model !== 'bpe' || !tok.bpe) {
    const what = tok.model === 'unigram' ? 'a Unigram' : tok.model === 'wordpiece' ? 'a WordPiece' : 'a non-BPE';
    return { keys: null, reason: `${what} vocabulary has no merge order` };
  }
  const seen = new Set<string>();
  const keys: string[] = [];
  const push = (k: string) => {
    if (!seen.has(k)) {
      seen.add(k);
      keys.push(k);
    }
  };
  switch (tok.bpe.priority) {
    case 'merges': {
      const prefix = tok.bpe.continuingSubwordPrefix;
      for (const [a, b] of tok.merges ?? []) {
        push(key(tok, a + (prefix && b.startsWith(prefix) ? b.slice(prefix.length) : b)));
      }
      return { keys, basis: 'merges' };
    }
    case 'token-rank': {
      tok.tokens.forEach((piece, id) => {
        if (piece !== null && tok.types[id] === 'normal' && Array.from(piece).length >= 2) push(key(tok, piece));
      });
      return { keys, basis: 'ranks' };
    }
    case 'piece-score': {
      const scores = tok.scores;
      const ids: number[] = [];
      tok.tokens.forEach((piece, id) => {
        if (piece !== null && tok.types[id] === 'normal' && Array.from(piece).length >= 2) ids.push(id);
      });
      // SentencePiece BPE scores pieces by creation order (score = -merge index).
      if (scores) ids.sort((x, y) => scores[y]! - scores[x]! || x - y);
      for (const id of ids) push(key(tok, tok.tokens[id]!));
      return { keys, basis: 'scores' };
    }
  }
}

function pairSet(tok: Tokenizer): Set<string> | null {
  if (!tok.merges) return null;
  const out = new Set<string>();
  for (const [a, b] of tok.merges) out.add(key(tok, a) + '\uFFFE' + key(tok, b));
  return out;
}

export interface MergeComparison {
  available: true;
  /** How each side's order was derived: merges list, tiktoken ranks or SentencePiece scores. */
  basisA: 'merges' | 'ranks' | 'scores';
  basisB: 'merges' | 'ranks' | 'scores';
  countA: number;
  countB: number;
  /** Jaccard of the sets of tokens the merges create. */
  jaccard: number | null;
  /** Jaccard of the merge pairs themselves, where both sides list them; else null with pairNote. */
  pairJaccard: number | null;
  pairNote?: string;
  /** How many merges, from the first, are the same in both orders. */
  commonPrefix: number;
  /** Spearman correlation of the positions of shared merges. */
  rankCorrelation: number | null;
  late: {
    /** Merges before this position (in both orders) are left out as universal. */
    from: number;
    /** Late merges of A that B also has late. */
    shared: number;
    /** shared / A's late merges. */
    sharedShare: number | null;
    rankCorrelation: number | null;
    /** Share of neighbouring late merges (in A's order) that B orders the same way. */
    orderAgreement: number | null;
  };
}

export type MergeSection = MergeComparison | { available: false; reason: string };

export function compareMerges(a: Tokenizer, b: Tokenizer): MergeSection {
  const oa = creationOrder(a);
  const ob = creationOrder(b);
  if (oa.keys === null) return { available: false, reason: `A: ${oa.reason}` };
  if (ob.keys === null) return { available: false, reason: `B: ${ob.reason}` };
  const posB = new Map<string, number>();
  ob.keys.forEach((k, i) => posB.set(k, i));
  const sharedA: number[] = [];
  const sharedB: number[] = [];
  oa.keys.forEach((k, i) => {
    const j = posB.get(k);
    if (j !== undefined) {
      sharedA.push(i);
      sharedB.push(j);
    }
  });
  let prefix = 0;
  while (prefix < oa.keys.length && prefix < ob.keys.length && oa.keys[prefix] === ob.keys[prefix]) prefix++;
  const shorter = Math.min(oa.keys.length, ob.keys.length);
  // Small vocabularies (toy models) have no thousand universal merges; keep the last 90% there.
  const from = Math.min(UNIVERSAL_MERGES, Math.floor(shorter / 10));
  const lateA: number[] = [];
  const lateB: number[] = [];
  for (let i = 0; i < sharedA.length; i++) {
    if (sharedA[i]! >= from && sharedB[i]! >= from) {
      lateA.push(sharedA[i]!);
      lateB.push(sharedB[i]!);
    }
  }
  const union = oa.keys.length + ob.keys.length - sharedA.length;
  const both = a.merges !== null && b.merges !== null;
  const pa = both ? pairSet(a) : null;
  const pb = both ? pairSet(b) : null;
  let pairJaccard: number | null = null;
  let pairNote: string | undefined;
  if (pa && pb) {
    let both = 0;
    for (const p of pa) if (pb.has(p)) both++;
    pairJaccard = ratio(both, pa.size + pb.size - both);
  } else {
    pairNote = 'merge pairs are listed only by tokenizer.json and GGUF BPE files; the comparison uses the order of created tokens';
  }
  return {
    available: true,
    basisA: oa.basis,
    basisB: ob.basis,
    countA: oa.keys.length,
    countB: ob.keys.length,
    jaccard: round(ratio(sharedA.length, union)),
    pairJaccard: round(pairJaccard),
    ...(pairNote ? { pairNote } : {}),
    commonPrefix: prefix,
    rankCorrelation: round(spearman(sharedA, sharedB)),
    late: {
      from,
      shared: lateA.length,
      sharedShare: round(ratio(lateA.length, oa.keys.length - from)),
      rankCorrelation: round(spearman(lateA, lateB)),
      orderAgreement: round(adjacentConcordance(lateA, lateB)),
    },
  };
}
