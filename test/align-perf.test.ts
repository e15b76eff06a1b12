/**
 * The aligned tests' fast paths give the numbers of their references bit for bit (issue 12's
 * controls made cheaper without changing a result): each fast path against the JavaScript it
 * replaced, on random data and on a synthetic model's own units.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BestDots, bestDotsJs } from '../core/src/align/dots.ts';
import { greedyMatchJs, matchDimensions } from '../core/src/align/hidden.ts';
import { greedyMatchInWasm, greedySimilarities, greedySimilarities32 } from '../core/src/align/greedy-wasm.ts';
import { ModelView } from '../core/src/align/model-view.ts';
import { attentionRowUnits, mlpUnits, routerUnits, similarities, tokenUnits, type UnitBuilder } from '../core/src/align/units.ts';
import { assembleGreedy, assembleLines, assembleUnits } from '../core/src/align/wasm/build.ts';
import { unitKernelCuts } from '../core/src/align/units-wasm.ts';
import { lineKernelCalls } from '../core/src/align/lines-wasm.ts';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { Random } from '../core/src/synth/random.ts';
import { shuffled } from '../core/src/align/stats.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { tempDir } from './helpers/tmpdir.ts';

function sameBits(t: import('ava').ExecutionContext, fast: ArrayLike<number>, slow: ArrayLike<number>, what: string): void {
  t.is(fast.length, slow.length, `${what}: length`);
  let differing = 0;
  let first = -1;
  for (let i = 0; i < slow.length; i++) if (!Object.is(fast[i], slow[i])) { differing++; if (first < 0) first = i; }
  t.is(differing, 0, `${what}: ${differing} values differ (first at ${first}: ${fast[first]} vs ${slow[first]})`);
}

for (const [queries, count, cols] of [[1, 1, 1], [3, 5, 17], [8, 64, 96], [13, 300, 256], [48, 40, 1024]] as const) {
  test(`BestDots: ${queries} queries over ${count} rows of ${cols} equal the JavaScript search bit for bit`, (t) => {
    const random = new Random(queries * 7919 + count, 'best dots');
    const rows = Float32Array.from({ length: count * cols }, () => random.normal() / Math.sqrt(cols));
    // Queries that are rows of B (ties with themselves), their negatives, and random ones.
    const qs = Array.from({ length: queries }, (_, i) => {
      if (i % 3 === 0) return rows.slice((i % count) * cols, (i % count + 1) * cols);
      if (i % 3 === 1) return Float32Array.from({ length: cols }, () => -random.normal());
      return Float32Array.from({ length: cols }, () => random.normal());
    });
    const search = new BestDots(rows, count, cols);
    for (let round = 0; round < 2; round++) {
      const fast = search.best(qs);
      const slow = bestDotsJs(qs, rows, count, cols);
      sameBits(t, fast.value, slow.value, 'best values');
      sameBits(t, fast.at, slow.at, 'best rows');
    }
  });
}

test('BestDots: equal rows keep the first; NaN never wins', (t) => {
  const cols = 5;
  const rows = new Float32Array([1, 2, 3, 4, 5, 1, 2, 3, 4, 5, NaN, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
  const search = new BestDots(rows, 4, cols);
  const fast = search.best([new Float32Array([1, 1, 1, 1, 1]), new Float32Array([0, 0, 0, 0, 0])]);
  const slow = bestDotsJs([new Float32Array([1, 1, 1, 1, 1]), new Float32Array([0, 0, 0, 0, 0])], rows, 4, cols);
  t.deepEqual([...fast.at], [0, 0]);
  sameBits(t, fast.value, slow.value, 'values');
  sameBits(t, fast.at, slow.at, 'rows');
});

for (const [name, assemble] of [['units.wasm', assembleUnits], ['lines.wasm', assembleLines], ['greedy.wasm', assembleGreedy]] as const) {
  test(`${name} is the assembled source`, async (t) => {
    const checkedIn = readFileSync(new URL(`../core/src/align/wasm/${name}`, import.meta.url));
    t.deepEqual(Buffer.from(await assemble()), checkedIn);
  });
}

/** A small MoE model (shared and routed experts, a router, grouped attention) with a norm folded into its effective matrices. */
function moeModel(): ModelView {
  const out = join(tempDir(), 'moe');
  synthesize('base', { out, shape: { layout: 'moe', layers: 2, hidden: 96, intermediate: 160, moeIntermediate: 48, experts: 6, expertsPerToken: 2, heads: 6, kvHeads: 2, vocab: 300 } });
  return new ModelView(openCheckpoint(out));
}

test('units cut in WebAssembly equal the reference loops bit for bit: every kind of unit, dimension subsets, shuffles, signs, a few units only', (t) => {
  const view = moeModel();
  try {
    const random = new Random(5, 'units');
    const uniform = () => random.uniform();
    const hidden = view.hidden!;
    // The dimensions loaded (a seeded half, in order), and cuts on them: as loaded, shuffled, a subset.
    const kept = Int32Array.from([...shuffled(hidden, uniform)].slice(0, 40).sort((x, y) => x - y));
    const perm = shuffled(kept.length, uniform);
    const cuts: [string, Int32Array][] = [
      ['as loaded', kept],
      ['shuffled', Int32Array.from(perm, (k) => kept[k]!)],
      ['a subset', kept.filter((_, i) => i % 3 !== 1)],
    ];
    const signs = (n: number) => Float32Array.from({ length: n }, () => (uniform() < 0.5 ? -1 : 1));
    const attention = view.attention()!;
    const builders: [string, UnitBuilder | null][] = [
      ['dense-like shared experts', mlpUnits({ view, layer: 1, dims: kept }, 'shared')],
      ['routed expert 3', mlpUnits({ view, layer: 0, expert: 3, dims: kept }, 'expert')],
      ['query heads', attentionRowUnits({ view, layer: 1, dims: kept }, attention.headDim)?.heads ?? null],
      ['KV groups', attentionRowUnits({ view, layer: 0, dims: kept }, attention.headDim)?.groups ?? null],
      ['router rows', routerUnits({ view, layer: 1, dims: kept })],
      ['token rows (whole matrices)', tokenUnits(view, 'embedding', [0, 5, 17, 299])],
    ];
    for (const [name, b] of builders) {
      t.truthy(b, name);
      if (!b) continue;
      // Interleaved: each builder lays its matrices out again after another used the kernel.
      for (const [cutName, dims] of cuts) {
        for (const sign of [null, signs(dims.length)]) {
          for (const only of [null, Int32Array.from([...shuffled(b.count, uniform)].slice(0, Math.max(1, b.count >> 1)).sort((x, y) => x - y))]) {
            const what = `${name}, ${cutName}${sign ? ', signed' : ''}${only ? `, ${only.length} of ${b.count} units` : ''}`;
            const cuts0 = unitKernelCuts.count;
            const fast = b.build(dims, sign, only);
            t.is(unitKernelCuts.count, cuts0 + 1, `${what}: cut by the kernel`);
            const slow = b.buildReference(dims, sign, only);
            t.is(fast.width, slow.width, what);
            t.is(fast.width, b.widthFor(dims), `${what}: widthFor`);
            sameBits(t, fast.data, slow.data, what);
            if (only) {
              // Just the listed units, in their order: each the row the whole build gives it.
              t.is(fast.rows, only, `${what}: rows`);
              const whole = b.build(dims, sign);
              sameBits(t, fast.data, Float32Array.from(Array.from(only).flatMap((u) => Array.from(whole.data.subarray(u * whole.width, (u + 1) * whole.width)))), `${what}: the whole build's rows`);
              // Compared through the chosen units, a partial build gives the whole one's similarities.
              const chosen = only.subarray(0, Math.max(1, only.length >> 1));
              sameBits(t, similarities(fast, chosen, whole), similarities(whole, chosen, whole), `${what}: similarities of chosen units`);
              sameBits(t, similarities(fast, only, whole), similarities(whole, only, whole), `${what}: similarities of all listed units`);
            }
            t.is(!!fast.magnitude, !!slow.magnitude, `${what}: magnitudes`);
            if (fast.magnitude && slow.magnitude) sameBits(t, fast.magnitude, slow.magnitude, `${what}: magnitudes`);
          }
        }
      }
    }
  } finally {
    view.close();
  }
});

test('units: a constant block is all zeros, as the reference leaves it', (t) => {
  const view = moeModel();
  try {
    // Cut on one dimension: each block of a token row is one value, constant, so centred to nothing
    // (five rows: four go through the kernel's four-block loop, one through its single-block loop).
    const b = tokenUnits(view, 'embedding', [1, 2, 3, 4, 5])!;
    const dims = Int32Array.from([7]);
    const cuts0 = unitKernelCuts.count;
    const fast = b.build(dims, null);
    t.is(unitKernelCuts.count, cuts0 + 1);
    sameBits(t, fast.data, b.buildReference(dims, null).data, 'one dimension');
    t.true(fast.data.every((x) => Object.is(x, 0)));
  } finally {
    view.close();
  }
});

for (const dtype of ['BF16', 'F32'] as const) {
  test(`model view, ${dtype}: chosen columns (norm folded in or not) and line norms from WebAssembly equal the JavaScript loops bit for bit`, (t) => {
    const out = join(tempDir(), 'm');
    // Odd widths (hidden 90, intermediate 75) leave the column norms of some matrices to JavaScript.
    synthesize('base', { out, shape: { layout: 'moe', layers: 1, hidden: 90, intermediate: 75, moeIntermediate: 30, experts: 3, expertsPerToken: 2, heads: 6, kvHeads: 2, vocab: 200, dtype } });
    const view = new ModelView(openCheckpoint(out));
    try {
      const random = new Random(dtype === 'BF16' ? 3 : 4, 'lines');
      const calls0 = lineKernelCalls.count;
      let compared = 0;
      for (const role of ['attn.q', 'attn.k', 'attn.o', 'shared.gate', 'shared.down', 'router.weight', 'expert.up', 'expert.down']) {
        const expert = role.startsWith('expert.') ? 1 : null;
        const tensor = view.tensor(role, 0, expert);
        t.truthy(tensor, role);
        if (!tensor) continue;
        t.is(tensor.dtype, dtype);
        const width = tensor.shape[1]!;
        const cols = Int32Array.from([...shuffled(width, () => random.uniform())].slice(0, Math.ceil(width / 3)).sort((x, y) => x - y));
        for (const effective of [false, true]) {
          const fast = view.columns(role, 0, cols, effective, expert)!;
          const slow = view.columnsReference(role, 0, cols, effective, expert)!;
          t.is(fast.rows, slow.rows);
          sameBits(t, fast.data, slow.data, `${role} columns${effective ? ', effective' : ''}`);
        }
        if (expert === null) {
          for (const byRow of [true, false]) sameBits(t, view.lineSquares(role, 0, byRow)!, view.lineSquaresReference(role, 0, byRow)!, `${role} ${byRow ? 'row' : 'column'} norms`);
        }
        compared++;
      }
      t.is(compared, 8);
      // Every columns call (16), and the line norms of even-width matrices, ran in the kernel.
      t.true(lineKernelCalls.count - calls0 >= 16 + 4, `kernel calls: ${lineKernelCalls.count - calls0}`);
    } finally {
      view.close();
    }
  });
}

/** The greedy matching of dimensions as first written (every column rescanned, every row's best reread). */
function greedyAsFirstWritten(sim: Float64Array, wa: number, wb: number): Int32Array {
  const toB = new Int32Array(wa).fill(-1);
  const order: number[] = [];
  const best = new Int32Array(wa);
  for (let i = 0; i < wa; i++) {
    let b = 0;
    for (let j = 1; j < wb; j++) if (sim[i * wb + j]! > sim[i * wb + b]!) b = j;
    best[i] = b;
    order.push(i);
  }
  order.sort((x, y) => sim[y * wb + best[y]!]! - sim[x * wb + best[x]!]!);
  const usedB = new Uint8Array(wb);
  for (const i of order) {
    let j = best[i]!;
    if (usedB[j]) {
      j = -1;
      for (let c = 0; c < wb; c++) if (!usedB[c] && (j < 0 || sim[i * wb + c]! > sim[i * wb + j]!)) j = c;
    }
    if (j >= 0 && wb > 0) { toB[i] = j; usedB[j] = 1; }
    if (usedB.every((u) => u === 1)) break;
  }
  return toB;
}

for (const [wa, wb] of [[1100, 1100], [1030, 1200], [1200, 1030]] as const) {
  test(`greedy matching of ${wa} into ${wb} dimensions, in JavaScript and WebAssembly: the same as first written (ties, NaN and -Infinity included)`, (t) => {
    const random = new Random(wa + wb, 'greedy');
    // Few distinct values, so rows share their best columns and ties are everywhere.
    const sim = Float64Array.from({ length: wa * wb }, () => {
      const u = random.uniform();
      return u < 0.001 ? NaN : u < 0.002 ? -Infinity : Math.round(random.normal() * 8) / 8;
    });
    const expected = [...greedyAsFirstWritten(sim, wa, wb)];
    t.deepEqual([...greedyMatchJs(sim, wa, wb)], expected, 'JavaScript');
    t.deepEqual([...greedyMatchInWasm(sim, wa, wb)!], expected, 'WebAssembly, similarities copied in');
    const inPlace = greedySimilarities(wa, wb)!;
    inPlace.set(sim);
    t.deepEqual([...matchDimensions(inPlace, wa, wb)], expected, 'WebAssembly, similarities in its memory');
    // The same numbers in float32 (each is one: eighths, NaN, -Infinity): the same matching.
    const sim32 = Float32Array.from(sim);
    t.deepEqual([...greedyMatchInWasm(sim32, wa, wb)!], expected, 'WebAssembly float32, similarities copied in');
    const inPlace32 = greedySimilarities32(wa, wb)!;
    inPlace32.set(sim32);
    t.deepEqual([...matchDimensions(inPlace32, wa, wb)], expected, 'WebAssembly float32, similarities in its memory');
    t.deepEqual([...greedyMatchJs(sim32, wa, wb)], expected, 'JavaScript, float32');
  });
}

test('greedy matching in WebAssembly at every small width, float64 and float32: the lane scans of each row and its last columns give the first greatest value, as first written', (t) => {
  const random = new Random(17, 'greedy widths');
  for (let wb = 1; wb <= 21; wb++) {
    for (const wa of [1, 3, wb, 2 * wb + 1]) {
      // Few distinct values (ties across lanes), with NaN, -Infinity and signed zeros, and rows that start with NaN.
      const sim = Float64Array.from({ length: wa * wb }, (_, k) => {
        const u = random.uniform();
        if (k % wb === 0 && u < 0.1) return NaN;
        return u < 0.05 ? NaN : u < 0.1 ? -Infinity : u < 0.15 ? -0 : u < 0.2 ? 0 : Math.round(random.normal() * 2) / 2;
      });
      const expected = [...greedyAsFirstWritten(sim, wa, wb)];
      t.deepEqual([...greedyMatchInWasm(sim, wa, wb)!], expected, `${wa} into ${wb}`);
      t.deepEqual([...greedyMatchInWasm(Float32Array.from(sim), wa, wb)!], expected, `${wa} into ${wb}, float32 (eight lanes)`);
    }
  }
});
