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
 *    column at all when none is greater); `toB` (int32, −1 filled by the caller), `used` (one
 *    mask per column as wide as a similarity, all ones once taken: a SIMD mask as it is; zeroed by
 *    the caller). Stops when every column is taken.
 *  - `best32`, `assign32`: the same on float32 similarities (`top` still float64: a float32 value
 *    widened, exactly). A float64 copy of float32 numbers gives the same comparisons, so the same
 *    matching, in half the memory (the profiles' correlations are float32 as the dots kernel
 *    leaves them: at 4096 wide 64 MB rather than 128 MB, read twice per draw).
 *
 *  Both scans run in lanes (two vectors: four float64 lanes, or eight float32), each lane keeping
 *  the first greatest value of its columns; the lanes are then merged (a greater value, or an
 *  equal one at an earlier column, leads) and the last columns taken one at a time: the first
 *  greatest value, as the scalar scan.
 */

/** The instructions of one element type. */
interface Kind {
  suffix: string;
  /** Scalar type of a similarity, and its vector shape. */
  t: 'f64' | 'f32';
  vec: 'f64x2' | 'f32x4';
  /** The integer vector shape of the same lanes (masks, and the columns they keep). */
  ivec: 'i64x2' | 'i32x4';
  lanes: number;
  /** log2 of a similarity's (and a used mask's) bytes. */
  shift: number;
}

const F64: Kind = { suffix: '', t: 'f64', vec: 'f64x2', ivec: 'i64x2', lanes: 2, shift: 3 };
const F32: Kind = { suffix: '32', t: 'f32', vec: 'f32x4', ivec: 'i32x4', lanes: 4, shift: 2 };

/** The integer scalar of a kind's lanes: a column as a lane, and a used mask. */
const int = (k: Kind) => (k.ivec === 'i64x2' ? 'i64' : 'i32');
const column = (k: Kind, i32: string) => (k.ivec === 'i64x2' ? `(i64.extend_i32_u ${i32})` : i32);
const at = (k: Kind, base: string, index: string) => `(i32.add ${base} (i32.shl ${index} (i32.const ${k.shift})))`;

/** Columns c, c+1, … of the lanes of one vector (c an i32 expression). */
function columns(k: Kind, c: string): string {
  let v = `(${k.ivec}.splat ${column(k, c)})`;
  for (let l = 1; l < k.lanes; l++) v = `(${k.ivec}.replace_lane ${l} ${v} ${column(k, `(i32.add ${c} (i32.const ${l}))`)})`;
  return v;
}

/** Lane `l` of (values `tv`, columns `bv`) into the running best ($t, $b): greater, or equal at an earlier column. */
function lane(k: Kind, tv: string, bv: string, l: number): string {
  const col = k.ivec === 'i64x2' ? `(i32.wrap_i64 (i64x2.extract_lane ${l} (local.get ${bv})))` : `(i32x4.extract_lane ${l} (local.get ${bv}))`;
  return `(local.set $lt (${k.vec}.extract_lane ${l} (local.get ${tv})))
      (local.set $lb ${col})
      (local.set $k (i32.or (${k.t}.gt (local.get $lt) (local.get $t)) (i32.and (${k.t}.eq (local.get $lt) (local.get $t)) (i32.lt_s (local.get $lb) (local.get $b)))))
      (local.set $t (select (local.get $lt) (local.get $t) (local.get $k)))
      (local.set $b (select (local.get $lb) (local.get $b) (local.get $k)))`;
}

/**
 * The lanes' scan of row `$row` from column `$c` on, starting from the running best ($t, $b) in
 * every lane; `used`: mask out taken columns. Leaves $c past the last column it read and the
 * lanes merged into ($t, $b).
 */
function laneScan(k: Kind, used: boolean): string {
  const step = 2 * k.lanes;
  const bytes = k.lanes << k.shift;
  const pick = (v: 't0' | 't1', b: 'b0' | 'b1', j: 'j0' | 'j1', offset: number) => {
    const load = (base: string) => `(v128.load${offset ? ` offset=${offset}` : ''} ${at(k, base, '(local.get $c)')})`;
    const greater = `(${k.vec}.gt (local.get $x) (local.get $${v}))`;
    return `(local.set $x ${load('(local.get $row)')})
        (local.set $m ${used ? `(v128.andnot ${greater} ${load('(local.get $used)')})` : greater})
        (local.set $${v} (v128.bitselect (local.get $x) (local.get $${v}) (local.get $m)))
        (local.set $${b} (v128.bitselect (local.get $${j}) (local.get $${b}) (local.get $m)))`;
  };
  return `(local.set $t0 (${k.vec}.splat (local.get $t)))
      (local.set $t1 (local.get $t0))
      (local.set $b0 (${k.ivec}.splat ${column(k, '(local.get $b)')}))
      (local.set $b1 (local.get $b0))
      (local.set $j0 ${columns(k, '(local.get $c)')})
      (local.set $j1 (${k.ivec}.add (local.get $j0) (${k.ivec}.splat (${int(k)}.const ${k.lanes}))))
      (block $doneLanes (loop $lanes
        (br_if $doneLanes (i32.gt_u (i32.add (local.get $c) (i32.const ${step})) (local.get $wb)))
        ${pick('t0', 'b0', 'j0', 0)}
        ${pick('t1', 'b1', 'j1', bytes)}
        (local.set $j0 (${k.ivec}.add (local.get $j0) (${k.ivec}.splat (${int(k)}.const ${step}))))
        (local.set $j1 (${k.ivec}.add (local.get $j1) (${k.ivec}.splat (${int(k)}.const ${step}))))
        (local.set $c (i32.add (local.get $c) (i32.const ${step})))
        (br $lanes)))
      ${Array.from({ length: k.lanes }, (_, l) => lane(k, '$t0', '$b0', l)).join('\n      ')}
      ${Array.from({ length: k.lanes }, (_, l) => lane(k, '$t1', '$b1', l)).join('\n      ')}`;
}

/** The last columns one at a time, as the scalar scan takes them (free ones only where `used`). */
function scalarScan(k: Kind, used: boolean): string {
  const greater = `(${k.t}.gt (local.get $v) (local.get $t))`;
  return `(block $doneCols (loop $cols
        (br_if $doneCols (i32.ge_u (local.get $c) (local.get $wb)))
        (local.set $v (${k.t}.load ${at(k, '(local.get $row)', '(local.get $c)')}))
        (local.set $take ${used ? `(i32.and (${int(k)}.eqz (${int(k)}.load ${at(k, '(local.get $used)', '(local.get $c)')})) ${greater})` : greater})
        (local.set $b (select (local.get $c) (local.get $b) (local.get $take)))
        (local.set $t (select (local.get $v) (local.get $t) (local.get $take)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cols)))`;
}

const scanLocals = (k: Kind) => `(local $t ${k.t}) (local $v ${k.t}) (local $lt ${k.t}) (local $b i32) (local $c i32) (local $take i32) (local $lb i32) (local $k i32) (local $row i32)
    (local $t0 v128) (local $t1 v128) (local $b0 v128) (local $b1 v128) (local $j0 v128) (local $j1 v128) (local $m v128) (local $x v128)`;

function best(k: Kind): string {
  return `(func (export "best${k.suffix}") (param $sim i32) (param $wa i32) (param $wb i32) (param $best i32) (param $top i32)
    (local $i i32) ${scanLocals(k)}
    (local.set $row (local.get $sim))
    (block $doneRows (loop $rows
      (br_if $doneRows (i32.ge_u (local.get $i) (local.get $wa)))
      ;; Column 0's value leads in every lane; the lanes read columns 1, 2, ….
      (local.set $b (i32.const 0))
      (local.set $t (${k.t}.load (local.get $row)))
      (local.set $c (i32.const 1))
      ${laneScan(k, false)}
      ${scalarScan(k, false)}
      (i32.store (i32.add (local.get $best) (i32.shl (local.get $i) (i32.const 2))) (local.get $b))
      (f64.store (i32.add (local.get $top) (i32.shl (local.get $i) (i32.const 3))) ${k.t === 'f64' ? '(local.get $t)' : '(f64.promote_f32 (local.get $t))'})
      (local.set $row ${at(k, '(local.get $row)', '(local.get $wb)')})
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows))))`;
}

function assign(k: Kind): string {
  const usedAt = (c: string) => at(k, '(local.get $used)', c);
  return `(func (export "assign${k.suffix}") (param $sim i32) (param $wa i32) (param $wb i32) (param $best i32) (param $order i32) (param $used i32) (param $toB i32)
    (local $n i32) (local $i i32) (local $j i32) (local $taken i32) ${scanLocals(k)}
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $n) (local.get $wa)))
      (local.set $i (i32.load (i32.add (local.get $order) (i32.shl (local.get $n) (i32.const 2)))))
      (local.set $j (i32.load (i32.add (local.get $best) (i32.shl (local.get $i) (i32.const 2)))))
      (if (i32.eqz (${int(k)}.eqz (${int(k)}.load ${usedAt('(local.get $j)')})))
        (then
          (local.set $row ${at(k, '(local.get $sim)', '(i32.mul (local.get $i) (local.get $wb))')})
          ;; The first free column is taken whatever it holds; a later free one only when greater.
          (local.set $c (i32.const 0))
          (block $found (loop $seek
            (br_if $found (i32.ge_u (local.get $c) (local.get $wb)))
            (br_if $found (${int(k)}.eqz (${int(k)}.load ${usedAt('(local.get $c)')})))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $seek)))
          (local.set $j (i32.const -1))
          (if (i32.lt_u (local.get $c) (local.get $wb))
            (then
              (local.set $b (local.get $c))
              (local.set $t (${k.t}.load ${at(k, '(local.get $row)', '(local.get $c)')}))
              (local.set $c (i32.add (local.get $c) (i32.const 1)))
              ${laneScan(k, true)}
              ${scalarScan(k, true)}
              (local.set $j (local.get $b))))))
      (if (i32.and (i32.ge_s (local.get $j) (i32.const 0)) (i32.gt_s (local.get $wb) (i32.const 0)))
        (then
          (i32.store (i32.add (local.get $toB) (i32.shl (local.get $i) (i32.const 2))) (local.get $j))
          (${int(k)}.store ${usedAt('(local.get $j)')} (${int(k)}.const -1))
          (local.set $taken (i32.add (local.get $taken) (i32.const 1)))))
      (br_if $done (i32.eq (local.get $taken) (local.get $wb)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $rows))))`;
}

export function greedySource(): string {
  return `(module
  (memory (export "memory") 1)
  ${best(F64)}
  ${assign(F64)}
  ${best(F32)}
  ${assign(F32)})
`;
}
