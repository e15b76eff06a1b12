/**
 * WebAssembly text of the line kernels of model-view.ts (lines.wasm): what the aligned tests
 * decode from a band of rows of a bf16 or float32 matrix, with the JavaScript loops' arithmetic
 * (a bf16 value is its bits shifted into a float32; products and sums as JavaScript rounds them).
 *
 * Each comes twice, for bf16 (`…Bf16`) and float32 (`…F32`) bands: a test of the dtype per value
 * costs more than the value.
 *
 *  - `columns(src, rows, width, cols, nc, gamma, out)`: out[r·nc + k] = src[r·width +
 *    cols[k]] for the `rows` rows of the band, times gamma[k] (float32, rounded as a stored float32
 *    product) unless `gamma` is 0.
 *  - `rowSquares(src, rows, width, out)`: out[r] = Σ_c v² (float64, c ascending), four rows'
 *    chains interleaved.
 *  - `columnSquares(src, rows, width, out)`: out[c] += v² for each row in turn (float64;
 *    two columns per f64x2 lane pair, each column's sum still in row order). `width` even.
 */
export function linesSource(): string {
  return `(module
  (memory (export "memory") 1)
${functions(true)}
${functions(false)})
`;
}

function functions(bf16: boolean): string {
  const name = bf16 ? 'Bf16' : 'F32';
  // One value of the band at byte offset `at` from $src: bf16 bits shifted up, or a float32.
  const value = (at: string) => (bf16
    ? `(f32.reinterpret_i32 (i32.shl (i32.load16_u (i32.add (local.get $src) ${at})) (i32.const 16)))`
    : `(f32.load (i32.add (local.get $src) ${at}))`);
  const shift = bf16 ? 1 : 2;
  const rows4 = [0, 1, 2, 3];
  return `  (func (export "columns${name}") (param $src i32) (param $rows i32) (param $width i32) (param $cols i32) (param $nc i32) (param $gamma i32) (param $out i32)
    (local $r i32) (local $k i32) (local $line i32) (local $v f32)
    (block $doneR (loop $eachRow
      (br_if $doneR (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $line (i32.shl (i32.mul (local.get $r) (local.get $width)) (i32.const ${shift})))
      (local.set $k (i32.const 0))
      (if (local.get $gamma)
        (then
          (block $doneG (loop $scaled
            (br_if $doneG (i32.ge_u (local.get $k) (local.get $nc)))
            (local.set $v ${value(`(i32.add (local.get $line) (i32.shl (i32.load (i32.add (local.get $cols) (i32.shl (local.get $k) (i32.const 2)))) (i32.const ${shift})))`)})
            (f32.store (local.get $out) (f32.mul (local.get $v) (f32.load (i32.add (local.get $gamma) (i32.shl (local.get $k) (i32.const 2))))))
            (local.set $out (i32.add (local.get $out) (i32.const 4)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $scaled))))
        (else
          (block $doneP (loop $plain
            (br_if $doneP (i32.ge_u (local.get $k) (local.get $nc)))
            (f32.store (local.get $out) ${value(`(i32.add (local.get $line) (i32.shl (i32.load (i32.add (local.get $cols) (i32.shl (local.get $k) (i32.const 2)))) (i32.const ${shift})))`)})
            (local.set $out (i32.add (local.get $out) (i32.const 4)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $plain)))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $eachRow))))

  (func (export "rowSquares${name}") (param $src i32) (param $rows i32) (param $width i32) (param $out i32)
    (local $r i32) (local $c i32) (local $lineBytes i32) (local $at i32) (local $d f64)
    ${rows4.map((j) => `(local $s${j} f64)`).join(' ')}
    (local.set $lineBytes (i32.shl (local.get $width) (i32.const ${shift})))
    ;; four rows at a time
    (block $doneGroups (loop $groups
      (br_if $doneGroups (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $rows)))
      ${rows4.map((j) => `(local.set $s${j} (f64.const 0))`).join(' ')}
      (local.set $at (i32.mul (local.get $r) (local.get $lineBytes)))
      (local.set $c (i32.const 0))
      (block $doneC (loop $eachC
        (br_if $doneC (i32.ge_u (local.get $c) (local.get $width)))
        ${rows4.map((j) => `(local.set $d (f64.promote_f32 ${value(`(i32.add (local.get $at) (i32.mul (local.get $lineBytes) (i32.const ${j})))`)}))
        (local.set $s${j} (f64.add (local.get $s${j}) (f64.mul (local.get $d) (local.get $d))))`).join('\n        ')}
        (local.set $at (i32.add (local.get $at) (i32.const ${bf16 ? 2 : 4})))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $eachC)))
      ${rows4.map((j) => `(f64.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $r) (i32.const ${j})) (i32.const 3))) (local.get $s${j}))`).join('\n      ')}
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $groups)))
    ;; the rest one at a time
    (block $doneRest (loop $rest
      (br_if $doneRest (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $s0 (f64.const 0))
      (local.set $at (i32.mul (local.get $r) (local.get $lineBytes)))
      (local.set $c (i32.const 0))
      (block $doneC1 (loop $eachC1
        (br_if $doneC1 (i32.ge_u (local.get $c) (local.get $width)))
        (local.set $d (f64.promote_f32 ${value('(local.get $at)')}))
        (local.set $s0 (f64.add (local.get $s0) (f64.mul (local.get $d) (local.get $d))))
        (local.set $at (i32.add (local.get $at) (i32.const ${bf16 ? 2 : 4})))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $eachC1)))
      (f64.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 3))) (local.get $s0))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rest))))

  (func (export "columnSquares${name}") (param $src i32) (param $rows i32) (param $width i32) (param $out i32)
    (local $r i32) (local $p i32) (local $o i32) (local $pair v128) (local $end i32)
    (local.set $p (local.get $src))
    (block $doneR (loop $eachRow
      (br_if $doneR (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $o (local.get $out))
      (local.set $end (i32.add (local.get $out) (i32.shl (local.get $width) (i32.const 3))))
      (block $doneC (loop $eachPair
        (br_if $doneC (i32.ge_u (local.get $o) (local.get $end)))
        ;; two neighbouring values as the low float32 lanes
        (local.set $pair ${bf16 ? '(i32x4.shl (i32x4.extend_low_i16x8_u (v128.load32_zero (local.get $p))) (i32.const 16))' : '(v128.load64_zero (local.get $p))'})
        (local.set $pair (f64x2.promote_low_f32x4 (local.get $pair)))
        (v128.store (local.get $o) (f64x2.add (v128.load (local.get $o)) (f64x2.mul (local.get $pair) (local.get $pair))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (local.set $p (i32.add (local.get $p) (i32.const ${bf16 ? 4 : 8})))
        (br $eachPair)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $eachRow))))`;
}
