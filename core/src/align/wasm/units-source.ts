/**
 * WebAssembly text of the unit cutting kernel (units.wasm), the aligned tests' hot loop after the
 * dot products (units.ts `build`): the same float32 and float64 operations in the same order as
 * the JavaScript reference, so the units come out bit for bit the same.
 *
 *  - `transpose(src, rows, cols, dst)`: dst (cols × rows) = srcᵀ, float32, in 8 × 8 tiles.
 *  - `cut(src, stride, span, dims, nd, sign, units, count, out, width, offset)`: for each listed
 *    unit u (int32 at `units`), its `span` lines of `src` (line l at src + (u·span + l)·stride
 *    floats) restricted to the `nd` positions at `dims` (int32), each times its sign (float32 at
 *    `sign`; none when 0), written to out + u·width + offset (floats), line after line.
 *  - `finish(out, width, offset, len, units, count, scale, squares)`: each listed unit's block of
 *    `len` floats at out + u·width + offset, in place: Σv² into `squares` (float64, one per listed
 *    unit, before centring: the magnitude's input), centred on its float64 mean, scaled by
 *    1/√Σ(v − mean)² (all zeros when that is not > 0), then times `scale` unless `scale` is 1;
 *    every stored value rounded to float32 where the reference stores it. Four blocks at a time
 *    (independent float64 chains: the sums are latency-bound one block at a time), the rest alone.
 */
const BLOCKS = 4;

export function unitsSource(): string {
  const js = Array.from({ length: BLOCKS }, (_, j) => j);
  return `(module
  (memory (export "memory") 1)
  (func (export "transpose") (param $src i32) (param $rows i32) (param $cols i32) (param $dst i32)
    (local $r0 i32) (local $c0 i32) (local $r i32) (local $c i32) (local $r1 i32) (local $c1 i32)
    (local.set $r0 (i32.const 0))
    (block $doneR0 (loop $tileRows
      (br_if $doneR0 (i32.ge_u (local.get $r0) (local.get $rows)))
      (local.set $r1 (select (i32.add (local.get $r0) (i32.const 8)) (local.get $rows) (i32.lt_u (i32.add (local.get $r0) (i32.const 8)) (local.get $rows))))
      (local.set $c0 (i32.const 0))
      (block $doneC0 (loop $tileCols
        (br_if $doneC0 (i32.ge_u (local.get $c0) (local.get $cols)))
        (local.set $c1 (select (i32.add (local.get $c0) (i32.const 8)) (local.get $cols) (i32.lt_u (i32.add (local.get $c0) (i32.const 8)) (local.get $cols))))
        (local.set $r (local.get $r0))
        (block $doneR (loop $eachR
          (br_if $doneR (i32.ge_u (local.get $r) (local.get $r1)))
          (local.set $c (local.get $c0))
          (block $doneC (loop $eachC
            (br_if $doneC (i32.ge_u (local.get $c) (local.get $c1)))
            (f32.store
              (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2)))
              (f32.load (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2)))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $eachC)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $eachR)))
        (local.set $c0 (i32.add (local.get $c0) (i32.const 8)))
        (br $tileCols)))
      (local.set $r0 (i32.add (local.get $r0) (i32.const 8)))
      (br $tileRows))))

  (func (export "cut") (param $src i32) (param $stride i32) (param $span i32) (param $dims i32) (param $nd i32) (param $sign i32)
    (param $units i32) (param $count i32) (param $out i32) (param $width i32) (param $offset i32)
    (local $n i32) (local $u i32) (local $l i32) (local $line i32) (local $o i32) (local $c i32) (local $pd i32) (local $ps i32) (local $end i32)
    (local.set $n (i32.const 0))
    (block $doneN (loop $eachUnit
      (br_if $doneN (i32.ge_u (local.get $n) (local.get $count)))
      (local.set $u (i32.load (i32.add (local.get $units) (i32.shl (local.get $n) (i32.const 2)))))
      (local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $u) (local.get $width)) (local.get $offset)) (i32.const 2))))
      (local.set $l (i32.const 0))
      (block $doneL (loop $eachLine
        (br_if $doneL (i32.ge_u (local.get $l) (local.get $span)))
        (local.set $line (i32.add (local.get $src) (i32.shl (i32.mul (i32.add (i32.mul (local.get $u) (local.get $span)) (local.get $l)) (local.get $stride)) (i32.const 2))))
        (local.set $pd (local.get $dims))
        (local.set $end (i32.add (local.get $dims) (i32.shl (local.get $nd) (i32.const 2))))
        (if (local.get $sign)
          (then
            (local.set $ps (local.get $sign))
            (block $doneS (loop $signed
              (br_if $doneS (i32.ge_u (local.get $pd) (local.get $end)))
              (f32.store (local.get $o) (f32.mul (f32.load (i32.add (local.get $line) (i32.shl (i32.load (local.get $pd)) (i32.const 2)))) (f32.load (local.get $ps))))
              (local.set $o (i32.add (local.get $o) (i32.const 4)))
              (local.set $pd (i32.add (local.get $pd) (i32.const 4)))
              (local.set $ps (i32.add (local.get $ps) (i32.const 4)))
              (br $signed))))
          (else
            (block $doneP (loop $plain
              (br_if $doneP (i32.ge_u (local.get $pd) (local.get $end)))
              (f32.store (local.get $o) (f32.load (i32.add (local.get $line) (i32.shl (i32.load (local.get $pd)) (i32.const 2)))))
              (local.set $o (i32.add (local.get $o) (i32.const 4)))
              (local.set $pd (i32.add (local.get $pd) (i32.const 4)))
              (br $plain)))))
        (local.set $l (i32.add (local.get $l) (i32.const 1)))
        (br $eachLine)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $eachUnit))))

  (func (export "finish") (param $out i32) (param $width i32) (param $offset i32) (param $len i32) (param $units i32) (param $count i32) (param $scale f64) (param $squares i32)
    (local $n i32) (local $k i32) (local $bytes i32) (local $d f64) (local $v f32) (local $divisor f64)
    ${js.map((j) => `(local $p${j} i32) (local $sum${j} f64) (local $sq${j} f64) (local $mean${j} f64) (local $ss${j} f64) (local $s${j} f64) (local $zero${j} i32)`).join(' ')}
    (local.set $bytes (i32.shl (local.get $len) (i32.const 2)))
    (local.set $divisor (f64.convert_i32_u (select (local.get $len) (i32.const 1) (local.get $len))))
    (local.set $n (i32.const 0))
    ;; ${BLOCKS} blocks at a time
    (block $doneGroups (loop $groups
      (br_if $doneGroups (i32.gt_u (i32.add (local.get $n) (i32.const ${BLOCKS})) (local.get $count)))
      ${js.map((j) => blockPointer(j, `(i32.add (local.get $n) (i32.const ${j}))`)).join('\n      ')}
      ${finishBlocks(js)}
      (local.set $n (i32.add (local.get $n) (i32.const ${BLOCKS})))
      (br $groups)))
    ;; the rest one at a time
    (block $doneRest (loop $rest
      (br_if $doneRest (i32.ge_u (local.get $n) (local.get $count)))
      ${blockPointer(0, '(local.get $n)')}
      ${finishBlocks([0])}
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $rest)))))
`;
}

/** $p<j> = the block of the unit listed at index `at`, and its magnitude slot. */
function blockPointer(j: number, at: string): string {
  return `(local.set $p${j} (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (i32.load (i32.add (local.get $units) (i32.shl ${at} (i32.const 2)))) (local.get $width)) (local.get $offset)) (i32.const 2))))`;
}

/** The three passes over blocks $p<j> (j in js), their float64 chains interleaved; $n is the first block's list index. */
function finishBlocks(js: number[]): string {
  const load = (j: number) => `(f32.load (i32.add (local.get $p${j}) (local.get $k)))`;
  const loop = (name: string, body: string) => `(local.set $k (i32.const 0))
      (block $done${name} (loop $${name}
        (br_if $done${name} (i32.ge_u (local.get $k) (local.get $bytes)))
        ${body}
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $${name})))`;
  const sums = js.map((j) => `(local.set $d (f64.promote_f32 ${load(j)}))
        (local.set $sum${j} (f64.add (local.get $sum${j}) (local.get $d)))
        (local.set $sq${j} (f64.add (local.get $sq${j}) (f64.mul (local.get $d) (local.get $d))))`).join('\n        ');
  const centre = js.map((j) => `(local.set $v (f32.demote_f64 (f64.sub (f64.promote_f32 ${load(j)}) (local.get $mean${j}))))
        (f32.store (i32.add (local.get $p${j}) (local.get $k)) (local.get $v))
        (local.set $d (f64.promote_f32 (local.get $v)))
        (local.set $ss${j} (f64.add (local.get $ss${j}) (f64.mul (local.get $d) (local.get $d))))`).join('\n        ');
  // Branch-free passes (a test per value in the loop cost 10× the arithmetic): the scale's two
  // cases are two loops, and a block that is not > 0 is scaled by a meaningless factor here and
  // then overwritten with zeros.
  const scaled = (times: (x: string) => string) => js.map((j) => `(f32.store (i32.add (local.get $p${j}) (local.get $k)) ${times(`(f32.demote_f64 (f64.mul (f64.promote_f32 ${load(j)}) (local.get $s${j})))`)})`).join('\n        ');
  const byScale = `(if (f64.eq (local.get $scale) (f64.const 1))
        (then ${loop('unscaled', scaled((x) => x))})
        (else ${loop('scaled', scaled((x) => `(f32.demote_f64 (f64.mul (f64.promote_f32 ${x}) (local.get $scale)))`))}))`;
  const zeros = js.map((j) => `(if (local.get $zero${j}) (then (memory.fill (local.get $p${j}) (i32.const 0) (local.get $bytes))))`).join('\n      ');
  return `${js.map((j) => `(local.set $sum${j} (f64.const 0)) (local.set $sq${j} (f64.const 0)) (local.set $ss${j} (f64.const 0))`).join(' ')}
      ${loop('sums', sums)}
      ${js.map((j) => `(f64.store (i32.add (local.get $squares) (i32.shl (i32.add (local.get $n) (i32.const ${j})) (i32.const 3))) (local.get $sq${j}))
      (local.set $mean${j} (f64.div (local.get $sum${j}) (local.get $divisor)))`).join('\n      ')}
      ${loop('centre', centre)}
      ${js.map((j) => `(local.set $zero${j} (i32.eqz (f64.gt (local.get $ss${j}) (f64.const 0))))
      (local.set $s${j} (f64.div (f64.const 1) (f64.sqrt (local.get $ss${j}))))`).join('\n      ')}
      ${byScale}
      ${zeros}`;
}
