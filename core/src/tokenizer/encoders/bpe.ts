/**
 * Byte-pair encoding of one pre-tokenized word, for the three ways BPE vocabularies order their
 * merges: an explicit merges list (Hugging Face, GGUF `gpt2`), the rank of the merged token
 * (tiktoken), and the score of the merged piece (SentencePiece BPE, GGUF `llama`). Symbols are
 * merged lowest priority first, leftmost on ties, until no adjacent pair can merge; symbols that
 * are not tokens fall back to `<0xNN>` byte pieces or the unknown token.
 */
import type { BpeOptions, TokenType } from '../model.ts';
import { bytePiece, utf8 } from '../pieces.ts';
import { CandidateHeap } from './heap.ts';

export interface BpeVocabulary {
  /** Piece -> id for every piece the model may emit. */
  ids: Map<string, number>;
  /** Piece by id. */
  pieces: (string | null)[];
  types: TokenType[];
  scores: Float32Array | null;
  merges: [string, string][] | null;
}

const CACHE_LIMIT = 50_000;
const CACHE_WORD_LENGTH = 64;

export class BpeEncoder {
  private readonly ids: Map<string, number>;
  private readonly options: BpeOptions;
  /** For 'merges': (leftId * stride + rightId) -> rank. */
  private readonly mergeRanks: Map<number, number> | null = null;
  private readonly stride: number;
  /** For 'piece-score': the priority of each id (-score), NaN where the piece may not be merged into. */
  private readonly scorePriority: Float64Array | null = null;
  private readonly unkId: number | null;
  private readonly byteIds: (number | undefined)[];
  private readonly cache = new Map<string, number[]>();

  constructor(vocab: BpeVocabulary, options: BpeOptions) {
    this.ids = vocab.ids;
    this.options = options;
    this.stride = vocab.pieces.length + 1;
    if (options.priority === 'merges') {
      const ranks = new Map<number, number>();
      const merges = vocab.merges ?? [];
      for (let rank = 0; rank < merges.length; rank++) {
        const [a, b] = merges[rank]!;
        const l = this.ids.get(a);
        const r = this.ids.get(b);
        if (l === undefined || r === undefined) continue;
        const key = l * this.stride + r;
        if (!ranks.has(key)) ranks.set(key, rank);
      }
      this.mergeRanks = ranks;
    } else if (options.priority === 'piece-score') {
      const pr = new Float64Array(vocab.pieces.length).fill(NaN);
      const scores = vocab.scores;
      for (let id = 0; id < vocab.pieces.length; id++) {
        const t = vocab.types[id];
        // SentencePiece merges only into normal and user-defined pieces.
        if (t === 'normal' || t === 'user') pr[id] = -(scores ? scores[id]! : -id);
      }
      this.scorePriority = pr;
    }
    const unk = options.unkToken !== null ? this.ids.get(options.unkToken) : undefined;
    this.unkId = unk ?? null;
    this.byteIds = Array.from({ length: 256 }, (_, b) => this.ids.get(bytePiece(b)));
  }

  /** The token ids of one word. */
  encodeWord(word: string): number[] {
    if (word.length === 0) return [];
    const cached = this.cache.get(word);
    if (cached) return cached;
    const out = this.encodeUncached(word);
    if (word.length <= CACHE_WORD_LENGTH) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, out);
    }
    return out;
  }

  private priorityOf(leftText: string, leftId: number, rightText: string, rightId: number): { priority: number; id: number } | null {
    const opts = this.options;
    if (opts.priority === 'merges') {
      if (leftId < 0 || rightId < 0) return null;
      const rank = this.mergeRanks!.get(leftId * this.stride + rightId);
      if (rank === undefined) return null;
      const merged = leftText + (opts.continuingSubwordPrefix && rightText.startsWith(opts.continuingSubwordPrefix)
        ? rightText.slice(opts.continuingSubwordPrefix.length)
        : rightText);
      const id = this.ids.get(merged);
      return id === undefined ? null : { priority: rank, id };
    }
    const id = this.ids.get(leftText + rightText);
    if (id === undefined) return null;
    if (opts.priority === 'token-rank') return { priority: id, id };
    const p = this.scorePriority![id]!;
    return Number.isNaN(p) ? null : { priority: p, id };
  }

  private encodeUncached(word: string): number[] {
    const opts = this.options;
    if (opts.ignoreMerges) {
      const whole = this.ids.get(word);
      if (whole !== undefined) return [whole];
    }
    const chars = Array.from(word);
    const n = chars.length;
    const text: string[] = new Array(n);
    const id = new Int32Array(n);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const version = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      let t = chars[i]!;
      if (i > 0 && opts.continuingSubwordPrefix) t = opts.continuingSubwordPrefix + t;
      if (i === n - 1 && opts.endOfWordSuffix) t = t + opts.endOfWordSuffix;
      text[i] = t;
      id[i] = this.ids.get(t) ?? -1;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const heap = new CandidateHeap();
    const consider = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const p = this.priorityOf(text[l]!, id[l]!, text[r]!, id[r]!);
      if (p) heap.push({ priority: p.priority, left: l, right: r, leftVersion: version[l]!, rightVersion: version[r]! });
    };
    for (let i = 0; i + 1 < n; i++) consider(i, i + 1);
    for (let c = heap.pop(); c; c = heap.pop()) {
      const { left: l, right: r } = c;
      if (!alive[l] || !alive[r] || next[l] !== r || version[l] !== c.leftVersion || version[r] !== c.rightVersion) continue;
      const merged = this.priorityOf(text[l]!, id[l]!, text[r]!, id[r]!);
      if (!merged) continue;
      const rightText = text[r]!;
      text[l] = text[l]! + (opts.priority === 'merges' && opts.continuingSubwordPrefix && rightText.startsWith(opts.continuingSubwordPrefix)
        ? rightText.slice(opts.continuingSubwordPrefix.length)
        : rightText);
      id[l] = merged.id;
      version[l] = version[l]! + 1;
      alive[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      consider(prev[l]!, l);
      consider(l, next[l]!);
    }
    const out: number[] = [];
    let lastWasUnk = false;
    for (let i = 0; i >= 0 && i < n; i = next[i]!) {
      if (id[i]! >= 0) {
        out.push(id[i]!);
        lastWasUnk = false;
        continue;
      }
      const fallback = this.fallback(text[i]!);
      if (fallback) {
        out.push(...fallback);
        lastWasUnk = false;
      } else if (this.unkId !== null) {
        if (!(opts.fuseUnk && lastWasUnk)) out.push(this.unkId);
        lastWasUnk = true;
      }
    }
    return out;
  }

  /** `<0xNN>` pieces for the bytes of an unknown symbol, when the model has byte fallback. */
  private fallback(symbol: string): number[] | null {
    if (!this.options.byteFallback) return null;
    const out: number[] = [];
    for (const b of utf8(symbol)) {
      const bid = this.byteIds[b];
      if (bid === undefined) return null;
      out.push(bid);
    }
    return out;
  }
}
