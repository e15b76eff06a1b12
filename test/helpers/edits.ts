/** Models to edit, and whether an edit keeps what a Llama-family checkpoint computes (its logits on a few tokens, by our forward pass). */
import type { ExecutionContext } from 'ava';
import { join } from 'node:path';
import { allLogits, loadLlamaWeights } from '../../core/src/behaviour/index.ts';
import { synthesize } from '../../core/src/synth/synth.ts';
import { tempDir } from './tmpdir.ts';

export function largestLogitDifference(a: string, b: string): { worst: number; scale: number } {
  const tokens = [1, 17, 42, 7, 99, 3, 64, 12];
  const before = allLogits(loadLlamaWeights(a), tokens);
  const after = allLogits(loadLlamaWeights(b), tokens);
  let worst = 0;
  let scale = 0;
  before.forEach((row, i) => row.forEach((x, k) => { worst = Math.max(worst, Math.abs(x - after[i]![k]!)); scale = Math.max(scale, Math.abs(x)); }));
  return { worst, scale };
}

/** Asserts that `edit` (src → out) keeps the logits of `base` to 1e-4 of their size; returns both folders. */
export function assertKeepsFunction(t: ExecutionContext, base: string, edit: (src: string, out: string) => string): { a: string; b: string } {
  const b = edit(base, join(tempDir(), 'edited'));
  const { worst, scale } = largestLogitDifference(base, b);
  t.true(scale > 0.01, `logits up to ${scale}`);
  t.true(worst < 1e-4 * Math.max(1, scale), `largest logit difference ${worst} (logits up to ${scale})`);
  return { a: base, b };
}

/** A small float32 Llama-family model (2 layers, 64 wide, 4 heads in 2 KV groups) to edit. */
export function smallModel(seed: number): string {
  const out = join(tempDir(), 'a');
  synthesize('base', { out, shape: { layers: 2, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 300, dtype: 'F32' }, seed });
  return out;
}

/** A 96-wide, 2-layer model and an independent one of its config (from another seed), in `root`: a and i. */
export function modelAndIndependent(seed: number): { root: string; a: string; i: string } {
  const root = tempDir();
  const [a, i] = [join(root, 'a'), join(root, 'i')];
  synthesize('base', { out: a, shape: { layers: 2, hidden: 96, intermediate: 256, heads: 4, kvHeads: 2, vocab: 1500 }, seed });
  synthesize('independent', { out: i, like: a });
  return { root, a, i };
}
