/**
 * The coordinator and the workers read only files under their configured roots: a submitted path
 * is resolved, checked against the roots as written, then again after following symlinks (the
 * folder's, every file in it the coordinator may open, each shard's), and refused with the path
 * and the roots named. Workers apply the same check to every file a task names, whatever the task
 * says (a task is a request, not an authority).
 */
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { UsageError } from '../../core/src/errors.ts';

/**
 * A path refused: `outside` the model roots (the coordinator answers PERMISSION_DENIED), or
 * `invalid` as a model folder (empty, missing: INVALID_ARGUMENT).
 */
export class PathRefusedError extends Error {
  constructor(readonly kind: 'outside' | 'invalid', message: string) {
    super(message);
    this.name = 'PathRefusedError';
  }
}

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

  private refuse(path: string, detail: string): PathRefusedError {
    return new PathRefusedError('outside', `${path}: ${detail}; only models under ${this.roots.join(', ')} are read here (--model-root)`);
  }

  /** The real path of a submitted model folder; a PathRefusedError when it is not one under the roots. */
  resolveFolder(path: string, field: string): string {
    if (!path) throw new PathRefusedError('invalid', `${field} is empty: give the path of a model folder`);
    const abs = resolve(path);
    if (!this.contains(abs)) throw this.refuse(path, 'outside the model roots');
    if (!existsSync(abs)) throw new PathRefusedError('invalid', `${path}: no such folder`);
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

  /**
   * Refuses a model folder any of whose entries (config.json, the index, tokenizer files, shards,
   * and those in `original/`, where tokenizers are looked for too) leads outside the roots: the
   * checkpoint and tokenizer readers open them by name, after this check.
   */
  checkFolderFiles(folder: string): void {
    const entries = (dir: string) => {
      try {
        return readdirSync(dir).map((name) => join(dir, name));
      } catch {
        return []; // An unreadable folder is reported by the reader that needs it.
      }
    };
    const check = (path: string) => {
      let real: string;
      try {
        real = realpathSync(path);
      } catch {
        return; // A broken link: nothing can be read through it.
      }
      if (!this.contains(real)) throw this.refuse(path, `resolves to ${real}, outside the model roots`);
    };
    for (const path of entries(folder)) check(path);
    const original = join(folder, 'original');
    if (existsSync(original) && statSync(original).isDirectory()) for (const path of entries(original)) check(path);
  }

  /**
   * Why a worker must not read `file` for a task, judged on the path as written (no file system
   * access: it says nothing about files outside the roots), or null when it may try.
   */
  refusalAsWritten(file: string): string | null {
    if (!isAbsolute(file)) return `${file}: not an absolute path`;
    if (!file.endsWith('.safetensors')) return `${file}: not a .safetensors file`;
    if (!this.contains(resolve(file))) return `${file} is outside this worker's model roots ${this.roots.join(', ')} (--model-root)`;
    return null;
  }

  /**
   * Why a worker must not read `file` for a task, or null when it may: a local tensor file must be
   * a regular `.safetensors` file whose real path is under the roots.
   */
  refusalOf(file: string): string | null {
    const asWritten = this.refusalAsWritten(file);
    if (asWritten) return asWritten;
    let real: string;
    try {
      real = realpathSync(file);
    } catch (err) {
      return `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
    if (!this.contains(real)) return `${file}${real !== file ? ` (resolves to ${real})` : ''} is outside this worker's model roots ${this.roots.join(', ')} (--model-root)`;
    if (!statSync(real).isFile()) return `${file}: not a regular file`;
    return null;
  }
}
