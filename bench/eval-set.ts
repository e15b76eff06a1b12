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
