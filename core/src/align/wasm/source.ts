/**
 * WebAssembly text of the matching kernel: all dot products between the rows of X (n × w) and
 * the rows of Y (m × w), float32, written to OUT (n × m, float32). The units it multiplies are
 * unit vectors (similarities in [−1, 1]); four f32x4 accumulators keep the rounding near 1e-6.
 * `w` must be a multiple of 16 (callers pad rows with zeros, which change no dot product).
 *
 * Every dot product is the same float32 arithmetic, in the same order, whatever block computes
 * it: over k in 64-byte steps, s0 takes floats k..k+3, s1 k+4..k+7, s2 k+8..k+11 and s3
 * k+12..k+15 (each s_c = s_c + x·y, lane-wise, from zero); then t = (s0 + s1) + (s2 + s3) and
 * the result (t0 + t1) + (t2 + t3). The four sums of a dot product never meet before the end,
 * so a block may run them one after another, one pass over k each, without changing a bit.
 *
 * Register blocking: a block is 2 rows of X × 4 rows of Y (8 dot products), each step of a pass
 * loading 2 + 4 vectors for 8 multiply-adds (the one-at-a-time loop loaded 2 per multiply-add,
 * and at short rows its per-dot overhead dominated). One sum per pass keeps 8 accumulators and
 * 6 loaded vectors within x64's 16 vector registers: V8 loads all of a step's vectors before its
 * arithmetic, so more live values spill. Measured (bench/align.ts and variants of this
 * generator): 1×2 and 2×1 blocks with all four sums in one pass ran no faster than the
 * unblocked loop; of 1×2 … 2×4, 4×2, 1×8 with 1, 2 or 4 passes, 2×4 with 4 was the fastest at
 * short and long rows; unrolling short rows (w = 16 … 64) outright spilled and ran at a third.
 * The 4 results of a row of X come out of one transpose as 4 adjacent floats (one store). Rows of
 * Y go in tiles of about 16 KB, rows of X inside: a tile stays in cache while X streams past it,
 * and each row of OUT is written a tile's width at a time. Leftovers (n odd, m not a multiple
 * of 4) take 1×4, 2×1 and 1×1 blocks.
 */
export function dotsSource(): string {
  return `(module
  (memory (export "memory") 1)
  ;; out[i*m + j] = sum_k x[i*w + k] * y[j*w + k]
  (func (export "dots") (param $x i32) (param $n i32) (param $y i32) (param $m i32) (param $w i32) (param $out i32)
    (local $i i32) (local $j i32) (local $jt i32) (local $te i32) (local $full i32) (local $tileRows i32)
    (local $xi i32) (local $yj i32) (local $o i32) (local $mBytes i32) (local $rowBytes i32) (local $end i32)
    (local $vy v128) (local $h v128)
    ${blockLocals()}
    (local.set $rowBytes (i32.shl (local.get $w) (i32.const 2)))
    (local.set $mBytes (i32.shl (local.get $m) (i32.const 2)))
    ;; rows of Y per tile: about ${TILE_BYTES} bytes of them, a multiple of ${RY}, at least ${RY}
    (local.set $tileRows (i32.mul (i32.div_u (i32.div_u (i32.const ${TILE_BYTES}) (local.get $rowBytes)) (i32.const ${RY})) (i32.const ${RY})))
    (if (i32.lt_u (local.get $tileRows) (i32.const ${RY})) (then (local.set $tileRows (i32.const ${RY}))))
    ;; the rows of Y in blocks of ${RY}, a tile at a time: [$jt, $te)
    (local.set $full (i32.sub (local.get $m) (i32.rem_u (local.get $m) (i32.const ${RY}))))
    (local.set $jt (i32.const 0))
    (block $tilesDone (loop $tiles
      (br_if $tilesDone (i32.ge_u (local.get $jt) (local.get $full)))
      (local.set $te (i32.add (local.get $jt) (local.get $tileRows)))
      (if (i32.gt_u (local.get $te) (local.get $full)) (then (local.set $te (local.get $full))))
      ${rowsOfX(RY)}
      (local.set $jt (local.get $te))
      (br $tiles)))
    ;; the last m mod ${RY} rows of Y, one at a time
    (block $restDone (loop $rest
      (br_if $restDone (i32.ge_u (local.get $jt) (local.get $m)))
      (local.set $te (i32.add (local.get $jt) (i32.const 1)))
      ${rowsOfX(1)}
      (local.set $jt (local.get $te))
      (br $rest))))
${bestSource()})
`;
}

/** Rows of X per block, rows of Y per block, and the rows of Y a tile holds (in bytes). */
const RX = 2;
const RY = 4;
const TILE_BYTES = 16384;

/** Bytes 0-3, 8-11 of the first operand and of the second (`i8x16.shuffle` lanes): lanes 0, 2 of each. */
const EVEN = '0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27';
/** Lanes 1, 3 of each. */
const ODD = '4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31';

/** Accumulator a{d}_{c}: sum c of the block's dot product d. */
const acc = (d: number, c: number) => `$a${d}_${c}`;

function blockLocals(): string {
  const locals: string[] = [];
  for (let d = 0; d < RX * RY; d++) for (let c = 0; c < 4; c++) locals.push(`(local ${acc(d, c)} v128)`);
  for (let r = 0; r < RX; r++) locals.push(`(local $px${r} i32) (local $vx${r} v128)`);
  for (let b = 0; b < RY; b++) locals.push(`(local $py${b} i32)`);
  return locals.join(' ');
}

/**
 * Every row of X against the rows [$jt, $te) of Y, `rows` rows of Y at a time: rows of X in
 * blocks of RX, then the last n mod RX one by one.
 */
function rowsOfX(rows: number): string {
  const overY = (rx: number) => `
        (local.set $xi (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $j (local.get $jt))
        (loop $cols${rx}
          (local.set $yj (i32.add (local.get $y) (i32.mul (local.get $j) (local.get $rowBytes))))
          (local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $m)) (local.get $j)) (i32.const 2))))
          ${block(rx, rows)}
          (local.set $j (i32.add (local.get $j) (i32.const ${rows})))
          (br_if $cols${rx} (i32.lt_u (local.get $j) (local.get $te))))`;
  return `
      (local.set $i (i32.const 0))
      (block $pairsDone (loop $pairs
        (br_if $pairsDone (i32.gt_u (i32.add (local.get $i) (i32.const ${RX})) (local.get $n)))
        ${overY(RX)}
        (local.set $i (i32.add (local.get $i) (i32.const ${RX})))
        (br $pairs)))
      (block $singlesDone (loop $singles
        (br_if $singlesDone (i32.ge_u (local.get $i) (local.get $n)))
        ${overY(1)}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $singles)))`;
}

/**
 * The rx × ry dot products of rows $i.. of X (from $xi) and rows $j.. of Y (from $yj), written
 * from $o (out[i·m + j]). Blocks of 4 or more run one sum per pass over k (8 accumulators at
 * 2 × 4); smaller ones (the leftovers) all four in one pass, as few accumulators as that is.
 */
function block(rx: number, ry: number): string {
  const dots = rx * ry;
  const passes = dots >= 4 ? 4 : 1;
  const lines: string[] = [];
  for (let p = 0; p < passes; p++) {
    const sums = passes === 4 ? [p] : [0, 1, 2, 3];
    for (let r = 0; r < rx; r++) lines.push(`(local.set $px${r} (i32.add (local.get $xi) (i32.mul (i32.const ${r}) (local.get $rowBytes))))`);
    for (let b = 0; b < ry; b++) lines.push(`(local.set $py${b} (i32.add (local.get $yj) (i32.mul (i32.const ${b}) (local.get $rowBytes))))`);
    lines.push('(local.set $end (i32.add (local.get $py0) (local.get $rowBytes)))');
    for (let d = 0; d < dots; d++) for (const c of sums) lines.push(`(local.set ${acc(d, c)} (v128.const f32x4 0 0 0 0))`);
    // w ≥ 16: at least one step, so the test sits at the bottom
    lines.push(`(loop $k${p}`);
    for (const c of sums) {
      for (let r = 0; r < rx; r++) lines.push(`  (local.set $vx${r} (v128.load offset=${16 * c} (local.get $px${r})))`);
      for (let b = 0; b < ry; b++) {
        lines.push(`  (local.set $vy (v128.load offset=${16 * c} (local.get $py${b})))`);
        for (let r = 0; r < rx; r++) {
          const d = r * ry + b;
          lines.push(`  (local.set ${acc(d, c)} (f32x4.add (local.get ${acc(d, c)}) (f32x4.mul (local.get $vx${r}) (local.get $vy))))`);
        }
      }
    }
    for (let r = 0; r < rx; r++) lines.push(`  (local.set $px${r} (i32.add (local.get $px${r}) (i32.const 64)))`);
    for (let b = 0; b < ry; b++) lines.push(`  (local.set $py${b} (i32.add (local.get $py${b}) (i32.const 64)))`);
    lines.push(`  (br_if $k${p} (i32.lt_u (local.get $py0) (local.get $end))))`);
  }
  // t = (s0 + s1) + (s2 + s3), lane-wise, into sum 0's local
  for (let d = 0; d < dots; d++) {
    lines.push(`(local.set ${acc(d, 0)} (f32x4.add (f32x4.add (local.get ${acc(d, 0)}) (local.get ${acc(d, 1)})) (f32x4.add (local.get ${acc(d, 2)}) (local.get ${acc(d, 3)}))))`);
  }
  const at = (r: number, b: number) => `offset=${4 * b} ${r === 0 ? '(local.get $o)' : `(i32.add (local.get $o) (i32.mul (i32.const ${r}) (local.get $mBytes)))`}`;
  if (ry === 4) {
    // (t0 + t1) + (t2 + t3) of 4 dot products at once: pairing lanes 0,2 with 1,3 gives each one's
    // t0 + t1 and t2 + t3, and pairing those again their sum, in lane b for row b of Y.
    const pair = (u: string, v: string) => `(f32x4.add (i8x16.shuffle ${EVEN} ${u} ${v}) (i8x16.shuffle ${ODD} ${u} ${v}))`;
    for (let r = 0; r < rx; r++) {
      const t = (b: number) => `(local.get ${acc(r * ry + b, 0)})`;
      lines.push(`(local.set $h ${pair(pair(t(0), t(1)), pair(t(2), t(3)))})`);
      lines.push(`(v128.store ${at(r, 0)} (local.get $h))`);
    }
  } else {
    for (let d = 0; d < dots; d++) {
      const t = `(local.get ${acc(d, 0)})`;
      const lane = (l: number) => `(f32x4.extract_lane ${l} ${t})`;
      lines.push(`(f32.store ${at(Math.floor(d / ry), d % ry)} (f32.add (f32.add ${lane(0)} ${lane(1)}) (f32.add ${lane(2)} ${lane(3)})))`);
    }
  }
  return lines.join('\n          ');
}

/**
 * The nearest-row search of the neuron test (`best`): for each query, the greatest dot product
 * with any row of B (rows × cols float32, row-major) and the first row that reaches it. Each dot
 * product is the float64 sum of the float32 products, k ascending, exactly as the JavaScript loop
 * computes it (a float32 product is exact in float64; the adds round alike): the lanes run over
 * queries, never over k. Queries come in groups of 8, laid out k-major as float64 (group g,
 * column k: 8 values at q + (g·cols + k)·64); four f64x2 accumulators per row of B. Results:
 * float64 best values at `best` and int32 rows at `at`, 8 per group (a row replaces the best
 * only when strictly greater, so the first of equal values stays, and NaN never wins).
 */
function bestSource(): string {
  const lanes = [0, 1, 2, 3, 4, 5, 6, 7];
  const update = lanes.map((l) => `(local.set $v (f64x2.extract_lane ${l % 2} (local.get $a${l >> 1})))
          (if (f64.gt (local.get $v) (f64.load offset=${l * 8} (local.get $pBest)))
            (then (f64.store offset=${l * 8} (local.get $pBest) (local.get $v)) (i32.store offset=${l * 4} (local.get $pAt) (local.get $r))))`).join('\n          ');
  const init = lanes.map((l) => `(f64.store offset=${l * 8} (local.get $pBest) (f64.const -inf)) (i32.store offset=${l * 4} (local.get $pAt) (i32.const -1))`).join('\n      ');
  return `  (func (export "best") (param $q i32) (param $groups i32) (param $b i32) (param $rows i32) (param $cols i32) (param $best i32) (param $at i32)
    (local $g i32) (local $r i32) (local $pq i32) (local $pb i32) (local $end i32) (local $pBest i32) (local $pAt i32) (local $qg i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $s v128) (local $v f64)
    (local.set $g (i32.const 0))
    (block $doneG (loop $group
      (br_if $doneG (i32.ge_u (local.get $g) (local.get $groups)))
      (local.set $qg (i32.add (local.get $q) (i32.shl (i32.mul (local.get $g) (local.get $cols)) (i32.const 6))))
      (local.set $pBest (i32.add (local.get $best) (i32.shl (local.get $g) (i32.const 6))))
      (local.set $pAt (i32.add (local.get $at) (i32.shl (local.get $g) (i32.const 5))))
      ${init}
      (local.set $r (i32.const 0))
      (local.set $pb (local.get $b))
      (block $doneR (loop $row
        (br_if $doneR (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $a0 (v128.const f64x2 0 0))
        (local.set $a1 (v128.const f64x2 0 0))
        (local.set $a2 (v128.const f64x2 0 0))
        (local.set $a3 (v128.const f64x2 0 0))
        (local.set $pq (local.get $qg))
        (local.set $end (i32.add (local.get $pb) (i32.shl (local.get $cols) (i32.const 2))))
        (block $doneK (loop $k
          (br_if $doneK (i32.ge_u (local.get $pb) (local.get $end)))
          (local.set $s (f64x2.splat (f64.promote_f32 (f32.load (local.get $pb)))))
          (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (v128.load (local.get $pq)) (local.get $s))))
          (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (v128.load offset=16 (local.get $pq)) (local.get $s))))
          (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (v128.load offset=32 (local.get $pq)) (local.get $s))))
          (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (v128.load offset=48 (local.get $pq)) (local.get $s))))
          (local.set $pq (i32.add (local.get $pq) (i32.const 64)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 4)))
          (br $k)))
          ${update}
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row)))
      (local.set $g (i32.add (local.get $g) (i32.const 1)))
      (br $group))))`;
}
