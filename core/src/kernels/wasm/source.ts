/**
 * WebAssembly text of the moments kernel, generated so that the bf16 and f32 variants share one
 * body and differ only in how 8 elements are loaded into two f32x4 vectors.
 *
 * Numerics (see DESIGN.md, Conventions): elements are processed in blocks of BLOCK elements.
 * Inside a block every value is shifted by the block's first element (so the squares of norm
 * vectors near 1.0 do not cancel), accumulated in f32x4 over sub-blocks of 64 elements (products
 * of bf16 values are exact in f32; 16 terms per lane keep rounding near 1e-7), flushed into
 * f64x2, and the block's centered moments are merged into the running state with the parallel
 * (Chan et al.) update. A block whose sums are not finite is redone by a scalar pass that counts
 * NaN/Inf and leaves those pairs out.
 */

/** Elements per block: the unit of the centered-moment merge. Reports depend on it, so it is fixed. */
export const BLOCK = 4096;

/** Layout of the f64 state at byte 0 of the module's memory. */
export const STATE = {
  n: 0, meanA: 1, meanB: 2, m2a: 3, m2b: 4, cab: 5, sdd: 6, maxAbsDiff: 7,
  nanA: 8, infA: 9, nanB: 10, infB: 11, excluded: 12,
} as const;
export const STATE_SLOTS = 16;
/** First byte JS may use for windows. */
export const HEAP_BASE = 1024;

type Variant = { name: string; bytesPerElement: number; load: string; scalar: (ptr: string) => string };

const bf16: Variant = {
  name: 'bf16',
  bytesPerElement: 2,
  // 8 bf16 values -> two f32x4: even elements shifted into the high half of each 32-bit lane,
  // odd elements masked in place. Pairs stay aligned (A's and B's lanes are split alike), and
  // the order of terms within a block does not matter beyond rounding.
  load: `
        (local.set $va (v128.load (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 1)))))
        (local.set $vb (v128.load (i32.add (local.get $pb) (i32.shl (local.get $i) (i32.const 1)))))
        (local.set $a0 (i32x4.shl (local.get $va) (i32.const 16)))
        (local.set $a1 (v128.and (local.get $va) (local.get $hiMask)))
        (local.set $b0 (i32x4.shl (local.get $vb) (i32.const 16)))
        (local.set $b1 (v128.and (local.get $vb) (local.get $hiMask)))`,
  scalar: (ptr) => `(f32.reinterpret_i32 (i32.shl (i32.load16_u ${ptr}) (i32.const 16)))`,
};

const f32: Variant = {
  name: 'f32',
  bytesPerElement: 4,
  load: `
        (local.set $a0 (v128.load (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $a1 (v128.load offset=16 (i32.add (local.get $pa) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $b0 (v128.load (i32.add (local.get $pb) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $b1 (v128.load offset=16 (i32.add (local.get $pb) (i32.shl (local.get $i) (i32.const 2)))))`,
  scalar: (ptr) => `(f32.load ${ptr})`,
};

const flush = (acc: string, dst: string) => `
      (local.set ${dst} (f64x2.add (local.get ${dst}) (f64x2.add
        (f64x2.promote_low_f32x4 (local.get ${acc}))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get ${acc}) (local.get ${acc}))))))
      (local.set ${acc} (v128.const i64x2 0 0))`;

const sumLanes = (v: string) => `(f64.add (f64x2.extract_lane 0 (local.get ${v})) (f64x2.extract_lane 1 (local.get ${v})))`;

function blockFunction(v: Variant): string {
  const elA = (idx: string) => v.scalar(`(i32.add (local.get $pa) (i32.mul ${idx} (i32.const ${v.bytesPerElement})))`);
  const elB = (idx: string) => v.scalar(`(i32.add (local.get $pb) (i32.mul ${idx} (i32.const ${v.bytesPerElement})))`);
  return `
  ;; One block of $cnt (<= BLOCK) element pairs of ${v.name} data at $pa and $pb.
  (func $block_${v.name} (param $pa i32) (param $pb i32) (param $cnt i32)
    (local $i i32) (local $end8 i32) (local $subEnd i32)
    (local $ka f32) (local $kb f32) (local $KA v128) (local $KB v128) (local $hiMask v128)
    (local $va v128) (local $vb v128) (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128)
    (local $xa0 v128) (local $xa1 v128) (local $xb0 v128) (local $xb1 v128) (local $d0 v128) (local $d1 v128)
    (local $s1a v128) (local $s1b v128) (local $s2a v128) (local $s2b v128) (local $sab v128) (local $sdd v128) (local $mx v128)
    (local $t1a v128) (local $t1b v128) (local $t2a v128) (local $t2b v128) (local $tab v128) (local $tdd v128)
    (local $x f64) (local $y f64) (local $d f64)
    (local $r1a f64) (local $r1b f64) (local $r2a f64) (local $r2b f64) (local $rab f64) (local $rdd f64) (local $rmx f64)
    (local.set $ka ${elA('(i32.const 0)')})
    (local.set $kb ${elB('(i32.const 0)')})
    (local.set $hiMask (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000))
    (local.set $KA (f32x4.splat (local.get $ka)))
    (local.set $KB (f32x4.splat (local.get $kb)))
    (local.set $end8 (i32.and (local.get $cnt) (i32.const -8)))
    (block $done
      (loop $sub
        (br_if $done (i32.ge_u (local.get $i) (local.get $end8)))
        (local.set $subEnd (i32.add (local.get $i) (i32.const 64)))
        (if (i32.gt_u (local.get $subEnd) (local.get $end8)) (then (local.set $subEnd (local.get $end8))))
        (loop $inner
${v.load}
          (local.set $xa0 (f32x4.sub (local.get $a0) (local.get $KA)))
          (local.set $xa1 (f32x4.sub (local.get $a1) (local.get $KA)))
          (local.set $xb0 (f32x4.sub (local.get $b0) (local.get $KB)))
          (local.set $xb1 (f32x4.sub (local.get $b1) (local.get $KB)))
          (local.set $d0 (f32x4.sub (local.get $a0) (local.get $b0)))
          (local.set $d1 (f32x4.sub (local.get $a1) (local.get $b1)))
          (local.set $mx (f32x4.pmax (local.get $mx) (f32x4.abs (local.get $d0))))
          (local.set $mx (f32x4.pmax (local.get $mx) (f32x4.abs (local.get $d1))))
          (local.set $s1a (f32x4.add (local.get $s1a) (f32x4.add (local.get $xa0) (local.get $xa1))))
          (local.set $s1b (f32x4.add (local.get $s1b) (f32x4.add (local.get $xb0) (local.get $xb1))))
          (local.set $s2a (f32x4.add (local.get $s2a) (f32x4.add (f32x4.mul (local.get $xa0) (local.get $xa0)) (f32x4.mul (local.get $xa1) (local.get $xa1)))))
          (local.set $s2b (f32x4.add (local.get $s2b) (f32x4.add (f32x4.mul (local.get $xb0) (local.get $xb0)) (f32x4.mul (local.get $xb1) (local.get $xb1)))))
          (local.set $sab (f32x4.add (local.get $sab) (f32x4.add (f32x4.mul (local.get $xa0) (local.get $xb0)) (f32x4.mul (local.get $xa1) (local.get $xb1)))))
          (local.set $sdd (f32x4.add (local.get $sdd) (f32x4.add (f32x4.mul (local.get $d0) (local.get $d0)) (f32x4.mul (local.get $d1) (local.get $d1)))))
          (local.set $i (i32.add (local.get $i) (i32.const 8)))
          (br_if $inner (i32.lt_u (local.get $i) (local.get $subEnd))))
${flush('$s1a', '$t1a')}${flush('$s1b', '$t1b')}${flush('$s2a', '$t2a')}${flush('$s2b', '$t2b')}${flush('$sab', '$tab')}${flush('$sdd', '$tdd')}
        (br $sub)))
    (local.set $r1a ${sumLanes('$t1a')})
    (local.set $r1b ${sumLanes('$t1b')})
    (local.set $r2a ${sumLanes('$t2a')})
    (local.set $r2b ${sumLanes('$t2b')})
    (local.set $rab ${sumLanes('$tab')})
    (local.set $rdd ${sumLanes('$tdd')})
    (local.set $rmx (f64.promote_f32 (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
      (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx))))))
    ;; scalar tail (fewer than 8 pairs)
    (block $tailDone
      (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $i) (local.get $cnt)))
        (local.set $x (f64.promote_f32 (f32.sub ${elA('(local.get $i)')} (local.get $ka))))
        (local.set $y (f64.promote_f32 (f32.sub ${elB('(local.get $i)')} (local.get $kb))))
        (local.set $d (f64.promote_f32 (f32.sub ${elA('(local.get $i)')} ${elB('(local.get $i)')})))
        (local.set $r1a (f64.add (local.get $r1a) (local.get $x)))
        (local.set $r1b (f64.add (local.get $r1b) (local.get $y)))
        (local.set $r2a (f64.add (local.get $r2a) (f64.mul (local.get $x) (local.get $x))))
        (local.set $r2b (f64.add (local.get $r2b) (f64.mul (local.get $y) (local.get $y))))
        (local.set $rab (f64.add (local.get $rab) (f64.mul (local.get $x) (local.get $y))))
        (local.set $rdd (f64.add (local.get $rdd) (f64.mul (local.get $d) (local.get $d))))
        (local.set $rmx (f64.max (local.get $rmx) (f64.abs (local.get $d))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    ;; x - x is 0 only for finite x: one test catches NaN and Inf anywhere in the block.
    (if (f64.eq (f64.const 0)
          (f64.sub
            (local.tee $x (f64.add (f64.add (f64.add (local.get $r1a) (local.get $r1b)) (f64.add (local.get $r2a) (local.get $r2b)))
                                   (f64.add (f64.add (local.get $rab) (local.get $rdd)) (local.get $rmx))))
            (local.get $x)))
      (then
        (call $merge (f64.convert_i32_u (local.get $cnt))
          (local.get $r1a) (local.get $r1b) (local.get $r2a) (local.get $r2b) (local.get $rab) (local.get $rdd)
          (f64.promote_f32 (local.get $ka)) (f64.promote_f32 (local.get $kb)) (local.get $rmx)))
      (else (call $slow_${v.name} (local.get $pa) (local.get $pb) (local.get $cnt)))))

  ;; The rare path: a block with NaN or Inf. Counts them and merges the finite pairs only.
  (func $slow_${v.name} (param $pa i32) (param $pb i32) (param $cnt i32)
    (local $i i32) (local $a f32) (local $b f32) (local $okA i32) (local $okB i32) (local $have i32)
    (local $ka f32) (local $kb f32) (local $x f64) (local $y f64) (local $d f64) (local $nb f64)
    (local $r1a f64) (local $r1b f64) (local $r2a f64) (local $r2b f64) (local $rab f64) (local $rdd f64) (local $rmx f64)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $cnt)))
        (local.set $a ${elA('(local.get $i)')})
        (local.set $b ${elB('(local.get $i)')})
        (local.set $okA (f32.eq (f32.sub (local.get $a) (local.get $a)) (f32.const 0)))
        (local.set $okB (f32.eq (f32.sub (local.get $b) (local.get $b)) (f32.const 0)))
        (if (i32.eqz (local.get $okA))
          (then (call $count (if (result i32) (f32.ne (local.get $a) (local.get $a)) (then (i32.const ${STATE.nanA})) (else (i32.const ${STATE.infA}))))))
        (if (i32.eqz (local.get $okB))
          (then (call $count (if (result i32) (f32.ne (local.get $b) (local.get $b)) (then (i32.const ${STATE.nanB})) (else (i32.const ${STATE.infB}))))))
        (if (i32.and (local.get $okA) (local.get $okB))
          (then
            (if (i32.eqz (local.get $have))
              (then (local.set $ka (local.get $a)) (local.set $kb (local.get $b)) (local.set $have (i32.const 1))))
            (local.set $x (f64.sub (f64.promote_f32 (local.get $a)) (f64.promote_f32 (local.get $ka))))
            (local.set $y (f64.sub (f64.promote_f32 (local.get $b)) (f64.promote_f32 (local.get $kb))))
            (local.set $d (f64.sub (f64.promote_f32 (local.get $a)) (f64.promote_f32 (local.get $b))))
            (local.set $nb (f64.add (local.get $nb) (f64.const 1)))
            (local.set $r1a (f64.add (local.get $r1a) (local.get $x)))
            (local.set $r1b (f64.add (local.get $r1b) (local.get $y)))
            (local.set $r2a (f64.add (local.get $r2a) (f64.mul (local.get $x) (local.get $x))))
            (local.set $r2b (f64.add (local.get $r2b) (f64.mul (local.get $y) (local.get $y))))
            (local.set $rab (f64.add (local.get $rab) (f64.mul (local.get $x) (local.get $y))))
            (local.set $rdd (f64.add (local.get $rdd) (f64.mul (local.get $d) (local.get $d))))
            (local.set $rmx (f64.max (local.get $rmx) (f64.abs (local.get $d)))))
          (else (call $count (i32.const ${STATE.excluded}))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (if (f64.gt (local.get $nb) (f64.const 0))
      (then (call $merge (local.get $nb) (local.get $r1a) (local.get $r1b) (local.get $r2a) (local.get $r2b)
        (local.get $rab) (local.get $rdd) (f64.promote_f32 (local.get $ka)) (f64.promote_f32 (local.get $kb)) (local.get $rmx)))))

  ;; $n pairs at $pa/$pb, in blocks of ${BLOCK}, merged into the state in order.
  (func (export "accumulate_${v.name}") (param $pa i32) (param $pb i32) (param $n i32)
    (local $cnt i32)
    (block $done
      (loop $blocks
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $cnt (select (i32.const ${BLOCK}) (local.get $n) (i32.gt_u (local.get $n) (i32.const ${BLOCK}))))
        (call $block_${v.name} (local.get $pa) (local.get $pb) (local.get $cnt))
        (local.set $pa (i32.add (local.get $pa) (i32.mul (local.get $cnt) (i32.const ${v.bytesPerElement}))))
        (local.set $pb (i32.add (local.get $pb) (i32.mul (local.get $cnt) (i32.const ${v.bytesPerElement}))))
        (local.set $n (i32.sub (local.get $n) (local.get $cnt)))
        (br $blocks))))
`;
}

const slot = (name: keyof typeof STATE) => `(i32.const ${STATE[name] * 8})`;

export function kernelSource(): string {
  return `(module
  (memory (export "memory") 1)

  (func $count (param $slot i32)
    (f64.store (i32.shl (local.get $slot) (i32.const 3))
      (f64.add (f64.load (i32.shl (local.get $slot) (i32.const 3))) (f64.const 1))))

  ;; Merge one block, given as shifted sums (shift ka, kb) over nb pairs, into the running state.
  (func $merge (param $nb f64) (param $s1a f64) (param $s1b f64) (param $s2a f64) (param $s2b f64)
               (param $sab f64) (param $sdd f64) (param $ka f64) (param $kb f64) (param $mx f64)
    (local $n1 f64) (local $n f64) (local $ma f64) (local $mb f64) (local $da f64) (local $db f64) (local $f f64)
    (local $qa f64) (local $qb f64) (local $qab f64)
    (local.set $ma (f64.add (local.get $ka) (f64.div (local.get $s1a) (local.get $nb))))
    (local.set $mb (f64.add (local.get $kb) (f64.div (local.get $s1b) (local.get $nb))))
    (local.set $qa (f64.sub (local.get $s2a) (f64.div (f64.mul (local.get $s1a) (local.get $s1a)) (local.get $nb))))
    (local.set $qb (f64.sub (local.get $s2b) (f64.div (f64.mul (local.get $s1b) (local.get $s1b)) (local.get $nb))))
    (local.set $qab (f64.sub (local.get $sab) (f64.div (f64.mul (local.get $s1a) (local.get $s1b)) (local.get $nb))))
    (local.set $n1 (f64.load ${slot('n')}))
    (local.set $n (f64.add (local.get $n1) (local.get $nb)))
    (local.set $da (f64.sub (local.get $ma) (f64.load ${slot('meanA')})))
    (local.set $db (f64.sub (local.get $mb) (f64.load ${slot('meanB')})))
    (local.set $f (f64.div (f64.mul (local.get $n1) (local.get $nb)) (local.get $n)))
    (f64.store ${slot('meanA')} (f64.add (f64.load ${slot('meanA')}) (f64.div (f64.mul (local.get $da) (local.get $nb)) (local.get $n))))
    (f64.store ${slot('meanB')} (f64.add (f64.load ${slot('meanB')}) (f64.div (f64.mul (local.get $db) (local.get $nb)) (local.get $n))))
    (f64.store ${slot('m2a')} (f64.add (f64.load ${slot('m2a')}) (f64.add (local.get $qa) (f64.mul (f64.mul (local.get $da) (local.get $da)) (local.get $f)))))
    (f64.store ${slot('m2b')} (f64.add (f64.load ${slot('m2b')}) (f64.add (local.get $qb) (f64.mul (f64.mul (local.get $db) (local.get $db)) (local.get $f)))))
    (f64.store ${slot('cab')} (f64.add (f64.load ${slot('cab')}) (f64.add (local.get $qab) (f64.mul (f64.mul (local.get $da) (local.get $db)) (local.get $f)))))
    (f64.store ${slot('sdd')} (f64.add (f64.load ${slot('sdd')}) (local.get $sdd)))
    (f64.store ${slot('maxAbsDiff')} (f64.max (f64.load ${slot('maxAbsDiff')}) (local.get $mx)))
    (f64.store ${slot('n')} (local.get $n)))

  ;; bf16 -> f32 widening, for pairs of mixed dtypes (the other side decoded alike).
  (func (export "widen_bf16") (param $src i32) (param $dst i32) (param $n i32)
    (local $i i32) (local $v v128) (local $zero v128)
    (block $done
      (loop $each
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $n)))
        (local.set $v (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1)))))
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
          (i8x16.shuffle 0 0 16 17 0 0 18 19 0 0 20 21 0 0 22 23 (local.get $zero) (local.get $v)))
        (v128.store offset=16 (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
          (i8x16.shuffle 0 0 24 25 0 0 26 27 0 0 28 29 0 0 30 31 (local.get $zero) (local.get $v)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $each)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
          (i32.shl (i32.load16_u (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1)))) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each))))
${blockFunction(bf16)}
${blockFunction(f32)}
)`;
}
