/**
 * Typed reads of a config.json object. Configs are written by many hands: a field may be absent,
 * null, a string where a number belongs, or spelled differently by each family, so every read
 * tries the spellings in order and returns null rather than guessing.
 */

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** First of `keys` that holds a finite number. */
export function num(config: Json, ...keys: string[]): number | null {
  for (const key of keys) {
    const value = config[key];
    if (typeof value === 'number' && Number.isFinite(value)) return value;
  }
  return null;
}

/** First of `keys` that holds a positive integer (sizes, counts). */
export function int(config: Json, ...keys: string[]): number | null {
  for (const key of keys) {
    const value = config[key];
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  }
  return null;
}

export function bool(config: Json, ...keys: string[]): boolean | null {
  for (const key of keys) {
    const value = config[key];
    if (typeof value === 'boolean') return value;
  }
  return null;
}

export function str(config: Json, ...keys: string[]): string | null {
  for (const key of keys) {
    const value = config[key];
    if (typeof value === 'string' && value !== '') return value;
  }
  return null;
}

export function obj(config: Json, ...keys: string[]): Json | null {
  for (const key of keys) {
    const value = config[key];
    if (isObject(value)) return value;
  }
  return null;
}

export function strings(config: Json, key: string): string[] | null {
  const value = config[key];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return null;
  return value as string[];
}

export function ints(config: Json, key: string): number[] | null {
  const value = config[key];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number' && Number.isInteger(v))) return null;
  return value as number[];
}

/** True when the key is present with a non-null value. */
export function has(config: Json, key: string): boolean {
  return config[key] !== undefined && config[key] !== null;
}
