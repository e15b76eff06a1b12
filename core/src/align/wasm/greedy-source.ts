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
 *    column at all when none is greater); `toB` (int32, −1 filled by the caller), `used` (one byte
 *    per column, zeroed by the caller). Stops when every column is taken.
 */
export function greedySource(): string {
  return `(module
  (memory (export "memory") 1)
  (func (export "best") (param $sim i32) (param $wa i32) (param $wb i32) (param $best i32) (param $top i32)
    (local $i i32) (local $j i32) (local $p i32) (local $b i32) (local $t f64) (local $v f64) (local $gt i32)
    (local.set $p (local.get $sim))
    (block $doneRows (loop $rows
      (br_if $doneRows (i32.ge_u (local.get $i) (local.get $wa)))
      (local.set $b (i32.const 0))
      (local.set $t (f64.load (local.get $p)))
      (local.set $j (i32.const 1))
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
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $n) (local.get $wa)))
      (local.set $i (i32.load (i32.add (local.get $order) (i32.shl (local.get $n) (i32.const 2)))))
      (local.set $j (i32.load (i32.add (local.get $best) (i32.shl (local.get $i) (i32.const 2)))))
      (if (i32.load8_u (i32.add (local.get $used) (local.get $j)))
        (then
          (local.set $j (i32.const -1))
          (local.set $t (f64.const 0))
          (local.set $row (i32.add (local.get $sim) (i32.shl (i32.mul (local.get $i) (local.get $wb)) (i32.const 3))))
          (local.set $c (i32.const 0))
          (block $doneScan (loop $scan
            (br_if $doneScan (i32.ge_u (local.get $c) (local.get $wb)))
            (local.set $v (f64.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 3)))))
            ;; free, and the first free column or a greater value
            (local.set $take (i32.and (i32.eqz (i32.load8_u (i32.add (local.get $used) (local.get $c))))
              (i32.or (i32.lt_s (local.get $j) (i32.const 0)) (f64.gt (local.get $v) (local.get $t)))))
            (local.set $j (select (local.get $c) (local.get $j) (local.get $take)))
            (local.set $t (select (local.get $v) (local.get $t) (local.get $take)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $scan)))))
      (if (i32.and (i32.ge_s (local.get $j) (i32.const 0)) (i32.gt_s (local.get $wb) (i32.const 0)))
        (then
          (i32.store (i32.add (local.get $toB) (i32.shl (local.get $i) (i32.const 2))) (local.get $j))
          (i32.store8 (i32.add (local.get $used) (local.get $j)) (i32.const 1))
          (local.set $taken (i32.add (local.get $taken) (i32.const 1)))))
      (br_if $done (i32.eq (local.get $taken) (local.get $wb)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $rows)))))
`;
}
