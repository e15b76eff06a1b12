/**
 * Loading a tokenizer file (tokenizer.json, SentencePiece tokenizer.model, tiktoken ranks, GGUF)
 * or a model folder into the normalized Tokenizer model. The file parsers live in formats/; this
 * module turns each parsed format into tokens, types, merges, scores, added tokens and the
 * pipeline that reproduces the tokenizer's encoding.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BadInputError } from '../errors.ts';
import {
  findTokenizerFiles,
  readTokenizerFile,
  type GgufFile,
  type GgufVocab,
  type SentencePieceModel,
  type TiktokenRanks,
  type TokenizerJson,
} from './formats/index.ts';
import type { AddedToken, Spec, Tokenizer, TokenType } from './model.ts';
import { unsupportedNormalizer, usesPrecompiled } from './normalize.ts';
import { bytePieceValue, bytesToByteLevel, METASPACE, type PieceStyle } from './pieces.ts';
import { ggufBpePipeline, tiktokenEncoding, CL100K_PATTERN } from './presets.ts';
import { unsupportedPreTokenizer } from './pretokenize.ts';

const GGUF_TYPES: Record<number, TokenType> = { 1: 'normal', 2: 'unknown', 3: 'control', 4: 'user', 5: 'unused', 6: 'byte' };

function asSpec(v: unknown): Spec | null {
  return typeof v === 'object' && v !== null && typeof (v as Spec).type === 'string' ? (v as Spec) : null;
}

function base(path: string, format: Tokenizer['source']['format'], model: Tokenizer['model'], pieceStyle: PieceStyle): Tokenizer {
  return {
    source: { path, format },
    model,
    pieceStyle,
    tokens: [],
    types: [],
    scores: null,
    merges: null,
    added: [],
    specialIds: {},
    normalizer: null,
    preTokenizer: null,
    bpe: null,
    unigram: null,
    wordpiece: null,
    encodeUnsupported: null,
    notes: [],
  };
}

/** Records why encoding is impossible or approximate, from the pipeline specs. */
function checkPipeline(tok: Tokenizer): void {
  const bad = unsupportedNormalizer(tok.normalizer) ?? unsupportedPreTokenizer(tok.preTokenizer);
  if (bad && !tok.encodeUnsupported) tok.encodeUnsupported = bad;
  if (usesPrecompiled(tok.normalizer)) {
    tok.notes.push("SentencePiece precompiled normalization is approximated by NFKC");
  }
}

/** The piece style a tokenizer.json implies, from its model and pipeline components. */
function tokenizerJsonStyle(tj: TokenizerJson): PieceStyle {
  if (tj.model.type === 'WordPiece') return 'wordpiece';
  const pipeline = JSON.stringify([tj.normalizer, tj.preTokenizer, tj.decoder]);
  if (pipeline.includes('"ByteLevel"')) return 'byte-level';
  if (pipeline.includes('Metaspace') || pipeline.includes(METASPACE)) return 'metaspace';
  return 'plain';
}

export function fromTokenizerJson(tj: TokenizerJson, path: string): Tokenizer {
  const m = tj.model;
  const kind = m.type === 'Unigram' ? 'unigram' : m.type === 'WordPiece' ? 'wordpiece' : m.type === 'BPE' ? 'bpe' : 'other';
  const tok = base(path, 'tokenizer.json', kind, tokenizerJsonStyle(tj));
  const tokens: (string | null)[] = [];
  let scores: number[] | null = null;
  if (Array.isArray(m.vocab)) {
    scores = [];
    m.vocab.forEach(([piece, score], id) => {
      tokens[id] = piece;
      scores![id] = score;
    });
  } else {
    for (const [piece, id] of m.vocab) tokens[id] = piece;
  }
  for (const a of tj.addedTokens) tokens[a.id] = a.content;
  tok.tokens = Array.from(tokens, (t) => t ?? null);
  const byteFallback = m.byteFallback === true;
  tok.types = tok.tokens.map((piece) => (byteFallback && piece !== null && bytePieceValue(piece) !== null ? 'byte' : 'normal'));
  if (scores) tok.scores = Float32Array.from(tok.tokens, (_, id) => scores![id] ?? 0);
  tok.added = tj.addedTokens.map((a) => ({ ...a }));
  for (const a of tj.addedTokens) tok.types[a.id] = a.special ? 'control' : 'user';
  const unkPiece = m.unkToken ?? (m.unkId !== undefined ? tok.tokens[m.unkId] ?? undefined : undefined);
  if (unkPiece !== undefined) {
    const unkId = m.unkId ?? tok.tokens.indexOf(unkPiece);
    if (unkId >= 0) {
      tok.types[unkId] = 'unknown';
      tok.specialIds.unk = unkId;
    }
  }
  tok.normalizer = asSpec(tj.normalizer);
  tok.preTokenizer = asSpec(tj.preTokenizer);
  if (m.type === 'BPE') {
    tok.merges = m.merges ?? [];
    tok.bpe = {
      priority: 'merges',
      byteFallback,
      unkToken: m.unkToken ?? null,
      fuseUnk: m.fuseUnk === true,
      ignoreMerges: m.ignoreMerges === true,
      continuingSubwordPrefix: m.continuingSubwordPrefix ?? '',
      endOfWordSuffix: m.endOfWordSuffix ?? '',
    };
  } else if (m.type === 'Unigram') {
    tok.unigram = { unkId: m.unkId ?? null, byteFallback };
  } else if (m.type === 'WordPiece') {
    tok.wordpiece = {
      unkToken: m.unkToken ?? '[UNK]',
      continuingSubwordPrefix: m.continuingSubwordPrefix ?? '##',
      maxInputCharsPerWord: m.maxInputCharsPerWord ?? 100,
    };
  } else {
    tok.encodeUnsupported = `the ${m.type} model is not supported for encoding`;
  }
  if (m.dropout) tok.notes.push(`BPE dropout ${m.dropout} is ignored (deterministic encoding)`);
  checkPipeline(tok);
  return tok;
}

/** SentencePiece's normalizer settings as tokenizer.json normalizer specs. */
function sentencePieceNormalizer(spec: SentencePieceModel['normalizerSpec']): Spec | null {
  const parts: Spec[] = [];
  if (spec.name && spec.name !== 'identity' && (spec.precompiledCharsmap?.length ?? 0) > 0) parts.push({ type: 'Precompiled' });
  if (spec.removeExtraWhitespaces) {
    parts.push({ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' });
    parts.push({ type: 'Strip', strip_left: true, strip_right: true });
  }
  if (spec.addDummyPrefix) parts.push({ type: 'Prepend', prepend: METASPACE });
  if (spec.escapeWhitespaces) parts.push({ type: 'Replace', pattern: { String: ' ' }, content: METASPACE });
  return parts.length ? { type: 'Sequence', normalizers: parts } : null;
}

export function fromSentencePiece(sp: SentencePieceModel, path: string): Tokenizer {
  const ts = sp.trainerSpec;
  const kind = ts.modelType === 'unigram' ? 'unigram' : ts.modelType === 'bpe' ? 'bpe' : 'other';
  const tok = base(path, 'tokenizer.model', kind, 'metaspace');
  tok.tokens = sp.pieces.map((p) => p.piece);
  tok.types = sp.pieces.map((p) => p.type);
  tok.scores = Float32Array.from(sp.pieces, (p) => p.score);
  for (const [name, id] of [['unk', ts.unkId], ['bos', ts.bosId], ['eos', ts.eosId], ['pad', ts.padId]] as const) {
    if (id >= 0 && id < tok.tokens.length) tok.specialIds[name] = id;
  }
  // SentencePiece matches user-defined symbols in text; control symbols never are.
  tok.added = sp.pieces.flatMap((p, id): AddedToken[] =>
    p.type === 'user' ? [{ id, content: p.piece, special: false, lstrip: false, rstrip: false, singleWord: false, normalized: false }] : []);
  tok.normalizer = sentencePieceNormalizer(sp.normalizerSpec);
  const unkPiece = ts.unkId >= 0 ? tok.tokens[ts.unkId] ?? null : null;
  if (ts.modelType === 'bpe') {
    tok.bpe = { priority: 'piece-score', byteFallback: ts.byteFallback, unkToken: unkPiece, fuseUnk: true, ignoreMerges: false, continuingSubwordPrefix: '', endOfWordSuffix: '' };
  } else if (ts.modelType === 'unigram') {
    tok.unigram = { unkId: ts.unkId >= 0 ? ts.unkId : null, byteFallback: ts.byteFallback };
  } else {
    tok.encodeUnsupported = `the SentencePiece '${ts.modelType}' model is not supported for encoding`;
  }
  if (ts.treatWhitespaceAsSuffix) tok.encodeUnsupported ??= 'SentencePiece treat_whitespace_as_suffix is not supported';
  checkPipeline(tok);
  return tok;
}

export function fromTiktoken(ranks: TiktokenRanks, path: string): Tokenizer {
  const tok = base(path, 'tiktoken', 'bpe', 'byte-level');
  tok.tokens = ranks.tokens.map((b) => (b ? bytesToByteLevel(b) : null));
  tok.types = tok.tokens.map(() => 'normal');
  const encoding = tiktokenEncoding(basename(path), ranks.ranks.size);
  if (encoding) {
    tok.notes.push(`tiktoken encoding ${encoding.name} (split pattern and special tokens from tiktoken's definition)`);
    for (const [content, id] of encoding.specials) {
      while (tok.tokens.length <= id) {
        tok.tokens.push(null);
        tok.types.push('unused');
      }
      tok.tokens[id] = content;
      tok.types[id] = 'control';
      tok.added.push({ id, content, special: true, lstrip: false, rstrip: false, singleWord: false, normalized: false });
    }
  } else {
    tok.notes.push("unknown tiktoken encoding: cl100k_base's split pattern is assumed and no special tokens are known");
  }
  for (let id = 0; id < tok.tokens.length; id++) if (tok.tokens[id] === null) tok.types[id] = 'unused';
  tok.preTokenizer = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: encoding?.pattern ?? CL100K_PATTERN }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    ],
  };
  tok.bpe = { priority: 'token-rank', byteFallback: false, unkToken: null, fuseUnk: false, ignoreMerges: false, continuingSubwordPrefix: '', endOfWordSuffix: '' };
  return tok;
}

/** llama.cpp stores BERT vocabularies with `▁` on word starts and no `##`; this restores the WordPiece form. */
function wordPieceFromGguf(piece: string): string {
  if (piece.startsWith('[') && piece.endsWith(']')) return piece;
  if (piece.startsWith(METASPACE)) return piece.slice(1);
  return '##' + piece;
}

export function fromGguf(vocab: GgufVocab, gguf: GgufFile, path: string): Tokenizer {
  const arch = gguf.metadata.get('general.architecture');
  const architecture = typeof arch === 'string' ? arch : undefined;
  const types: TokenType[] = Array.from(vocab.tokens, (_, id) => GGUF_TYPES[vocab.tokenTypes?.[id] ?? 1] ?? 'normal');
  const special = (id: number | undefined, name: string, tok: Tokenizer) => {
    if (id !== undefined && id >= 0 && id < tok.tokens.length) tok.specialIds[name] = id;
  };
  const finish = (tok: Tokenizer): Tokenizer => {
    tok.types = types;
    tok.scores = vocab.scores ?? null;
    special(vocab.bosId, 'bos', tok);
    special(vocab.eosId, 'eos', tok);
    special(vocab.unkId, 'unk', tok);
    special(vocab.padId, 'pad', tok);
    // Like llama.cpp without parse_special: user-defined tokens are matched in text, control ones not.
    tok.added = tok.tokens.flatMap((content, id): AddedToken[] =>
      types[id] === 'user' && content ? [{ id, content, special: false, lstrip: false, rstrip: false, singleWord: false, normalized: false }] : []);
    tok.notes.push(`GGUF tokenizer '${vocab.model}'${vocab.pre ? `, pre-tokenizer '${vocab.pre}'` : ''}`);
    for (const w of vocab.warnings) tok.notes.push(w);
    checkPipeline(tok);
    return tok;
  };
  const unkPiece = vocab.unkId !== undefined ? vocab.tokens[vocab.unkId] ?? null : null;
  switch (vocab.model) {
    case 'llama': {
      const tok = base(path, 'gguf', 'bpe', 'metaspace');
      tok.tokens = [...vocab.tokens];
      const parts: Spec[] = [];
      if (vocab.addSpacePrefix !== false) parts.push({ type: 'Prepend', prepend: METASPACE });
      parts.push({ type: 'Replace', pattern: { String: ' ' }, content: METASPACE });
      tok.normalizer = { type: 'Sequence', normalizers: parts };
      tok.bpe = {
        priority: 'piece-score',
        byteFallback: types.includes('byte'),
        unkToken: unkPiece,
        fuseUnk: true,
        ignoreMerges: false,
        continuingSubwordPrefix: '',
        endOfWordSuffix: '',
      };
      return finish(tok);
    }
    case 'gpt2': {
      const tok = base(path, 'gguf', 'bpe', 'byte-level');
      tok.tokens = [...vocab.tokens];
      tok.merges = (vocab.merges ?? []).map((m) => {
        const at = m.indexOf(' ', 1);
        return (at < 0 ? [m, ''] : [m.slice(0, at), m.slice(at + 1)]) as [string, string];
      });
      const pipeline = ggufBpePipeline(vocab.pre, architecture);
      tok.normalizer = pipeline.normalizer;
      tok.preTokenizer = pipeline.preTokenizer;
      if (pipeline.note) tok.notes.push(pipeline.note);
      tok.bpe = {
        priority: 'merges',
        byteFallback: false,
        unkToken: null,
        fuseUnk: false,
        ignoreMerges: vocab.pre === 'llama-bpe' || vocab.pre === 'llama3',
        continuingSubwordPrefix: '',
        endOfWordSuffix: '',
      };
      return finish(tok);
    }
    case 'bert': {
      const tok = base(path, 'gguf', 'wordpiece', 'wordpiece');
      tok.tokens = vocab.tokens.map((t, id) => (types[id] === 'normal' ? wordPieceFromGguf(t) : t));
      tok.normalizer = { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true };
      tok.preTokenizer = { type: 'BertPreTokenizer' };
      tok.wordpiece = { unkToken: unkPiece ?? '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 };
      tok.notes.push('GGUF BERT vocabulary: word-start pieces read back from ▁x to x, continuations to ##x; lowercasing assumed (uncased model)');
      return finish(tok);
    }
    case 't5': {
      const tok = base(path, 'gguf', 'unigram', 'metaspace');
      tok.tokens = [...vocab.tokens];
      tok.normalizer = vocab.other.has('tokenizer.ggml.precompiled_charsmap') ? { type: 'Precompiled' } : null;
      tok.preTokenizer = { type: 'Metaspace', replacement: METASPACE, prepend_scheme: vocab.addSpacePrefix === false ? 'never' : 'always', split: true };
      tok.unigram = { unkId: vocab.unkId ?? null, byteFallback: types.includes('byte') };
      return finish(tok);
    }
    default: {
      const tok = base(path, 'gguf', 'other', 'plain');
      tok.tokens = [...vocab.tokens];
      tok.encodeUnsupported = `the GGUF tokenizer model '${vocab.model}' is not supported for encoding`;
      return finish(tok);
    }
  }
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new BadInputError(path, `cannot read: ${(err as Error).message}`, { cause: err });
  }
}

function parseJsonObject(text: string, path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(path, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadInputError(path, 'must be a JSON object');
  return v as Record<string, unknown>;
}

/** The special tokens named by a folder's special_tokens_map.json (strings or {content} objects). */
async function specialTokensMap(folder: string): Promise<Set<string>> {
  const path = join(folder, 'special_tokens_map.json');
  const text = await readText(path);
  const out = new Set<string>();
  if (text === null) return out;
  const add = (v: unknown) => {
    if (typeof v === 'string') out.add(v);
    else if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') out.add((v as { content: string }).content);
  };
  for (const v of Object.values(parseJsonObject(text, path))) {
    if (Array.isArray(v)) v.forEach(add);
    else add(v);
  }
  return out;
}

/** Marks the tokens a folder names as special: control type, matched in text as added tokens. */
function markSpecial(tok: Tokenizer, specials: Set<string>): void {
  const known = new Set(tok.added.map((a) => a.id));
  tok.tokens.forEach((content, id) => {
    if (content === null || !specials.has(content)) return;
    if (tok.types[id] !== 'unknown') tok.types[id] = 'control';
    if (!known.has(id)) tok.added.push({ id, content, special: true, lstrip: false, rstrip: false, singleWord: false, normalized: false });
  });
}

/**
 * The files older Hugging Face repositories ship instead of tokenizer.json: GPT-2 style
 * vocab.json + merges.txt (byte-level BPE, e.g. GPT-2, RoBERTa) or BERT's vocab.txt (WordPiece).
 * Null when the folder has neither.
 */
async function loadLegacyFiles(folder: string): Promise<Tokenizer | null> {
  const vocabJsonPath = join(folder, 'vocab.json');
  const mergesPath = join(folder, 'merges.txt');
  const vocabJson = await readText(vocabJsonPath);
  const mergesText = vocabJson === null ? null : await readText(mergesPath);
  if (vocabJson !== null && mergesText !== null) {
    const vocab = parseJsonObject(vocabJson, vocabJsonPath);
    const tok = base(vocabJsonPath, 'vocab.json+merges.txt', 'bpe', 'byte-level');
    for (const [piece, id] of Object.entries(vocab)) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new BadInputError(vocabJsonPath, `id of ${JSON.stringify(piece)} is not a non-negative integer`);
      tok.tokens[id] = piece;
    }
    const addedPath = join(folder, 'added_tokens.json');
    const addedText = await readText(addedPath);
    if (addedText !== null) {
      for (const [content, id] of Object.entries(parseJsonObject(addedText, addedPath))) {
        if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new BadInputError(addedPath, `id of ${JSON.stringify(content)} is not a non-negative integer`);
        tok.tokens[id] = content;
        tok.added.push({ id, content, special: true, lstrip: false, rstrip: false, singleWord: false, normalized: false });
      }
    }
    tok.tokens = Array.from(tok.tokens, (t) => t ?? null);
    tok.types = tok.tokens.map((t) => (t === null ? 'unused' : 'normal'));
    for (const a of tok.added) tok.types[a.id] = 'control';
    tok.merges = [];
    mergesText.split(/\r?\n/).forEach((line, i) => {
      if (line === '' || (i === 0 && line.startsWith('#version'))) return;
      const at = line.indexOf(' ', 1);
      if (at < 0) throw new BadInputError(mergesPath, `line ${i + 1} is not a merge ("left right")`);
      tok.merges!.push([line.slice(0, at), line.slice(at + 1)]);
    });
    tok.preTokenizer = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    tok.bpe = { priority: 'merges', byteFallback: false, unkToken: null, fuseUnk: false, ignoreMerges: false, continuingSubwordPrefix: '', endOfWordSuffix: '' };
    markSpecial(tok, await specialTokensMap(folder));
    tok.notes.push('vocab.json + merges.txt read as GPT-2 style byte-level BPE');
    return tok;
  }
  const vocabTxtPath = join(folder, 'vocab.txt');
  const vocabTxt = await readText(vocabTxtPath);
  if (vocabTxt === null) return null;
  const lines = vocabTxt.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new BadInputError(vocabTxtPath, 'holds no tokens');
  const tok = base(vocabTxtPath, 'vocab.txt', 'wordpiece', 'wordpiece');
  tok.tokens = lines;
  tok.types = lines.map((t) => (t === '[UNK]' ? 'unknown' : /^\[(PAD|CLS|SEP|MASK)\]$/.test(t) ? 'control' : 'normal'));
  tok.added = lines.flatMap((content, id): AddedToken[] =>
    tok.types[id] === 'normal' ? [] : [{ id, content, special: true, lstrip: false, rstrip: false, singleWord: false, normalized: false }]);
  const configText = await readText(join(folder, 'tokenizer_config.json'));
  let lowercase = true;
  if (configText !== null) {
    const config = parseJsonObject(configText, join(folder, 'tokenizer_config.json'));
    if (typeof config.do_lower_case === 'boolean') lowercase = config.do_lower_case;
  }
  tok.normalizer = { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase };
  tok.preTokenizer = { type: 'BertPreTokenizer' };
  tok.wordpiece = { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 };
  markSpecial(tok, await specialTokensMap(folder));
  tok.notes.push(`vocab.txt read as BERT WordPiece (${lowercase ? 'lowercased' : 'cased'})`);
  return tok;
}

/**
 * Loads the tokenizer of a model folder or a tokenizer file. A folder is searched for
 * tokenizer.json, tokenizer.model, *.tiktoken and *.gguf (formats/findTokenizerFiles), then for
 * vocab.json + merges.txt or vocab.txt; a folder with none of them gives null; an unreadable, malformed or unknown file gives a BadInputError naming it.
 */
export async function loadTokenizer(pathOrFolder: string): Promise<Tokenizer | null> {
  let isFolder: boolean;
  try {
    isFolder = (await stat(pathOrFolder)).isDirectory();
  } catch (err) {
    throw new BadInputError(pathOrFolder, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  let path = pathOrFolder;
  if (isFolder) {
    const files = await findTokenizerFiles(pathOrFolder);
    if (files.length === 0) return loadLegacyFiles(pathOrFolder);
    path = files[0]!.path;
  }
  const file = await readTokenizerFile(path);
  switch (file.format) {
    case 'tokenizer-json':
      return fromTokenizerJson(file.tokenizer, path);
    case 'sentencepiece':
      return fromSentencePiece(file.model, path);
    case 'tiktoken':
      return fromTiktoken(file.ranks, path);
    case 'gguf':
      return fromGguf(file.vocab, file.gguf, path);
  }
}
