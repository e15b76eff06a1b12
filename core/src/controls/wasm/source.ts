import { assignmentSource } from './assignment-source.ts';

/**
 * WebAssembly text of the permutation null (null.wasm): the linear assignment
 * (assignment-source.ts) and the products, OUT = scale · X·Y for
 * row-major float64 matrices X (n × p), Y (p × m), OUT (n × m), with n and m multiples of 4
 * (callers pad with zero rows and columns). Either factor may be triangular, and the k loop then
 * stops where its zeros begin: X lower (X[i][k] = 0 for k > i), Y upper (Y[k][j] = 0 for k > j).
 *
 * Blocked 4 rows × 4 columns (eight f64x2 accumulators, which stay in registers): the column
 * strip of Y that a block reads (≤ p × 32 bytes) stays in L1 while the row blocks go by.
 * Accumulation order is k ascending, as in the JavaScript reference, so the results agree to
 * rounding (no fused multiply-add in WebAssembly SIMD).
 */
/**
 * `reduceRows(cost, n, m, sign)`: the assignment's preparation of an n × m float64 matrix in place
 * (assignment.ts minimizeCost): each value times `sign`, then each row less its least value;
 * returns 0 (leaving the matrix half done) as soon as a row holds a value that is not finite.
 * Branch-free in its loops (a test per value there costs more than the value).
 */
function reduceRowsSource(): string {
  return `  (func (export "reduceRows") (param $cost i32) (param $n i32) (param $m i32) (param $sign f64) (result i32)
    (local $i i32) (local $p i32) (local $q i32) (local $end i32) (local $c f64) (local $least f64) (local $ok i32)
    (local.set $p (local.get $cost))
    (block $doneRows (loop $rows
      (br_if $doneRows (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $q (local.get $p))
      (local.set $end (i32.add (local.get $p) (i32.shl (local.get $m) (i32.const 3))))
      (local.set $least (f64.const inf))
      (local.set $ok (i32.const 1))
      (block $doneSigned (loop $signed
        (br_if $doneSigned (i32.ge_u (local.get $q) (local.get $end)))
        (local.set $c (f64.mul (local.get $sign) (f64.load (local.get $q))))
        (f64.store (local.get $q) (local.get $c))
        ;; c − c is NaN for NaN and ±∞
        (local.set $ok (i32.and (local.get $ok) (f64.eq (f64.sub (local.get $c) (local.get $c)) (f64.const 0))))
        (local.set $least (select (local.get $c) (local.get $least) (f64.lt (local.get $c) (local.get $least))))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (br $signed)))
      (if (i32.eqz (local.get $ok)) (then (return (i32.const 0))))
      (block $doneReduced (loop $reduced
        (br_if $doneReduced (i32.ge_u (local.get $p) (local.get $end)))
        (f64.store (local.get $p) (f64.sub (f64.load (local.get $p)) (local.get $least)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $reduced)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows)))
    (i32.const 1))`;
}

export function nullSource(): string {
  // One accumulator pair per row r of the block: columns j0..j0+1 and j0+2..j0+3.
  const rows = [0, 1, 2, 3];
  const locals = rows.map((r) => `(local $a${r} v128) (local $b${r} v128) (local $x${r} i32)`).join(' ');
  const zero = rows.map((r) => `(local.set $a${r} (v128.const f64x2 0 0)) (local.set $b${r} (v128.const f64x2 0 0))`).join('\n          ');
  const rowPointers = rows.map((r) => `(local.set $x${r} (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const ${r})) (local.get $p)) (i32.const 3))))`).join('\n          ');
  const step = rows.map((r) => `(local.set $s (f64x2.splat (f64.load (i32.add (local.get $x${r}) (local.get $k8)))))
            (local.set $a${r} (f64x2.add (local.get $a${r}) (f64x2.mul (local.get $s) (local.get $y0))))
            (local.set $b${r} (f64x2.add (local.get $b${r}) (f64x2.mul (local.get $s) (local.get $y1))))`).join('\n            ');
  const store = rows.map((r) => `(local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (i32.add (local.get $i) (i32.const ${r})) (local.get $m)) (local.get $j)) (i32.const 3))))
          (v128.store (local.get $o) (f64x2.mul (local.get $a${r}) (local.get $scale2)))
          (v128.store offset=16 (local.get $o) (f64x2.mul (local.get $b${r}) (local.get $scale2)))`).join('\n          ');
  return `(module
  (memory (export "memory") 1)
  ;; flags: 1 = X lower triangular, 2 = Y upper triangular
  (func (export "product") (param $x i32) (param $y i32) (param $out i32) (param $n i32) (param $p i32) (param $m i32) (param $flags i32) (param $scale f64)
    (local $i i32) (local $j i32) (local $k8 i32) (local $end i32) (local $py i32) (local $o i32) (local $rowY i32)
    (local $s v128) (local $y0 v128) (local $y1 v128) (local $scale2 v128)
    ${locals}
    (local.set $scale2 (f64x2.splat (local.get $scale)))
    (local.set $rowY (i32.shl (local.get $m) (i32.const 3)))
    (local.set $j (i32.const 0))
    (block $doneJ (loop $columns
      (br_if $doneJ (i32.ge_u (local.get $j) (local.get $m)))
      (local.set $i (i32.const 0))
      (block $doneI (loop $rows
        (br_if $doneI (i32.ge_u (local.get $i) (local.get $n)))
        ;; k runs over [0, end): end = p, cut to i + 4 (X lower) and to j + 4 (Y upper)
        (local.set $end (local.get $p))
        (if (i32.and (local.get $flags) (i32.const 1))
          (then (if (i32.lt_u (i32.add (local.get $i) (i32.const 4)) (local.get $end)) (then (local.set $end (i32.add (local.get $i) (i32.const 4)))))))
        (if (i32.and (local.get $flags) (i32.const 2))
          (then (if (i32.lt_u (i32.add (local.get $j) (i32.const 4)) (local.get $end)) (then (local.set $end (i32.add (local.get $j) (i32.const 4)))))))
        (local.set $end (i32.shl (local.get $end) (i32.const 3)))
        ${zero}
        ${rowPointers}
        (local.set $py (i32.add (local.get $y) (i32.shl (local.get $j) (i32.const 3))))
        (local.set $k8 (i32.const 0))
        (block $doneK (loop $inner
          (br_if $doneK (i32.ge_u (local.get $k8) (local.get $end)))
            (local.set $y0 (v128.load (local.get $py)))
            (local.set $y1 (v128.load offset=16 (local.get $py)))
            ${step}
          (local.set $py (i32.add (local.get $py) (local.get $rowY)))
          (local.set $k8 (i32.add (local.get $k8) (i32.const 8)))
          (br $inner)))
        ${store}
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $rows)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $columns))))
${reduceRowsSource()}
${assignmentSource()})
`;
}
