/**
 * WebAssembly text of the hidden alignment's greedy matching (greedy.wasm), beyond the widths the
 * exact assignment takes (hidden.ts matchDimensions): the same comparisons in the same order as
 * the JavaScript, so the same matching. Branch-free in its scans (selects, not tests).
 *
 *  - `best(sim, wa, wb, best, top)`: for each row i of the wa × wb float64 similarities, the first
 *    column holding its greatest value (a value replaces the best only when strictly greater: NaN
 *    never does; a row starting with NaN keeps column 0), into `best` (int32) and `top` (float64).
 *  - `assign(sim, wa, wb, best, order, used, toB)`: rows in `order` (int32) each take their best
 *    column, or where that is taken the first free column with the greatest value (the first free
 *    column at all when none is greater); `toB` (int32, −1 filled by the caller), `used` (eight
 *    bytes per column, all ones once taken: a SIMD mask as it is; zeroed by the caller). Stops when
 *    every column is taken.
 *
 *  Both scans run in four lanes (two f64x2 vectors), each lane keeping the first greatest value of
 *  its columns; the lanes are then merged (a greater value, or an equal one at an earlier column,
 *  leads) and the last columns taken one at a time: the first greatest value, as the scalar scan.
 */
/** Lane `k` of (values `t`, columns `b`) into the running best ($t, $b): greater, or equal at an earlier column. */
function lane(t: string, b: string, k: number): string {
  return `(local.set $lt (f64x2.extract_lane ${k} (local.get ${t})))
      (local.set $lb (i32.wrap_i64 (i64x2.extract_lane ${k} (local.get ${b}))))
      (local.set $k (i32.or (f64.gt (local.get $lt) (local.get $t)) (i32.and (f64.eq (local.get $lt) (local.get $t)) (i32.lt_s (local.get $lb) (local.get $b)))))
      (local.set $t (select (local.get $lt) (local.get $t) (local.get $k)))
      (local.set $b (select (local.get $lb) (local.get $b) (local.get $k)))`;
}

export function greedySource(): string {
  return `(module
  (memory (export "memory") 1)
  (func (export "best") (param $sim i32) (param $wa i32) (param $wb i32) (param $best i32) (param $top i32)
    (local $i i32) (local $j i32) (local $p i32) (local $b i32) (local $t f64) (local $v f64) (local $gt i32)
    (local $t0 v128) (local $t1 v128) (local $b0 v128) (local $b1 v128) (local $j0 v128) (local $j1 v128) (local $m v128) (local $x v128)
    (local $lt f64) (local $lb i32) (local $k i32)
    (local.set $p (local.get $sim))
    (block $doneRows (loop $rows
      (br_if $doneRows (i32.ge_u (local.get $i) (local.get $wa)))
      (local.set $b (i32.const 0))
      (local.set $t (f64.load (local.get $p)))
      (local.set $j (i32.const 1))
      ;; Four lanes (columns j..j+3 of two vectors), each keeping its own first greatest value from
      ;; column 0's: then the lanes' greatest, the first column on a tie, is the row's.
      (local.set $t0 (f64x2.splat (local.get $t)))
      (local.set $t1 (local.get $t0))
      (local.set $b0 (i64x2.splat (i64.const 0)))
      (local.set $b1 (local.get $b0))
      (local.set $j0 (i64x2.replace_lane 1 (i64x2.splat (i64.const 1)) (i64.const 2)))
      (local.set $j1 (i64x2.replace_lane 1 (i64x2.splat (i64.const 3)) (i64.const 4)))
      (block $doneQuads (loop $quads
        (br_if $doneQuads (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $wb)))
        (local.set $x (v128.load (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 3)))))
        (local.set $m (f64x2.gt (local.get $x) (local.get $t0)))
        (local.set $t0 (v128.bitselect (local.get $x) (local.get $t0) (local.get $m)))
        (local.set $b0 (v128.bitselect (local.get $j0) (local.get $b0) (local.get $m)))
        (local.set $x (v128.load offset=16 (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 3)))))
        (local.set $m (f64x2.gt (local.get $x) (local.get $t1)))
        (local.set $t1 (v128.bitselect (local.get $x) (local.get $t1) (local.get $m)))
        (local.set $b1 (v128.bitselect (local.get $j1) (local.get $b1) (local.get $m)))
        (local.set $j0 (i64x2.add (local.get $j0) (i64x2.splat (i64.const 4))))
        (local.set $j1 (i64x2.add (local.get $j1) (i64x2.splat (i64.const 4))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $quads)))
      ;; The lanes in turn: a greater value, or an equal one at an earlier column, takes the lead.
      ${lane('$t0', '$b0', 0)}
      ${lane('$t0', '$b0', 1)}
      ${lane('$t1', '$b1', 0)}
      ${lane('$t1', '$b1', 1)}
      ;; The last columns one at a time, as the scalar scan takes them.
      (block $doneCols (loop $cols
        (br_if $doneCols (i32.ge_u (local.get $j) (local.get $wb)))
        (local.set $v (f64.load (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 3)))))
        (local.set $gt (f64.gt (local.get $v) (local.get $t)))
        (local.set $b (select (local.get $j) (local.get $b) (local.get $gt)))
        (local.set $t (select (local.get $v) (local.get $t) (local.get $gt)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $cols)))
      (i32.store (i32.add (local.get $best) (i32.shl (local.get $i) (i32.const 2))) (local.get $b))
      (f64.store (i32.add (local.get $top) (i32.shl (local.get $i) (i32.const 3))) (local.get $t))
      (local.set $p (i32.add (local.get $p) (i32.shl (local.get $wb) (i32.const 3))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows))))

  (func (export "assign") (param $sim i32) (param $wa i32) (param $wb i32) (param $best i32) (param $order i32) (param $used i32) (param $toB i32)
    (local $n i32) (local $i i32) (local $j i32) (local $c i32) (local $row i32) (local $t f64) (local $v f64) (local $take i32) (local $taken i32)
    (local $t0 v128) (local $t1 v128) (local $b0 v128) (local $b1 v128) (local $j0 v128) (local $j1 v128) (local $m v128) (local $x v128)
    (local $lt f64) (local $lb i32) (local $k i32) (local $b i32)
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $n) (local.get $wa)))
      (local.set $i (i32.load (i32.add (local.get $order) (i32.shl (local.get $n) (i32.const 2)))))
      (local.set $j (i32.load (i32.add (local.get $best) (i32.shl (local.get $i) (i32.const 2)))))
      (if (i64.ne (i64.load (i32.add (local.get $used) (i32.shl (local.get $j) (i32.const 3)))) (i64.const 0))
        (then
          (local.set $row (i32.add (local.get $sim) (i32.shl (i32.mul (local.get $i) (local.get $wb)) (i32.const 3))))
          ;; The first free column is taken whatever it holds; a later free one only when greater.
          (local.set $c (i32.const 0))
          (block $found (loop $seek
            (br_if $found (i32.ge_u (local.get $c) (local.get $wb)))
            (br_if $found (i64.eqz (i64.load (i32.add (local.get $used) (i32.shl (local.get $c) (i32.const 3))))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $seek)))
          (local.set $j (i32.const -1))
          (if (i32.lt_u (local.get $c) (local.get $wb))
            (then
              (local.set $b (local.get $c))
              (local.set $t (f64.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 3)))))
              (local.set $c (i32.add (local.get $c) (i32.const 1)))
              ;; Four lanes over the free columns after it (used columns masked out), as best() scans.
              (local.set $t0 (f64x2.splat (local.get $t)))
              (local.set $t1 (local.get $t0))
              (local.set $b0 (i64x2.splat (i64.extend_i32_u (local.get $b))))
              (local.set $b1 (local.get $b0))
              (local.set $j0 (i64x2.replace_lane 1 (i64x2.splat (i64.extend_i32_u (local.get $c))) (i64.extend_i32_u (i32.add (local.get $c) (i32.const 1)))))
              (local.set $j1 (i64x2.add (local.get $j0) (i64x2.splat (i64.const 2))))
              (block $doneQuads (loop $quads
                (br_if $doneQuads (i32.gt_u (i32.add (local.get $c) (i32.const 4)) (local.get $wb)))
                (local.set $x (v128.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 3)))))
                (local.set $m (v128.andnot (f64x2.gt (local.get $x) (local.get $t0)) (v128.load (i32.add (local.get $used) (i32.shl (local.get $c) (i32.const 3))))))
                (local.set $t0 (v128.bitselect (local.get $x) (local.get $t0) (local.get $m)))
                (local.set $b0 (v128.bitselect (local.get $j0) (local.get $b0) (local.get $m)))
                (local.set $x (v128.load offset=16 (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 3)))))
                (local.set $m (v128.andnot (f64x2.gt (local.get $x) (local.get $t1)) (v128.load offset=16 (i32.add (local.get $used) (i32.shl (local.get $c) (i32.const 3))))))
                (local.set $t1 (v128.bitselect (local.get $x) (local.get $t1) (local.get $m)))
                (local.set $b1 (v128.bitselect (local.get $j1) (local.get $b1) (local.get $m)))
                (local.set $j0 (i64x2.add (local.get $j0) (i64x2.splat (i64.const 4))))
                (local.set $j1 (i64x2.add (local.get $j1) (i64x2.splat (i64.const 4))))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $quads)))
              ${lane('$t0', '$b0', 0)}
              ${lane('$t0', '$b0', 1)}
              ${lane('$t1', '$b1', 0)}
              ${lane('$t1', '$b1', 1)}
              (block $doneScan (loop $scan
                (br_if $doneScan (i32.ge_u (local.get $c) (local.get $wb)))
                (local.set $v (f64.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 3)))))
                (local.set $take (i32.and (i64.eqz (i64.load (i32.add (local.get $used) (i32.shl (local.get $c) (i32.const 3)))))
                  (f64.gt (local.get $v) (local.get $t))))
                (local.set $b (select (local.get $c) (local.get $b) (local.get $take)))
                (local.set $t (select (local.get $v) (local.get $t) (local.get $take)))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $scan)))
              (local.set $j (local.get $b))))))
      (if (i32.and (i32.ge_s (local.get $j) (i32.const 0)) (i32.gt_s (local.get $wb) (i32.const 0)))
        (then
          (i32.store (i32.add (local.get $toB) (i32.shl (local.get $i) (i32.const 2))) (local.get $j))
          (i64.store (i32.add (local.get $used) (i32.shl (local.get $j) (i32.const 3))) (i64.const -1))
          (local.set $taken (i32.add (local.get $taken) (i32.const 1)))))
      (br_if $done (i32.eq (local.get $taken) (local.get $wb)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $rows)))))
`;
}
