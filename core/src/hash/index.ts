/** Content hashes of tensor bytes. */
export * from './content-hash.ts';
