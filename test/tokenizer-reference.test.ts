/**
 * The encoders against independent implementations, on the built-in corpus plus the llama.cpp
 * vector texts: tiktoken's encodings against gpt-tokenizer, Llama 2 (from its GGUF) against
 * llama-tokenizer-js, and the Hugging Face tokenizer.json files against the transformers.js port
 * bundled with each @lenml package. Any difference fails with the text that shows it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { BUILTIN_CORPUS, createEncoder } from '../core/src/tokenizer/index.ts';
import { load, testWith, VECTORS, type SourceName } from './tokenizer-sources.ts';

const vectorTexts = existsSync(`${VECTORS}ggml-vocab-llama-bpe.gguf.inp`)
  ? readFileSync(`${VECTORS}ggml-vocab-llama-bpe.gguf.inp`, 'utf8').split('\n__ggml_vocab_test__\n').slice(0, -1)
  : [];
const TEXTS = [...BUILTIN_CORPUS.map((c) => c.text), ...vectorTexts];

async function agree(source: SourceName, reference: (text: string) => number[]): Promise<string[]> {
  const encoder = createEncoder(await load(source));
  const failures: string[] = [];
  for (const text of TEXTS) {
    const ours = encoder.encode(text);
    const theirs = reference(text);
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
      failures.push(`${JSON.stringify(text).slice(0, 60)}: ours ${ours.slice(0, 24).join(' ')} / reference ${theirs.slice(0, 24).join(' ')}`);
    }
  }
  return failures;
}

type TiktokenModule = { encode(text: string, options?: { disallowedSpecial?: Set<string> }): number[] };
const noSpecial = { disallowedSpecial: new Set<string>() };

for (const [source, module] of [['cl100k', 'cl100k_base'], ['o200k', 'o200k_base'], ['r50k', 'r50k_base'], ['p50k', 'p50k_base']] as const) {
  testWith([source])(`${module} encodes as gpt-tokenizer does`, async (t) => {
    const ref = (await import(`gpt-tokenizer/encoding/${module}`)) as TiktokenModule;
    t.deepEqual(await agree(source, (text) => ref.encode(text, noSpecial)), []);
  });
}

testWith(['llama2'])('Llama 2 (GGUF, scores) encodes as llama-tokenizer-js does', async (t) => {
  const ref = (await import('llama-tokenizer-js')).default as { encode(text: string, bos: boolean, prefixSpace: boolean): number[] };
  t.deepEqual(await agree('llama2', (text) => ref.encode(text, false, true)), []);
});

type LenmlModule = { fromPreTrained(): { encode(text: string, options: { add_special_tokens: boolean }): number[] } };

for (const [source, pkg] of [
  ['llama3', 'tokenizer-llama3'],
  ['qwen3', 'tokenizer-qwen3'],
  ['mistral', 'tokenizer-llama2'],
  ['gemma', 'tokenizer-gemini'],
  ['deepseekV3', 'tokenizer-deepseek_v3'],
] as const) {
  testWith([source])(`${pkg} tokenizer.json encodes as its transformers.js port does`, async (t) => {
    const ref = ((await import(`@lenml/${pkg}`)) as LenmlModule).fromPreTrained();
    t.deepEqual(await agree(source, (text) => ref.encode(text, { add_special_tokens: false })), []);
  });
}
