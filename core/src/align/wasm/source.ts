/**
 * WebAssembly text of the matching kernel: all dot products between the rows of X (n × w) and
 * the rows of Y (m × w), float32, written to OUT (n × m, float32). The units it multiplies are
 * unit vectors (similarities in [−1, 1]); four f32x4 accumulators keep the rounding near 1e-6.
 * `w` must be a multiple of 16 (callers pad rows with zeros, which change no dot product).
 */
export function dotsSource(): string {
  return `(module
  (memory (export "memory") 1)
  ;; out[i*m + j] = sum_k x[i*w + k] * y[j*w + k]
  (func (export "dots") (param $x i32) (param $n i32) (param $y i32) (param $m i32) (param $w i32) (param $out i32)
    (local $i i32) (local $j i32) (local $k i32) (local $px i32) (local $py i32) (local $rowBytes i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $o i32)
    (local.set $rowBytes (i32.shl (local.get $w) (i32.const 2)))
    (local.set $o (local.get $out))
    (local.set $i (i32.const 0))
    (block $doneI (loop $rowsX
      (br_if $doneI (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $j (i32.const 0))
      (block $doneJ (loop $rowsY
        (br_if $doneJ (i32.ge_u (local.get $j) (local.get $m)))
        (local.set $px (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $py (i32.add (local.get $y) (i32.mul (local.get $j) (local.get $rowBytes))))
        (local.set $s0 (v128.const f32x4 0 0 0 0))
        (local.set $s1 (v128.const f32x4 0 0 0 0))
        (local.set $s2 (v128.const f32x4 0 0 0 0))
        (local.set $s3 (v128.const f32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (block $doneK (loop $cols
          (br_if $doneK (i32.ge_u (local.get $k) (local.get $w)))
          (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (v128.load (local.get $px)) (v128.load (local.get $py)))))
          (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (v128.load offset=16 (local.get $px)) (v128.load offset=16 (local.get $py)))))
          (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (v128.load offset=32 (local.get $px)) (v128.load offset=32 (local.get $py)))))
          (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (v128.load offset=48 (local.get $px)) (v128.load offset=48 (local.get $py)))))
          (local.set $px (i32.add (local.get $px) (i32.const 64)))
          (local.set $py (i32.add (local.get $py) (i32.const 64)))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br $cols)))
        (local.set $s0 (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (f32x4.add (local.get $s2) (local.get $s3))))
        (f32.store (local.get $o)
          (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
                   (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0)))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $rowsY)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rowsX)))))
`;
}
