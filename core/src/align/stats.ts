/**
 * The small statistics the alignment needs: a predictive test of one value against null draws
 * (Student's t with the draws' own spread), Fisher's combination of p-values, and vector helpers.
 */

/** Upper-tail p of `value` as one more draw from the distribution the null draws come from. */
export function predictivePValue(value: number, draws: number[], sdFloor: number): { mean: number; sd: number; t: number; pValue: number } {
  const n = draws.length;
  const mean = n ? draws.reduce((s, x) => s + x, 0) / n : 0;
  const sd = Math.max(sdFloor, n > 1 ? Math.sqrt(draws.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : 0);
  if (n < 2) return { mean, sd, t: 0, pValue: 1 };
  // A new draw from N(μ, σ²) with μ, σ estimated from n draws: (x − μ̂)/(σ̂·√(1 + 1/n)) ~ t(n − 1).
  const t = (value - mean) / (sd * Math.sqrt(1 + 1 / n));
  return { mean, sd, t, pValue: studentUpperTail(t, n - 1) };
}

/** P(T ≥ t) for Student's t with `df` degrees of freedom. */
export function studentUpperTail(t: number, df: number): number {
  const x = df / (df + t * t);
  const tail = 0.5 * regularizedBeta(x, df / 2, 0.5);
  return t >= 0 ? tail : 1 - tail;
}

/** Fisher's method: −2 Σ ln p ~ χ²(2k) under the null; p-values floored at 1e-300. */
export function fisherCombine(pValues: number[]): number {
  if (pValues.length === 0) return 1;
  const x = -2 * pValues.reduce((s, p) => s + Math.log(Math.max(p, 1e-300)), 0);
  // χ² with even df 2k: upper tail = e^{−x/2} Σ_{j<k} (x/2)^j / j!, summed in logs.
  const half = x / 2;
  let term = 1;
  let sum = 1;
  for (let j = 1; j < pValues.length; j++) { term *= half / j; sum += term; }
  return Math.min(1, Math.exp(-half + Math.log(sum)));
}

/** I_x(a, b) by its continued fraction (Numerical Recipes' betacf). */
function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x < (a + 1) / (a + b + 2)) return (front * betaFraction(x, a, b)) / a;
  return 1 - (front * betaFraction(1 - x, b, a)) / b;
}

function betaFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d; h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-12) break;
  }
  return h;
}

function logGamma(z: number): number {
  // Lanczos approximation (g = 7).
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  z -= 1;
  let x = c[0]!;
  for (let i = 1; i < 9; i++) x += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(x);
}

/** Centres a vector in place and scales it to unit length; false when it is constant. */
export function centerUnit(v: Float32Array): boolean {
  let mean = 0;
  for (let i = 0; i < v.length; i++) mean += v[i]!;
  mean /= v.length || 1;
  let ss = 0;
  for (let i = 0; i < v.length; i++) { v[i] = v[i]! - mean; ss += v[i]! * v[i]!; }
  if (!(ss > 0)) { v.fill(0); return false; }
  const s = 1 / Math.sqrt(ss);
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * s;
  return true;
}

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Seeded Fisher–Yates shuffle of 0..n−1. */
export function shuffled(n: number, uniform: () => number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    const t = p[i]!; p[i] = p[j]!; p[j] = t;
  }
  return p;
}

/**
 * At most `k` of the positions 0..n-1, evenly spaced and including both ends (all of them when
 * n ≤ k): any run of more than (n-1)/(k-1) consecutive positions contains one.
 */
export function evenlySpaced(n: number, k: number): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  if (k <= 1) return [0];
  return [...new Set(Array.from({ length: k }, (_, j) => Math.round((j * (n - 1)) / (k - 1))))];
}
