/**
 * Reading config.json (and, beside it, model.safetensors.index.json) from a model folder or a
 * file path. Every failure names the file.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BadInputError } from '../errors.ts';
import { isObject, type Json } from './fields.ts';

const CONFIG_FILE = 'config.json';
const INDEX_FILE = 'model.safetensors.index.json';

/** The config file a path means: the path itself, or config.json inside a folder. */
export function configFileOf(pathOrFolder: string): string {
  if (!existsSync(pathOrFolder)) throw new BadInputError(pathOrFolder, 'no such file or folder');
  if (statSync(pathOrFolder).isDirectory()) {
    const file = join(pathOrFolder, CONFIG_FILE);
    if (!existsSync(file)) throw new BadInputError(file, 'missing: a model folder needs a config.json');
    return file;
  }
  return pathOrFolder;
}

/** config.json of a model folder, or the config file given, parsed. */
export function loadConfig(pathOrFolder: string): Json {
  return readJsonObject(configFileOf(pathOrFolder));
}

function readJsonObject(file: string): Json {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BadInputError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(file, `not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(parsed)) throw new BadInputError(file, 'not a JSON object');
  return parsed;
}

export interface CheckpointIndexInfo {
  file: string;
  /** metadata.total_size: bytes of all tensors. */
  totalSize: number | null;
  /** metadata.total_parameters, where the writer recorded it. */
  totalParameters: number | null;
  tensorCount: number;
}

/** Parses a model.safetensors.index.json object (already read). */
export function parseCheckpointIndex(json: unknown, file: string): CheckpointIndexInfo {
  if (!isObject(json)) throw new BadInputError(file, 'not a JSON object');
  const weightMap = json['weight_map'];
  if (!isObject(weightMap)) throw new BadInputError(file, 'has no weight_map object');
  const metadata = isObject(json['metadata']) ? json['metadata'] : {};
  const asCount = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null);
  return {
    file,
    totalSize: asCount(metadata['total_size']),
    totalParameters: asCount(metadata['total_parameters']),
    tensorCount: Object.keys(weightMap).length,
  };
}

/** The index beside a config (in the folder, or next to a file named config.json); null when there is none. */
export function loadCheckpointIndex(pathOrFolder: string): CheckpointIndexInfo | null {
  const folder = statSync(pathOrFolder).isDirectory() ? pathOrFolder : basename(pathOrFolder) === CONFIG_FILE ? dirname(pathOrFolder) : null;
  if (folder === null) return null;
  const file = join(folder, INDEX_FILE);
  if (!existsSync(file)) return null;
  return parseCheckpointIndex(readJsonObject(file), file);
}

/** True when a folder holds safetensors weights (so their shapes can be read). */
export function holdsWeights(pathOrFolder: string): boolean {
  if (!statSync(pathOrFolder).isDirectory()) return false;
  return readdirSync(pathOrFolder).some((f) => f.endsWith('.safetensors'));
}
