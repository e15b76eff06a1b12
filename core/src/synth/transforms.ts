/**
 * Edits an adversary can make to a checkpoint while keeping (or nearly keeping) what it computes:
 * permuting the hidden dimension, attention heads, MLP neurons; rescaling pairs of matrices
 * against each other and folding norms; pruning width and depth; quantizing; merging; replacing
 * the token interface. The evaluation set (bench/eval-set.ts) and the tests build their cases
 * with these, on small models held whole (core/src/synth/rewrite.ts).
 */
import { rmSync } from 'node:fs';
import { openCheckpoint, type Checkpoint } from '../checkpoint/folder.ts';
import { symmetricEigen } from '../stats/eigen.ts';
import { BadInputError } from '../errors.ts';
import { classifyTensor } from '../roles/roles.ts';
import { Random } from './random.ts';
import { readTensor, rewrite, shuffled, type RewrittenTensor } from './rewrite.ts';

/** Roles whose columns (axis 1) are the hidden dimension. */
const HIDDEN_COLUMNS = new Set(['embedding', 'lm_head', 'attn.q', 'attn.k', 'attn.v', 'mlp.gate', 'mlp.up', 'expert.gate', 'expert.up', 'shared.gate', 'shared.up', 'router.weight', 'shared.router']);
/** Roles whose rows (axis 0) are the hidden dimension. */
const HIDDEN_ROWS = new Set(['attn.o', 'mlp.down', 'expert.down', 'shared.down']);
const NORMS = new Set(['norm.input', 'norm.post_attn', 'norm.final']);

function permuteColumns(values: Float32Array, rows: number, cols: number, perm: ArrayLike<number>): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < perm.length; c++) out[r * perm.length + c] = values[r * cols + perm[c]!]!;
  return out;
}

function permuteRows(values: Float32Array, cols: number, perm: ArrayLike<number>, span = 1): Float32Array {
  const out = new Float32Array(perm.length * span * cols);
  const w = span * cols;
  for (let r = 0; r < perm.length; r++) out.set(values.subarray(perm[r]! * w, (perm[r]! + 1) * w), r * w);
  return out;
}

/** Column blocks of `span` moved as units: new block b = old block perm[b]. */
function permuteColumnBlocks(values: Float32Array, rows: number, cols: number, perm: ArrayLike<number>, span: number): Float32Array {
  const colPerm: number[] = [];
  for (let b = 0; b < perm.length; b++) for (let k = 0; k < span; k++) colPerm.push(perm[b]! * span + k);
  return permuteColumns(values, rows, cols, colPerm);
}

/** Every hidden-dimension axis of every tensor reordered by `perm` (new dim i = old dim perm[i]). */
export function permuteHidden(src: string, out: string, seed: number): string {
  const width = openCheckpoint(src).config?.hidden_size as number;
  const perm = shuffled(width, seed);
  return rewrite(src, out, (name, shape, v) => {
    const role = classifyTensor(name).role;
    if (HIDDEN_COLUMNS.has(role)) return [{ name, shape, values: permuteColumns(v, shape[0]!, shape[1]!, perm) }];
    if (HIDDEN_ROWS.has(role)) return [{ name, shape, values: permuteRows(v, shape[1]!, perm) }];
    if (NORMS.has(role)) return [{ name, shape, values: Float32Array.from(perm, (p) => v[p]!) }];
    return [{ name, shape, values: v }];
  });
}

interface Heads { heads: number; kvHeads: number; headDim: number }

function headsOf(config: Record<string, unknown>): Heads {
  const heads = config.num_attention_heads as number;
  const kvHeads = (config.num_key_value_heads as number | undefined) ?? heads;
  const headDim = (config.head_dim as number | undefined) ?? (config.hidden_size as number) / heads;
  return { heads, kvHeads, headDim };
}

/** A permutation that moves every index (n ≥ 2): one seeded cycle. */
function derangement(n: number, random: Random): number[] {
  const order = shuffled(n, Math.floor(random.uniform() * 1e9));
  const out = new Array<number>(n);
  for (let k = 0; k < n; k++) out[order[k]!] = order[(k + 1) % n]!;
  return out;
}

/**
 * KV groups reordered so that none keeps its index, and the query heads inside each group
 * reordered; q/k/v rows and o columns move together (the function is unchanged).
 */
export function permuteHeads(src: string, out: string, seed: number): string {
  const h = headsOf(openCheckpoint(src).config!);
  const perHead = new Map<number, { q: number[]; kv: number[] }>();
  const permsFor = (layer: number) => {
    if (!perHead.has(layer)) {
      const random = new Random(seed, `heads ${layer}`);
      const group = h.heads / h.kvHeads;
      const kv = h.kvHeads > 1 ? derangement(h.kvHeads, random) : [0];
      const q: number[] = [];
      for (let g = 0; g < h.kvHeads; g++) {
        const inner = group > 1 ? derangement(group, random) : [0];
        for (let j = 0; j < group; j++) q.push(kv[g]! * group + inner[j]!);
      }
      perHead.set(layer, { q, kv });
    }
    return perHead.get(layer)!;
  };
  return rewrite(src, out, (name, shape, v) => {
    const { role, layer } = classifyTensor(name);
    if (layer === null) return [{ name, shape, values: v }];
    const p = permsFor(layer);
    if (role === 'attn.q') return [{ name, shape, values: permuteRows(v, shape[1]!, p.q, h.headDim) }];
    if (role === 'attn.k' || role === 'attn.v') return [{ name, shape, values: permuteRows(v, shape[1]!, p.kv, h.headDim) }];
    if (role === 'attn.o') return [{ name, shape, values: permuteColumnBlocks(v, shape[0]!, shape[1]!, p.q, h.headDim) }];
    return [{ name, shape, values: v }];
  });
}

/** Each MLP's hidden neurons (dense, shared expert, every routed expert) reordered. */
export function permuteNeurons(src: string, out: string, seed: number): string {
  const perms = new Map<string, number[]>();
  const permFor = (scope: string, n: number) => {
    if (!perms.has(scope)) perms.set(scope, shuffled(n, seed + perms.size * 7919));
    return perms.get(scope)!;
  };
  return rewrite(src, out, (name, shape, v) => {
    const { role, layer, expert } = classifyTensor(name);
    const kind = role.split('.')[0];
    if (layer === null || !['mlp', 'expert', 'shared'].includes(kind!) || !/\.(gate|up|down)$/.test(role)) return [{ name, shape, values: v }];
    const scope = `${layer}/${kind}/${expert ?? ''}`;
    if (role.endsWith('.down')) return [{ name, shape, values: permuteColumns(v, shape[0]!, shape[1]!, permFor(scope, shape[1]!)) }];
    return [{ name, shape, values: permuteRows(v, shape[1]!, permFor(scope, shape[0]!)) }];
  });
}

/**
 * Function-preserving rescaling: q rows of each KV group ×s with its k rows ÷s; up rows of each
 * neuron ×t with its down column ÷t; every norm folded into the matrices that read it (γ → 1).
 */
export function rescale(src: string, out: string, seed: number): string {
  const ck = openCheckpoint(src);
  const h = headsOf(ck.config!);
  const gamma = new Map<string, Float32Array>();
  for (const t of ck.tensors) {
    const { role, layer } = classifyTensor(t.name);
    if (NORMS.has(role)) gamma.set(`${role}@${layer ?? ''}`, readTensor(ck, t.name));
  }
  const random = new Random(seed, 'rescale');
  const factors = new Map<string, Float32Array>();
  const factorFor = (k: string, n: number) => {
    if (!factors.has(k)) factors.set(k, Float32Array.from({ length: n }, () => Math.exp((random.uniform() - 0.5) * 1.4)));
    return factors.get(k)!;
  };
  const hasHead = ck.tensors.some((t) => classifyTensor(t.name).role === 'lm_head');
  const foldFrom: Record<string, string> = {
    'attn.q': 'norm.input', 'attn.k': 'norm.input', 'attn.v': 'norm.input',
    'mlp.gate': 'norm.post_attn', 'mlp.up': 'norm.post_attn', 'router.weight': 'norm.post_attn',
    'shared.gate': 'norm.post_attn', 'shared.up': 'norm.post_attn', 'expert.gate': 'norm.post_attn', 'expert.up': 'norm.post_attn',
    'shared.router': 'norm.post_attn', lm_head: 'norm.final',
  };
  return rewrite(src, out, (name, shape, v) => {
    const { role, layer, expert } = classifyTensor(name);
    if (NORMS.has(role)) {
      // The final norm stays where the head is tied to the embedding (it has nowhere to go).
      if (role === 'norm.final' && !hasHead) return [{ name, shape, values: v }];
      return [{ name, shape, values: new Float32Array(v.length).fill(1) }];
    }
    const values = Float32Array.from(v);
    const normRole = foldFrom[role];
    const g = normRole ? gamma.get(`${normRole}@${normRole === 'norm.final' ? '' : layer}`) : undefined;
    if (g && shape.length === 2 && g.length === shape[1]) {
      for (let r = 0; r < shape[0]!; r++) for (let c = 0; c < shape[1]!; c++) values[r * shape[1]! + c] = values[r * shape[1]! + c]! * g[c]!;
    }
    const cols = shape[1] ?? 1;
    if (role === 'attn.q' || role === 'attn.k') {
      const s = factorFor(`qk ${layer}`, h.kvHeads);
      const group = h.heads / h.kvHeads;
      for (let r = 0; r < shape[0]!; r++) {
        const kv = role === 'attn.q' ? Math.floor(Math.floor(r / h.headDim) / group) : Math.floor(r / h.headDim);
        const f = role === 'attn.q' ? s[kv]! : 1 / s[kv]!;
        for (let c = 0; c < cols; c++) values[r * cols + c] = values[r * cols + c]! * f;
      }
    }
    const scope = /^(mlp|shared|expert)\.(up|down)$/.exec(role);
    if (scope && layer !== null) {
      const neurons = scope[2] === 'up' ? shape[0]! : shape[1]!;
      const t = factorFor(`ffn ${layer}/${scope[1]}/${expert ?? ''}`, neurons);
      for (let r = 0; r < shape[0]!; r++) for (let c = 0; c < cols; c++) {
        values[r * cols + c] = scope[2] === 'up' ? values[r * cols + c]! * t[r]! : values[r * cols + c]! / t[c]!;
      }
    }
    return [{ name, shape, values }];
  });
}

/** Gaussian noise of relative size `drift` on every matrix (a light fine-tune), norms untouched. */
export function addNoise(src: string, out: string, drift: number, seed: number): string {
  return rewrite(src, out, (name, shape, v) => {
    if (shape.length < 2) return [{ name, shape, values: v }];
    const random = new Random(seed, `noise ${name}`);
    let ss = 0;
    for (const x of v) ss += x * x;
    const s = drift * Math.sqrt(ss / v.length);
    return [{ name, shape, values: Float32Array.from(v, (x) => x + s * random.normal()) }];
  });
}

/**
 * Width pruning: keeps `hiddenKeep` of the hidden dimensions, `neuronKeep` of each MLP's neurons
 * and `groupsKeep` of the KV groups (with their query heads), a seeded choice kept in order, as
 * structured pruning (Minitron, Sheared-LLaMA) does.
 */
export function pruneWidth(src: string, out: string, hiddenKeep: number, neuronKeep: number, seed: number, groupsKeep = 1): string {
  const config = openCheckpoint(src).config!;
  const width = config.hidden_size as number;
  const keepHidden = shuffled(width, seed).slice(0, Math.round(width * hiddenKeep)).sort((x, y) => x - y);
  const keepNeurons = new Map<string, number[]>();
  const neuronsFor = (scope: string, n: number) => {
    if (!keepNeurons.has(scope)) keepNeurons.set(scope, shuffled(n, seed + 1 + keepNeurons.size).slice(0, Math.round(n * neuronKeep)).sort((x, y) => x - y));
    return keepNeurons.get(scope)!;
  };
  const h = headsOf(config);
  const keepGroups = shuffled(h.kvHeads, seed + 7).slice(0, Math.max(1, Math.round(h.kvHeads * groupsKeep))).sort((x, y) => x - y);
  const perGroup = h.heads / h.kvHeads;
  const keepHeads = keepGroups.flatMap((g) => Array.from({ length: perGroup }, (_, j) => g * perGroup + j));
  let intermediate = config.intermediate_size as number;
  return rewrite(src, out, (name, shape, v) => {
    const { role, layer, expert } = classifyTensor(name);
    let values = v;
    let s = [...shape];
    if (role === 'attn.q') { values = permuteRows(values, s[1]!, keepHeads, h.headDim); s = [keepHeads.length * h.headDim, s[1]!]; }
    if (role === 'attn.k' || role === 'attn.v') { values = permuteRows(values, s[1]!, keepGroups, h.headDim); s = [keepGroups.length * h.headDim, s[1]!]; }
    if (role === 'attn.o') { values = permuteColumnBlocks(values, s[0]!, s[1]!, keepHeads, h.headDim); s = [s[0]!, keepHeads.length * h.headDim]; }
    if (HIDDEN_COLUMNS.has(role)) { values = permuteColumns(values, s[0]!, s[1]!, keepHidden); s = [s[0]!, keepHidden.length]; }
    if (HIDDEN_ROWS.has(role)) { values = permuteRows(values, s[1]!, keepHidden); s = [keepHidden.length, s[1]!]; }
    if (NORMS.has(role)) { values = Float32Array.from(keepHidden, (p) => v[p]!); s = [keepHidden.length]; }
    const kind = role.split('.')[0]!;
    if (layer !== null && ['mlp', 'expert', 'shared'].includes(kind) && /\.(gate|up|down)$/.test(role)) {
      const scope = `${layer}/${kind}/${expert ?? ''}`;
      if (role.endsWith('.down')) {
        const keep = neuronsFor(scope, s[1]!);
        values = permuteColumns(values, s[0]!, s[1]!, keep); s = [s[0]!, keep.length];
      } else {
        const keep = neuronsFor(scope, s[0]!);
        values = permuteRows(values, s[1]!, keep); s = [keep.length, s[1]!];
      }
      if (kind === 'mlp') intermediate = s[role.endsWith('.down') ? 1 : 0]!;
    }
    return [{ name, shape: s, values }];
  }, (c) => ({ ...c, hidden_size: keepHidden.length, intermediate_size: intermediate, head_dim: h.headDim, num_attention_heads: keepHeads.length, num_key_value_heads: keepGroups.length }));
}

/** Depth pruning (or up-scaling): the listed layers, renumbered from 0; a layer listed twice is copied. */
export function keepLayers(src: string, out: string, layers: number[]): string {
  return rewrite(src, out, (name, shape, v) => {
    const m = /^(.*\.layers\.)(\d+)(\..*)$/.exec(name);
    if (!m) return [{ name, shape, values: v }];
    // Every place the layer is listed (a layer listed twice is copied, as depth up-scaling does).
    return layers.flatMap((from, j) => (from === Number(m[2]) ? [{ name: `${m[1]}${j}${m[3]}`, shape, values: v }] : []));
  }, (c) => ({ ...c, num_hidden_layers: layers.length }));
}

/** 4-bit round trip: symmetric absmax quantization in groups of 32 along each row. */
export function quantize4(src: string, out: string): string {
  return rewrite(src, out, (name, shape, v) => {
    if (shape.length < 2) return [{ name, shape, values: v }];
    const values = new Float32Array(v.length);
    for (let g = 0; g < v.length; g += 32) {
      let max = 0;
      for (let k = g; k < Math.min(v.length, g + 32); k++) max = Math.max(max, Math.abs(v[k]!));
      const scale = max / 7 || 1;
      for (let k = g; k < Math.min(v.length, g + 32); k++) values[k] = Math.max(-8, Math.min(7, Math.round(v[k]! / scale))) * scale;
    }
    return [{ name, shape, values }];
  });
}

/** A linear merge: (1 − w)·A + w·B, tensor by tensor (same shapes). */
export function merge(a: string, b: string, out: string, w: number): string {
  const ckB = openCheckpoint(b);
  return rewrite(a, out, (name, shape, v) => {
    const other = readTensor(ckB, name);
    return [{ name, shape, values: Float32Array.from(v, (x, i) => (1 - w) * x + w * other[i]!) }];
  });
}

/** The token interface replaced: embedding and lm_head drawn anew with their own spread. */
export function replaceEmbeddings(src: string, out: string, seed: number): string {
  return rewrite(src, out, (name, shape, v) => {
    const role = classifyTensor(name).role;
    if (role !== 'embedding' && role !== 'lm_head') return [{ name, shape, values: v }];
    let ss = 0;
    for (const x of v) ss += x * x;
    const s = Math.sqrt(ss / v.length);
    const random = new Random(seed, `new ${name}`);
    return [{ name, shape, values: Float32Array.from(v, () => s * random.normal()) }];
  });
}

/** Applies `perm` (new index → old index) to the given axis' blocks; used by reorderToMatch. */
export type UnitPermutations = { hidden: number[] | null; heads: Map<number, { q: number[]; kv: number[] }>; neurons: Map<number, number[]> };

/** Writes `src` with its hidden dimension, heads and neurons reordered as given. */
export function applyPermutations(src: string, out: string, p: UnitPermutations): string {
  const h = headsOf(openCheckpoint(src).config!);
  return rewrite(src, out, (name, shape, v) => {
    const { role, layer } = classifyTensor(name);
    let values = v;
    if (p.hidden) {
      if (HIDDEN_COLUMNS.has(role)) values = permuteColumns(values, shape[0]!, shape[1]!, p.hidden);
      else if (HIDDEN_ROWS.has(role)) values = permuteRows(values, shape[1]!, p.hidden);
      else if (NORMS.has(role)) values = Float32Array.from(p.hidden, (i) => values[i]!);
    }
    const heads = layer !== null ? p.heads.get(layer) : undefined;
    if (heads) {
      if (role === 'attn.q') values = permuteRows(values, shape[1]!, heads.q, h.headDim);
      if (role === 'attn.k' || role === 'attn.v') values = permuteRows(values, shape[1]!, heads.kv, h.headDim);
      if (role === 'attn.o') values = permuteColumnBlocks(values, shape[0]!, shape[1]!, heads.q, h.headDim);
    }
    const neurons = layer !== null ? p.neurons.get(layer) : undefined;
    if (neurons && (role === 'mlp.gate' || role === 'mlp.up')) values = permuteRows(values, shape[1]!, neurons);
    if (neurons && role === 'mlp.down') values = permuteColumns(values, shape[0]!, shape[1]!, neurons);
    return [{ name, shape, values }] as RewrittenTensor[];
  });
}

/**
 * Sparse upcycling (dense to MoE): every layer's MLP copied into `experts` experts, each moved by
 * its own noise of relative size `drift`, with a fresh router; the rest kept.
 */
export function upcycle(src: string, out: string, experts: number, drift: number, seed: number): string {
  const config = openCheckpoint(src).config!;
  const noisy = (values: Float32Array, stream: string) => {
    const random = new Random(seed, stream);
    let ss = 0;
    for (const x of values) ss += x * x;
    const s = drift * Math.sqrt(ss / values.length);
    return Float32Array.from(values, (x) => x + s * random.normal());
  };
  return rewrite(src, out, (name, shape, v) => {
    const m = /^(.*\.layers\.\d+)\.mlp\.(gate|up|down)_proj\.weight$/.exec(name);
    if (m) {
      return Array.from({ length: experts }, (_, e) => ({ name: `${m[1]}.mlp.experts.${e}.${m[2]}_proj.weight`, shape, values: noisy(v, `${name} ${e}`) }));
    }
    const norm = /^(.*\.layers\.\d+)\.post_attention_layernorm\.weight$/.exec(name);
    if (norm) {
      const random = new Random(seed, `router ${name}`);
      const router = Float32Array.from({ length: experts * shape[0]! }, () => 0.02 * random.normal());
      return [{ name, shape, values: v }, { name: `${norm[1]}.mlp.gate.weight`, shape: [experts, shape[0]!], values: router }];
    }
    return [{ name, shape, values: v }];
  }, () => ({
    ...config, architectures: ['Qwen2MoeForCausalLM'], model_type: 'qwen2_moe', num_experts: experts, num_experts_per_tok: 2,
    moe_intermediate_size: config.intermediate_size, shared_expert_intermediate_size: 0, decoder_sparse_step: 1,
  }));
}

/** A random orthogonal d × d matrix (row-major, float64): Gram-Schmidt on seeded Gaussian rows. */
function randomOrthogonal(d: number, seed: number): Float64Array {
  const random = new Random(seed, 'rotation');
  const q = Float64Array.from({ length: d * d }, () => random.normal());
  for (let i = 0; i < d; i++) {
    const row = q.subarray(i * d, (i + 1) * d);
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        const other = q.subarray(j * d, (j + 1) * d);
        let dot = 0;
        for (let k = 0; k < d; k++) dot += row[k]! * other[k]!;
        for (let k = 0; k < d; k++) row[k] = row[k]! - dot * other[k]!;
      }
    }
    let norm = 0;
    for (let k = 0; k < d; k++) norm += row[k]! * row[k]!;
    norm = Math.sqrt(norm);
    for (let k = 0; k < d; k++) row[k] = row[k]! / norm;
  }
  return q;
}

/**
 * The residual stream rotated by a random orthogonal Q (x → Qx), as QuaRot and SliceGPT do: every
 * norm is folded first (γ → 1; RMSNorm without a scale commutes with Q), a tied head is untied to
 * take the final norm, then matrices that read the stream become W Qᵀ and those that write it
 * Q W. The function is unchanged, and no hidden dimension of B is any one dimension of A.
 */
export function rotateHidden(src: string, out: string, seed: number): string {
  return turnStream(src, out, seed, (_, width) => ({ q: randomOrthogonal(width, seed), keep: width }));
}

/**
 * SliceGPT's deletion, with one rotation for the whole stream: norms folded, the stream turned into
 * the principal directions of the token embeddings (the rows of Q are the covariance's
 * eigenvectors, strongest first), then only the first `keep` of them kept: every matrix that reads
 * the stream loses columns, every one that writes it rows, and the hidden size is `keep`. Close to
 * the function where the deleted directions carry little; no dimension of B is one of A's.
 */
export function sliceHidden(src: string, out: string, keep: number, seed: number): string {
  return turnStream(src, out, seed, (ck, width) => {
    const embedding = ck.tensors.find((t) => classifyTensor(t.name).role === 'embedding');
    if (!embedding) throw new BadInputError(src, 'no token embedding to find the principal directions of');
    const e = readTensor(ck, embedding.name);
    const rows = e.length / width;
    const mean = new Float64Array(width);
    for (let r = 0; r < rows; r++) for (let k = 0; k < width; k++) mean[k] = mean[k]! + e[r * width + k]! / rows;
    const cov = new Float64Array(width * width);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < width; i++) {
        const x = e[r * width + i]! - mean[i]!;
        for (let j = 0; j < width; j++) cov[i * width + j] = cov[i * width + j]! + x * (e[r * width + j]! - mean[j]!);
      }
    }
    const { values, vectors } = symmetricEigen(cov, width);
    const order = Array.from(values.keys()).sort((x, y) => values[y]! - values[x]!);
    const q = new Float64Array(width * width);
    order.forEach((col, i) => { for (let k = 0; k < width; k++) q[i * width + k] = vectors[k * width + col]!; });
    return { q, keep };
  });
}

/**
 * The residual stream turned by an orthogonal Q (made from the folded checkpoint), its first
 * `keep` directions kept: x → (Qx)[:keep].
 */
function turnStream(src: string, out: string, seed: number, make: (folded: Checkpoint, width: number) => { q: Float64Array; keep: number }): string {
  const folded = rescale(src, `${out}.folded`, seed);
  const ck = openCheckpoint(folded);
  const width = ck.config?.hidden_size as number;
  const { q, keep } = make(ck, width);
  const h = headsOf(ck.config!);
  const hasHead = ck.tensors.some((t) => classifyTensor(t.name).role === 'lm_head');
  const finalNorm = ck.tensors.find((t) => classifyTensor(t.name).role === 'norm.final');
  const gammaFinal = finalNorm ? readTensor(ck, finalNorm.name) : null;
  // Rows × width read the stream: (W Qᵀ)[r][i] = Σ_k W[r][k] Q[i][k], i < keep.
  const readsStream = (v: Float32Array, rows: number, scale: Float32Array | null) => {
    const outValues = new Float32Array(rows * keep);
    const row = new Float64Array(width);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < width; k++) row[k] = v[r * width + k]! * (scale ? scale[k]! : 1);
      for (let i = 0; i < keep; i++) {
        let s = 0;
        for (let k = 0; k < width; k++) s += row[k]! * q[i * width + k]!;
        outValues[r * keep + i] = s;
      }
    }
    return outValues;
  };
  // Width × cols write it: (Q W)[i][c] = Σ_k Q[i][k] W[k][c], i < keep.
  const writesStream = (v: Float32Array, cols: number) => {
    const outValues = new Float64Array(keep * cols);
    for (let i = 0; i < keep; i++) for (let k = 0; k < width; k++) {
      const f = q[i * width + k]!;
      for (let c = 0; c < cols; c++) outValues[i * cols + c] = outValues[i * cols + c]! + f * v[k * cols + c]!;
    }
    return Float32Array.from(outValues);
  };
  const result = rewrite(folded, out, (name, shape, v) => {
    const { role } = classifyTensor(name);
    if (role === 'norm.final' && !hasHead) return [{ name, shape: [keep], values: new Float32Array(keep).fill(1) }];
    if (role === 'embedding' && !hasHead) {
      return [
        { name, shape: [shape[0]!, keep], values: readsStream(v, shape[0]!, null) },
        { name: 'lm_head.weight', shape: [shape[0]!, keep], values: readsStream(v, shape[0]!, gammaFinal) },
      ];
    }
    if (HIDDEN_COLUMNS.has(role) && shape[1] === width) return [{ name, shape: [shape[0]!, keep], values: readsStream(v, shape[0]!, null) }];
    if (HIDDEN_ROWS.has(role) && shape[0] === width) return [{ name, shape: [keep, shape[1]!], values: writesStream(v, shape[1]!) }];
    // Folded norms are all ones: as many as the stream keeps.
    if (NORMS.has(role) && shape[0] === width) return [{ name, shape: [keep], values: v.subarray(0, keep) }];
    return [{ name, shape, values: v }];
  }, (c) => ({ ...c, ...(hasHead ? {} : { tie_word_embeddings: false }), ...(keep === width ? {} : { hidden_size: keep, head_dim: h.headDim }) }));
  rmSync(folded, { recursive: true, force: true });
  return result;
}

/**
 * Inside each KV group, the value rows rotated by a random orthogonal R (R·W_v) and the output
 * columns of every query head of the group by the same R (W_o·Rᵀ): the attention computes the same
 * (RoPE touches queries and keys, not values), and no value row of B is one of A's.
 */
export function rotateValueHeads(src: string, out: string, seed: number): string {
  const h = headsOf(openCheckpoint(src).config!);
  const group = h.heads / h.kvHeads;
  const rotations = new Map<string, Float64Array>();
  const rotationFor = (layer: number, g: number) => {
    const key = `${layer}/${g}`;
    if (!rotations.has(key)) rotations.set(key, randomOrthogonal(h.headDim, seed * 1000 + rotations.size));
    return rotations.get(key)!;
  };
  const d = h.headDim;
  return rewrite(src, out, (name, shape, v) => {
    const { role, layer } = classifyTensor(name);
    if (layer === null || (role !== 'attn.v' && role !== 'attn.o')) return [{ name, shape, values: v }];
    const cols = shape[1]!;
    const values = new Float32Array(v.length);
    if (role === 'attn.v') {
      for (let g = 0; g < h.kvHeads; g++) {
        const r = rotationFor(layer, g);
        for (let i = 0; i < d; i++) for (let c = 0; c < cols; c++) {
          let x = 0;
          for (let k = 0; k < d; k++) x += r[i * d + k]! * v[(g * d + k) * cols + c]!;
          values[(g * d + i) * cols + c] = x;
        }
      }
    } else {
      for (let q = 0; q < h.heads; q++) {
        const r = rotationFor(layer, Math.floor(q / group));
        for (let row = 0; row < shape[0]!; row++) for (let i = 0; i < d; i++) {
          let x = 0;
          for (let k = 0; k < d; k++) x += v[row * cols + q * d + k]! * r[i * d + k]!;
          values[row * cols + q * d + i] = x;
        }
      }
    }
    return [{ name, shape, values }];
  });
}

/**
 * Each RoPE plane of the queries and keys turned and scaled, as a complex number would: for every
 * KV group and every pair of rows (i, i + d/2) that rotate-half RoPE turns together, the key rows
 * become (1/s)·R(φ) and the query rows of every head of the group s·R(φ). Two turns in one plane
 * commute with RoPE's, and q·k keeps its value at every distance, so the attention is unchanged;
 * yet no query or key row of B is one of A's (the q/k rescaling of `rescale` is the case φ = 0).
 */
export function rotateQueryKeyPlanes(src: string, out: string, seed: number): string {
  const h = headsOf(openCheckpoint(src).config!);
  const group = h.heads / h.kvHeads;
  const half = h.headDim / 2;
  const random = new Random(seed, 'planes');
  const planes = new Map<string, { cos: number; sin: number; scale: number }[]>();
  const planesFor = (layer: number, g: number) => {
    const key = `${layer}/${g}`;
    if (!planes.has(key)) {
      planes.set(key, Array.from({ length: half }, () => {
        const phi = 2 * Math.PI * random.uniform();
        return { cos: Math.cos(phi), sin: Math.sin(phi), scale: 2 ** (2 * random.uniform() - 1) };
      }));
    }
    return planes.get(key)!;
  };
  return rewrite(src, out, (name, shape, v) => {
    const { role, layer } = classifyTensor(name);
    if (layer === null || (role !== 'attn.q' && role !== 'attn.k')) return [{ name, shape, values: v }];
    const cols = shape[1]!;
    const values = Float32Array.from(v);
    const heads = role === 'attn.q' ? h.heads : h.kvHeads;
    for (let head = 0; head < heads; head++) {
      const turns = planesFor(layer, role === 'attn.q' ? Math.floor(head / group) : head);
      for (let i = 0; i < half; i++) {
        const { cos, sin, scale } = turns[i]!;
        const s = role === 'attn.q' ? scale : 1 / scale;
        const [r1, r2] = [(head * h.headDim + i) * cols, (head * h.headDim + i + half) * cols];
        for (let c = 0; c < cols; c++) {
          const [x1, x2] = [v[r1 + c]!, v[r2 + c]!];
          values[r1 + c] = s * (cos * x1 - sin * x2);
          values[r2 + c] = s * (sin * x1 + cos * x2);
        }
      }
    }
    return [{ name, shape, values }];
  });
}

/**
 * The sign of a seeded `share` of the MLP neurons flipped on both sides of the product: up row ×−1
 * with its down column ×−1 (SwiGLU computes silu(g·x)·(u·x)·d, so (−u, −d) changes nothing; the
 * gate row, inside the nonlinearity, stays), in every dense MLP, shared and routed expert.
 */
export function flipNeuronSigns(src: string, out: string, seed: number, share = 1): string {
  const random = new Random(seed, 'neuron signs');
  const flips = new Map<string, Uint8Array>();
  const flipsFor = (key: string, n: number) => {
    if (!flips.has(key)) flips.set(key, Uint8Array.from({ length: n }, () => (random.uniform() < share ? 1 : 0)));
    return flips.get(key)!;
  };
  return rewrite(src, out, (name, shape, v) => {
    const { role, layer, expert } = classifyTensor(name);
    const scope = /^(mlp|shared|expert)\.(up|down)$/.exec(role);
    if (!scope || layer === null || shape.length !== 2) return [{ name, shape, values: v }];
    const [rows, cols] = [shape[0]!, shape[1]!];
    const flip = flipsFor(`${layer}/${scope[1]}/${expert ?? ''}`, scope[2] === 'up' ? rows : cols);
    const values = Float32Array.from(v);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (flip[scope[2] === 'up' ? r : c]) values[r * cols + c] = -values[r * cols + c]!;
    return [{ name, shape, values }];
  });
}

/**
 * One seeded vector added to every row of each softmax router (per layer) and of the lm_head, of
 * `factor` times their rows' RMS norm: every expert's logit, or every token's, moves by the same
 * vector·x, which top-k and softmax never see (Qwen-, Mixtral-style routers; not a sigmoid router
 * like DeepSeek-V3's), so the function is unchanged while every row turns towards that vector.
 */
export function shiftSoftmaxRows(src: string, out: string, seed: number, factor = 10): string {
  const random = new Random(seed, 'softmax rows');
  return rewrite(src, out, (name, shape, v) => {
    const { role } = classifyTensor(name);
    if ((role !== 'router.weight' && role !== 'lm_head') || shape.length !== 2) return [{ name, shape, values: v }];
    const [rows, cols] = [shape[0]!, shape[1]!];
    let ss = 0;
    for (let i = 0; i < v.length; i++) ss += v[i]! * v[i]!;
    const direction = Float64Array.from({ length: cols }, () => random.normal());
    let length = 0;
    for (let c = 0; c < cols; c++) length += direction[c]! ** 2;
    length = Math.sqrt(length);
    const scale = (factor * Math.sqrt(ss / rows)) / length;
    const values = Float32Array.from(v);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) values[r * cols + c] = values[r * cols + c]! + scale * direction[c]!;
    return [{ name, shape, values }];
  });
}

/**
 * KV heads regrouped to `kvHeads`: fewer by averaging each group's key and value heads (the GQA
 * paper's mean-pooling of a multi-head checkpoint before uptraining: a derivation, not a
 * function-preserving edit), more by copying each head to the query heads it served (same function).
 */
export function regroupKvHeads(src: string, out: string, kvHeads: number): string {
  const h = headsOf(openCheckpoint(src).config!);
  const pooling = kvHeads < h.kvHeads;
  if (h.heads % kvHeads !== 0 || (pooling ? h.kvHeads % kvHeads : kvHeads % h.kvHeads) !== 0) throw new BadInputError(src, `${h.kvHeads} KV heads cannot be regrouped into ${kvHeads} for ${h.heads} query heads`);
  const d = h.headDim;
  return rewrite(src, out, (name, shape, v) => {
    const { role, layer } = classifyTensor(name);
    if (layer === null || (role !== 'attn.k' && role !== 'attn.v')) return [{ name, shape, values: v }];
    const size = d * shape[1]!;
    const values = new Float32Array(kvHeads * size);
    for (let g = 0; g < kvHeads; g++) {
      const from = pooling ? Array.from({ length: h.kvHeads / kvHeads }, (_, k) => g * (h.kvHeads / kvHeads) + k) : [Math.floor((g * h.kvHeads) / kvHeads)];
      for (let e = 0; e < size; e++) {
        let s = 0;
        for (const f of from) s += v[f * size + e]!;
        values[g * size + e] = s / from.length;
      }
    }
    return [{ name, shape: [kvHeads * d, shape[1]!], values }];
  }, (c) => ({ ...c, num_key_value_heads: kvHeads }));
}

/**
 * LLaMA Pro's block expansion: after every `every` layers a copy of the last one is inserted,
 * its output projections (o, down) drawn afresh at a tenth of their spread, as if trained from
 * the zeros the method starts them at (a zero-output copy is the identity; only the copies train).
 */
export function expandBlocks(src: string, out: string, every: number, seed: number): string {
  const layers = openCheckpoint(src).config!.num_hidden_layers as number;
  const order: number[] = [];
  const fresh = new Set<number>();
  for (let l = 0; l < layers; l++) {
    order.push(l);
    if ((l + 1) % every === 0) { fresh.add(order.length); order.push(l); }
  }
  const copied = keepLayers(src, `${out}.copied`, order);
  const random = new Random(seed, 'expanded blocks');
  const result = rewrite(copied, out, (name, shape, v) => {
    const { role, layer } = classifyTensor(name);
    if (layer === null || !fresh.has(layer) || (role !== 'attn.o' && role !== 'mlp.down')) return [{ name, shape, values: v }];
    let ss = 0;
    for (let i = 0; i < v.length; i++) ss += v[i]! * v[i]!;
    const sd = Math.sqrt(ss / v.length);
    return [{ name, shape, values: Float32Array.from(v, () => 0.1 * sd * random.normal()) }];
  });
  rmSync(copied, { recursive: true, force: true });
  return result;
}

/**
 * A share of each dense MLP's neurons split in two, the copy keeping the gate row. `down`: the up
 * row copied too, the down column divided between the two (a random part each). `up`: the down
 * column kept by both, the up row split as u + r and −r with r drawn at `offset` times the row's
 * spread, so the parts are far from u. silu(g·x)(u·x)·d is then the sum of two neurons either
 * way: the same function, a wider MLP.
 */
export function splitNeurons(src: string, out: string, share: number, seed: number, how: 'down' | 'up' = 'down', offset = 10): string {
  const width = openCheckpoint(src).config!.intermediate_size as number;
  const random = new Random(seed, 'split neurons');
  const chosen = shuffled(width, seed).slice(0, Math.round(share * width)).sort((x, y) => x - y);
  const parts = Float32Array.from(chosen, () => 0.2 + 0.6 * random.uniform());
  return rewrite(src, out, (name, shape, v) => {
    const { role } = classifyTensor(name);
    if (role === 'mlp.gate' || role === 'mlp.up') {
      const cols = shape[1]!;
      const values = new Float32Array((width + chosen.length) * cols);
      values.set(v);
      chosen.forEach((n, k) => values.set(v.subarray(n * cols, (n + 1) * cols), (width + k) * cols));
      if (role === 'mlp.up' && how === 'up') {
        chosen.forEach((n, k) => {
          let ss = 0;
          for (let c = 0; c < cols; c++) ss += v[n * cols + c]! ** 2;
          const spread = offset * Math.sqrt(ss / cols);
          for (let c = 0; c < cols; c++) {
            const r = spread * random.normal();
            values[n * cols + c] = v[n * cols + c]! + r;
            values[(width + k) * cols + c] = -r;
          }
        });
      }
      return [{ name, shape: [width + chosen.length, cols], values }];
    }
    if (role === 'mlp.down') {
      const rows = shape[0]!;
      const wide = width + chosen.length;
      const values = new Float32Array(rows * wide);
      for (let r = 0; r < rows; r++) {
        values.set(v.subarray(r * width, (r + 1) * width), r * wide);
        chosen.forEach((n, k) => {
          const part = how === 'down' ? parts[k]! : 1;
          values[r * wide + n] = v[r * width + n]! * part;
          values[r * wide + width + k] = v[r * width + n]! * (how === 'down' ? 1 - part : 1);
        });
      }
      return [{ name, shape: [rows, wide], values }];
    }
    return [{ name, shape, values: v }];
  }, (c) => ({ ...c, intermediate_size: width + chosen.length }));
}

/**
 * One query head added to every KV group, its q rows drawn with the spread of the others and its
 * o columns zero: it attends, and writes nothing. The same function, more heads.
 */
export function addDeadHeads(src: string, out: string, seed: number): string {
  const h = headsOf(openCheckpoint(src).config!);
  const group = h.heads / h.kvHeads;
  const d = h.headDim;
  const random = new Random(seed, 'dead heads');
  return rewrite(src, out, (name, shape, v) => {
    const { role } = classifyTensor(name);
    if (role === 'attn.q') {
      const cols = shape[1]!;
      let ss = 0;
      for (const x of v) ss += x * x;
      const spread = Math.sqrt(ss / v.length);
      const values = new Float32Array((h.heads + h.kvHeads) * d * cols);
      for (let g = 0; g < h.kvHeads; g++) {
        values.set(v.subarray(g * group * d * cols, (g + 1) * group * d * cols), g * (group + 1) * d * cols);
        for (let e = 0; e < d * cols; e++) values[(g * (group + 1) + group) * d * cols + e] = spread * random.normal();
      }
      return [{ name, shape: [(h.heads + h.kvHeads) * d, cols], values }];
    }
    if (role === 'attn.o') {
      const rows = shape[0]!;
      const [before, after] = [h.heads * d, (h.heads + h.kvHeads) * d];
      const values = new Float32Array(rows * after);
      for (let r = 0; r < rows; r++) for (let g = 0; g < h.kvHeads; g++) {
        values.set(v.subarray(r * before + g * group * d, r * before + (g + 1) * group * d), r * after + g * (group + 1) * d);
      }
      return [{ name, shape: [rows, after], values }];
    }
    return [{ name, shape, values: v }];
  }, (c) => ({ ...c, num_attention_heads: h.heads + h.kvHeads, head_dim: d }));
}

/**
 * The same model written with fused projections, as another architecture stores it: q, k and v
 * as one `qkv_proj` (or `query_key_value`), gate and up as one `gate_up_proj`. `concat` is
 * Phi-3's layout (all q rows, then k, then v; model_type phi3), `grouped` GPT-NeoX's, Falcon's
 * and InternLM2's (per KV group: its q heads, its k head, its v head; model_type internlm2).
 * No function changes, only names and row order within a file.
 */
export function fuseProjections(src: string, out: string, layout: 'concat' | 'grouped'): string {
  const h = headsOf(openCheckpoint(src).config!);
  const d = h.headDim;
  const group = h.heads / h.kvHeads;
  const qkvName = layout === 'concat' ? 'qkv_proj' : 'query_key_value';
  return rewrite(src, out, (name, shape, v, ck) => {
    const m = /^(.*\.self_attn\.)(q|k|v)_proj\.weight$/.exec(name);
    if (m) {
      if (m[2] !== 'q') return [];
      const [q, k, val] = ['q', 'k', 'v'].map((x) => readTensor(ck, `${m[1]}${x}_proj.weight`));
      const cols = shape[1]!;
      const rows = (h.heads + 2 * h.kvHeads) * d;
      const values = new Float32Array(rows * cols);
      if (layout === 'concat') {
        values.set(q!, 0);
        values.set(k!, q!.length);
        values.set(val!, q!.length + k!.length);
      } else {
        const head = d * cols;
        for (let g = 0; g < h.kvHeads; g++) {
          const at = g * (group + 2) * head;
          values.set(q!.subarray(g * group * head, (g + 1) * group * head), at);
          values.set(k!.subarray(g * head, (g + 1) * head), at + group * head);
          values.set(val!.subarray(g * head, (g + 1) * head), at + (group + 1) * head);
        }
      }
      return [{ name: `${m[1]}${qkvName}.weight`, shape: [rows, cols], values }];
    }
    const g = /^(.*\.mlp\.)(gate|up)_proj\.weight$/.exec(name);
    if (g) {
      if (g[2] !== 'gate') return [];
      const up = readTensor(ck, `${g[1]}up_proj.weight`);
      const values = new Float32Array(v.length * 2);
      values.set(v, 0);
      values.set(up, v.length);
      return [{ name: `${g[1]}gate_up_proj.weight`, shape: [shape[0]! * 2, shape[1]!], values }];
    }
    return [{ name, shape, values: v }];
  }, (c) => ({ ...c, model_type: layout === 'concat' ? 'phi3' : 'internlm2', architectures: [layout === 'concat' ? 'Phi3ForCausalLM' : 'InternLM2ForCausalLM'] }));
}

/**
 * A MoE written with each layer's routed experts in two 3-D tensors, `experts.gate_up_proj` and
 * `experts.down_proj`: `linear` as Transformers 5 stores them ([E, 2I, H], gate rows then up, and
 * [E, H, I]), `transposed` as Llama 4 does ([E, H, 2I], gate columns then up, and [E, I, H]),
 * `alternating` as gpt-oss does (transposed, gate and up columns alternating). The model_type
 * says which (llama4, gpt_oss). The same experts, the same function.
 */
export function fuseExperts(src: string, out: string, layout: 'linear' | 'transposed' | 'alternating'): string {
  const transpose = (v: Float32Array, rows: number, cols: number) => {
    const t = new Float32Array(v.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = v[r * cols + c]!;
    return t;
  };
  return rewrite(src, out, (name, shape, v, ck) => {
    const m = /^(.*\.mlp\.experts\.)(\d+)\.(gate|up|down)_proj\.weight$/.exec(name);
    if (!m) return [{ name, shape, values: v }];
    if (m[2] !== '0' || m[3] === 'up') return [];
    const experts = ck.tensors.filter((t) => t.name.startsWith(m[1]!) && t.name.endsWith('.down_proj.weight')).length;
    const [rows, cols] = [shape[0]!, shape[1]!];
    const all = new Float32Array(experts * v.length * (m[3] === 'down' ? 1 : 2));
    for (let e = 0; e < experts; e++) {
      if (m[3] === 'down') {
        const d = readTensor(ck, `${m[1]}${e}.down_proj.weight`);
        all.set(layout === 'linear' ? d : transpose(d, rows, cols), e * v.length);
        continue;
      }
      const [g, u] = [readTensor(ck, `${m[1]}${e}.gate_proj.weight`), readTensor(ck, `${m[1]}${e}.up_proj.weight`)];
      const slice = all.subarray(e * 2 * v.length, (e + 1) * 2 * v.length);
      if (layout === 'linear') {
        slice.set(g, 0);
        slice.set(u, v.length);
      } else {
        // [H, 2I]: row h holds every gate and up weight that reads hidden dimension h.
        for (let h = 0; h < cols; h++) {
          for (let i = 0; i < rows; i++) {
            const [gc, uc] = layout === 'transposed' ? [i, rows + i] : [2 * i, 2 * i + 1];
            slice[h * 2 * rows + gc] = g[i * cols + h]!;
            slice[h * 2 * rows + uc] = u[i * cols + h]!;
          }
        }
      }
    }
    if (m[3] === 'down') return [{ name: `${m[1]}down_proj`, shape: layout === 'linear' ? [experts, rows, cols] : [experts, cols, rows], values: all }];
    return [{ name: `${m[1]}gate_up_proj`, shape: layout === 'linear' ? [experts, 2 * rows, cols] : [experts, cols, 2 * rows], values: all }];
  }, (c) => (layout === 'linear' ? c : { ...c, model_type: layout === 'transposed' ? 'llama4_text' : 'gpt_oss' }));
}

const NORM_ROLE = /^norm\./;

/**
 * The same weights as a Gemma-convention checkpoint: every norm stored as γ − 1, model_type
 * gemma (whose RMSNorm scales by 1 + w). Only the convention changes, not what the norms apply.
 */
export function offsetNorms(src: string, out: string): string {
  return rewrite(src, out, (name, shape, v) => [{ name, shape, values: NORM_ROLE.test(classifyTensor(name).role) ? Float32Array.from(v, (x) => x - 1) : v }],
    (c) => ({ ...c, model_type: 'gemma', architectures: ['GemmaForCausalLM'], tie_word_embeddings: false }));
}

/** Every tensor name under `prefix` (PEFT writes `base_model.model.` before a model's own names). */
export function prefixNames(src: string, out: string, prefix: string): string {
  return rewrite(src, out, (name, shape, values) => [{ name: `${prefix}${name}`, shape, values }]);
}
