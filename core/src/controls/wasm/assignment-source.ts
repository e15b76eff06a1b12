/**
 * WebAssembly text of the linear assignment (part of null.wasm): a line-for-line port of
 * minimizeCostJs in ../assignment.ts (Jonker–Volgenant's column reduction and reduction
 * transfer on a square problem, then shortest augmenting paths),
 * with the same floating-point operations in the same order, so that it returns the same
 * matching as the JavaScript, which stays as the fallback and the reference of the tests.
 *
 * `assign(n, m, cost, work)`: cost is n × m float64 (n ≤ m, already finite and signed for
 * minimization); work is laid out by workLayout() below. The matching is left in colForRow.
 */

/** Byte offsets of the arrays in the work area after the cost matrix (8-byte aligned). */
export function workLayout(n: number, m: number): { u: number; v: number; shortest: number; colForRow: number; rowForCol: number; path: number; remaining: number; rowsReached: number; colsReached: number; free: number; cheapest: number; unique: number; bytes: number } {
  const f64 = (count: number) => count * 8;
  const i32 = (count: number) => Math.ceil(count / 2) * 8;
  const sizes = { u: f64(n), v: f64(m), shortest: f64(m), colForRow: i32(n), rowForCol: i32(m), path: i32(m), remaining: i32(m), rowsReached: i32(n), colsReached: i32(m), free: i32(n), cheapest: i32(m), unique: i32(n) };
  let at = 0;
  const out = {} as Record<keyof typeof sizes, number>;
  for (const key of Object.keys(sizes) as (keyof typeof sizes)[]) { out[key] = at; at += sizes[key]; }
  return { ...out, bytes: at };
}

const ARRAYS = ['u', 'v', 'shortest', 'colForRow', 'rowForCol', 'path', 'remaining', 'rowsReached', 'colsReached', 'free', 'cheapest', 'unique'] as const;
const F64 = new Set(['u', 'v', 'shortest', 'cost']);

let label = 0;
const g = (x: string) => `(local.get $${x})`;
const set = (x: string, e: string) => `(local.set $${x} ${e})`;
const k = (c: number) => `(i32.const ${c})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
const sub = (a: string, b: string) => `(i32.sub ${a} ${b})`;
const mul = (a: string, b: string) => `(i32.mul ${a} ${b})`;
const at = (array: string, index: string) => `(i32.add ${g(array)} (i32.shl ${index} (i32.const ${F64.has(array) ? 3 : 2})))`;
/** array[index], float64 or int32 by the array. */
const ld = (array: string, index: string) => `(${F64.has(array) ? 'f64' : 'i32'}.load ${at(array, index)})`;
const st = (array: string, index: string, value: string) => `(${F64.has(array) ? 'f64' : 'i32'}.store ${at(array, index)} ${value})`;
/** for (x = from; x < to; x++) body (signed compare). */
const range = (x: string, from: string, to: string, body: string) => {
  const id = label++;
  return `${set(x, from)}
    (block $end${id} (loop $top${id}
      (br_if $end${id} (i32.ge_s ${g(x)} ${to}))
      ${body}
      ${set(x, add(g(x), k(1)))}
      (br $top${id})))`;
};
/** while (cond) body. */
const loopWhile = (cond: string, body: string) => {
  const id = label++;
  return `(block $end${id} (loop $top${id}
      (br_if $end${id} (i32.eqz ${cond}))
      ${body}
      (br $top${id})))`;
};

/** Every work array's pointer as a parameter, computed once by the exported entry. */
const params = ARRAYS.map((a) => `(param $${a} i32)`).join(' ');
const args = ARRAYS.map((a) => g(a)).join(' ');

export function assignmentSource(): string {
  label = 0;
  return `
  ;; column reduction and reduction transfer (square n × n); returns the free rows' count
  (func $reduceSquare (param $n i32) (param $cost i32) ${params} (result i32)
    (local $i i32) (local $j i32) (local $j1 i32) (local $base i32) (local $nFree i32) (local $c f64) (local $second f64)
    ${range('j', k(0), g('n'), st('v', g('j'), '(f64.const inf)'))}
    ${range('i', k(0), g('n'), `
      ${set('base', mul(g('i'), g('n')))}
      ${range('j', k(0), g('n'), `
        (local.set $c ${ld('cost', add(g('base'), g('j')))})
        (if (f64.lt (local.get $c) ${ld('v', g('j'))}) (then ${st('v', g('j'), '(local.get $c)')} ${st('cheapest', g('j'), g('i'))}))`)}`)}
    ${range('i', k(0), g('n'), st('unique', g('i'), k(1)))}
    ${set('j', sub(g('n'), k(1)))}
    ${loopWhile(`(i32.ge_s ${g('j')} ${k(0)})`, `
      ${set('i', ld('cheapest', g('j')))}
      (if (i32.lt_s ${ld('colForRow', g('i'))} ${k(0)})
        (then ${st('colForRow', g('i'), g('j'))} ${st('rowForCol', g('j'), g('i'))})
        (else ${st('unique', g('i'), k(0))}))
      ${set('j', sub(g('j'), k(1)))}`)}
    ${set('nFree', k(0))}
    ${range('i', k(0), g('n'), `
      ${set('j1', ld('colForRow', g('i')))}
      (if (i32.lt_s ${g('j1')} ${k(0)})
        (then ${st('free', g('nFree'), g('i'))} ${set('nFree', add(g('nFree'), k(1)))})
        (else (if ${ld('unique', g('i'))} (then
          (local.set $second (f64.const inf))
          ${set('base', mul(g('i'), g('n')))}
          ${range('j', k(0), g('n'), `
            (if (i32.ne ${g('j')} ${g('j1')}) (then
              (local.set $second (f64.min (local.get $second) (f64.sub ${ld('cost', add(g('base'), g('j')))} ${ld('v', g('j'))})))))`)}
          (if (f64.lt (local.get $second) (f64.const inf)) (then
            ${st('v', g('j1'), `(f64.sub ${ld('v', g('j1'))} (local.get $second))`)}))))))`)}
    ${g('nFree')})

  ;; the shortest augmenting path from a free row, then the potentials' update and the augmentation
  (func $augment (param $row i32) (param $n i32) (param $m i32) (param $cost i32) ${params}
    (local $left i32) (local $nRows i32) (local $nCols i32) (local $i i32) (local $j i32) (local $it i32) (local $at i32) (local $sink i32) (local $base i32) (local $r i32) (local $previous i32)
    (local $minVal f64) (local $ui f64) (local $lowest f64) (local $reduced f64) (local $sj f64)
    ${range('j', k(0), g('m'), `${st('remaining', g('j'), sub(sub(g('m'), k(1)), g('j')))} ${st('shortest', g('j'), '(f64.const inf)')}`)}
    ${set('left', g('m'))} ${set('nRows', k(0))} ${set('nCols', k(0))}
    (local.set $minVal (f64.const 0))
    ${set('i', g('row'))} ${set('sink', k(-1))}
    ${loopWhile(`(i32.lt_s ${g('sink')} ${k(0)})`, `
      ${st('rowsReached', g('nRows'), g('i'))} ${set('nRows', add(g('nRows'), k(1)))}
      ${set('base', mul(g('i'), g('m')))}
      (local.set $ui ${ld('u', g('i'))})
      (local.set $lowest (f64.const inf))
      ${set('at', k(-1))}
      ${range('it', k(0), g('left'), `
        ${set('j', ld('remaining', g('it')))}
        (local.set $reduced (f64.sub (f64.sub (f64.add (local.get $minVal) ${ld('cost', add(g('base'), g('j')))}) (local.get $ui)) ${ld('v', g('j'))}))
        (local.set $sj ${ld('shortest', g('j'))})
        (if (f64.lt (local.get $reduced) (local.get $sj)) (then
          ${st('path', g('j'), g('i'))}
          (local.set $sj (local.get $reduced))
          ${st('shortest', g('j'), '(local.get $sj)')}))
        ;; as JavaScript's ||: the column's owner is read only on a tie
        (if (f64.lt (local.get $sj) (local.get $lowest))
          (then (local.set $lowest (local.get $sj)) ${set('at', g('it'))})
          (else (if (f64.eq (local.get $sj) (local.get $lowest)) (then
            (if (i32.lt_s ${ld('rowForCol', g('j'))} ${k(0)}) (then (local.set $lowest (local.get $sj)) ${set('at', g('it'))}))))))`)}
      (local.set $minVal (local.get $lowest))
      ${set('j', ld('remaining', g('at')))}
      ${st('colsReached', g('nCols'), g('j'))} ${set('nCols', add(g('nCols'), k(1)))}
      ${set('left', sub(g('left'), k(1)))}
      ${st('remaining', g('at'), ld('remaining', g('left')))}
      (if (i32.lt_s ${ld('rowForCol', g('j'))} ${k(0)})
        (then ${set('sink', g('j'))})
        (else ${set('i', ld('rowForCol', g('j')))}))`)}
    ${st('u', g('row'), `(f64.add ${ld('u', g('row'))} (local.get $minVal))`)}
    ${range('r', k(1), g('nRows'), `
      ${set('i', ld('rowsReached', g('r')))}
      ${st('u', g('i'), `(f64.add ${ld('u', g('i'))} (f64.sub (local.get $minVal) ${ld('shortest', ld('colForRow', g('i')))}))`)}`)}
    ${range('r', k(0), g('nCols'), `
      ${set('j', ld('colsReached', g('r')))}
      ${st('v', g('j'), `(f64.sub ${ld('v', g('j'))} (f64.sub (local.get $minVal) ${ld('shortest', g('j'))}))`)}`)}
    ${set('j', g('sink'))}
    (block $done (loop $back
      ${set('r', ld('path', g('j')))}
      ${st('rowForCol', g('j'), g('r'))}
      ${set('previous', ld('colForRow', g('r')))}
      ${st('colForRow', g('r'), g('j'))}
      (br_if $done (i32.eq ${g('r')} ${g('row')}))
      ${set('j', g('previous'))}
      (br $back))))

  (func (export "assign") (param $n i32) (param $m i32) (param $cost i32) (param $work i32)
    (local $i i32) (local $j i32) (local $nFree i32) (local $f i32) (local $col i32)
    ${ARRAYS.map((a) => `(local $${a} i32)`).join(' ')}
    ${ARRAYS.map((a) => set(a, `(i32.add ${g('work')} (call $offset_${a} ${g('n')} ${g('m')}))`)).join('\n    ')}
    ${range('i', k(0), g('n'), `${st('u', g('i'), '(f64.const 0)')} ${st('colForRow', g('i'), k(-1))}`)}
    ${range('j', k(0), g('m'), `${st('v', g('j'), '(f64.const 0)')} ${st('rowForCol', g('j'), k(-1))}`)}
    (if (i32.eq ${g('n')} ${g('m')})
      (then
        ${set('nFree', `(call $reduceSquare ${g('n')} ${g('cost')} ${args})`)}
        ${range('i', k(0), g('n'), `
          ${set('col', ld('colForRow', g('i')))}
          (if (i32.ge_s ${g('col')} ${k(0)}) (then
            ${st('u', g('i'), `(f64.sub ${ld('cost', add(mul(g('i'), g('m')), g('col')))} ${ld('v', g('col'))})`)}))`)})
      (else
        ${range('i', k(0), g('n'), st('free', g('i'), g('i')))}
        ${set('nFree', g('n'))}))
    ${range('f', k(0), g('nFree'), `(call $augment ${ld('free', g('f'))} ${g('n')} ${g('m')} ${g('cost')} ${args})`)})
  ${offsetFunctions()}`;
}

/** The offsets of workLayout() as WebAssembly functions of (n, m), so that JavaScript and the module agree by construction. */
function offsetFunctions(): string {
  // Each array's offset is a sum of the sizes before it; sizes are 8·n, 8·m, or 8·ceil(n/2), 8·ceil(m/2).
  const size = (a: string) => {
    const count = ['u', 'colForRow', 'rowsReached', 'free', 'unique'].includes(a) ? 'n' : 'm';
    return F64.has(a) ? `(i32.shl ${g(count)} (i32.const 3))` : `(i32.shl (i32.shr_u (i32.add ${g(count)} (i32.const 1)) (i32.const 1)) (i32.const 3))`;
  };
  return ARRAYS.map((a, index) => {
    const before = ARRAYS.slice(0, index).map(size);
    const sum = before.reduce((acc, s) => `(i32.add ${acc} ${s})`, '(i32.const 0)');
    return `(func $offset_${a} (param $n i32) (param $m i32) (result i32) ${sum})`;
  }).join('\n  ');
}
