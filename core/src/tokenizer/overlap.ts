/**
 * Vocabulary overlap between two byte views: shared tokens, how their ids line up (same id, a
 * constant shift, the same order), the special tokens on each side, and what one side has that
 * the other lacks, described by id range and script.
 */
import { keyBytes } from './pieces.ts';
import { adjacentConcordance, ratio, round, spearman } from './stats.ts';
import { isSpecialKey, type VocabView } from './vocab.ts';

export interface TokenSetDiff {
  count: number;
  /** Of which special/added tokens (compared by text). */
  special: number;
  /** Lowest and highest id of these tokens on their side. */
  idRange: [number, number] | null;
  /** Regular tokens by dominant script (Latin, Hangul, Han, ...). */
  scripts: Record<string, number>;
  /** The first few, shown as text. */
  sample: string[];
}

export interface OverlapResult {
  shared: number;
  /** Shared regular (non-special) tokens, and how many of them keep their id. */
  sharedRegular: number;
  sharedRegularSameId: number;
  shareOfA: number | null;
  shareOfB: number | null;
  /** Shared tokens with the same id on both sides / shared tokens. */
  sameIdRate: number | null;
  /** The most common id shift (idB - idA) among shared tokens and the share it covers. */
  dominantOffset: number | null;
  dominantOffsetShare: number | null;
  /** Spearman correlation of the ids of shared tokens: 1 when they keep their order. */
  idOrderCorrelation: number | null;
  /**
   * Share of shared tokens, taken in A's id order, whose B id is above the previous one's: 1 when
   * ids keep their exact order (same ids, or shifted in blocks), lower when they are shuffled
   * even locally.
   */
  idNeighbourAgreement: number | null;
  onlyA: TokenSetDiff;
  onlyB: TokenSetDiff;
  special: { a: string[]; b: string[]; shared: string[]; sharedSameId: number };
}

const SCRIPTS: [string, RegExp][] = [
  ['Hangul', /\p{Script=Hangul}/u],
  ['Han', /\p{Script=Han}/u],
  ['Hiragana/Katakana', /[\p{Script=Hiragana}\p{Script=Katakana}]/u],
  ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Greek', /\p{Script=Greek}/u],
  ['Arabic', /\p{Script=Arabic}/u],
  ['Hebrew', /\p{Script=Hebrew}/u],
  ['Devanagari', /\p{Script=Devanagari}/u],
  ['Thai', /\p{Script=Thai}/u],
  ['Latin', /\p{Script=Latin}/u],
  ['digits', /\p{N}/u],
  ['whitespace', /^\s+$/u],
  ['punctuation/symbols', /[\p{P}\p{S}]/u],
];

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A token's text for people: its bytes as UTF-8, or `<0xNN>` escapes where they are not text. */
export function showKey(key: string): string {
  if (isSpecialKey(key)) return key.slice(1);
  const bytes = keyBytes(key);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)).join('');
  }
}

function scriptOf(key: string): string {
  const bytes = keyBytes(key);
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return 'partial UTF-8';
  }
  for (const [name, re] of SCRIPTS) if (re.test(text)) return name;
  return 'other';
}

function describe(keys: { key: string; id: number }[]): TokenSetDiff {
  const scripts: Record<string, number> = {};
  let special = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const { key, id } of keys) {
    lo = Math.min(lo, id);
    hi = Math.max(hi, id);
    if (isSpecialKey(key)) special++;
    else {
      const s = scriptOf(key);
      scripts[s] = (scripts[s] ?? 0) + 1;
    }
  }
  const sorted = Object.fromEntries(Object.entries(scripts).sort((x, y) => y[1] - x[1]));
  return {
    count: keys.length,
    special,
    idRange: keys.length ? [lo, hi] : null,
    scripts: sorted,
    // Whole tokens make better examples than fragments of multi-byte characters.
    sample: [...new Set([...keys.filter((k) => isSpecialKey(k.key) || scriptOf(k.key) !== 'partial UTF-8'), ...keys])]
      .slice(0, 12)
      .map((k) => showKey(k.key)),
  };
}

export function compareVocabularies(a: VocabView, b: VocabView): OverlapResult {
  let shared = 0;
  let sharedRegular = 0;
  let sharedRegularSameId = 0;
  let sameId = 0;
  const offsets = new Map<number, number>();
  const idsA: number[] = [];
  const idsB: number[] = [];
  const onlyA: { key: string; id: number }[] = [];
  const specialA: string[] = [];
  const specialShared: string[] = [];
  let specialSameId = 0;
  // idOf holds keys in id order (vocabView inserts them so), which the lists below keep.
  for (const [key, idA] of a.idOf) {
    const idB = b.idOf.get(key);
    const special = isSpecialKey(key);
    if (special) specialA.push(key.slice(1));
    if (idB === undefined) {
      onlyA.push({ key, id: idA });
      continue;
    }
    shared++;
    if (!special) {
      sharedRegular++;
      if (idA === idB) sharedRegularSameId++;
    }
    if (idA === idB) sameId++;
    if (special) {
      specialShared.push(key.slice(1));
      if (idA === idB) specialSameId++;
    }
    offsets.set(idB - idA, (offsets.get(idB - idA) ?? 0) + 1);
    idsA.push(idA);
    idsB.push(idB);
  }
  const onlyB: { key: string; id: number }[] = [];
  const specialB: string[] = [];
  for (const [key, idB] of b.idOf) {
    if (isSpecialKey(key)) specialB.push(key.slice(1));
    if (!a.idOf.has(key)) onlyB.push({ key, id: idB });
  }
  let dominantOffset: number | null = null;
  let dominantCount = 0;
  for (const [off, count] of offsets) {
    if (count > dominantCount || (count === dominantCount && dominantOffset !== null && Math.abs(off) < Math.abs(dominantOffset))) {
      dominantOffset = off;
      dominantCount = count;
    }
  }
  return {
    shared,
    sharedRegular,
    sharedRegularSameId,
    shareOfA: round(ratio(shared, a.distinct)),
    shareOfB: round(ratio(shared, b.distinct)),
    sameIdRate: round(ratio(sameId, shared)),
    dominantOffset,
    dominantOffsetShare: round(ratio(dominantCount, shared)),
    idOrderCorrelation: round(spearman(idsA, idsB)),
    idNeighbourAgreement: round(adjacentConcordance(idsA, idsB)),
    onlyA: describe(onlyA),
    onlyB: describe(onlyB),
    special: { a: specialA, b: specialB, shared: specialShared, sharedSameId: specialSameId },
  };
}
