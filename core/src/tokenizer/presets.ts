/**
 * Pipelines for formats that do not carry their own: the Hugging Face specs equivalent to what
 * llama.cpp applies for each GGUF `tokenizer.ggml.pre` name (the reference behaviour being the
 * Hugging Face tokenizer the GGUF was converted from), and the split patterns and special tokens
 * of the known tiktoken encodings.
 */
import type { Spec } from './model.ts';

const byteLevel = (useRegex: boolean): Spec => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const split = (regex: string): Spec => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });
const sequence = (...pretokenizers: Spec[]): Spec => ({ type: 'Sequence', pretokenizers });

export const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const QWEN2_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const CL100K_PATTERN =
  "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
export const O200K_PATTERN = [
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
  '\\p{N}{1,3}',
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*',
  '\\s*[\\r\\n]+',
  '\\s+(?!\\S)',
  '\\s+',
].join('|');
export const R50K_PATTERN =
  "'(?:[sdmt]|ll|ve|re)| ?\\p{L}++| ?\\p{N}++| ?[^\\s\\p{L}\\p{N}]++|\\s++$|\\s+(?!\\S)|\\s";
const TEKKEN_PATTERN =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const BLOOM_PATTERN = ' ?[^(\\s|.,!?…。，、।۔،)]+';

// Cased letters, written as escapes: several of them (U+1F7D, U+1FBE, U+2126, U+212A, ...) have
// canonical equivalents that any NFC-normalizing editor would silently substitute.
const DEEPSEEK_LLM_LETTERS =
  '\\s?[A-Za-z\\u{b5}\\u{c0}-\\u{d6}\\u{d8}-\\u{f6}\\u{f8}-\\u{1ba}\\u{1bc}-\\u{1bf}\\u{1c4}-\\u{293}\\u{295}-\\u{2af}\\u{370}-\\u{373}\\u{376}\\u{377}\\u{37b}-\\u{37d}\\u{37f}\\u{386}\\u{388}-\\u{38a}\\u{38c}\\u{38e}-\\u{3a1}\\u{3a3}-\\u{3f5}\\u{3f7}-\\u{481}\\u{48a}-\\u{52f}\\u{531}-\\u{556}\\u{10a0}-\\u{10c5}\\u{13a0}-\\u{13f5}\\u{13f8}-\\u{13fd}\\u{1c90}-\\u{1cba}\\u{1cbd}-\\u{1cbf}\\u{1d00}-\\u{1d2b}\\u{1d6b}-\\u{1d77}\\u{1d79}-\\u{1d9a}\\u{1e00}-\\u{1f15}\\u{1f18}-\\u{1f1d}\\u{1f20}-\\u{1f45}\\u{1f48}-\\u{1f4d}\\u{1f50}-\\u{1f57}\\u{1f59}\\u{1f5b}\\u{1f5d}\\u{1f5f}-\\u{1f7d}\\u{1f80}-\\u{1fb4}\\u{1fb6}-\\u{1fbc}\\u{1fbe}\\u{1fc2}-\\u{1fc4}\\u{1fc6}-\\u{1fcc}\\u{1fd0}-\\u{1fd3}\\u{1fd6}-\\u{1fdb}\\u{1fe0}-\\u{1fec}\\u{1ff2}-\\u{1ff4}\\u{1ff6}-\\u{1ffc}\\u{2102}\\u{2107}\\u{210a}-\\u{2113}\\u{2115}\\u{2119}-\\u{211d}\\u{2124}\\u{2126}\\u{2128}\\u{212a}-\\u{212d}\\u{212f}-\\u{2134}\\u{2139}\\u{213c}-\\u{213f}\\u{2145}-\\u{2149}\\u{214e}\\u{2183}\\u{2184}\\u{2c00}-\\u{2c7b}\\u{2c7e}-\\u{2ce4}\\u{2ceb}-\\u{2cee}\\u{2cf2}\\u{2cf3}\\u{a640}-\\u{a66d}\\u{a680}-\\u{a69b}\\u{a722}-\\u{a76f}\\u{a771}-\\u{a787}\\u{a78b}-\\u{a78e}\\u{ab70}-\\u{abbf}\\u{fb00}-\\u{fb06}\\u{fb13}-\\u{fb17}\\u{ff21}-\\u{ff3a}\\u{ff41}-\\u{ff5a}\\u{10400}-\\u{1044f}\\u{104b0}-\\u{104d3}\\u{104d8}-\\u{104fb}\\u{10c80}-\\u{10cb2}\\u{10cc0}-\\u{10cf2}\\u{118a0}-\\u{118df}\\u{1e900}-\\u{1e943}]+';
const CJK_HANGUL = '[一-龥ࠀ-一가-퟿]+';
const DEEPSEEK_V3_MAIN =
  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";

export interface PresetPipeline {
  normalizer: Spec | null;
  preTokenizer: Spec | null;
  /** Set when the pipeline is a stand-in rather than the known one. */
  note?: string;
}

/**
 * The pipeline of a GGUF byte-level BPE vocabulary, by its `tokenizer.ggml.pre` name and, when
 * that is missing, its architecture.
 */
export function ggufBpePipeline(pre: string | undefined, architecture: string | undefined): PresetPipeline {
  const gpt2 = { normalizer: null, preTokenizer: byteLevel(true) };
  const nfc: Spec = { type: 'NFC' };
  switch (pre) {
    case 'gpt-2':
    case 'gpt2':
    case 'olmo':
    case 'jais':
      return gpt2;
    case 'mpt':
      // MPT uses EleutherAI's GPT-NeoX-20B tokenizer, whose tokenizer.json normalizes to NFC.
      return { normalizer: nfc, preTokenizer: byteLevel(true) };
    case 'llama-bpe':
    case 'llama3':
    case 'dbrx':
    case 'smaug-bpe':
      return { normalizer: null, preTokenizer: sequence(split(LLAMA3_PATTERN), byteLevel(false)) };
    case 'qwen2':
    case 'stablelm2':
    case 'megrez':
      return { normalizer: nfc, preTokenizer: sequence(split(QWEN2_PATTERN), byteLevel(false)) };
    case 'starcoder':
    case 'refact':
    case 'command-r':
    case 'smollm':
    case 'codeshell':
    case 'exaone':
    case 'minerva-7b':
      return { normalizer: null, preTokenizer: sequence({ type: 'Digits', individual_digits: true }, byteLevel(true)) };
    case 'falcon':
      return {
        normalizer: null,
        preTokenizer: sequence(
          { type: 'Punctuation', behavior: 'Contiguous' },
          byteLevel(true),
          { type: 'Digits', individual_digits: false },
          split('[0-9][0-9][0-9]'),
        ),
      };
    case 'deepseek-llm':
      return {
        normalizer: null,
        preTokenizer: sequence(
          split('[\r\n]'),
          split(DEEPSEEK_LLM_LETTERS),
          split('\\s?[!-/:-~！-／：-～‘-‟　-。]+'),
          split('\\s+$'),
          split(CJK_HANGUL),
          { type: 'Digits', individual_digits: true },
          byteLevel(false),
        ),
      };
    case 'deepseek-coder':
      return {
        normalizer: null,
        preTokenizer: sequence(
          split('[\r\n]'),
          split('\\s?\\p{L}+'),
          split('\\s?\\p{P}+'),
          split(CJK_HANGUL),
          { type: 'Digits', individual_digits: true },
          byteLevel(false),
        ),
      };
    case 'deepseek-v3':
      return {
        normalizer: null,
        preTokenizer: sequence(split('\\p{N}{1,3}'), split('[一-龥぀-ゟ゠-ヿ]+'), split(DEEPSEEK_V3_MAIN), byteLevel(false)),
      };
    case 'gpt-4o':
    case 'llama4':
      return { normalizer: null, preTokenizer: sequence(split(O200K_PATTERN), byteLevel(false)) };
    case 'chatglm-bpe':
    case 'glm4':
      return { normalizer: null, preTokenizer: sequence(split(LLAMA3_PATTERN), byteLevel(false)) };
    case 'tekken':
      return { normalizer: null, preTokenizer: sequence(split(TEKKEN_PATTERN), byteLevel(false)) };
    case 'bloom':
    case 'poro-chat':
    case 'gpt3-finnish':
      return { normalizer: null, preTokenizer: sequence(split(BLOOM_PATTERN), byteLevel(false)) };
    case 'viking':
      return { normalizer: null, preTokenizer: sequence(split(BLOOM_PATTERN), { type: 'Digits', individual_digits: true }, byteLevel(false)) };
    case undefined:
    case 'default':
      if (architecture === 'gptneox' || architecture === 'mpt') return { normalizer: nfc, preTokenizer: byteLevel(true) };
      return { ...gpt2, note: 'GGUF names no pre-tokenizer; the GPT-2 byte-level split is used' };
    default:
      return { ...gpt2, note: `GGUF pre-tokenizer '${pre}' is not known here; the GPT-2 byte-level split is used` };
  }
}

/** A known tiktoken encoding: its split pattern and special tokens (from tiktoken's definitions). */
export interface TiktokenEncoding {
  name: string;
  pattern: string;
  specials: [string, number][];
}

function llama3Specials(): [string, number][] {
  const names = ['<|begin_of_text|>', '<|end_of_text|>', '<|reserved_special_token_0|>', '<|reserved_special_token_1|>',
    '<|finetune_right_pad_id|>', '<|reserved_special_token_2|>', '<|start_header_id|>', '<|end_header_id|>',
    '<|eom_id|>', '<|eot_id|>', '<|python_tag|>'];
  const out: [string, number][] = names.map((n, i) => [n, 128000 + i]);
  for (let i = names.length; i < 256; i++) out.push([`<|reserved_special_token_${i - 8}|>`, 128000 + i]);
  return out;
}

/**
 * The encoding a tiktoken rank file belongs to, recognised by its file name or, failing that,
 * its number of ranks; null when neither says.
 */
export function tiktokenEncoding(fileName: string, rankCount: number): TiktokenEncoding | null {
  const name = fileName.toLowerCase();
  const byName = (n: string) => name.includes(n);
  if (byName('o200k') || rankCount === 199998) {
    return { name: 'o200k_base', pattern: O200K_PATTERN, specials: [['<|endoftext|>', 199999], ['<|endofprompt|>', 200018]] };
  }
  if (byName('cl100k') || rankCount === 100256) {
    return {
      name: 'cl100k_base',
      pattern: CL100K_PATTERN,
      specials: [['<|endoftext|>', 100257], ['<|fim_prefix|>', 100258], ['<|fim_middle|>', 100259], ['<|fim_suffix|>', 100260], ['<|endofprompt|>', 100276]],
    };
  }
  if (byName('p50k') || rankCount === 50280) return { name: 'p50k_base', pattern: R50K_PATTERN, specials: [['<|endoftext|>', 50256]] };
  if (byName('r50k') || byName('gpt2') || rankCount === 50256) return { name: 'r50k_base', pattern: R50K_PATTERN, specials: [['<|endoftext|>', 50256]] };
  if (rankCount === 128000) return { name: 'llama3', pattern: LLAMA3_PATTERN, specials: llama3Specials() };
  if (byName('qwen') || rankCount === 151643) {
    return { name: 'qwen', pattern: QWEN2_PATTERN, specials: [['<|endoftext|>', 151643], ['<|im_start|>', 151644], ['<|im_end|>', 151645]] };
  }
  return null;
}
