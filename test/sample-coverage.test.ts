/**
 * Sampled intervals hold: over 1000+ intervals on tensors with uneven structure (low-rank parts,
 * heavy tails, rows of very different scale, weakly related pairs), nominal 95% intervals cover
 * the exact value between 93% and 97% of the time.
 */
import test from 'ava';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { compareWeights } from '../core/src/compare/weights.ts';
import { bf16Bytes, writeSafetensorsFile } from './helpers/safetensors-file.ts';
import { generator } from './helpers/draws.ts';
import { tempDir } from './helpers/tmpdir.ts';

const ROWS = 4096, COLS = 1024;

/** Four pairs whose blocks differ from each other in the ways real weights do. */
function pairs(): { name: string; a: number[]; b: number[] }[] {
  const g = generator(7);
  const n = ROWS * COLS;
  const rank = 6;
  const U = Array.from({ length: ROWS * rank }, g.normal);
  const V = Array.from({ length: rank * COLS }, g.normal);
  const lowRank = new Array<number>(n);
  for (let i = 0; i < ROWS; i++) for (let j = 0; j < COLS; j++) {
    let x = 0;
    for (let k = 0; k < rank; k++) x += U[i * rank + k]! * V[k * COLS + j]!;
    lowRank[i * COLS + j] = 0.01 * x + 0.004 * g.normal();
  }
  const heavy = Array.from({ length: n }, () => 0.02 * g.studentT3());
  const scale = Array.from({ length: ROWS }, () => 10 ** (2 * g.u() - 2));
  const scaled = Array.from({ length: n }, (_, k) => scale[Math.floor(k / COLS)]! * g.normal());
  return [
    { name: 'model.layers.0.mlp.up_proj.weight', a: lowRank, b: lowRank.map((x) => x + 0.006 * g.normal()) },
    { name: 'model.layers.0.mlp.down_proj.weight', a: heavy, b: heavy.map((x) => x + 0.015 * g.studentT3()) },
    { name: 'model.layers.0.self_attn.q_proj.weight', a: scaled, b: scaled.map((x, k) => x + 0.4 * scale[Math.floor(k / COLS)]! * g.normal()) },
    { name: 'model.layers.0.self_attn.k_proj.weight', a: scaled, b: scaled.map((x, k) => 0.25 * x + scale[Math.floor(k / COLS)]! * (0.3 + g.normal())) },
  ];
}

test('nominal 95% intervals cover the exact value 93–97% of the time', async (t) => {
  const root = tempDir();
  const data = pairs();
  for (const side of ['a', 'b'] as const) {
    mkdirSync(join(root, side));
    writeSafetensorsFile(join(root, side, 'model.safetensors'), data.map((p) => ({ name: p.name, dtype: 'BF16', shape: [ROWS, COLS], data: bf16Bytes(p[side]) })));
  }
  const exact = await compareWeights(join(root, 'a'), join(root, 'b'), { hash: 'none' });
  let intervals = 0;
  let covered = 0;
  const byStat: Record<string, [number, number]> = {};
  for (let seed = 1; seed <= 150; seed++) {
    const sampled = await compareWeights(join(root, 'a'), join(root, 'b'), { sample: 0.1, seed, hash: 'none' });
    t.is(sampled.mode, 'sampled');
    sampled.tensors.forEach((s, i) => {
      t.truthy(s.sampled, 'every tensor here is large enough to be sampled');
      for (const stat of ['cosine', 'centeredCosine', 'relL2'] as const) {
        const value = exact.tensors[i]![stat]!;
        const [lo, hi] = s.ci[stat]!;
        const hit = lo <= value && value <= hi;
        intervals++;
        covered += hit ? 1 : 0;
        const key = `${stat} ${s.name}`;
        byStat[key] = [(byStat[key]?.[0] ?? 0) + (hit ? 1 : 0), (byStat[key]?.[1] ?? 0) + 1];
      }
    });
  }
  for (const [key, [hit, all]] of Object.entries(byStat)) t.log(`${key}: ${((100 * hit) / all).toFixed(1)}%`);
  const rate = covered / intervals;
  t.log(`coverage ${(100 * rate).toFixed(1)}% over ${intervals} intervals`);
  t.true(intervals >= 1000);
  t.true(rate >= 0.93 && rate <= 0.97, `coverage ${rate}`);
});
