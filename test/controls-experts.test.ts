/**
 * MoE expert matching (issue 5): linear assignment against brute force, the permutation null
 * against real coordinate shuffles, and analyzeExperts on synthetic MoE checkpoints on disk: a
 * derivative whose experts (and router rows) are reordered, one with experts pruned, the same
 * without routers (expert weights as the basis), and an independent model.
 */
import test from 'ava';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { maximizeAssignment, maximizeAssignmentFlat } from '../core/src/controls/assignment.ts';
import { analyzeExpertLayers, analyzeExperts, assignmentNull, centerRows, gram, type ExpertLayer } from '../core/src/controls/experts.ts';
import { Random } from '../core/src/synth/random.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { fuseExperts } from '../core/src/synth/transforms.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { rewrite, shuffled } from './helpers/rewrite.ts';

const EXPERTS = 16;




const EXPERT_NAME = /^model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(.*)$/;
const ROUTER_NAME = /^model\.layers\.(\d+)\.mlp\.gate\.weight$/;

/** Output expert e of layer l holds source expert keep[l][e]; router row e is source row keep[l][e]. */
function reorderExperts(src: string, out: string, keep: number[][], dropRouters = false): string {
  return rewrite(src, out, (name, shape, values) => {
    const router = ROUTER_NAME.exec(name);
    if (router) {
      if (dropRouters) return [];
      const order = keep[Number(router[1])]!;
      const h = shape[1]!;
      const rows = new Float32Array(order.length * h);
      order.forEach((srcRow, e) => rows.set(values.subarray(srcRow * h, (srcRow + 1) * h), e * h));
      return [{ name, shape: [order.length, h], values: rows }];
    }
    const expert = EXPERT_NAME.exec(name);
    if (expert) {
      const order = keep[Number(expert[1])]!;
      const at = order.indexOf(Number(expert[2]));
      return at < 0 ? [] : [{ name: `model.layers.${expert[1]}.mlp.experts.${at}.${expert[3]}`, shape, values }];
    }
    return [{ name, shape, values }];
  }, (c) => ({ ...c, num_experts: keep[0]!.length }));
}

function dropRouters(src: string, out: string): string {
  return reorderExperts(src, out, [0, 1].map(() => Array.from({ length: EXPERTS }, (_, i) => i)), true);
}

const root = tempDir('lineage-experts-');
const p = (name: string) => join(root, name);
const shape = { layout: 'moe' as const, layers: 2, hidden: 64, heads: 4, kvHeads: 2, vocab: 128, intermediate: 128, experts: EXPERTS, moeIntermediate: 32 };
synthesize('base', { out: p('base'), seed: 11, shape });
synthesize('derivative', { out: p('derived'), like: p('base'), drift: 0.05, seed: 12 });
synthesize('independent', { out: p('independent'), like: p('base'), seed: 13 });
const perms = [shuffled(EXPERTS, 1), shuffled(EXPERTS, 2)];
reorderExperts(p('derived'), p('reordered'), perms);
// Pruned: 12 of 16 experts kept, in a new order.
const kept = [shuffled(EXPERTS, 3).slice(0, 12), shuffled(EXPERTS, 4).slice(0, 12)];
reorderExperts(p('derived'), p('pruned'), kept);
// Each layer's experts fused into [E, 2I, h] gate_up and [E, h, I] down tensors (Transformers 5's layout).
fuseExperts(p('base'), p('base-fused'), 'linear');
fuseExperts(p('reordered'), p('reordered-fused'), 'linear');
dropRouters(p('base'), p('base-norouter'));
dropRouters(p('reordered'), p('reordered-norouter'));
dropRouters(p('independent'), p('independent-norouter'));

const open = (name: string) => openCheckpoint(p(name));

function perms_(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const q of perms_(n - 1)) for (let i = 0; i <= q.length; i++) out.push([...q.slice(0, i), n - 1, ...q.slice(i)]);
  return out;
}

test('linear assignment: the maximum over all matchings, square and rectangular, nulls avoided', (t) => {
  const random = new Random(7, 'assignment');
  for (let trial = 0; trial < 200; trial++) {
    const rows = 1 + (trial % 6);
    const cols = 1 + ((trial * 5) % 6);
    const v = Float64Array.from({ length: rows * cols }, () => random.uniform() * 2 - 1);
    const { rowToCol, total } = maximizeAssignmentFlat(v, rows, cols);
    let best = -Infinity;
    for (const q of perms_(Math.max(rows, cols))) {
      let s = 0;
      for (let i = 0; i < Math.min(rows, cols); i++) s += rows <= cols ? v[i * cols + q[i]!]! : v[q[i]! * cols + i]!;
      best = Math.max(best, s);
    }
    t.true(Math.abs(total - best) < 1e-9, `${rows}x${cols}: ${total} vs brute force ${best}`);
    const used = rowToCol.filter((j) => j >= 0);
    t.is(used.length, Math.min(rows, cols));
    t.is(new Set(used).size, used.length, 'one-to-one');
  }
  // A null is taken only when no complete matching avoids it.
  t.deepEqual(maximizeAssignment([[0.9, null], [null, 0.1]]).rowToCol, [0, 1]);
  t.deepEqual(maximizeAssignment([[null, -0.5], [0.2, null]]).rowToCol, [1, 0]);
});

test('the Gaussian permutation null matches real coordinate shuffles (independent and correlated rows)', (t) => {
  const random = new Random(21, 'calibration');
  const normal = () => Math.sqrt(-2 * Math.log(1 - random.uniform())) * Math.cos(2 * Math.PI * random.uniform());
  for (const common of [0, 0.8]) {
    const [E, d] = [12, 48];
    // Rows sharing a common direction: the within-model Gram matrix is far from the identity.
    const make = () => {
      const c = Array.from({ length: d }, normal);
      return Float64Array.from({ length: E * d }, (_, k) => common * c[k % d]! + normal());
    };
    const A = centerRows(make(), E, d);
    const B = centerRows(make(), E, d);
    const gauss = assignmentNull(gram(A.rows, E, A.rows, E, d), E, gram(B.rows, E, B.rows, E, d), E, d - 1, 1500, 1, 'g');
    const shuffledB = new Float64Array(E * d);
    const order = Array.from({ length: d }, (_, i) => i);
    const values: number[] = [];
    for (let r = 0; r < 1500; r++) {
      for (let i = d - 1; i > 0; i--) { const j = Math.floor(random.uniform() * (i + 1)); [order[i], order[j]] = [order[j]!, order[i]!]; }
      for (let e = 0; e < E; e++) for (let k = 0; k < d; k++) shuffledB[e * d + k] = B.rows[e * d + order[k]!]!;
      values.push(maximizeAssignmentFlat(gram(A.rows, E, shuffledB, E, d), E, E).total / E);
    }
    const mean = values.reduce((s, x) => s + x, 0) / values.length;
    const sd = Math.sqrt(values.reduce((s, x) => s + (x - mean) ** 2, 0) / (values.length - 1));
    t.log(`common ${common}: Gaussian null ${gauss.mean.toFixed(4)} ± ${gauss.sd.toFixed(4)}, shuffles ${mean.toFixed(4)} ± ${sd.toFixed(4)}`);
    t.true(Math.abs(gauss.mean - mean) < 0.25 * sd, 'same centre');
    t.true(Math.abs(gauss.sd / sd - 1) < 0.15, 'same spread');
  }
});

function checkFound(t: import('ava').ExecutionContext, layers: ExpertLayer[], expected: number[][], label: string, minMatched = 0.99): void {
  t.is(layers.length, 2, `${label}: both MoE layers analysed`);
  for (const layer of layers) {
    const keepOrder = expected[layer.layer]!;
    // Expert a of A (the base) is output expert e where keepOrder[e] = a.
    for (const pair of layer.assignment) t.is(keepOrder[pair.b], pair.a, `${label}, layer ${layer.layer}: A expert ${pair.a} matched to B expert ${pair.b}`);
    t.true(layer.permuted, `${label}: a non-identity matching`);
    t.true(layer.meanMatched > minMatched, `${label}: matched similarity ${layer.meanMatched}`);
    t.true(layer.z! > 20, `${label}: z = ${layer.z}`);
    t.true(layer.pValue < 1e-6, `${label}: far above its null (p = ${layer.pValue})`);
    t.true(layer.meanMatched > layer.nullMean + 20 * layer.nullSd);
  }
}

test('an expert-reordered derivative: router rows find the permutation, the expert weights confirm it', async (t) => {
  const layers = await analyzeExperts(open('base'), open('reordered'), { seed: 5 });
  checkFound(t, layers, perms, 'reordered');
  for (const layer of layers) {
    t.is(layer.expertsA, EXPERTS);
    t.is(layer.expertsB, EXPERTS);
    t.regex(layer.basis, /^router rows/);
    t.true(layer.identityShare < 0.3);
    const check = layer.experts!;
    t.deepEqual(check.roles, ['expert.down', 'expert.gate', 'expert.up']);
    t.is(check.pairs, EXPERTS);
    t.is(check.elements, 3 * 32 * 64);
    t.true(check.meanMatched! > 0.99, `matched expert weights ${check.meanMatched}`);
    t.true(Math.abs(check.meanSameIndex!) < 0.05, `same-index expert weights ${check.meanSameIndex}`);
    t.true(check.z! > 50);
    t.true(layer.assignment.every((p) => p.experts! > 0.99));
  }
});

test('the expert-weight check is bounded: a seeded choice of matched pairs', async (t) => {
  const layers = await analyzeExperts(open('base'), open('reordered'), { seed: 5, checkPairs: 4 });
  for (const layer of layers) {
    t.is(layer.experts!.pairs, 4);
    t.is(layer.assignment.filter((p) => p.experts !== null).length, 4);
    t.regex(layer.experts!.note!, /4 of 16 matched pairs compared/);
    t.true(layer.experts!.meanMatched! > 0.99 && layer.experts!.z! > 20);
  }
});

test('fused expert tensors ([E, 2I, h] gate_up, [E, h, I] down) are cut into experts, gate_up into gate and up', async (t) => {
  const layers = await analyzeExperts(open('base-fused'), open('reordered-fused'), { seed: 5 });
  checkFound(t, layers, perms, 'fused');
  for (const layer of layers) {
    t.deepEqual(layer.experts!.roles, ['expert.down', 'expert.gate', 'expert.up']);
    t.is(layer.experts!.elements, 3 * 32 * 64);
    t.true(layer.experts!.meanMatched! > 0.99, `matched ${layer.experts!.meanMatched}`);
    t.true(Math.abs(layer.experts!.meanSameIndex!) < 0.05);
  }
});

test('a plain derivative matches by identity: not permuted', async (t) => {
  const layers = await analyzeExperts(open('base'), open('derived'), { seed: 5 });
  t.is(layers.length, 2);
  for (const layer of layers) {
    t.is(layer.identityShare, 1);
    t.false(layer.permuted);
    t.true(layer.z! > 20);
    t.is(layer.experts!.meanSameIndex, null, 'no same-index pairs beyond the matched ones');
  }
});

test('an expert-pruned derivative (12 of 16 kept, reordered): a rectangular matching finds the kept experts', async (t) => {
  const layers = await analyzeExperts(open('base'), open('pruned'), { seed: 5, sample: 0.5 });
  // Router rows are compared less each side's mean row (a softmax cannot see a shared shift), and
  // B's mean is over the 12 experts it kept: the matched rows agree a little less than a copy's.
  checkFound(t, layers, kept, 'pruned', 0.98);
  for (const layer of layers) {
    t.is(layer.expertsB, 12);
    t.is(layer.assignment.length, 12);
  }
});

test('without router rows, the expert weights are the basis and still find the permutation', async (t) => {
  const layers = await analyzeExperts(open('base-norouter'), open('reordered-norouter'), { seed: 5, threads: 2 });
  checkFound(t, layers, perms, 'no routers');
  for (const layer of layers) {
    t.regex(layer.basis, /^expert weights/);
    t.is(layer.experts, null);
  }
  const capped = await analyzeExpertLayers(open('base-norouter'), open('reordered-norouter'), { maxWeightPairs: 100 });
  t.deepEqual(capped.layers, []);
  t.deepEqual(capped.skipped.map((s) => s.layer), [0, 1]);
  t.regex(capped.skipped[0]!.reason, /no router on either side; the expert weights would need 256 pair comparisons, above the limit of 100/);
  const unrelated = await analyzeExperts(open('base-norouter'), open('independent-norouter'), { seed: 5 });
  for (const layer of unrelated) {
    t.true(layer.pValue > 0.01, `no routers, independent, layer ${layer.layer}: p = ${layer.pValue}`);
    t.true(Math.abs(layer.z!) < 4);
  }
});

test('independent MoE models: the best matching sits at its null', async (t) => {
  const layers = await analyzeExperts(open('base'), open('independent'), { seed: 5 });
  t.is(layers.length, 2);
  for (const layer of layers) {
    t.log(`layer ${layer.layer}: matched ${layer.meanMatched.toFixed(4)}, null ${layer.nullMean.toFixed(4)} ± ${layer.nullSd.toFixed(4)}, p ${layer.pValue}, experts z ${layer.experts!.z?.toFixed(2)}`);
    t.true(layer.meanMatched > 0.05, 'an optimal matching of unrelated rows is still above zero...');
    t.true(layer.pValue > 0.01, `...but not above its null: p = ${layer.pValue}`);
    t.true(Math.abs(layer.z!) < 4, `z = ${layer.z}`);
    t.true(Math.abs(layer.experts!.z!) < 4, `expert weights of the matched pairs: z = ${layer.experts!.z}`);
    t.true(Math.abs(layer.experts!.meanMatched!) < 0.05);
  }
});

test('a dense model has no MoE layers to match', async (t) => {
  synthesize('base', { out: p('dense'), seed: 3, shape: { layers: 1, hidden: 32, heads: 2, kvHeads: 1, intermediate: 64, vocab: 64 } });
  t.deepEqual(await analyzeExperts(open('dense'), open('dense')), []);
  t.deepEqual(await analyzeExpertLayers(open('base'), open('dense')), { layers: [], skipped: [] });
});
