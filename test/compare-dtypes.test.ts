/** Every dtype (BF16, F16, F32, F8_E4M3 with DeepSeek-V3 block scales), mixed across A and B. */
import test from 'ava';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { compareWeights } from '../core/src/compare/weights.ts';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { ModelView } from '../core/src/align/model-view.ts';
import { compareCrossPairs } from '../core/src/compare/cross-pairs.ts';
import { finalizeMoments } from '../core/src/stats/moments.ts';
import { toHalf } from '../core/src/synth/encode.ts';
import { close, referenceStats } from './helpers/reference.ts';
import { bf16Bytes, f32Bytes, writeSafetensorsFile } from './helpers/safetensors-file.ts';
import { tempDir } from './helpers/tmpdir.ts';

const ROWS = 300, COLS = 260; // not multiples of the 128×128 FP8 blocks
let seed = 12345;
const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296 - 0.5);
const base = Array.from({ length: ROWS * COLS }, () => 0.05 * rnd());
const drifted = base.map((x) => x + 0.005 * rnd());

/** E4M3 encoding by search over the 256 codes (independent of the decoder under test). */
const e4m3Values = Array.from({ length: 256 }, (_, v) => {
  const s = v & 0x80 ? -1 : 1, e = (v >> 3) & 15, f = v & 7;
  if (e === 15 && f === 7) return NaN;
  return e === 0 ? s * f * 2 ** -9 : s * (1 + f / 8) * 2 ** (e - 7);
});
function toE4M3(x: number): number {
  let best = 0;
  for (let v = 0; v < 256; v++) if (Math.abs(e4m3Values[v]! - x) < Math.abs(e4m3Values[best]! - x)) best = v;
  return best;
}

function encode(dtype: string, values: number[]): { data: Uint8Array; decoded: number[]; scales?: { data: Uint8Array; shape: number[] } } {
  if (dtype === 'F32') return { data: f32Bytes(values), decoded: Array.from(Float32Array.from(values)) };
  if (dtype === 'BF16') {
    const data = bf16Bytes(values);
    const bits = new Uint16Array(data.buffer);
    return { data, decoded: Array.from(bits, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]!) };
  }
  if (dtype === 'F16') {
    const halves = Uint16Array.from(values, (x) => toHalf(x));
    const f16 = (h: number) => { const s = h >> 15 ? -1 : 1, e = (h >> 10) & 31, f = h & 1023; return e === 0 ? s * f * 2 ** -24 : s * (1 + f / 1024) * 2 ** (e - 15); };
    return { data: new Uint8Array(halves.buffer), decoded: Array.from(halves, f16) };
  }
  // F8_E4M3 with one scale per 128×128 block: value = code × scale_inv.
  const br = Math.ceil(ROWS / 128), bc = Math.ceil(COLS / 128);
  const scales = new Float32Array(br * bc);
  for (let i = 0; i < br; i++) for (let j = 0; j < bc; j++) {
    let max = 0;
    for (let r = i * 128; r < Math.min(ROWS, (i + 1) * 128); r++) for (let c = j * 128; c < Math.min(COLS, (j + 1) * 128); c++) max = Math.max(max, Math.abs(values[r * COLS + c]!));
    scales[i * bc + j] = max / 448 || 1;
  }
  const codes = new Uint8Array(values.length);
  const decoded: number[] = [];
  values.forEach((x, k) => {
    const s = scales[Math.floor(Math.floor(k / COLS) / 128) * bc + Math.floor((k % COLS) / 128)]!;
    codes[k] = toE4M3(x / s);
    decoded.push(e4m3Values[codes[k]!]! * s);
  });
  return { data: codes, decoded, scales: { data: new Uint8Array(scales.buffer), shape: [br, bc] } };
}

function model(dir: string, dtype: string, values: number[]): number[] {
  mkdirSync(dir, { recursive: true });
  const e = encode(dtype, values);
  const name = 'model.layers.0.mlp.experts.3.down_proj.weight';
  writeSafetensorsFile(join(dir, 'model.safetensors'), [
    { name, dtype, shape: [ROWS, COLS], data: e.data },
    ...(e.scales ? [{ name: `${name}_scale_inv`, dtype: 'F32', shape: e.scales.shape, data: e.scales.data }] : []),
  ]);
  return e.decoded;
}

const dtypes = ['F32', 'BF16', 'F16', 'F8_E4M3'];
for (const dA of dtypes) {
  for (const dB of dtypes) {
    test(`${dA} vs ${dB}: statistics within 1e-6 of float64`, async (t) => {
      const root = tempDir();
      const a = model(join(root, 'a'), dA, base);
      const b = model(join(root, 'b'), dB, drifted);
      const w = await compareWeights(join(root, 'a'), join(root, 'b'));
      t.is(w.tensors.length, 1, 'the FP8 scale tensor is attached to its weight, not compared on its own');
      const r = w.tensors[0]!;
      t.is(r.role, 'expert.down');
      t.is(r.expert, 3);
      const ref = referenceStats(a, b);
      t.is(r.n, ROWS * COLS);
      t.true(close(r.cosine, ref.cosine, 1e-6), `cosine ${r.cosine} vs ${ref.cosine}`);
      t.true(close(r.centeredCosine, ref.centeredCosine, 1e-6), `centered ${r.centeredCosine} vs ${ref.centeredCosine}`);
      t.true(close(r.relL2! / ref.relL2!, 1, 1e-6), `relL2 ${r.relL2} vs ${ref.relL2}`);
      t.true(close(r.mse! / ref.mse!, 1, 1e-6), `mse ${r.mse} vs ${ref.mse}`);
      t.true(r.cosine! > 0.9, 'a drift of 10% keeps the pair related');
    });
  }
}

test('the aligned tests read FP8 weights with their block scales, value for value', (t) => {
  const dir = tempDir();
  const decoded = model(join(dir, 'fp8'), 'F8_E4M3', base);
  const view = new ModelView(openCheckpoint(join(dir, 'fp8')));
  const m = view.matrix('expert.down', 0, 3);
  view.close();
  t.truthy(m);
  t.deepEqual([m!.rows, m!.cols], [ROWS, COLS]);
  let worst = 0;
  decoded.forEach((x, k) => { worst = Math.max(worst, Math.abs(x - m!.data[k]!)); });
  t.true(worst < 1e-9, `largest difference ${worst}`);
});

test('the controls\' cross pairs dequantize FP8 weights with their block scales', async (t) => {
  const dir = tempDir();
  // One 128×128 block ten times larger than the rest: its scale differs, so raw codes would mislead.
  const values = base.map((x, k) => (Math.floor(k / COLS) < 128 && k % COLS < 128 ? 10 * x : x));
  model(join(dir, 'f32'), 'F32', values);
  model(join(dir, 'fp8'), 'F8_E4M3', values);
  const a = openCheckpoint(join(dir, 'f32')).tensors[0]!;
  const fp8 = openCheckpoint(join(dir, 'fp8'));
  const b = fp8.tensors.find((x) => x.dtype === 'F8_E4M3')!;
  const scale = fp8.tensors.find((x) => x.name.endsWith('_scale_inv'))!;
  const ref = (x: typeof a) => ({ file: x.file, offset: x.offset, byteLength: x.byteLength, dtype: x.dtype as 'F32', shape: x.shape });
  const withScales = await compareCrossPairs([{ a: ref(a), b: ref(b), scalesB: ref(scale) }], { threads: 1 });
  const raw = await compareCrossPairs([{ a: ref(a), b: ref(b) }], { threads: 1 });
  const cos = (m: (typeof withScales.moments)[number]) => finalizeMoments(m!).cosine!;
  t.true(cos(withScales.moments[0]) > 0.999, `with scales ${cos(withScales.moments[0])}`);
  t.true(cos(raw.moments[0]) < 0.9, `raw codes ${cos(raw.moments[0])}`);
});
