/**
 * Tokenizer file formats: pure parsers (bytes or text in, typed view out, BadInputError naming
 * the file on anything malformed), format detection, and reading a tokenizer file from disk.
 */
import { readFile } from 'node:fs/promises';
import { BadInputError } from '../../errors.ts';
import { detectTokenizerFormat, type TokenizerFormat } from './detect.ts';
import { readGgufFile, readGgufVocab, type GgufFile, type GgufVocab } from './gguf.ts';
import { parseSentencePieceModel, type SentencePieceModel } from './sentencepiece.ts';
import { parseTiktoken, type TiktokenRanks } from './tiktoken.ts';
import { parseTokenizerJson, type TokenizerJson } from './tokenizer-json.ts';

export * from './gguf.ts';
export * from './sentencepiece.ts';
export * from './tiktoken.ts';
export * from './tokenizer-json.ts';
export * from './detect.ts';

/** A tokenizer file read from disk, tagged with its format. */
export type TokenizerFile =
  | { format: 'tokenizer-json'; path: string; gzipped: boolean; tokenizer: TokenizerJson }
  | { format: 'sentencepiece'; path: string; gzipped: boolean; model: SentencePieceModel }
  | { format: 'tiktoken'; path: string; gzipped: boolean; ranks: TiktokenRanks }
  | { format: 'gguf'; path: string; gzipped: boolean; gguf: GgufFile; vocab: GgufVocab };

async function readWhole(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new BadInputError(path, `cannot read: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Detects and parses one tokenizer file (tokenizer.json, SentencePiece tokenizer.model, tiktoken
 * ranks or GGUF, each possibly gzip). Throws BadInputError when it is unreadable, malformed or
 * none of these.
 */
export async function readTokenizerFile(path: string): Promise<TokenizerFile> {
  const detected = await detectTokenizerFormat(path);
  if (detected === null) {
    throw new BadInputError(path, 'not a recognised tokenizer file (expected tokenizer.json, a SentencePiece tokenizer.model, tiktoken ranks or GGUF)');
  }
  const { format, gzipped } = detected;
  switch (format as TokenizerFormat) {
    case 'gguf': {
      const gguf = await readGgufFile(path);
      return { format: 'gguf', path, gzipped, gguf, vocab: readGgufVocab(gguf) };
    }
    case 'tokenizer-json':
      return { format: 'tokenizer-json', path, gzipped, tokenizer: parseTokenizerJson(await readWhole(path), path) };
    case 'sentencepiece':
      return { format: 'sentencepiece', path, gzipped, model: parseSentencePieceModel(await readWhole(path), path) };
    case 'tiktoken':
      return { format: 'tiktoken', path, gzipped, ranks: parseTiktoken(await readWhole(path), path) };
  }
}
