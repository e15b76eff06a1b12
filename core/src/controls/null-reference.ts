/**
 * The expert permutation null as first written, kept as the reference that the fast one
 * (experts.ts assignmentNull: WebAssembly products, ziggurat normals, Jonker–Volgenant) is
 * tested and benchmarked against: Box–Muller normals, the products in plain JavaScript, and the
 * plain Hungarian method with potentials (every column scanned at every step of every row).
 * Not used by the comparison itself.
 */
import { Random } from '../synth/random.ts';
import { transpose } from './assignment.ts';
import { choleskyPsd, summarizeNull, type AssignmentNull } from './experts.ts';
import { nullProductJs } from './null-products.ts';

/** The greatest total Σ values[i·m + col(i)] over one-to-one matchings of n ≤ m rows, by the plain Hungarian method. */
export function hungarianTotal(values: Float64Array, n: number, m: number): number {
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  // p[j]: the row (1-based) matched to column j; column 0 is the search's virtual start.
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      const base = (i0 - 1) * m;
      const ui0 = u[i0]!;
      let delta = Infinity;
      let j1 = -1;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = -values[base + j - 1]! - ui0 - v[j]!;
        if (cur < minv[j]!) { minv[j] = cur; way[j] = j0; }
        if (minv[j]! < delta) { delta = minv[j]!; j1 = j; }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) { u[p[j]!] += delta; v[j] -= delta; } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do { const j1 = way[j0]!; p[j0] = p[j1]!; j0 = j1; } while (j0 !== 0);
  }
  let total = 0;
  for (let j = 1; j <= m; j++) if (p[j]! > 0) total += values[(p[j]! - 1) * m + j - 1]!;
  return total;
}

/** Box–Muller standard normals. */
function boxMuller(random: Random, out: Float64Array): void {
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - random.uniform()));
    const angle = 2 * Math.PI * random.uniform();
    out[i] = r * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(angle);
  }
}

/** The null as first written (same statistics as assignmentNull, other draws: another normal generator). */
export function assignmentNullReference(gramA: Float64Array, ea: number, gramB: Float64Array, eb: number, df: number, replicates: number, seed: number, stream: string): AssignmentNull {
  const la = choleskyPsd(gramA, ea);
  const lb = choleskyPsd(gramB, eb);
  const random = new Random(seed, stream);
  const z = new Float64Array(ea * eb);
  const values = new Float64Array(replicates);
  for (let r = 0; r < replicates; r++) {
    boxMuller(random, z);
    const s = nullProductJs(la, ea, lb, eb, z, 1 / Math.sqrt(df));
    const total = ea <= eb ? hungarianTotal(s, ea, eb) : hungarianTotal(transpose(s, ea, eb), eb, ea);
    values[r] = total / Math.min(ea, eb);
  }
  return summarizeNull(values);
}
