/**
 * Hugging Face `tokenizer.json` (the `tokenizers` library's serialization): validates the shape
 * and returns a typed view of the model and added tokens. The normalizer, pre-tokenizer, decoder
 * and post-processor are kept as raw JSON for the encoder to interpret.
 *
 * Field names follow tokenizers' serde format
 * (https://github.com/huggingface/tokenizers/tree/main/tokenizers/src/models).
 */
import { BadInputError } from '../../errors.ts';
import { textOf } from './bytes.ts';

export type TokenizerJsonModelType = 'BPE' | 'Unigram' | 'WordPiece' | 'WordLevel';

export interface TokenizerJsonModel {
  type: TokenizerJsonModelType;
  /**
   * BPE, WordPiece, WordLevel: token to id. Unigram: [piece, score] pairs, the id being the
   * index (narrow with `type === 'Unigram'` or `Array.isArray`).
   */
  vocab: Map<string, number> | [string, number][];
  /** BPE only: merges in priority order, from either "a b" strings or [a, b] pairs. */
  merges?: [string, string][];
  unkToken?: string;
  /** Unigram: the id of the unknown piece. */
  unkId?: number;
  byteFallback?: boolean;
  fuseUnk?: boolean;
  continuingSubwordPrefix?: string;
  endOfWordSuffix?: string;
  ignoreMerges?: boolean;
  dropout?: number;
  /** WordPiece: words longer than this become the unknown token. */
  maxInputCharsPerWord?: number;
}

export interface TokenizerJsonAddedToken {
  id: number;
  content: string;
  special: boolean;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
}

export interface TokenizerJson {
  /** The format version string ("1.0"), if given. */
  version?: string;
  model: TokenizerJsonModel;
  addedTokens: TokenizerJsonAddedToken[];
  /** Raw JSON (null when absent), for the encoder. */
  normalizer: unknown;
  preTokenizer: unknown;
  decoder: unknown;
  postProcessor: unknown;
}

const MODEL_TYPES: readonly TokenizerJsonModelType[] = ['BPE', 'Unigram', 'WordPiece', 'WordLevel'];

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class Checker {
  constructor(readonly file: string) {}
  fail(reason: string): never {
    throw new BadInputError(this.file, reason);
  }
  /** An optional field of the given JSON type; null counts as absent (serde writes None as null). */
  optional<T>(obj: Json, key: string, type: 'string' | 'boolean' | 'number', where: string): T | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== type) this.fail(`${where}.${key} must be a ${type}, got ${JSON.stringify(v).slice(0, 60)}`);
    return v as T;
  }
  id(v: unknown, where: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      this.fail(`${where} must be a non-negative integer id, got ${JSON.stringify(v)?.slice(0, 60)}`);
    }
    return v;
  }
}

/** Old files may omit model.type; tokenizers then tells the models apart by their fields. */
function inferModelType(m: Json): TokenizerJsonModelType | undefined {
  if (Array.isArray(m.vocab)) return 'Unigram';
  if (m.merges !== undefined) return 'BPE';
  if (m.max_input_chars_per_word !== undefined || m.continuing_subword_prefix !== undefined) return 'WordPiece';
  if (isObject(m.vocab)) return 'WordLevel';
  return undefined;
}

function readVocabMap(c: Checker, m: Json): Map<string, number> {
  if (!isObject(m.vocab)) c.fail('model.vocab must be an object mapping tokens to ids');
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(m.vocab)) {
    // Checked inline: building a message per entry would dominate the time on 256k-token vocabs.
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) c.id(id, `model.vocab["${token.slice(0, 40)}"]`);
    vocab.set(token, id as number);
  }
  return vocab;
}

function readMerges(c: Checker, raw: unknown): [string, string][] {
  if (!Array.isArray(raw)) c.fail('model.merges must be an array');
  const merges: [string, string][] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const m = raw[i];
    if (typeof m === 'string') {
      // As tokenizers does: exactly one space separates the two parts (tokens holding a space
      // need the pair form).
      const space = m.indexOf(' ');
      if (space < 0 || m.indexOf(' ', space + 1) >= 0) {
        c.fail(`model.merges[${i}] "${m.slice(0, 60)}" is not two tokens separated by one space`);
      }
      merges[i] = [m.slice(0, space), m.slice(space + 1)];
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      merges[i] = [m[0], m[1]];
    } else {
      c.fail(`model.merges[${i}] must be "a b" or ["a", "b"], got ${JSON.stringify(m)?.slice(0, 60)}`);
    }
  }
  return merges;
}

function readModel(c: Checker, m: unknown): TokenizerJsonModel {
  if (!isObject(m)) c.fail('has no "model" object: not a tokenizer.json');
  const declared = m.type;
  let type: TokenizerJsonModelType;
  if (declared === undefined) {
    const inferred = inferModelType(m);
    if (inferred === undefined) c.fail('model has no "type" and its fields match no known model');
    type = inferred;
  } else {
    if (!MODEL_TYPES.includes(declared as TokenizerJsonModelType)) {
      c.fail(`unknown model type ${JSON.stringify(declared)?.slice(0, 40)} (expected one of ${MODEL_TYPES.join(', ')})`);
    }
    type = declared as TokenizerJsonModelType;
  }

  const opt = <T>(key: string, t: 'string' | 'boolean' | 'number'): T | undefined => c.optional<T>(m, key, t, 'model');
  const model: TokenizerJsonModel = { type, vocab: new Map() };
  const set = <K extends keyof TokenizerJsonModel>(key: K, value: TokenizerJsonModel[K] | undefined): void => {
    if (value !== undefined) model[key] = value;
  };

  if (type === 'Unigram') {
    if (!Array.isArray(m.vocab)) c.fail('model.vocab of a Unigram model must be an array of [piece, score]');
    const vocab: [string, number][] = new Array(m.vocab.length);
    m.vocab.forEach((entry: unknown, i: number) => {
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') {
        c.fail(`model.vocab[${i}] must be [piece, score], got ${JSON.stringify(entry)?.slice(0, 60)}`);
      }
      vocab[i] = [entry[0], entry[1]];
    });
    model.vocab = vocab;
    const unkId = m.unk_id;
    if (unkId !== undefined && unkId !== null) {
      const id = c.id(unkId, 'model.unk_id');
      if (id >= vocab.length) c.fail(`model.unk_id ${id} is outside the ${vocab.length} pieces`);
      model.unkId = id;
    }
    set('byteFallback', opt<boolean>('byte_fallback', 'boolean'));
    return model;
  }

  model.vocab = readVocabMap(c, m);
  set('unkToken', opt<string>('unk_token', 'string'));
  if (type === 'BPE') {
    model.merges = m.merges === undefined || m.merges === null ? [] : readMerges(c, m.merges);
    set('byteFallback', opt<boolean>('byte_fallback', 'boolean'));
    set('fuseUnk', opt<boolean>('fuse_unk', 'boolean'));
    set('continuingSubwordPrefix', opt<string>('continuing_subword_prefix', 'string'));
    set('endOfWordSuffix', opt<string>('end_of_word_suffix', 'string'));
    set('ignoreMerges', opt<boolean>('ignore_merges', 'boolean'));
    set('dropout', opt<number>('dropout', 'number'));
  } else if (type === 'WordPiece') {
    set('continuingSubwordPrefix', opt<string>('continuing_subword_prefix', 'string'));
    set('maxInputCharsPerWord', opt<number>('max_input_chars_per_word', 'number'));
  }
  return model;
}

function readAddedTokens(c: Checker, raw: unknown): TokenizerJsonAddedToken[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) c.fail('added_tokens must be an array');
  return raw.map((t: unknown, i: number) => {
    const where = `added_tokens[${i}]`;
    if (!isObject(t)) c.fail(`${where} must be an object`);
    const id = c.id(t.id, `${where}.id`);
    if (typeof t.content !== 'string') c.fail(`${where}.content must be a string`);
    const flag = (key: string): boolean => c.optional<boolean>(t, key, 'boolean', where) ?? false;
    return {
      id,
      content: t.content,
      special: flag('special'),
      singleWord: flag('single_word'),
      lstrip: flag('lstrip'),
      rstrip: flag('rstrip'),
      // tokenizers defaults `normalized` to true for non-special tokens.
      normalized: c.optional<boolean>(t, 'normalized', 'boolean', where) ?? !flag('special'),
    };
  });
}

/**
 * Parses a tokenizer.json given as text or bytes (gzip accepted). Throws BadInputError when it
 * is not JSON, not an object, has no model or a model of the wrong shape.
 */
export function parseTokenizerJson(input: string | Uint8Array, file: string): TokenizerJson {
  const text = textOf(input, file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(file, `not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const c: Checker = new Checker(file);
  if (!isObject(json)) c.fail(`is not a JSON object (found ${Array.isArray(json) ? 'an array' : typeof json}): not a tokenizer.json`);
  if (json.model === undefined) c.fail('has no "model": not a tokenizer.json');
  const model = readModel(c, json.model);
  const result: TokenizerJson = {
    model,
    addedTokens: readAddedTokens(c, json.added_tokens),
    normalizer: json.normalizer ?? null,
    preTokenizer: json.pre_tokenizer ?? null,
    decoder: json.decoder ?? null,
    postProcessor: json.post_processor ?? null,
  };
  const version = c.optional<string>(json, 'version', 'string', 'tokenizer');
  if (version !== undefined) result.version = version;
  return result;
}
