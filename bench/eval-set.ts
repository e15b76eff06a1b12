/**
 * A labelled set of model pairs for the verdict: synthetic fine-tunes (light and heavy), copies,
 * independent models of the same config (whose norms sit near 1.0: the trap), MoE models, partial
 * reuse, plus the real pairs in ../shared/data/models when present. Used by `npm run eval` and by
 * the verdict tests.
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { writeCheckpoint } from '../core/src/checkpoint/writer.ts';
import type { DType } from '../core/src/checkpoint/dtype.ts';
import { PreadReader } from '../core/src/io/pread.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import type { VerdictLabel } from '../core/src/verdict/verdict.ts';
import { Random } from '../core/src/synth/random.ts';
import { encodeFloats } from '../core/src/synth/encode.ts';

export interface LabelledPair {
  name: string;
  a: string;
  b: string;
  expected: VerdictLabel;
}

/** B made of A's tensors where `fromA(name)`, the other model's elsewhere (byte copies). */
function splice(out: string, a: string, other: string, fromA: (name: string) => boolean): void {
  mkdirSync(out, { recursive: true });
  const ckA = openCheckpoint(a);
  const ckO = openCheckpoint(other);
  const source = new Map(ckO.tensors.map((t) => [t.name, t]));
  for (const t of ckA.tensors) if (fromA(t.name)) source.set(t.name, t);
  const reader = new PreadReader();
  writeCheckpoint(out, ckO.tensors.map((t) => ({ name: t.name, dtype: t.dtype as DType, shape: t.shape })), (spec, first, count, raw) => {
    const t = source.get(spec.name)!;
    const size = raw.length / count;
    reader.readSync(t.file, t.offset + first * size, raw);
  });
  reader.close();
  writeFileSync(join(out, 'config.json'), JSON.stringify(ckO.config, null, 2));
}

/** B's layer j is A's layer `layers[j]` (depth up-scaling, pruning, reordering), byte for byte. */
function relayer(out: string, a: string, layers: number[]): void {
  mkdirSync(out, { recursive: true });
  const ck = openCheckpoint(a);
  const source = new Map<string, (typeof ck.tensors)[number]>();
  const specs: { name: string; dtype: DType; shape: number[] }[] = [];
  for (const t of ck.tensors) {
    const m = /^model\.layers\.(\d+)\.(.*)$/.exec(t.name);
    if (!m) { source.set(t.name, t); specs.push({ name: t.name, dtype: t.dtype as DType, shape: t.shape }); continue; }
    layers.forEach((from, j) => {
      if (from !== Number(m[1])) return;
      const name = `model.layers.${j}.${m[2]}`;
      source.set(name, t);
      specs.push({ name, dtype: t.dtype as DType, shape: t.shape });
    });
  }
  const reader = new PreadReader();
  writeCheckpoint(out, specs, (spec, first, count, raw) => {
    const t = source.get(spec.name)!;
    reader.readSync(t.file, t.offset + first * (raw.length / count), raw);
  });
  reader.close();
  writeFileSync(join(out, 'config.json'), JSON.stringify({ ...ck.config, num_hidden_layers: layers.length }, null, 2));
}

/** Experts of every layer reordered (expert e of B is expert perm[e] of the source), router rows alike. */
function reorderExperts(out: string, src: string, perm: number[]): void {
  mkdirSync(out, { recursive: true });
  const ck = openCheckpoint(src);
  const byName = new Map(ck.tensors.map((t) => [t.name, t]));
  const reader = new PreadReader();
  writeCheckpoint(out, ck.tensors.map((t) => ({ name: t.name, dtype: t.dtype as DType, shape: t.shape })), (spec, first, count, raw) => {
    const expert = /^(model\.layers\.\d+\.mlp\.experts\.)(\d+)(\..*)$/.exec(spec.name);
    if (expert) {
      const t = byName.get(`${expert[1]}${perm[Number(expert[2])]}${expert[3]}`)!;
      reader.readSync(t.file, t.offset + first * (raw.length / count), raw);
      return;
    }
    const t = byName.get(spec.name)!;
    if (!/\.mlp\.gate\.weight$/.test(spec.name)) {
      reader.readSync(t.file, t.offset + first * (raw.length / count), raw);
      return;
    }
    // The router fits one window: read it whole and move its rows.
    const whole = new Uint8Array(t.byteLength);
    reader.readSync(t.file, t.offset, whole);
    const rowBytes = t.byteLength / t.shape[0]!;
    perm.forEach((from, e) => raw.set(whole.subarray(from * rowBytes, (from + 1) * rowBytes), e * rowBytes));
  });
  reader.close();
  writeFileSync(join(out, 'config.json'), JSON.stringify(ck.config, null, 2));
}

/** A byte-level BPE tokenizer.json holding `tokens` by id (no merges needed to compare vocabularies). */
function writeTokenizer(folder: string, tokens: string[]): void {
  const vocab: Record<string, number> = {};
  tokens.forEach((tok, id) => { vocab[tok] = id; });
  writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify({
    version: '1.0', added_tokens: [], normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  }));
}

function words(count: number, seed: number): string[] {
  const random = new Random(seed, 'words');
  const seen = new Set<string>();
  while (seen.size < count) {
    let w = 'Ġ';
    const len = 3 + Math.floor(random.uniform() * 7);
    for (let i = 0; i < len; i++) w += String.fromCharCode(97 + Math.floor(random.uniform() * 26));
    seen.add(w);
  }
  return [...seen];
}

/** The model in `src` with `extra` new tokens: rows appended to embed_tokens and lm_head, tokenizer extended. */
function extendVocabulary(out: string, src: string, tokens: string[], extra: string[]): void {
  mkdirSync(out, { recursive: true });
  const ck = openCheckpoint(src);
  const vocabTensor = (name: string) => name === 'model.embed_tokens.weight' || name === 'lm_head.weight';
  const random = new Random(99, 'new rows');
  const reader = new PreadReader();
  writeCheckpoint(out, ck.tensors.map((t) => ({
    name: t.name, dtype: t.dtype as DType, shape: vocabTensor(t.name) ? [t.shape[0]! + extra.length, t.shape[1]!] : t.shape,
  })), (spec, first, count, raw) => {
    const t = ck.tensors.find((x) => x.name === spec.name)!;
    const size = raw.length / count;
    const old = Math.max(0, Math.min(count, t.byteLength / size - first));
    if (old > 0) reader.readSync(t.file, t.offset + first * size, raw.subarray(0, old * size));
    if (old < count) {
      const values = Float32Array.from({ length: count - old }, () => 0.02 * random.normal());
      encodeFloats(spec.dtype, values, count - old, raw.subarray(old * size));
    }
  });
  reader.close();
  writeFileSync(join(out, 'config.json'), JSON.stringify({ ...ck.config, vocab_size: tokens.length + extra.length }, null, 2));
  writeTokenizer(out, [...tokens, ...extra]);
}

/** Each layer's MLP hidden neurons reordered: rows of gate/up and columns of down, alike. */
function permuteNeurons(out: string, src: string, seed: number): void {
  mkdirSync(out, { recursive: true });
  const ck = openCheckpoint(src);
  const reader = new PreadReader();
  const perms = new Map<string, number[]>();
  const permFor = (layer: string, size: number) => {
    if (!perms.has(layer)) {
      const random = new Random(seed, `neurons ${layer}`);
      const p = Array.from({ length: size }, (_, i) => i);
      for (let i = size - 1; i > 0; i--) { const j = Math.floor(random.uniform() * (i + 1)); [p[i], p[j]] = [p[j]!, p[i]!]; }
      perms.set(layer, p);
    }
    return perms.get(layer)!;
  };
  // The tensor being written, reordered whole (synthetic tensors are small); windows are cut from it.
  let current: { name: string; bytes: Uint8Array } | null = null;
  writeCheckpoint(out, ck.tensors.map((t) => ({ name: t.name, dtype: t.dtype as DType, shape: t.shape })), (spec, first, count, raw) => {
    const t = ck.tensors.find((x) => x.name === spec.name)!;
    const m = /^model\.layers\.(\d+)\.mlp\.(gate|up|down)_proj\.weight$/.exec(spec.name);
    const size = raw.length / count;
    if (!m) {
      reader.readSync(t.file, t.offset + first * size, raw);
      return;
    }
    if (current?.name !== spec.name) {
      const whole = new Uint8Array(t.byteLength);
      reader.readSync(t.file, t.offset, whole);
      const bytes = new Uint8Array(t.byteLength);
      const [rows, cols] = [t.shape[0]!, t.shape[1]!];
      if (m[2] === 'down') {
        const p = permFor(m[1]!, cols);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) bytes.set(whole.subarray((r * cols + p[c]!) * size, (r * cols + p[c]! + 1) * size), (r * cols + c) * size);
      } else {
        const p = permFor(m[1]!, rows);
        for (let r = 0; r < rows; r++) bytes.set(whole.subarray(p[r]! * cols * size, (p[r]! + 1) * cols * size), r * cols * size);
      }
      current = { name: spec.name, bytes };
    }
    raw.set(current.bytes.subarray(first * size, first * size + raw.length));
  });
  reader.close();
  writeFileSync(join(out, 'config.json'), JSON.stringify(ck.config, null, 2));
}

export function buildEvalSet(root: string, sharedModels?: string): LabelledPair[] {
  const p = (name: string) => join(root, name);
  const dense = { layers: 3, hidden: 512, intermediate: 4096, vocab: 16384 };
  const moe = { layout: 'moe' as const, layers: 2, hidden: 512, experts: 4, moeIntermediate: 2048, vocab: 16384 };
  if (!existsSync(p('partial'))) {
    synthesize('base', { out: p('base'), shape: dense, seed: 11 });
    synthesize('derivative', { out: p('light'), like: p('base'), drift: 0.01, seed: 12 });
    synthesize('derivative', { out: p('heavy'), like: p('base'), drift: 2, seed: 13 });
    synthesize('independent', { out: p('independent'), like: p('base'), seed: 14 });
    cpSync(p('base'), p('copy'), { recursive: true });
    synthesize('base', { out: p('moe-base'), shape: moe, seed: 21 });
    synthesize('derivative', { out: p('moe-derived'), like: p('moe-base'), drift: 0.05, seed: 22 });
    synthesize('independent', { out: p('moe-independent'), like: p('moe-base'), seed: 23 });
    // Embeddings and the first layer reused, the rest trained anew.
    // Depth up-scaling (as SOLAR did): a layer duplicated, then trained on.
    relayer(p('upscaled-raw'), p('base'), [0, 1, 1, 2]);
    synthesize('derivative', { out: p('upscaled'), like: p('upscaled-raw'), drift: 0.05, seed: 15 });
    // A fine-tune whose MLP neurons were then reordered (same function, different order).
    permuteNeurons(p('neurons-permuted'), p('light'), 41);
    // Experts reordered after fine-tuning (a by-index comparison sees unrelated experts).
    reorderExperts(p('moe-reordered'), p('moe-derived'), [2, 0, 3, 1]);
    // A vocabulary extended by 512 tokens, then trained on (the embeddings' shapes differ).
    const vocab = words(4096, 31);
    synthesize('base', { out: p('vocab-base'), shape: { ...dense, layers: 2, vocab: vocab.length }, seed: 32 });
    writeTokenizer(p('vocab-base'), vocab);
    synthesize('derivative', { out: p('vocab-tuned'), like: p('vocab-base'), drift: 0.05, seed: 33 });
    extendVocabulary(p('vocab-extended'), p('vocab-tuned'), vocab, words(4096 + 512, 34).filter((w) => !vocab.includes(w)).slice(0, 512));
    synthesize('independent', { out: p('vocab-independent'), like: p('vocab-base'), seed: 35 });
    writeTokenizer(p('vocab-independent'), vocab.slice(0, 3000).concat(words(5000, 36).filter((w) => !vocab.includes(w)).slice(0, 1096)));
    splice(p('partial'), p('base'), p('independent'), (name) => name.includes('embed_tokens') || name.includes('layers.0.'));
  }
  const pairs: LabelledPair[] = [
    { name: 'light fine-tune', a: p('base'), b: p('light'), expected: 'derived' },
    { name: 'heavy fine-tune', a: p('base'), b: p('heavy'), expected: 'derived' },
    { name: 'identical copy', a: p('base'), b: p('copy'), expected: 'derived' },
    { name: 'independent, same config (norms near 1)', a: p('base'), b: p('independent'), expected: 'independent' },
    { name: 'MoE fine-tune', a: p('moe-base'), b: p('moe-derived'), expected: 'derived' },
    { name: 'MoE independent', a: p('moe-base'), b: p('moe-independent'), expected: 'independent' },
    { name: 'partial reuse (embeddings + layer 0)', a: p('base'), b: p('partial'), expected: 'partially-derived' },
    { name: 'depth up-scaled (layer 1 duplicated) and trained on', a: p('base'), b: p('upscaled'), expected: 'derived' },
    { name: 'fine-tune with its MLP neurons reordered', a: p('base'), b: p('neurons-permuted'), expected: 'derived' },
    { name: 'MoE fine-tune with its experts reordered', a: p('moe-base'), b: p('moe-reordered'), expected: 'derived' },
    { name: 'vocabulary extended by 512 tokens, trained on', a: p('vocab-base'), b: p('vocab-extended'), expected: 'derived' },
    { name: 'independent, same config, 73% of the vocabulary shared', a: p('vocab-base'), b: p('vocab-independent'), expected: 'independent' },
  ];
  if (sharedModels && existsSync(join(sharedModels, 'babyllama-105'))) {
    pairs.push(
      { name: 'real: BabyLlama-105 vs BabyLlama-361 (independent runs)', a: join(sharedModels, 'babyllama-105'), b: join(sharedModels, 'babyllama-361'), expected: 'independent' },
      { name: 'real: stories260K F32 vs its BF16 cast', a: join(sharedModels, 'stories260k'), b: join(sharedModels, 'stories260k-bf16'), expected: 'derived' },
    );
  }
  return pairs;
}

export const DEFAULT_EVAL_ROOT = fileURLToPath(new URL('../.bench/eval/', import.meta.url));
