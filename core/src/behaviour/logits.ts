/** Logits to log-probabilities, and the leading candidates: float64, stable, ties to the lower id. */

export function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
  return out;
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topIndices(values: Float64Array, k: number): number[] {
  const n = Math.min(k, values.length);
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (best.length === n && v <= values[best[n - 1]!]!) continue;
    let j = best.length === n ? n - 1 : best.length;
    if (best.length < n) best.push(i);
    while (j > 0 && values[best[j - 1]!]! < v) {
      best[j] = best[j - 1]!;
      j--;
    }
    best[j] = i;
  }
  return best;
}

/** Probabilities by id (llama.cpp's output) to log-probabilities over `size` ids; ids it leaves out get -Infinity. */
export function logSoftmaxFromProbabilities(probabilities: Map<number, number>, size: number): Float64Array {
  const out = new Float64Array(size).fill(-Infinity);
  for (const [id, p] of probabilities) if (id >= 0 && id < size && p > 0) out[id] = Math.log(p);
  return out;
}
