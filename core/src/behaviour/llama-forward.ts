/**
 * The forward pass of a Llama-family decoder in float32 typed arrays: RMSNorm, rotate-half RoPE
 * (Hugging Face's convention), grouped-query attention with a key/value cache, SwiGLU MLP, tied
 * or separate output projection. One session is one sequence; feeding tokens one at a time with
 * the cache is the same computation as a whole-sequence pass with a causal mask, and lets greedy
 * decoding reuse it. Logits are computed only where asked for (the last position of a probe).
 */
import type { LlamaWeights } from './llama-weights.ts';

export class LlamaSession {
  private readonly w: LlamaWeights;
  /** Per layer, keys and values of every position so far: [position][kvHeads * headDim]. */
  private readonly keys: Float32Array[];
  private readonly values: Float32Array[];
  private capacity: number;
  private position = 0;
  // Scratch buffers, reused across tokens.
  private readonly x: Float32Array;
  private readonly xn: Float32Array;
  private readonly q: Float32Array;
  private readonly k: Float32Array;
  private readonly v: Float32Array;
  private readonly att: Float32Array;
  private readonly attOut: Float32Array;
  private readonly gate: Float32Array;
  private readonly up: Float32Array;
  private readonly tmp: Float32Array;
  private scores: Float64Array;
  private readonly invFreq: Float64Array;

  constructor(weights: LlamaWeights, capacity = 64) {
    this.w = weights;
    const c = weights.config;
    this.capacity = capacity;
    const kvWidth = c.kvHeads * c.headDim;
    this.keys = weights.layers.map(() => new Float32Array(capacity * kvWidth));
    this.values = weights.layers.map(() => new Float32Array(capacity * kvWidth));
    this.x = new Float32Array(c.hiddenSize);
    this.xn = new Float32Array(c.hiddenSize);
    this.q = new Float32Array(c.heads * c.headDim);
    this.k = new Float32Array(kvWidth);
    this.v = new Float32Array(kvWidth);
    this.att = new Float32Array(c.heads * c.headDim);
    this.attOut = new Float32Array(c.hiddenSize);
    this.gate = new Float32Array(c.intermediateSize);
    this.up = new Float32Array(c.intermediateSize);
    this.tmp = new Float32Array(c.hiddenSize);
    this.scores = new Float64Array(capacity);
    const half = c.headDim / 2;
    this.invFreq = new Float64Array(half);
    for (let i = 0; i < half; i++) this.invFreq[i] = c.ropeTheta ** (-(2 * i) / c.headDim);
  }

  get length(): number {
    return this.position;
  }

  /**
   * Runs one token at the next position. Returns the logits over the vocabulary when `wantLogits`
   * (a fresh array), else null.
   */
  step(token: number, wantLogits: boolean): Float32Array | null {
    const c = this.w.config;
    if (!Number.isInteger(token) || token < 0 || token >= c.vocabSize) {
      throw new RangeError(`token id ${token} is outside the vocabulary (0..${c.vocabSize - 1})`);
    }
    if (this.position >= this.capacity) this.grow();
    const h = c.hiddenSize;
    const x = this.x;
    x.set(this.w.embed.subarray(token * h, (token + 1) * h));
    for (let l = 0; l < this.w.layers.length; l++) this.layer(l);
    this.position++;
    if (!wantLogits) return null;
    rmsNorm(x, this.w.finalNorm, c.rmsNormEps, this.xn);
    const logits = new Float32Array(c.vocabSize);
    matVec(this.w.lmHead, this.xn, logits, c.vocabSize, h);
    return logits;
  }

  private layer(l: number): void {
    const c = this.w.config;
    const L = this.w.layers[l]!;
    const { hiddenSize: h, heads, kvHeads, headDim: hd, intermediateSize: inter } = c;
    const kvWidth = kvHeads * hd;
    const pos = this.position;

    rmsNorm(this.x, L.inputNorm, c.rmsNormEps, this.xn);
    matVec(L.q, this.xn, this.q, heads * hd, h);
    matVec(L.k, this.xn, this.k, kvWidth, h);
    matVec(L.v, this.xn, this.v, kvWidth, h);
    if (L.qBias) addInPlace(this.q, L.qBias);
    if (L.kBias) addInPlace(this.k, L.kBias);
    if (L.vBias) addInPlace(this.v, L.vBias);
    if (L.qNorm) for (let head = 0; head < heads; head++) rmsNormSlice(this.q, head * hd, hd, L.qNorm, c.rmsNormEps);
    if (L.kNorm) for (let head = 0; head < kvHeads; head++) rmsNormSlice(this.k, head * hd, hd, L.kNorm, c.rmsNormEps);
    for (let head = 0; head < heads; head++) this.rope(this.q, head * hd, pos);
    for (let head = 0; head < kvHeads; head++) this.rope(this.k, head * hd, pos);
    this.keys[l]!.set(this.k, pos * kvWidth);
    this.values[l]!.set(this.v, pos * kvWidth);

    // Attention over positions 0..pos (causal by construction: later ones are not there yet).
    const K = this.keys[l]!;
    const V = this.values[l]!;
    const group = heads / kvHeads;
    const scale = 1 / Math.sqrt(hd);
    const scores = this.scores;
    this.att.fill(0);
    for (let head = 0; head < heads; head++) {
      const qOff = head * hd;
      const kvOff = Math.floor(head / group) * hd;
      let max = -Infinity;
      for (let t = 0; t <= pos; t++) {
        let dot = 0;
        const kBase = t * kvWidth + kvOff;
        for (let i = 0; i < hd; i++) dot += this.q[qOff + i]! * K[kBase + i]!;
        const s = dot * scale;
        scores[t] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let t = 0; t <= pos; t++) {
        const e = Math.exp(scores[t]! - max);
        scores[t] = e;
        sum += e;
      }
      for (let t = 0; t <= pos; t++) {
        const p = scores[t]! / sum;
        const vBase = t * kvWidth + kvOff;
        for (let i = 0; i < hd; i++) this.att[qOff + i] = this.att[qOff + i]! + p * V[vBase + i]!;
      }
    }
    matVec(L.o, this.att, this.attOut, h, heads * hd);
    addInPlace(this.x, this.attOut);

    rmsNorm(this.x, L.postNorm, c.rmsNormEps, this.xn);
    matVec(L.gate, this.xn, this.gate, inter, h);
    matVec(L.up, this.xn, this.up, inter, h);
    for (let i = 0; i < inter; i++) {
      const g = this.gate[i]!;
      this.gate[i] = (g / (1 + Math.exp(-g))) * this.up[i]!;
    }
    matVec(L.down, this.gate, this.tmp, h, inter);
    addInPlace(this.x, this.tmp);
  }

  /** Rotate-half RoPE on one head: pairs (i, i + headDim/2). */
  private rope(v: Float32Array, offset: number, pos: number): void {
    const half = this.w.config.headDim / 2;
    for (let i = 0; i < half; i++) {
      const angle = pos * this.invFreq[i]!;
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      const a = v[offset + i]!;
      const b = v[offset + i + half]!;
      v[offset + i] = a * cos - b * sin;
      v[offset + i + half] = b * cos + a * sin;
    }
  }

  private grow(): void {
    const kvWidth = this.w.config.kvHeads * this.w.config.headDim;
    const next = this.capacity * 2;
    for (let l = 0; l < this.keys.length; l++) {
      const k = new Float32Array(next * kvWidth);
      k.set(this.keys[l]!);
      this.keys[l] = k;
      const v = new Float32Array(next * kvWidth);
      v.set(this.values[l]!);
      this.values[l] = v;
    }
    const s = new Float64Array(next);
    this.scores = s;
    this.capacity = next;
  }
}

/** Logits of the position after `tokens` (a fresh session per call: probes are independent). */
export function lastLogits(weights: LlamaWeights, tokens: readonly number[]): Float32Array {
  if (tokens.length === 0) throw new RangeError('an empty prompt has no next token');
  const session = new LlamaSession(weights, tokens.length);
  let logits: Float32Array | null = null;
  for (let i = 0; i < tokens.length; i++) logits = session.step(tokens[i]!, i === tokens.length - 1);
  return logits!;
}

/** Logits at every position of `tokens` (row i predicts token i + 1). */
export function allLogits(weights: LlamaWeights, tokens: readonly number[]): Float32Array[] {
  const session = new LlamaSession(weights, tokens.length);
  return tokens.map((t) => session.step(t, true)!);
}

/** Greedy continuation of `tokens` by `count` tokens (ties to the lowest id). */
export function greedyDecode(weights: LlamaWeights, tokens: readonly number[], count: number): number[] {
  const session = new LlamaSession(weights, tokens.length + count);
  let logits: Float32Array | null = null;
  for (let i = 0; i < tokens.length; i++) logits = session.step(tokens[i]!, i === tokens.length - 1);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const next = argmax(logits!);
    out.push(next);
    if (i < count - 1) logits = session.step(next, true);
  }
  return out;
}

export function argmax(values: Float32Array | Float64Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/**
 * out = W·x for a row-major W of [rows, cols]. Four independent partial sums per row let the JIT
 * keep more multiplies in flight (about twice as fast as one running sum here).
 */
function matVec(W: Float32Array, x: Float32Array, out: Float32Array, rows: number, cols: number): void {
  const tail = cols & 3;
  const body = cols - tail;
  for (let r = 0; r < rows; r++) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let w = r * cols;
    for (let i = 0; i < body; i += 4, w += 4) {
      s0 += W[w]! * x[i]!;
      s1 += W[w + 1]! * x[i + 1]!;
      s2 += W[w + 2]! * x[i + 2]!;
      s3 += W[w + 3]! * x[i + 3]!;
    }
    for (let i = body; i < cols; i++, w++) s0 += W[w]! * x[i]!;
    out[r] = s0 + s1 + s2 + s3;
  }
}

function rmsNorm(x: Float32Array, weight: Float32Array, eps: number, out: Float32Array): void {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! * inv * weight[i]!;
}

function rmsNormSlice(v: Float32Array, offset: number, n: number, weight: Float32Array, eps: number): void {
  let ss = 0;
  for (let i = 0; i < n; i++) ss += v[offset + i]! * v[offset + i]!;
  const inv = 1 / Math.sqrt(ss / n + eps);
  for (let i = 0; i < n; i++) v[offset + i] = v[offset + i]! * inv * weight[i]!;
}

function addInPlace(a: Float32Array, b: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! + b[i]!;
}
