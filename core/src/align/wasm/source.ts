/**
 * WebAssembly text of the matching kernel: all dot products between the rows of X (n × w) and
 * the rows of Y (m × w), float32, written to OUT (n × m, float32). The units it multiplies are
 * unit vectors (similarities in [−1, 1]); four f32x4 accumulators keep the rounding near 1e-6.
 * `w` must be a multiple of 16 (callers pad rows with zeros, which change no dot product).
 */
export function dotsSource(): string {
  return `(module
  (memory (export "memory") 1)
  ;; out[i*m + j] = sum_k x[i*w + k] * y[j*w + k]; rows of Y outside, rows of X inside: Y (the
  ;; larger side: every unit of B) streams through once while X's few rows stay in cache
  (func (export "dots") (param $x i32) (param $n i32) (param $y i32) (param $m i32) (param $w i32) (param $out i32)
    (local $i i32) (local $j i32) (local $px i32) (local $py i32) (local $end i32) (local $rowBytes i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local.set $rowBytes (i32.shl (local.get $w) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $doneJ (loop $rowsY
      (br_if $doneJ (i32.ge_u (local.get $j) (local.get $m)))
      (local.set $i (i32.const 0))
      (block $doneI (loop $rowsX
        (br_if $doneI (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $px (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $py (i32.add (local.get $y) (i32.mul (local.get $j) (local.get $rowBytes))))
        (local.set $end (i32.add (local.get $py) (local.get $rowBytes)))
        (local.set $s0 (v128.const f32x4 0 0 0 0))
        (local.set $s1 (v128.const f32x4 0 0 0 0))
        (local.set $s2 (v128.const f32x4 0 0 0 0))
        (local.set $s3 (v128.const f32x4 0 0 0 0))
        (block $doneK (loop $cols
          (br_if $doneK (i32.ge_u (local.get $py) (local.get $end)))
          (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (v128.load (local.get $px)) (v128.load (local.get $py)))))
          (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (v128.load offset=16 (local.get $px)) (v128.load offset=16 (local.get $py)))))
          (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (v128.load offset=32 (local.get $px)) (v128.load offset=32 (local.get $py)))))
          (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (v128.load offset=48 (local.get $px)) (v128.load offset=48 (local.get $py)))))
          (local.set $px (i32.add (local.get $px) (i32.const 64)))
          (local.set $py (i32.add (local.get $py) (i32.const 64)))
          (br $cols)))
        (local.set $s0 (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (f32x4.add (local.get $s2) (local.get $s3))))
        (f32.store (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $m)) (local.get $j)) (i32.const 2)))
          (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
                   (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rowsX)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $rowsY))))
${bestSource()})
`;
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
