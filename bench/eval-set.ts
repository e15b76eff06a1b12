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
import {
  addDeadHeads, addNoise, expandBlocks, fuseExperts, fuseProjections, offsetNorms, prefixNames, splitNeurons, keepLayers, merge, upcycle, permuteHeads, permuteHidden, permuteNeurons, pruneWidth, quantize4, flipNeuronSigns, replaceEmbeddings, regroupKvHeads, rescale, rotateHidden, rotateQueryKeyPlanes, rotateValueHeads, shiftSoftmaxRows, sliceHidden,
} from '../core/src/synth/transforms.ts';
import { reorderToMatch } from './adversary.ts';

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

export function buildEvalSet(root: string, sharedModels?: string): LabelledPair[] {
  const p = (name: string) => join(root, name);
  const dense = { layers: 3, hidden: 256, intermediate: 1024, vocab: 4096 };
  const moe = { layout: 'moe' as const, layers: 2, hidden: 256, experts: 4, moeIntermediate: 512, vocab: 4096 };
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
    permuteNeurons(p('light'), p('neurons-permuted'), 41);
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
  buildReparameterized(p);
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
  pairs.push(...REPARAMETERIZED.map((c) => ({ name: c.name, a: p(c.a), b: p(c.b), expected: c.expected })));
  if (sharedModels && existsSync(join(sharedModels, 'babyllama-105'))) {
    buildRealCases(p, sharedModels);
    pairs.push(...REAL_CASES.map((c) => ({ ...c, a: join(sharedModels, c.a), b: p(c.b) })));
    pairs.push(
      { name: 'real: BabyLlama-105 vs BabyLlama-361 (independent runs)', a: join(sharedModels, 'babyllama-105'), b: join(sharedModels, 'babyllama-361'), expected: 'independent' },
      { name: 'real: stories260K F32 vs its BF16 cast', a: join(sharedModels, 'stories260k'), b: join(sharedModels, 'stories260k-bf16'), expected: 'derived' },
    );
  }
  return pairs;
}

/**
 * Function-preserving edits and their look-alikes on synthetic models (issue 11): what a party
 * hiding a derivation would do, and what an independent model dressed up to look derived is.
 */
const REPARAMETERIZED: { name: string; a: string; b: string; expected: VerdictLabel }[] = [
  { name: 'hidden dimension permuted, then a light fine-tune', a: 'base', b: 'hidden-permuted', expected: 'derived' },
  { name: 'heads permuted (none in place), neurons permuted, fine-tuned', a: 'base', b: 'heads-permuted', expected: 'derived' },
  { name: 'q/k and up/down rescaled, norms folded, hidden permuted', a: 'base', b: 'rescaled', expected: 'derived' },
  { name: 'width pruned (75% of hidden, heads and neurons), fine-tuned', a: 'base', b: 'width-pruned-heads', expected: 'derived' },
  { name: 'depth pruned (a layer removed)', a: 'base', b: 'depth-pruned', expected: 'derived' },
  { name: '4-bit round-trip quantization', a: 'base', b: 'quantized', expected: 'derived' },
  { name: 'merge of a fine-tune with an unrelated model (0.5/0.5)', a: 'base', b: 'merged', expected: 'derived' },
  { name: 'embeddings and lm_head replaced, blocks kept, fine-tuned', a: 'base', b: 'new-embeddings', expected: 'partially-derived' },
  { name: 'MoE: hidden permuted, experts reordered, fine-tuned', a: 'moe-base', b: 'moe-hidden-permuted', expected: 'derived' },
  { name: 'dense-to-MoE upcycling (4 experts from the MLP), trained on', a: 'base', b: 'upcycled', expected: 'derived' },
  { name: 'independent, reordered to best match (hidden, heads, neurons)', a: 'base', b: 'independent-matched', expected: 'independent' },
  { name: 'independent, different width (256 vs 320)', a: 'base', b: 'independent-wider', expected: 'independent' },
  { name: 'independent, different depth (3 vs 2 layers)', a: 'base', b: 'independent-shallower', expected: 'independent' },
  { name: 'residual stream rotated (QuaRot-style, norms folded), light fine-tune', a: 'base', b: 'rotated', expected: 'derived' },
  { name: 'token interface reused on independent blocks, then rotated', a: 'base', b: 'rotated-interface', expected: 'partially-derived' },
  { name: 'value heads rotated within each KV group (o columns alike), light fine-tune', a: 'base', b: 'values-rotated', expected: 'derived' },
  { name: 'q/k RoPE planes turned and scaled, values rotated, light fine-tune', a: 'base', b: 'heads-turned', expected: 'derived' },
  { name: "A's attention (q/k planes turned, values rotated) in independent blocks", a: 'base', b: 'attention-transplant', expected: 'partially-derived' },
  { name: 'every MLP neuron\'s up row and down column negated, light fine-tune', a: 'base', b: 'neurons-flipped', expected: 'derived' },
  { name: "A's MLP (up/down signs flipped) in independent blocks", a: 'base', b: 'mlp-transplant', expected: 'partially-derived' },
  { name: 'MoE: every expert neuron\'s up/down signs flipped, light fine-tune', a: 'moe-base', b: 'moe-neurons-flipped', expected: 'derived' },
  { name: 'MoE: router and lm_head rows shifted by one vector (no softmax sees it), light fine-tune', a: 'moe-base', b: 'moe-rows-shifted', expected: 'derived' },
  { name: 'KV heads mean-pooled (4 to 2, GQA uptraining), fine-tuned', a: 'base', b: 'kv-pooled', expected: 'derived' },
  { name: 'LLaMA Pro block expansion (a copy of layer 1 inserted, its outputs trained from zero), fine-tuned', a: 'base', b: 'blocks-expanded', expected: 'derived' },
  { name: 'residual stream rotated and token interface replaced (no shared token anchors a basis), light fine-tune', a: 'base', b: 'rotated-new-interface', expected: 'partially-derived' },
  { name: 'MoE: residual stream rotated, experts reordered, token interface replaced, light fine-tune', a: 'moe-base', b: 'moe-rotated-new-interface', expected: 'partially-derived' },
  { name: 'independent, rotated, token interface replaced', a: 'base', b: 'independent-rotated-new-interface', expected: 'independent' },
  { name: 'every edit at once with the token interface replaced: rotated, heads and neurons permuted, neurons split, dead heads, planes turned, values rotated, signs flipped, rescaled, fine-tuned', a: 'base', b: 'all-edits-new-interface', expected: 'partially-derived' },
  { name: 'a layer removed, heads and neurons permuted, light fine-tune', a: 'base', b: 'pruned-heads-permuted', expected: 'derived' },
  { name: 'a layer removed, residual stream rotated, light fine-tune', a: 'base', b: 'pruned-rotated', expected: 'derived' },
  { name: 'LLaMA Pro block expansion, residual stream rotated, light fine-tune', a: 'base', b: 'expanded-rotated', expected: 'derived' },
  { name: 'a quarter of the neurons split in two, a head that writes nothing added per KV group, light fine-tune', a: 'base', b: 'widened', expected: 'derived' },
  { name: 'widened so (neurons split, dead heads), rotated, token interface replaced, light fine-tune', a: 'base', b: 'widened-rotated-new-interface', expected: 'partially-derived' },
  { name: 'written with fused projections (Phi-3 qkv_proj and gate_up_proj), heads permuted, token interface replaced, light fine-tune', a: 'base', b: 'fused-new-interface', expected: 'partially-derived' },
  { name: 'residual stream rotated, written with a per-KV-group fused qkv (InternLM2 layout), light fine-tune', a: 'base', b: 'rotated-fused', expected: 'derived' },
  { name: 'independent, written with fused projections (Phi-3 layout)', a: 'base', b: 'independent-fused', expected: 'independent' },
  { name: 'MoE: routed experts stored as one 3-D tensor a layer (Llama 4 layout, transposed), stream rotated, token interface replaced, light fine-tune', a: 'moe-base', b: 'moe-fused-experts', expected: 'partially-derived' },
  { name: "MoE: A's router and routed experts, the experts stored as gpt-oss stores them (one tensor a layer, gate and up alternating), in independent blocks", a: 'moe-base', b: 'moe-experts-transplant', expected: 'partially-derived' },
  { name: 'MoE independent, routed experts stored as one tensor a layer (Transformers 5 layout)', a: 'moe-base', b: 'moe-independent-fused', expected: 'independent' },
  { name: 'written in the Gemma convention (norms stored as γ − 1), norms folded, heads permuted, token interface replaced, light fine-tune', a: 'gemma-base', b: 'gemma-folded-new-interface', expected: 'partially-derived' },
  { name: "a fine-tune saved under PEFT's wrapper prefix (base_model.model.), heads permuted", a: 'base', b: 'peft-prefixed', expected: 'derived' },
  { name: 'every edit at once: hidden, heads, neurons permuted; rescaled; q/k planes turned; values rotated; neuron signs flipped; lm_head shifted; fine-tuned', a: 'base', b: 'all-edits', expected: 'derived' },
  { name: 'MoE, every edit at once: residual stream rotated, experts reordered, rescaled, planes turned, values rotated, signs flipped, router/lm_head shifted, fine-tuned', a: 'moe-base', b: 'moe-all-edits', expected: 'derived' },
];

function buildReparameterized(p: (name: string) => string): void {
  const tmp = (name: string) => p(`tmp-${name}`);
  // Each step once: a set built by an earlier version gains only the cases it lacks.
  const once = (dir: string, make: () => unknown) => { if (!existsSync(join(dir, 'config.json'))) make(); };
  once(tmp('hidden'), () => permuteHidden(p('base'), tmp('hidden'), 51));
  once(p('hidden-permuted'), () => addNoise(tmp('hidden'), p('hidden-permuted'), 0.01, 52));
  once(tmp('heads'), () => permuteHeads(p('base'), tmp('heads'), 53));
  once(tmp('heads-neurons'), () => permuteNeurons(tmp('heads'), tmp('heads-neurons'), 54));
  once(p('heads-permuted'), () => addNoise(tmp('heads-neurons'), p('heads-permuted'), 0.01, 55));
  once(p('rescaled'), () => rescale(p('hidden-permuted'), p('rescaled'), 56));
  once(tmp('pruned-heads'), () => pruneWidth(p('base'), tmp('pruned-heads'), 0.75, 0.75, 57, 0.75));
  once(p('width-pruned-heads'), () => addNoise(tmp('pruned-heads'), p('width-pruned-heads'), 0.05, 58));
  once(p('depth-pruned'), () => keepLayers(p('base'), p('depth-pruned'), [0, 2]));
  once(p('quantized'), () => quantize4(p('base'), p('quantized')));
  once(p('merged'), () => merge(p('light'), p('independent'), p('merged'), 0.5));
  once(tmp('embeddings'), () => replaceEmbeddings(p('base'), tmp('embeddings'), 59));
  once(p('new-embeddings'), () => addNoise(tmp('embeddings'), p('new-embeddings'), 0.01, 60));
  once(tmp('moe-hidden'), () => permuteHidden(p('moe-derived'), tmp('moe-hidden'), 61));
  once(p('moe-reordered-h'), () => reorderExperts(p('moe-reordered-h'), tmp('moe-hidden'), [3, 2, 0, 1]));
  once(p('moe-hidden-permuted'), () => addNoise(p('moe-reordered-h'), p('moe-hidden-permuted'), 0.01, 62));
  once(p('independent-matched'), () => reorderToMatch(p('base'), p('independent'), p('independent-matched')));
  once(p('upcycled'), () => upcycle(p('base'), p('upcycled'), 4, 0.05, 65));
  once(p('independent-wider'), () => synthesize('base', { out: p('independent-wider'), shape: { layers: 3, hidden: 320, intermediate: 1024, heads: 10, kvHeads: 5, vocab: 4096 }, seed: 63 }));
  once(p('independent-shallower'), () => synthesize('base', { out: p('independent-shallower'), shape: { layers: 2, hidden: 256, intermediate: 1024, vocab: 4096 }, seed: 64 }));
  once(tmp('rotated'), () => rotateHidden(p('base'), tmp('rotated'), 66));
  once(p('rotated'), () => addNoise(tmp('rotated'), p('rotated'), 0.01, 67));
  once(tmp('interface'), () => splice(tmp('interface'), p('base'), p('independent'), (name) => /embed_tokens|lm_head/.test(name)));
  once(p('rotated-interface'), () => rotateHidden(tmp('interface'), p('rotated-interface'), 68));
  once(tmp('values'), () => rotateValueHeads(p('base'), tmp('values'), 69));
  once(p('values-rotated'), () => addNoise(tmp('values'), p('values-rotated'), 0.01, 70));
  once(tmp('planes'), () => rotateQueryKeyPlanes(p('base'), tmp('planes'), 78));
  once(tmp('turned'), () => rotateValueHeads(tmp('planes'), tmp('turned'), 79));
  once(p('heads-turned'), () => addNoise(tmp('turned'), p('heads-turned'), 0.01, 80));
  once(tmp('transplant'), () => splice(tmp('transplant'), tmp('turned'), p('independent'), (name) => /self_attn/.test(name)));
  once(p('attention-transplant'), () => addNoise(tmp('transplant'), p('attention-transplant'), 0.02, 81));
  once(tmp('flipped'), () => flipNeuronSigns(p('base'), tmp('flipped'), 84));
  once(p('neurons-flipped'), () => addNoise(tmp('flipped'), p('neurons-flipped'), 0.01, 85));
  once(tmp('mlp-transplant'), () => splice(tmp('mlp-transplant'), tmp('flipped'), p('independent'), (name) => /\.mlp\./.test(name)));
  once(p('mlp-transplant'), () => addNoise(tmp('mlp-transplant'), p('mlp-transplant'), 0.01, 86));
  once(tmp('moe-flipped'), () => flipNeuronSigns(p('moe-base'), tmp('moe-flipped'), 87));
  once(p('moe-neurons-flipped'), () => addNoise(tmp('moe-flipped'), p('moe-neurons-flipped'), 0.01, 88));
  once(tmp('moe-shifted'), () => shiftSoftmaxRows(p('moe-base'), tmp('moe-shifted'), 90));
  once(p('moe-rows-shifted'), () => addNoise(tmp('moe-shifted'), p('moe-rows-shifted'), 0.01, 91));
  once(tmp('kv-pooled'), () => regroupKvHeads(p('base'), tmp('kv-pooled'), 2));
  once(p('kv-pooled'), () => addNoise(tmp('kv-pooled'), p('kv-pooled'), 0.01, 92));
  once(tmp('blocks-expanded'), () => expandBlocks(p('base'), tmp('blocks-expanded'), 2, 109));
  once(p('blocks-expanded'), () => addNoise(tmp('blocks-expanded'), p('blocks-expanded'), 0.01, 110));
  once(tmp('rotated-new-interface'), () => replaceEmbeddings(tmp('rotated'), tmp('rotated-new-interface'), 111));
  once(p('rotated-new-interface'), () => addNoise(tmp('rotated-new-interface'), p('rotated-new-interface'), 0.01, 112));
  once(tmp('widened'), () => addDeadHeads(splitNeurons(p('base'), tmp('split'), 0.25, 120), tmp('widened'), 121));
  once(p('widened'), () => addNoise(tmp('widened'), p('widened'), 0.01, 122));
  once(tmp('widened-rotated'), () => rotateHidden(tmp('widened'), tmp('widened-rotated'), 123));
  once(tmp('widened-rotated-new'), () => replaceEmbeddings(tmp('widened-rotated'), tmp('widened-rotated-new'), 124));
  once(p('widened-rotated-new-interface'), () => addNoise(tmp('widened-rotated-new'), p('widened-rotated-new-interface'), 0.01, 125));
  once(tmp('depth-pruned-heads'), () => permuteHeads(p('depth-pruned'), tmp('depth-pruned-heads'), 126));
  once(tmp('depth-pruned-heads-neurons'), () => permuteNeurons(tmp('depth-pruned-heads'), tmp('depth-pruned-heads-neurons'), 127));
  once(p('pruned-heads-permuted'), () => addNoise(tmp('depth-pruned-heads-neurons'), p('pruned-heads-permuted'), 0.01, 128));
  once(tmp('pruned-rotated'), () => rotateHidden(p('depth-pruned'), tmp('pruned-rotated'), 129));
  once(p('pruned-rotated'), () => addNoise(tmp('pruned-rotated'), p('pruned-rotated'), 0.01, 130));
  once(tmp('expanded-rotated'), () => rotateHidden(tmp('blocks-expanded'), tmp('expanded-rotated'), 131));
  once(p('expanded-rotated'), () => addNoise(tmp('expanded-rotated'), p('expanded-rotated'), 0.01, 132));
  once(tmp('independent-rotated'), () => rotateHidden(p('independent'), tmp('independent-rotated'), 113));
  once(p('independent-rotated-new-interface'), () => replaceEmbeddings(tmp('independent-rotated'), p('independent-rotated-new-interface'), 114));
  // The same weights under another architecture's names and row layout (roles/fused.ts).
  once(tmp('fused-heads'), () => permuteHeads(p('base'), tmp('fused-heads'), 144));
  once(tmp('fused'), () => fuseProjections(tmp('fused-heads'), tmp('fused'), 'concat'));
  once(tmp('fused-new-interface'), () => replaceEmbeddings(tmp('fused'), tmp('fused-new-interface'), 145));
  once(p('fused-new-interface'), () => addNoise(tmp('fused-new-interface'), p('fused-new-interface'), 0.01, 146));
  once(tmp('rotated-fused'), () => fuseProjections(tmp('rotated'), tmp('rotated-fused'), 'grouped'));
  once(p('rotated-fused'), () => addNoise(tmp('rotated-fused'), p('rotated-fused'), 0.01, 147));
  once(p('independent-fused'), () => fuseProjections(p('independent'), p('independent-fused'), 'concat'));
  once(tmp('moe-rotated'), () => rotateHidden(p('moe-base'), tmp('moe-rotated'), 148));
  once(tmp('moe-fused-experts'), () => fuseExperts(tmp('moe-rotated'), tmp('moe-fused-experts'), 'transposed'));
  once(tmp('moe-fused-experts-new'), () => replaceEmbeddings(tmp('moe-fused-experts'), tmp('moe-fused-experts-new'), 149));
  once(p('moe-fused-experts'), () => addNoise(tmp('moe-fused-experts-new'), p('moe-fused-experts'), 0.01, 150));
  once(tmp('moe-experts-routed'), () => splice(tmp('moe-experts-routed'), p('moe-base'), p('moe-independent'), (name) => /\.experts\.|\.mlp\.gate\.weight$/.test(name)));
  once(tmp('moe-experts-transplant'), () => fuseExperts(tmp('moe-experts-routed'), tmp('moe-experts-transplant'), 'alternating'));
  once(p('moe-experts-transplant'), () => addNoise(tmp('moe-experts-transplant'), p('moe-experts-transplant'), 0.01, 151));
  once(p('moe-independent-fused'), () => fuseExperts(p('moe-independent'), p('moe-independent-fused'), 'linear'));
  // Conventions of other families: Gemma's norms (1 + w), PEFT's wrapper prefix.
  once(p('gemma-base'), () => offsetNorms(p('base'), p('gemma-base')));
  once(tmp('gemma-folded'), () => offsetNorms(permuteHeads(rescale(p('base'), tmp('gemma-rescaled'), 157), tmp('gemma-heads'), 158), tmp('gemma-folded')));
  once(tmp('gemma-folded-new'), () => replaceEmbeddings(tmp('gemma-folded'), tmp('gemma-folded-new'), 159));
  once(p('gemma-folded-new-interface'), () => addNoise(tmp('gemma-folded-new'), p('gemma-folded-new-interface'), 0.01, 160));
  once(p('peft-prefixed'), () => prefixNames(permuteHeads(p('light'), tmp('light-heads'), 161), p('peft-prefixed'), 'base_model.model.'));
  // Every function-preserving edit the set has, one after another, then a light fine-tune.
  const chain = (name: string, from: string, steps: ((src: string, out: string) => unknown)[]) => once(p(name), () => {
    let at = from;
    steps.forEach((step, k) => {
      const out = k === steps.length - 1 ? p(name) : tmp(`${name}-${k}`);
      step(at, out);
      at = out;
    });
  });
  chain('all-edits', p('base'), [
    (s2, o) => permuteHidden(s2, o, 93), (s2, o) => permuteHeads(s2, o, 94), (s2, o) => permuteNeurons(s2, o, 95), (s2, o) => rescale(s2, o, 96),
    (s2, o) => rotateQueryKeyPlanes(s2, o, 97), (s2, o) => rotateValueHeads(s2, o, 98), (s2, o) => flipNeuronSigns(s2, o, 99), (s2, o) => shiftSoftmaxRows(s2, o, 100),
    (s2, o) => addNoise(s2, o, 0.01, 101),
  ]);
  chain('moe-all-edits', p('moe-base'), [
    (s2, o) => rotateHidden(s2, o, 102), (s2, o) => reorderExperts(o, s2, [2, 0, 3, 1]), (s2, o) => rescale(s2, o, 103),
    (s2, o) => rotateQueryKeyPlanes(s2, o, 104), (s2, o) => rotateValueHeads(s2, o, 105), (s2, o) => flipNeuronSigns(s2, o, 106), (s2, o) => shiftSoftmaxRows(s2, o, 107),
    (s2, o) => addNoise(s2, o, 0.01, 108),
  ]);
  chain('all-edits-new-interface', p('base'), [
    (s2, o) => rotateHidden(s2, o, 133), (s2, o) => permuteHeads(s2, o, 134), (s2, o) => permuteNeurons(s2, o, 135), (s2, o) => splitNeurons(s2, o, 0.25, 136),
    (s2, o) => addDeadHeads(s2, o, 137), (s2, o) => rotateQueryKeyPlanes(s2, o, 138), (s2, o) => rotateValueHeads(s2, o, 139), (s2, o) => flipNeuronSigns(s2, o, 140),
    (s2, o) => rescale(s2, o, 141), (s2, o) => replaceEmbeddings(s2, o, 142), (s2, o) => addNoise(s2, o, 0.01, 143),
  ]);
  chain('moe-rotated-new-interface', p('moe-base'), [
    (s2, o) => rotateHidden(s2, o, 115), (s2, o) => reorderExperts(o, s2, [1, 3, 0, 2]), (s2, o) => replaceEmbeddings(s2, o, 116), (s2, o) => addNoise(s2, o, 0.01, 117),
  ]);
}

/** The same edits on real trained weights (BabyLlama-105; independent: BabyLlama-361). */
const REAL_CASES: { name: string; a: string; b: string; expected: VerdictLabel }[] = [
  { name: 'real: BabyLlama-105, hidden permuted + light fine-tune', a: 'babyllama-105', b: 'real-hidden-permuted', expected: 'derived' },
  { name: 'real: BabyLlama-105, heads + neurons permuted + fine-tune', a: 'babyllama-105', b: 'real-heads-permuted', expected: 'derived' },
  { name: 'real: BabyLlama-105, rescaled + norms folded + hidden permuted', a: 'babyllama-105', b: 'real-rescaled', expected: 'derived' },
  { name: 'real: BabyLlama-361 reordered to best match BabyLlama-105', a: 'babyllama-105', b: 'real-independent-matched', expected: 'independent' },
  { name: 'real: BabyLlama-105, residual stream rotated (same function)', a: 'babyllama-105', b: 'real-rotated', expected: 'derived' },
  { name: 'real: BabyLlama-105, q/k RoPE planes turned and scaled, values rotated (same function)', a: 'babyllama-105', b: 'real-heads-turned', expected: 'derived' },
  { name: 'real: BabyLlama-105, every MLP neuron\'s up/down signs flipped (same function)', a: 'babyllama-105', b: 'real-neurons-flipped', expected: 'derived' },
  { name: 'real: BabyLlama-105, residual stream rotated and token interface replaced, light fine-tune', a: 'babyllama-105', b: 'real-rotated-new-interface', expected: 'partially-derived' },
  { name: 'real: BabyLlama-105 sliced to 96 of 128 dimensions (SliceGPT: stream turned into the embeddings\' principal directions, the weakest deleted), light fine-tune', a: 'babyllama-105', b: 'real-sliced', expected: 'derived' },
  { name: 'real: BabyLlama-105 sliced to 112 of 128 dimensions, token interface replaced, light fine-tune', a: 'babyllama-105', b: 'real-sliced-new-interface', expected: 'partially-derived' },
];

function buildRealCases(p: (name: string) => string, shared: string): void {
  const base = join(shared, 'babyllama-105');
  if (!existsSync(join(p('real-rotated'), 'config.json'))) rotateHidden(base, p('real-rotated'), 77);
  if (!existsSync(join(p('real-rotated-new-interface'), 'config.json'))) addNoise(replaceEmbeddings(p('real-rotated'), p('tmp-real-rotated-new'), 118), p('real-rotated-new-interface'), 0.01, 119);
  if (!existsSync(join(p('real-neurons-flipped'), 'config.json'))) flipNeuronSigns(base, p('real-neurons-flipped'), 89);
  if (!existsSync(join(p('real-heads-turned'), 'config.json'))) rotateValueHeads(rotateQueryKeyPlanes(base, p('tmp-real-planes'), 82), p('real-heads-turned'), 83);
  // SliceGPT's deletion: the stream turned into the embeddings' principal directions, 16 and 32 of 128 deleted.
  if (!existsSync(join(p('real-sliced'), 'config.json'))) addNoise(sliceHidden(base, p('tmp-real-sliced'), 96, 152), p('real-sliced'), 0.01, 153);
  if (!existsSync(join(p('real-sliced-new-interface'), 'config.json'))) addNoise(replaceEmbeddings(sliceHidden(base, p('tmp-real-sliced-112'), 112, 154), p('tmp-real-sliced-new'), 155), p('real-sliced-new-interface'), 0.01, 156);
  if (existsSync(p('real-independent-matched'))) return;
  permuteHidden(base, p('tmp-real-hidden'), 71);
  addNoise(p('tmp-real-hidden'), p('real-hidden-permuted'), 0.01, 72);
  permuteHeads(base, p('tmp-real-heads'), 73);
  permuteNeurons(p('tmp-real-heads'), p('tmp-real-heads-neurons'), 74);
  addNoise(p('tmp-real-heads-neurons'), p('real-heads-permuted'), 0.01, 75);
  rescale(p('real-hidden-permuted'), p('real-rescaled'), 76);
  reorderToMatch(base, join(shared, 'babyllama-361'), p('real-independent-matched'));
}

export const DEFAULT_EVAL_ROOT = fileURLToPath(new URL('../.bench/eval/', import.meta.url));
