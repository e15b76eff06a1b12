/**
 * Content hashes of tensor bytes, streamed window by window. XXH3-128 is the default (a
 * non-cryptographic fingerprint, ~6 GB/s here); SHA-256 is for those who need a cryptographic
 * digest to cite (~1.5 GB/s per core here, so never forced on the hot path).
 */
import { createHash } from 'node:crypto';
import { createXXHash128, type IHasher } from 'hash-wasm';

export type HashAlgorithm = 'xxh3-128' | 'sha256';
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['xxh3-128', 'sha256'];

export interface StreamingHash {
  /** Starts a new digest. */
  init(): void;
  update(bytes: Uint8Array): void;
  /** Lower-case hex, canonical (big-endian) form. */
  digest(): string;
}

export async function createStreamingHash(algorithm: HashAlgorithm): Promise<StreamingHash> {
  if (algorithm === 'sha256') {
    let hash = createHash('sha256');
    return {
      init: () => { hash = createHash('sha256'); },
      update: (bytes) => { hash.update(bytes); },
      digest: () => hash.digest('hex'),
    };
  }
  const hasher: IHasher = await createXXHash128();
  return {
    init: () => { hasher.init(); },
    update: (bytes) => { hasher.update(bytes); },
    digest: () => hasher.digest('hex'),
  };
}
