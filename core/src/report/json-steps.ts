/**
 * A report's JSON (as `JSON.stringify` writes it, unindented) as UTF-8 bytes, written in steps: at
 * 19k tensors a side it is ~21 MB, and one `JSON.stringify` and one `Buffer.from` of it held a
 * coordinator's event loop ~0.1 s each. Objects are walked key by key and arrays element by element;
 * an element that is not an array is written whole by `JSON.stringify` (a tensor's entry, an
 * expert layer: well under a millisecond each), so the steps stay small and the native writer
 * does the bulk of the work.
 */
import type { Steps } from '../steps.ts';

/** Characters gathered before they are encoded to one buffer (~1 ms of encoding). */
const FLUSH_CHARS = 1 << 20;

/** What `JSON.stringify` leaves out of an object (and writes as null in an array). */
function omitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

/** Walked here rather than written whole: plain arrays and plain objects (not typed arrays, Maps, boxed primitives). */
function isWalked(value: unknown): value is Record<string, unknown> | unknown[] {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `value` as JSON.stringify would serialise it under `key`: its toJSON applied. */
function toJsonValue(value: unknown, key: string): unknown {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return (value as { toJSON(key: string): unknown }).toJSON(key);
  }
  return value;
}

/** The bytes of `JSON.stringify(value) + suffix`; `value` must serialise (not be undefined at the top). */
export function* jsonBytesSteps(value: unknown, suffix = ''): Steps<Buffer> {
  const chunks: Buffer[] = [];
  let parts: string[] = [];
  let pending = 0;
  const flush = () => {
    if (parts.length === 0) return;
    chunks.push(Buffer.from(parts.join(''), 'utf8'));
    parts = [];
    pending = 0;
  };
  const emit = (text: string) => {
    parts.push(text);
    pending += text.length;
    if (pending >= FLUSH_CHARS) flush();
  };
  // Containers being walked: JSON.stringify refuses a cycle, and so does this.
  const open = new Set<object>();

  function* write(v: unknown): Steps<void> {
    if (!isWalked(v)) {
      emit(JSON.stringify(v));
      return;
    }
    if (open.has(v)) throw new TypeError('Converting circular structure to JSON');
    open.add(v);
    if (Array.isArray(v)) {
      emit('[');
      for (let i = 0; i < v.length; i++) {
        if (i > 0) emit(',');
        const element = toJsonValue(v[i], String(i));
        if (omitted(element)) emit('null');
        else if (Array.isArray(element)) yield* write(element);
        else emit(JSON.stringify(element));
        // A step per element: an expert layer's entry is ~120 KB of text, a tensor's under 1 KB.
        yield;
      }
      emit(']');
    } else {
      emit('{');
      let first = true;
      for (const key of Object.keys(v)) {
        const member = toJsonValue(v[key], key);
        if (omitted(member)) continue;
        emit(first ? `${JSON.stringify(key)}:` : `,${JSON.stringify(key)}:`);
        first = false;
        yield* write(member);
      }
      emit('}');
    }
    open.delete(v);
  }

  const top = toJsonValue(value, '');
  if (omitted(top)) throw new TypeError('nothing to serialise: the value is undefined, a function or a symbol');
  yield* write(top);
  emit(suffix);
  flush();
  yield;
  return Buffer.concat(chunks);
}
