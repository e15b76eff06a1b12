/**
 * Embeddings when vocabularies differ (DESIGN.md item 5, issue 5). A derivative that extends the
 * vocabulary (new tokens appended, or the vocabulary renumbered) changes the embedding's shape, so
 * the tensor-by-tensor comparison cannot pair it; but the tokens both vocabularies share keep their
 * rows. Tokens are matched by their normalized byte strings (tokenizer/vocab.ts: `Ġhello`,
 * `▁hello` and the bytes ` hello` are one key), and the embedding rows (and lm_head rows, where
 * both models have one) of a seeded sample of shared tokens are compared pair by pair through the
 * comparison kernels.
 *
 * The null is empirical: the same rows of A against the rows of *other* shared tokens in B (a
 * random derangement of the sample). Under independence the token identity carries no information
 * from A's coordinates to B's, so matched and mismatched rows have one distribution; whatever
 * structure the rows share regardless of token (a common mean direction, anisotropy) is in both
 * and cancels. The closed form √(2 / (rows·(d − 1))) assumes isotropic rows and is reported beside it.
 */
import { LineageError } from '../errors.ts';
import { COMPARABLE_DTYPES, bytesPerElement, type DType } from '../checkpoint/dtype.ts';
import type { Checkpoint, TensorEntry } from '../checkpoint/folder.ts';
import { compareCrossPairs, type CrossPair } from '../compare/cross-pairs.ts';
import type { TensorRef } from '../plan/plan.ts';
import { classifyTensor } from '../roles/roles.ts';
import { chooseSorted } from '../sample/blocks.ts';
import { emptyMoments, finalizeMoments, mergeMoments, type Moments } from '../stats/moments.ts';
import { Random } from '../synth/random.ts';
import type { Tokenizer } from '../tokenizer/model.ts';
import { vocabView } from '../tokenizer/vocab.ts';

export interface EmbeddingTensorControl {
  tensor: 'embedding' | 'lm_head';
  nameA: string;
  nameB: string;
  rowsCompared: number;
  /** Pooled over the compared rows (all their elements as one vector). */
  cosine: number | null;
  centeredCosine: number | null;
  /** Mean per-row centered cosine of matched rows (token t in A against token t in B). */
  rowMean: number | null;
  /** Mean per-row centered cosine of mismatched rows (token t in A against another shared token in B). */
  nullMean: number | null;
  /** Spread of rowMean − nullMean under independence: sd of the mismatched rows · √(2 / rows). */
  nullSd: number | null;
  z: number | null;
}

export interface EmbeddingControl {
  /** Tokens both vocabularies hold (by normalized bytes) whose ids have rows in both embeddings. */
  sharedTokens: number;
  /** Of the shared tokens, the share with the same id on both sides. */
  sameIdShare: number | null;
  /** Tokens whose rows were compared (a seeded sample when there are many), per tensor. */
  rowsCompared: number;
  /** Pooled over every compared row of every tensor (embedding, then lm_head). */
  cosine: number | null;
  centeredCosine: number | null;
  rowMean: number | null;
  nullMean: number | null;
  nullSd: number | null;
  /** (rowMean − nullMean) / nullSd. */
  z: number | null;
  /** How the null was obtained. */
  nullKind: string;
  /** The same spread in closed form for isotropic rows, √(2 / (rows·(d − 1))), for comparison. */
  closedFormNullSd: number | null;
  tensors: EmbeddingTensorControl[];
  note: string;
}

export interface EmbeddingOptions {
  /** Compare this fraction of the shared tokens (capped by maxRows; at least 256 when there are that many). */
  sample?: number;
  /** At most this many shared tokens (default 4096). */
  maxRows?: number;
  seed?: number;
  threads?: number;
}

const DEFAULT_MAX_ROWS = 4096;
const MIN_SAMPLED_ROWS = 256;
const NULL_KIND = 'empirical: the same rows of A against the rows of other shared tokens in B (a seeded derangement)';

/** The 2-D tensor of a role (embedding, lm_head) with the most rows. */
function topTensor(ck: Checkpoint, role: 'embedding' | 'lm_head'): TensorEntry | null {
  let best: TensorEntry | null = null;
  for (const t of ck.tensors) {
    const r = classifyTensor(t.name);
    if (r.role !== role || r.layer !== null || t.shape.length !== 2 || !COMPARABLE_DTYPES.has(t.dtype as DType)) continue;
    if (!best || t.shape[0]! > best.shape[0]!) best = t;
  }
  return best;
}

function rowRef(t: TensorEntry, row: number): TensorRef {
  const bytes = t.shape[1]! * bytesPerElement(t.dtype as DType);
  return { file: t.file, offset: t.offset + row * bytes, byteLength: bytes, dtype: t.dtype as DType, shape: [t.shape[1]!] };
}

/** Shared tokens as (id in A, id in B), in A's id order; only ids that have a row on both sides. */
export function sharedTokenIds(tokA: Tokenizer, tokB: Tokenizer, rowsA: number, rowsB: number): { pairs: [number, number][]; sameId: number } {
  const va = vocabView(tokA);
  const vb = vocabView(tokB);
  const pairs: [number, number][] = [];
  let sameId = 0;
  for (const [key, idA] of va.idOf) {
    const idB = vb.idOf.get(key);
    if (idB === undefined || idA >= rowsA || idB >= rowsB) continue;
    pairs.push([idA, idB]);
    if (idA === idB) sameId++;
  }
  pairs.sort((x, y) => x[0] - y[0]);
  return { pairs, sameId };
}

/** A derangement of 0..n−1 (n ≥ 2): one random cycle, so no index maps to itself. */
function derangement(n: number, random: Random): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random.uniform() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const out = new Array<number>(n);
  for (let k = 0; k < n; k++) out[order[k]!] = order[(k + 1) % n]!;
  return out;
}

interface RowStats {
  pooled: Moments;
  matched: number[];
  mismatched: number[];
}

function summarize(s: RowStats): Pick<EmbeddingControl, 'cosine' | 'centeredCosine' | 'rowMean' | 'nullMean' | 'nullSd' | 'z'> {
  const pooled = finalizeMoments(s.pooled);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : null);
  const rowMean = mean(s.matched);
  const nullMean = mean(s.mismatched);
  let nullSd: number | null = null;
  if (nullMean !== null && s.mismatched.length >= 2) {
    const variance = s.mismatched.reduce((a, x) => a + (x - nullMean) ** 2, 0) / (s.mismatched.length - 1);
    nullSd = Math.sqrt((2 * variance) / s.mismatched.length);
  }
  return {
    cosine: pooled.cosine,
    centeredCosine: pooled.centeredCosine,
    rowMean,
    nullMean,
    nullSd,
    z: rowMean !== null && nullMean !== null && nullSd ? (rowMean - nullMean) / nullSd : null,
  };
}

function emptyControl(sharedTokens: number, sameIdShare: number | null, note: string): EmbeddingControl {
  return {
    sharedTokens, sameIdShare, rowsCompared: 0, cosine: null, centeredCosine: null, rowMean: null, nullMean: null,
    nullSd: null, z: null, nullKind: NULL_KIND, closedFormNullSd: null, tensors: [], note,
  };
}

/** Which shared tokens' rows to compare: decided from the tokenizers (no tensor read), then compared by compareSharedRows. */
export interface SharedRowsPlan {
  /** Every shared token with a row on both sides. */
  sharedTokens: number;
  /** Of those, how many keep their id. */
  sameId: number;
  /** The rows compared: (row in A, row in B), a seeded choice of at most maxRows, in A's order. */
  chosen: [number, number][];
}

function embeddingKinds(a: Checkpoint, b: Checkpoint) {
  return (['embedding', 'lm_head'] as const)
    .map((kind) => ({ kind, ta: topTensor(a, kind), tb: topTensor(b, kind) }))
    .filter((x): x is { kind: 'embedding' | 'lm_head'; ta: TensorEntry; tb: TensorEntry } => x.ta !== null && x.tb !== null);
}

/** The shared tokens and the seeded choice of rows; null (no error) when a side has no tokenizer. */
export function planSharedRows(a: Checkpoint, b: Checkpoint, tokA: Tokenizer | null, tokB: Tokenizer | null, options: EmbeddingOptions = {}): SharedRowsPlan | null {
  if (!tokA || !tokB) return null;
  const kinds = embeddingKinds(a, b);
  if (kinds.length === 0) return { sharedTokens: 0, sameId: 0, chosen: [] };
  const rowsA = Math.min(...kinds.map((k) => k.ta.shape[0]!));
  const rowsB = Math.min(...kinds.map((k) => k.tb.shape[0]!));
  const { pairs, sameId } = sharedTokenIds(tokA, tokB, rowsA, rowsB);
  const random = new Random(options.seed ?? 1, 'shared-embeddings');
  const maxRows = Math.max(2, options.maxRows ?? DEFAULT_MAX_ROWS);
  let count = Math.min(pairs.length, maxRows);
  if (options.sample !== undefined && options.sample < 1) count = Math.min(count, Math.max(Math.min(pairs.length, MIN_SAMPLED_ROWS), Math.ceil(options.sample * pairs.length)));
  const chosen = count < pairs.length ? chooseSorted(pairs.length, count, random).map((i) => pairs[i]!) : pairs;
  return { sharedTokens: pairs.length, sameId, chosen };
}

/**
 * Compares the rows of the tokens both vocabularies share. Null (no error) when a side has no
 * tokenizer; a control with null statistics and a note when there is nothing to compare.
 */
export async function analyzeSharedEmbeddings(
  a: Checkpoint, b: Checkpoint, tokA: Tokenizer | null, tokB: Tokenizer | null, options: EmbeddingOptions = {},
): Promise<EmbeddingControl | null> {
  const plan = planSharedRows(a, b, tokA, tokB, options);
  return plan ? compareSharedRows(a, b, plan, options) : null;
}

/** The rows a plan chose, matched and mismatched (the null), through the comparison kernels. */
export async function compareSharedRows(a: Checkpoint, b: Checkpoint, plan: SharedRowsPlan, options: EmbeddingOptions = {}): Promise<EmbeddingControl> {
  const kinds = embeddingKinds(a, b);
  const embedding = kinds.find((k) => k.kind === 'embedding') ?? kinds[0];
  if (!embedding) return emptyControl(0, null, 'no embedding or lm_head tensor on both sides');
  const usable = kinds.filter((k) => k.ta.shape[1] === k.tb.shape[1]);
  const sharedTokens = plan.sharedTokens;
  const sameIdShare = sharedTokens ? plan.sameId / sharedTokens : null;
  if (usable.length === 0) {
    return emptyControl(sharedTokens, sameIdShare, `hidden sizes differ (${embedding.ta.shape[1]} vs ${embedding.tb.shape[1]}): rows cannot be compared`);
  }
  if (sharedTokens < 2 || plan.chosen.length < 2) return emptyControl(sharedTokens, sameIdShare, `${sharedTokens} shared token(s): too few to compare against a null`);
  const chosen = plan.chosen;
  // A plan may come over the network: every row must lie inside both tensors.
  for (const { ta, tb } of usable) {
    const bad = chosen.find(([ia, ib]) => !Number.isInteger(ia) || !Number.isInteger(ib) || ia < 0 || ib < 0 || ia >= ta.shape[0]! || ib >= tb.shape[0]!);
    if (bad) throw new LineageError('BAD_INPUT', `shared-row plan names rows (${bad.join(', ')}) outside ${ta.name} / ${tb.name}`);
  }
  // The null's partners: a derangement drawn after the choice of rows, from its own stream.
  const other = derangement(chosen.length, new Random(options.seed ?? 1, 'shared-embeddings/null'));

  // Per tensor: matched rows, then mismatched rows, in token order.
  const cross: CrossPair[] = [];
  for (const { ta, tb } of usable) {
    for (const [ia, ib] of chosen) cross.push({ a: rowRef(ta, ia), b: rowRef(tb, ib) });
    for (let k = 0; k < chosen.length; k++) cross.push({ a: rowRef(ta, chosen[k]![0]), b: rowRef(tb, chosen[other[k]!]![1]) });
  }
  const { moments, errors } = await compareCrossPairs(cross, { threads: options.threads, pairsPerTask: 512 });
  const failed = errors.find((e) => e !== null);
  if (failed) return emptyControl(sharedTokens, sameIdShare, `rows could not be read: ${failed}`);

  const all: RowStats = { pooled: emptyMoments(), matched: [], mismatched: [] };
  const tensors: EmbeddingTensorControl[] = [];
  const n = chosen.length;
  usable.forEach(({ kind, ta, tb }, t) => {
    const s: RowStats = { pooled: emptyMoments(), matched: [], mismatched: [] };
    for (let k = 0; k < n; k++) {
      const m = moments[2 * n * t + k]!;
      s.pooled = mergeMoments(s.pooled, m);
      const c = finalizeMoments(m).centeredCosine;
      if (c !== null) s.matched.push(c);
      const mm = finalizeMoments(moments[2 * n * t + n + k]!).centeredCosine;
      if (mm !== null) s.mismatched.push(mm);
    }
    all.pooled = mergeMoments(all.pooled, s.pooled);
    all.matched.push(...s.matched);
    all.mismatched.push(...s.mismatched);
    tensors.push({ tensor: kind, nameA: ta.name, nameB: tb.name, rowsCompared: n, ...summarize(s) });
  });
  const d = usable[0]!.ta.shape[1]!;
  const notes = [
    `${n} of ${sharedTokens} shared tokens${n < sharedTokens ? ' (seeded sample)' : ''}, rows of ${usable.map((u) => u.kind).join(' and ')}`,
    ...kinds.filter((k) => !usable.includes(k)).map((k) => `${k.kind} not compared: hidden sizes differ (${k.ta.shape[1]} vs ${k.tb.shape[1]})`),
    sameIdShare === 1 ? 'every shared token keeps its id: the tensor-by-tensor comparison already pairs these rows when shapes match' : null,
  ];
  return {
    sharedTokens,
    sameIdShare,
    rowsCompared: n,
    ...summarize(all),
    nullKind: NULL_KIND,
    closedFormNullSd: d > 1 && all.matched.length > 0 ? Math.sqrt(2 / (all.matched.length * (d - 1))) : null,
    tensors,
    note: notes.filter(Boolean).join('; '),
  };
}
