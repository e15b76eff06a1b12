/**
 * How a control task names a model (controls/tasks.ts): a local model by its folder; a remote one
 * by the URLs of its files at the revision this process opened (commit-pinned where the server
 * named one) with a digest of the tensor table it planned from, so that an executor that opens
 * the model again (a cluster worker) reads the very same version or refuses.
 */
import { createHash } from 'node:crypto';
import type { Checkpoint } from './folder.ts';
import { isRemoteCheckpoint } from './remote.ts';

export interface ModelSource {
  /** The folder, or the model's file URLs separated by commas. */
  path: string;
  /** SHA-256 of the tensor table (names, dtypes, shapes, offsets, lengths, pinned files); remote models only. */
  digest?: string;
}

export function modelSource(ck: Checkpoint): ModelSource {
  if (!isRemoteCheckpoint(ck)) return { path: ck.root };
  // Commas inside a URL are written %2C (openModel splits the list on commas).
  return { path: ck.remote.files.map((f) => f.url.replaceAll(',', '%2C')).join(','), digest: tensorTableDigest(ck) };
}

/** What an executor checks after opening a remote model again: the same tensors at the same bytes of the same file versions. */
export function tensorTableDigest(ck: Checkpoint): string {
  const h = createHash('sha256');
  const rows = ck.tensors.map((t) => [t.name, t.dtype, t.shape.join('x'), t.file, t.offset, t.byteLength].join('\t')).sort();
  for (const row of rows) h.update(row).update('\n');
  return h.digest('hex');
}
