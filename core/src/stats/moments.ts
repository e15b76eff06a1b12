/**
 * Centered co-moments of a pair of tensors, and the statistics derived from them.
 *
 * Raw sums (Σa², Σb², Σab) cancel catastrophically for norm vectors near 1.0 and for nearly
 * equal tensors, so partial results carry means and centered co-moments (merged with the
 * parallel update of Chan, Golub and LeVeque) and Σ(a−b)² directly. Merges happen in a fixed
 * order chosen by the caller (tensor, then block), never by arrival, so results are bit-identical
 * whatever the number of threads or workers.
 */

export interface Moments {
  /** Pairs where both values are finite (the others are counted and left out). */
  n: number;
  meanA: number;
  meanB: number;
  /** Σ(a − meanA)² */
  m2a: number;
  m2b: number;
  /** Σ(a − meanA)(b − meanB) */
  cab: number;
  /** Σ(a − b)² */
  sdd: number;
  maxAbsDiff: number;
  nanA: number;
  infA: number;
  nanB: number;
  infB: number;
  /** Pairs left out because a or b was not finite. */
  excluded: number;
}

export function emptyMoments(): Moments {
  return { n: 0, meanA: 0, meanB: 0, m2a: 0, m2b: 0, cab: 0, sdd: 0, maxAbsDiff: 0, nanA: 0, infA: 0, nanB: 0, infB: 0, excluded: 0 };
}

/** x ⊕ y: the moments of the concatenation. Not commutative in rounding: call in a fixed order. */
export function mergeMoments(x: Moments, y: Moments): Moments {
  // One object literal of a fixed shape (no spreads): a report pools ~40k tensors' moments on a
  // 128-expert model, and spreads made each merge ~10 µs.
  const nanA = x.nanA + y.nanA;
  const infA = x.infA + y.infA;
  const nanB = x.nanB + y.nanB;
  const infB = x.infB + y.infB;
  const excluded = x.excluded + y.excluded;
  const sdd = x.sdd + y.sdd;
  const maxAbsDiff = Math.max(x.maxAbsDiff, y.maxAbsDiff);
  if (y.n === 0 || x.n === 0) {
    const z = y.n === 0 ? x : y;
    return { n: z.n, meanA: z.meanA, meanB: z.meanB, m2a: z.m2a, m2b: z.m2b, cab: z.cab, sdd, maxAbsDiff, nanA, infA, nanB, infB, excluded };
  }
  const n = x.n + y.n;
  const da = y.meanA - x.meanA;
  const db = y.meanB - x.meanB;
  const f = (x.n * y.n) / n;
  return {
    n,
    meanA: x.meanA + (da * y.n) / n,
    meanB: x.meanB + (db * y.n) / n,
    m2a: x.m2a + y.m2a + da * da * f,
    m2b: x.m2b + y.m2b + db * db * f,
    cab: x.cab + y.cab + da * db * f,
    sdd, maxAbsDiff, nanA, infA, nanB, infB, excluded,
  };
}

/** Reference accumulation in plain float64 (one block, shifted by its first finite pair). */
export function blockMoments(a: ArrayLike<number>, b: ArrayLike<number>, start: number, end: number): Moments {
  const m = emptyMoments();
  let ka = 0, kb = 0, have = false;
  let s1a = 0, s1b = 0, s2a = 0, s2b = 0, sab = 0;
  for (let i = start; i < end; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const okA = x - x === 0;
    const okB = y - y === 0;
    if (!okA) x !== x ? m.nanA++ : m.infA++;
    if (!okB) y !== y ? m.nanB++ : m.infB++;
    if (!okA || !okB) { m.excluded++; continue; }
    if (!have) { ka = x; kb = y; have = true; }
    const u = x - ka;
    const v = y - kb;
    const d = x - y;
    s1a += u; s1b += v; s2a += u * u; s2b += v * v; sab += u * v;
    m.sdd += d * d;
    if (Math.abs(d) > m.maxAbsDiff) m.maxAbsDiff = Math.abs(d);
    m.n++;
  }
  if (m.n > 0) {
    m.meanA = ka + s1a / m.n;
    m.meanB = kb + s1b / m.n;
    m.m2a = s2a - (s1a * s1a) / m.n;
    m.m2b = s2b - (s1b * s1b) / m.n;
    m.cab = sab - (s1a * s1b) / m.n;
  }
  return m;
}

export interface PairStatistics {
  n: number;
  cosine: number | null;
  centeredCosine: number | null;
  relL2: number | null;
  mse: number | null;
  maxAbsDiff: number | null;
  meanA: number | null;
  meanB: number | null;
  stdA: number | null;
  stdB: number | null;
  nanA: number;
  infA: number;
  nanB: number;
  infB: number;
  /** Why a value is null, or what was left out. */
  notes: string[];
}

/**
 * cosine = Σab/√(Σa²Σb²), centeredCosine (Pearson) = cab/√(m2a·m2b),
 * relL2 = ‖a−b‖/‖a‖ (A is the reference), mse = Σ(a−b)²/n.
 */
export function finalizeMoments(m: Moments): PairStatistics {
  const notes: string[] = [];
  const counts = { nanA: m.nanA, infA: m.infA, nanB: m.nanB, infB: m.infB };
  if (m.excluded > 0) {
    const what = [m.nanA && `${m.nanA} NaN in A`, m.infA && `${m.infA} Inf in A`, m.nanB && `${m.nanB} NaN in B`, m.infB && `${m.infB} Inf in B`].filter(Boolean).join(', ');
    notes.push(`${m.excluded} pair(s) with a non-finite value left out (${what})`);
  }
  if (m.n === 0) {
    notes.push('no finite pairs: statistics undefined');
    return { n: 0, cosine: null, centeredCosine: null, relL2: null, mse: null, maxAbsDiff: null, meanA: null, meanB: null, stdA: null, stdB: null, ...counts, notes };
  }
  const m2a = Math.max(m.m2a, 0);
  const m2b = Math.max(m.m2b, 0);
  const saa = m2a + m.n * m.meanA * m.meanA;
  const sbb = m2b + m.n * m.meanB * m.meanB;
  const sab = m.cab + m.n * m.meanA * m.meanB;
  let cosine: number | null = null;
  if (saa === 0 || sbb === 0) notes.push(`cosine undefined: ${saa === 0 ? 'A' : 'B'} is all zeros`);
  else cosine = clamp(sab / Math.sqrt(saa * sbb));
  let centeredCosine: number | null = null;
  if (m2a === 0 || m2b === 0) notes.push(`centered cosine undefined: ${m2a === 0 ? 'A' : 'B'} is constant`);
  else centeredCosine = clamp(m.cab / Math.sqrt(m2a * m2b));
  let relL2: number | null = null;
  if (saa === 0) notes.push('relative L2 undefined: A is all zeros');
  else relL2 = Math.sqrt(m.sdd / saa);
  return {
    n: m.n, cosine, centeredCosine, relL2, mse: m.sdd / m.n, maxAbsDiff: m.maxAbsDiff,
    meanA: m.meanA, meanB: m.meanB, stdA: Math.sqrt(m2a / m.n), stdB: Math.sqrt(m2b / m.n), ...counts, notes,
  };
}

/** Rounding can push |cos| a hair past 1. */
function clamp(x: number): number {
  return Math.min(1, Math.max(-1, x));
}
