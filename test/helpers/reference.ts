/**
 * An independent float64 computation of the pair statistics, two-pass (means first), written
 * without any of the code under test, from values decoded here with DataView.
 */
export interface ReferenceStats {
  n: number;
  cosine: number | null;
  centeredCosine: number | null;
  relL2: number | null;
  mse: number | null;
  maxAbsDiff: number | null;
}

export function referenceStats(a: ArrayLike<number>, b: ArrayLike<number>): ReferenceStats {
  const keep: number[] = [];
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]) && Number.isFinite(b[i])) keep.push(i);
  const n = keep.length;
  if (n === 0) return { n, cosine: null, centeredCosine: null, relL2: null, mse: null, maxAbsDiff: null };
  let ma = 0, mb = 0;
  for (const i of keep) { ma += a[i]!; mb += b[i]!; }
  ma /= n; mb /= n;
  let saa = 0, sbb = 0, sab = 0, caa = 0, cbb = 0, cab = 0, sdd = 0, mx = 0;
  for (const i of keep) {
    const x = a[i]!, y = b[i]!;
    saa += x * x; sbb += y * y; sab += x * y;
    caa += (x - ma) ** 2; cbb += (y - mb) ** 2; cab += (x - ma) * (y - mb);
    sdd += (x - y) ** 2; mx = Math.max(mx, Math.abs(x - y));
  }
  return {
    n,
    cosine: saa && sbb ? sab / Math.sqrt(saa * sbb) : null,
    centeredCosine: caa && cbb ? cab / Math.sqrt(caa * cbb) : null,
    relL2: saa ? Math.sqrt(sdd / saa) : null,
    mse: sdd / n,
    maxAbsDiff: mx,
  };
}

/** Decodes little-endian tensor bytes to numbers, independently of core/. */
export function decodeBytes(dtype: string, bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  if (dtype === 'F32') for (let i = 0; i < bytes.length; i += 4) out.push(view.getFloat32(i, true));
  else if (dtype === 'BF16') {
    const tmp = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < bytes.length; i += 2) { tmp.setUint32(0, view.getUint16(i, true) << 16); out.push(tmp.getFloat32(0)); }
  } else if (dtype === 'F16') {
    for (let i = 0; i < bytes.length; i += 2) {
      const h = view.getUint16(i, true);
      const s = h >> 15 ? -1 : 1, e = (h >> 10) & 31, f = h & 1023;
      out.push(e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15));
    }
  } else throw new Error(`decodeBytes: ${dtype}`);
  return out;
}

/** |x − y| ≤ tol, treating null = null as equal. */
export function close(x: number | null, y: number | null, tol: number): boolean {
  if (x === null || y === null) return x === y;
  return Math.abs(x - y) <= tol;
}
