/**
 * Content hashes of tensor bytes, streamed window by window. XXH3-128 is the default (a
 * non-cryptographic fingerprint): the native xxhash-addon streams it at ~26 GB/s here, so it costs
 * little next to reading; hash-wasm (~6 GB/s, same digests) stands in where the addon's prebuilt
 * binary does not load. SHA-256 is for those who need a cryptographic digest to cite (~1.5 GB/s
 * per core here, so never forced on the hot path).
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { createXXHash128 } from 'hash-wasm';

export type HashAlgorithm = 'xxh3-128' | 'sha256';
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['xxh3-128', 'sha256'];

export interface StreamingHash {
  /** Which implementation computes it (for benchmarks and diagnostics). */
  readonly implementation: string;
  /** Starts a new digest. */
  init(): void;
  update(bytes: Uint8Array): void;
  /** Lower-case hex, canonical (big-endian) form. */
  digest(): string;
}

interface NativeXxh128 {
  update(data: Uint8Array): void;
  digest(): Buffer;
  reset(): void;
}

/** The native XXH3-128 constructor, or null when its binary does not load on this platform. */
const nativeXxh128: (new (seed: Buffer) => NativeXxh128) | null = (() => {
  try {
    return (createRequire(import.meta.url)('xxhash-addon') as { XXHash128: new (seed: Buffer) => NativeXxh128 }).XXHash128;
  } catch {
    return null;
  }
})();

/** Seed 0 as the addon takes it (a 4-byte buffer); constructing it without a seed crashes the addon. */
const SEED_ZERO = Buffer.alloc(4);

export async function createStreamingHash(algorithm: HashAlgorithm, options: { preferWasm?: boolean } = {}): Promise<StreamingHash> {
  if (algorithm === 'sha256') {
    let hash = createHash('sha256');
    return {
      implementation: 'node:crypto sha256',
      init: () => { hash = createHash('sha256'); },
      update: (bytes) => { hash.update(bytes); },
      digest: () => hash.digest('hex'),
    };
  }
  if (nativeXxh128 && !options.preferWasm) {
    const hasher = new nativeXxh128(SEED_ZERO);
    return {
      implementation: 'xxhash-addon (native)',
      init: () => { hasher.reset(); },
      update: (bytes) => { hasher.update(bytes); },
      digest: () => hasher.digest().toString('hex'),
    };
  }
  const hasher = await createXXHash128();
  return {
    implementation: 'hash-wasm',
    init: () => { hasher.init(); },
    update: (bytes) => { hasher.update(bytes); },
    digest: () => hasher.digest('hex'),
  };
}
