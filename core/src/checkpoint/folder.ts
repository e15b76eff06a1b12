/**
 * A model folder as Hugging Face lays it out: config.json, one model.safetensors or several
 * shards listed by model.safetensors.index.json, and tokenizer files. Opening one reads only the
 * headers; tensors are streamed later by the executor.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { BadInputError } from '../errors.ts';
import { runSteps, type Steps } from '../steps.ts';
import { readSafetensorsHeaderSteps, type SafetensorsEntry } from './safetensors.ts';

export interface TensorEntry extends SafetensorsEntry {
  /** The shard that holds it. */
  file: string;
}

export interface Checkpoint {
  root: string;
  config: Record<string, unknown> | null;
  shards: string[];
  tensors: TensorEntry[];
  /** Bytes of tensor data over all shards. */
  totalBytes: number;
}

const INDEX_FILE = 'model.safetensors.index.json';

export function openCheckpoint(folder: string): Checkpoint {
  return runSteps(openCheckpointSteps(folder));
}

/** Tensors taken in between two steps. */
const STEP_TENSORS = 256;

/** The same, in steps of a few hundred tensors (a coordinator opens 19k-tensor models between other work). */
export function* openCheckpointSteps(folder: string): Steps<Checkpoint> {
  const root = resolve(folder);
  if (!existsSync(root)) throw new BadInputError(folder, 'no such folder');
  if (!statSync(root).isDirectory()) throw new BadInputError(folder, 'not a folder (expected a model folder with config.json and *.safetensors)');
  const config = readConfig(root);
  const index = readIndex(root);
  const shards = listShards(root, index);
  const byName = new Map<string, TensorEntry>();
  for (const shard of shards) {
    const { tensors } = yield* readSafetensorsHeaderSteps(shard);
    for (let i = 0; i < tensors.length; i++) {
      if (i > 0 && i % STEP_TENSORS === 0) yield;
      const entry = tensors[i]!;
      const previous = byName.get(entry.name);
      if (previous) throw new BadInputError(shard, `tensor '${entry.name}' is also in ${basename(previous.file)}`);
      byName.set(entry.name, { ...entry, file: shard });
    }
    yield;
  }
  yield* checkIndexAgrees(root, index, byName);
  const tensors = [...byName.values()];
  return { root, config, shards, tensors, totalBytes: tensors.reduce((s, t) => s + t.byteLength, 0) };
}

/** Names, dtypes and shapes of a folder's tensors, from the headers alone. */
export async function readTensorList(folder: string): Promise<{ name: string; dtype: string; shape: number[] }[]> {
  return openCheckpoint(folder).tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape }));
}

/** A JSON object from a file of the folder, null when the file is absent. */
function readJsonObject(file: string): Record<string, unknown> | null {
  if (!existsSync(file)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new BadInputError(file, `not valid JSON (${(err as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadInputError(file, 'not a JSON object');
  return parsed as Record<string, unknown>;
}

function readConfig(root: string): Record<string, unknown> | null {
  return readJsonObject(join(root, 'config.json'));
}

function readIndex(root: string): Record<string, string> | null {
  const file = join(root, INDEX_FILE);
  const parsed = readJsonObject(file);
  if (!parsed) return null;
  const map = parsed.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new BadInputError(file, 'has no weight_map object');
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) {
      throw new BadInputError(file, `weight_map entry '${name}' names an invalid shard ${JSON.stringify(shard)}`);
    }
  }
  return map as Record<string, string>;
}

function listShards(root: string, index: Record<string, string> | null): string[] {
  if (index) {
    const names = [...new Set(Object.values(index))].sort();
    for (const name of names) {
      if (!existsSync(join(root, name))) throw new BadInputError(join(root, INDEX_FILE), `names shard '${name}', which is missing`);
    }
    return names.map((n) => join(root, n));
  }
  const files = readdirSync(root).filter((f) => f.endsWith('.safetensors')).sort();
  if (files.length === 0) throw new BadInputError(root, 'no weights: neither model.safetensors.index.json nor any *.safetensors file');
  return files.map((f) => join(root, f));
}

function* checkIndexAgrees(root: string, index: Record<string, string> | null, byName: Map<string, TensorEntry>): Steps<void> {
  if (!index) return;
  const indexFile = join(root, INDEX_FILE);
  let checked = 0;
  for (const [name, shard] of Object.entries(index)) {
    if (++checked % STEP_TENSORS === 0) yield;
    const entry = byName.get(name);
    if (!entry) throw new BadInputError(indexFile, `lists tensor '${name}' in ${shard}, but no shard holds it`);
    if (basename(entry.file) !== shard) throw new BadInputError(indexFile, `puts '${name}' in ${shard}, but it is in ${basename(entry.file)}`);
  }
}
