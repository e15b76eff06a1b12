/**
 * Control answers as they travel (a worker's result message): gzip-compressed JSON, checked on
 * arrival by kind before the coordinator uses them. The in-process executor sends its answers
 * through the same JSON round trip, so a report is the same whichever executor ran the controls
 * (NaN becomes null either way).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { isBlockBases } from '../align/internal-basis.ts';
import { LineageError } from '../errors.ts';
import type { ControlKind } from './tasks.ts';

/** An answer larger than this (compressed) would not fit a NATS message with room to spare. */
export const MAX_CONTROL_RESULT_BYTES = 768 * 1024;
/** Uncompressed, an answer is at most this large (a zip bomb stops here). */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

export function encodeControlValue(value: unknown): Uint8Array {
  const bytes = gzipSync(JSON.stringify(value ?? null), { level: 6 });
  if (bytes.length > MAX_CONTROL_RESULT_BYTES) throw new LineageError('INTERNAL', `control answer of ${bytes.length} bytes compressed, above the ${MAX_CONTROL_RESULT_BYTES}-byte limit of a result message`);
  return bytes;
}

/** The same value as a JSON round trip gives it (what the cluster path would deliver). */
export function asWire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? null)) as T;
}

export function decodeControlValue(kind: ControlKind, bytes: Uint8Array): unknown {
  let value: unknown;
  try {
    value = JSON.parse(gunzipSync(bytes, { maxOutputLength: MAX_JSON_BYTES }).toString('utf8'));
  } catch (err) {
    throw new LineageError('BAD_INPUT', `control answer (${kind}): does not decode (${(err as Error).message})`);
  }
  const why = checkValue(kind, value);
  if (why) throw new LineageError('BAD_INPUT', `control answer (${kind}): ${why}`);
  return value;
}

const obj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
const numOrNull = (x: unknown) => x === null || num(x);
const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');

/** The shape each kind's answer must have (what index.ts reads from it); null when it has it. */
function checkValue(kind: ControlKind, v: unknown): string | null {
  switch (kind) {
    case 'layers':
      return v === null || (obj(v) && obj(v.alignment) && Array.isArray(v.alignment.alignment) && Array.isArray(v.baseline)) ? null : 'not a layer alignment';
    case 'experts':
      return obj(v) && Array.isArray(v.layers) && v.layers.every((l) => obj(l) && num(l.layer) && Array.isArray(l.assignment)) && Array.isArray(v.skipped) ? null : 'not an expert analysis';
    case 'embeddings':
      return obj(v) && Array.isArray(v.tensors) && num(v.sharedTokens) && num(v.rowsCompared)
        && ['cosine', 'centeredCosine', 'rowMean', 'nullMean', 'nullSd', 'z', 'sameIdShare'].every((k) => numOrNull(v[k])) ? null : 'not a shared-row control';
    case 'neurons':
      return v === null || (obj(v) && typeof v.role === 'string' && ['layer', 'rows', 'candidates', 'statistic', 'nullMean', 'nullSd', 'pValue', 'replicates', 'sameIndexShare'].every((k) => num(v[k])))
        ? null : 'not a neuron test';
    case 'alignment.hidden': {
      if (v === null) return null;
      if (!obj(v) || !strings(v.unreadable) || !num(v.seconds) || (v.hidden !== null && !obj(v.hidden))) return 'not a hidden alignment';
      // The verdict reads the geometry's CKA: a number in [0, 1], or none.
      const g = obj(v.hidden) ? v.hidden.embeddingGeometry : undefined;
      if (g !== undefined && g !== null && !(obj(g) && num(g.cka) && (g.cka as number) >= 0 && (g.cka as number) <= 1 && Number.isSafeInteger(g.tokens))) return 'malformed embedding geometry';
      const rotated = obj(v.hidden) ? v.hidden.rotated : undefined;
      if (rotated !== undefined && !(obj(rotated) && Number.isSafeInteger(rotated.tokens))) return 'malformed rotated basis';
      const bg = obj(v.hidden) ? v.hidden.blockGeometry : undefined;
      if (bg !== undefined && bg !== null && !(obj(bg) && num(bg.correlation) && Math.abs(bg.correlation as number) <= 1 && Number.isSafeInteger(bg.probes)
        && Array.isArray(bg.layers) && bg.layers.every((l) => Number.isSafeInteger(l)))) return 'malformed block geometry';
      const bb = obj(v.hidden) ? v.hidden.blockBasis : undefined;
      if (bb !== undefined && !(obj(bb) && Number.isSafeInteger(bb.probes))) return 'malformed block basis';
      const s = v.selection;
      if (s === null) return null;
      const ints = (x: unknown) => Array.isArray(x) && x.every((i) => Number.isSafeInteger(i) && (i as number) >= 0);
      if (!(obj(s) && ints(s.a) && ints(s.b) && Array.isArray(s.sign) && s.sign.every((x) => x === 1 || x === -1)
        && (s.a as number[]).length === (s.b as number[]).length && (s.a as number[]).length === s.sign.length)) return 'malformed selection';
      const probes = s.probes;
      if (s.blocks !== undefined && (probes !== undefined || !isBlockBases(s.blocks, [...(s.a as number[]), ...(s.b as number[])]))) return 'malformed selection';
      return probes === undefined || (Array.isArray(probes) && probes.length <= 4096 && probes.every((p) => Array.isArray(p) && p.length === 2 && ints(p))
        && [...(s.a as number[]), ...(s.b as number[])].every((i) => i < probes.length)) ? null : 'malformed selection';
    }
    case 'alignment.layers':
      return v === null || (Array.isArray(v) && v.length <= 4096 && v.every((p) => Array.isArray(p) && p.length === 2 && p.every((l) => Number.isSafeInteger(l) && (l as number) >= 0))) ? null : 'malformed layer pairs';
    case 'alignment.cells':
      return obj(v) && strings(v.notes) && strings(v.unreadable) && num(v.seconds) && Array.isArray(v.drafts) && v.drafts.every((d) => obj(d)
        && typeof d.component === 'string' && numOrNull(d.layerA) && numOrNull(d.layerB) && Array.isArray(d.draws) && d.draws.every(num)
        && (d.magnitudeDraws === undefined || (Array.isArray(d.magnitudeDraws) && d.magnitudeDraws.every(num)))
        && (d.observed === null || (obj(d.observed) && num(d.observed.statistic) && num(d.observed.sameIndexShare)
          && (d.observed.magnitude === undefined || numOrNull(d.observed.magnitude))))) ? null : 'not aligned cells';
  }
}
