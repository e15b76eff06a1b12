/**
 * The coordinator reads only model folders under its configured roots: a submitted path is
 * resolved, checked against the roots as written, then again after following symlinks (the
 * folder's and each shard's), and refused with the path and the roots named.
 */
import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { status } from '@grpc/grpc-js';
import { UsageError } from '../../core/src/errors.ts';
import { RpcError } from './rpc-error.ts';

export class ModelRoots {
  readonly roots: string[];

  constructor(roots: string[]) {
    if (roots.length === 0) throw new UsageError('at least one model root is needed');
    this.roots = roots.map((root) => {
      const abs = resolve(root);
      if (!existsSync(abs)) throw new UsageError(`model root ${root} does not exist`);
      return realpathSync(abs);
    });
  }

  private contains(path: string): boolean {
    return this.roots.some((root) => {
      const rel = relative(root, path);
      return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
    });
  }

  private refuse(path: string, detail: string): RpcError {
    return new RpcError(status.PERMISSION_DENIED, `${path}: ${detail}; this coordinator only reads models under ${this.roots.join(', ')} (--model-root)`);
  }

  /** The real path of a submitted model folder, or a PERMISSION_DENIED / INVALID_ARGUMENT error. */
  resolveFolder(path: string, field: string): string {
    if (!path) throw new RpcError(status.INVALID_ARGUMENT, `${field} is empty: give the path of a model folder`);
    const abs = resolve(path);
    if (!this.contains(abs)) throw this.refuse(path, 'outside the model roots');
    if (!existsSync(abs)) throw new RpcError(status.INVALID_ARGUMENT, `${path}: no such folder`);
    const real = realpathSync(abs);
    if (!this.contains(real)) throw this.refuse(path, `resolves to ${real}, outside the model roots`);
    return real;
  }

  /** Refuses a checkpoint whose shard files lead (through symlinks) outside the roots. */
  checkFiles(files: string[]): void {
    for (const file of files) {
      const real = realpathSync(file);
      if (!this.contains(real)) throw this.refuse(file, `resolves to ${real}, outside the model roots`);
    }
  }
}
