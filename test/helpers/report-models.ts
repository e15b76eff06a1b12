/**
 * Model folders for the report tests: small synthetic pairs (dense and MoE, derived and
 * independent), and a "hostile" pair whose folder name, tensor names and tokens are markup,
 * pipes, backticks and control characters, so the renderers' escaping is tested on a real report.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeCheckpoint, type TensorSpec } from '../../core/src/checkpoint/writer.ts';
import { configFor, DEFAULT_SHAPE, isNormTensor, tensorsFor } from '../../core/src/synth/architecture.ts';
import { encodeFloats } from '../../core/src/synth/encode.ts';
import { Random } from '../../core/src/synth/random.ts';
import { synthesize } from '../../core/src/synth/synth.ts';

export const HOSTILE_TENSOR = '<script>alert(1)</script>';
export const HOSTILE_TENSOR_2 = 'pipe|name`tick\u0001';
export const HOSTILE_TOKEN = '</code><img src=x onerror=alert(2)>';
export const HOSTILE_FOLDER = 'a<img src=x onerror=alert(3)>&b';

/** GPT-2's byte-to-character map: the alphabet of byte-level BPE vocabularies. */
function byteAlphabet(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const out: string[] = [];
  bs.forEach((b, i) => { out[b] = String.fromCharCode(cs[i]!); });
  return out;
}

/** A small byte-level BPE tokenizer.json; `extra` tokens are appended (a vocabulary extension). */
export function writeTokenizer(folder: string, extra: string[] = []): void {
  const vocab: Record<string, number> = {};
  for (const ch of byteAlphabet()) vocab[ch] = Object.keys(vocab).length;
  const merges = ['Ġ t', 'h e', 'Ġt he', 'i n', 'Ġ a', 'e r', 'o n', 'r e', 'Ġ s', 'a t'];
  for (const m of merges) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  for (const t of ['<script>alert(1)</script>', ...extra]) vocab[t] = Object.keys(vocab).length;
  const next = Object.keys(vocab).length;
  const added = [
    { id: next, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    { id: next + 1, content: HOSTILE_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
  ];
  writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null, decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges },
  }));
}

/** A Llama-style pair with hostile names: B is A plus a little noise (a light fine-tune). */
export function writeHostilePair(root: string): { a: string; b: string } {
  const a = join(root, HOSTILE_FOLDER);
  const b = join(root, 'hostile-b');
  const shape = { ...DEFAULT_SHAPE, layers: 2, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 300, dtype: 'F32' as const };
  const specs: TensorSpec[] = [...tensorsFor(shape), { name: HOSTILE_TENSOR, dtype: 'F32', shape: [16, 16] }, { name: HOSTILE_TENSOR_2, dtype: 'F32', shape: [16, 16] }];
  for (const [folder, drift] of [[a, 0], [b, 0.02]] as const) {
    mkdirSync(folder, { recursive: true });
    const values = new Float32Array(1 << 20);
    let base = new Random(7);
    let noise = new Random(8);
    writeCheckpoint(folder, specs, (spec, first, count, raw) => {
      if (first === 0) { base = new Random(7, spec.name); noise = new Random(8, spec.name); }
      const norm = isNormTensor(spec.name);
      for (let i = 0; i < count; i++) {
        const v = norm ? 1 + 0.05 * base.normal() : 0.02 * base.normal();
        values[i] = v + drift * (norm ? 0.05 : 0.02) * noise.normal();
      }
      encodeFloats(spec.dtype, values, count, raw);
    });
    writeFileSync(join(folder, 'config.json'), JSON.stringify(configFor(shape)));
  }
  writeTokenizer(a);
  writeTokenizer(b, ['Ġ<b>bold</b>', 'x|y', 'tab\there', '`code`']);
  return { a, b };
}

/** Dense and MoE synthetic pairs: base, light derivative, independent. */
export function writeSyntheticModels(root: string): Record<'base' | 'light' | 'independent' | 'moeBase' | 'moeDerived', string> {
  const p = (name: string) => join(root, name);
  const dense = { layers: 4, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 256 };
  // The MoE vocabulary is large enough (1.5 M embedding elements) for --sample to read part of it.
  const moe = { layout: 'moe' as const, layers: 3, hidden: 128, heads: 4, kvHeads: 2, experts: 8, moeIntermediate: 32, vocab: 12288 };
  synthesize('base', { out: p('base'), shape: dense, seed: 11 });
  synthesize('derivative', { out: p('light'), like: p('base'), drift: 0.02, seed: 12 });
  synthesize('independent', { out: p('independent'), like: p('base'), seed: 14 });
  synthesize('base', { out: p('moe-base'), shape: moe, seed: 21 });
  synthesize('derivative', { out: p('moe-derived'), like: p('moe-base'), drift: 0.05, seed: 22 });
  return { base: p('base'), light: p('light'), independent: p('independent'), moeBase: p('moe-base'), moeDerived: p('moe-derived') };
}
