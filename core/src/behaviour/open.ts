/**
 * A side from a path: a .gguf file runs in llama.cpp, a folder in our forward pass. And the
 * behaviour of two paths as `lineage compare` wants it: the section when both can run, or
 * `{available: false, reason}` when one cannot (not a Llama-family model, too large for memory,
 * no llama.cpp), since behaviour is extra evidence there and its absence is not an error.
 */
import { LineageError } from '../errors.ts';
import { compareBehaviour, type BehaviourOptions, type BehaviourSection } from './compare.ts';
import { LlamaCppModel } from './llama-cpp-model.ts';
import { LocalLlamaModel } from './local-model.ts';
import type { BehaviourModel } from './model.ts';

export interface OpenOptions {
  /** Refuse folders above this many float32 bytes (default 2 GiB). */
  maxBytes?: number;
  label?: string;
}

export function openBehaviourModel(path: string, options: OpenOptions = {}): Promise<BehaviourModel> {
  return path.toLowerCase().endsWith('.gguf') ? LlamaCppModel.open(path, options) : LocalLlamaModel.open(path, options);
}

export type BehaviourResult = BehaviourSection | { available: false; reason: string };

export async function compareBehaviourOfPaths(pathA: string, pathB: string, options: BehaviourOptions & OpenOptions = {}): Promise<BehaviourResult> {
  const opened: BehaviourModel[] = [];
  try {
    for (const path of [pathA, pathB]) {
      try {
        opened.push(await openBehaviourModel(path, { maxBytes: options.maxBytes }));
      } catch (err) {
        if (err instanceof LineageError) return { available: false, reason: `${err.message}` };
        throw err;
      }
    }
    return await compareBehaviour(opened[0]!, opened[1]!, options);
  } finally {
    for (const m of opened) await m.close?.();
  }
}
