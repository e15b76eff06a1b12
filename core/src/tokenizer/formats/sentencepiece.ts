/**
 * SentencePiece `ModelProto` parser (the tokenizer.model of Llama 1/2, Mistral, Gemma, T5, ...).
 *
 * Field numbers follow sentencepiece_model.proto
 * (https://github.com/google/sentencepiece/blob/master/src/sentencepiece_model.proto).
 * proto2 semantics: a field absent from the file takes the default the .proto declares, so
 * the values returned are what SentencePiece itself would use.
 */
import { BadInputError } from '../../errors.ts';
import { gunzipIfNeeded } from './bytes.ts';
import { ProtoReader, WIRE_FIXED32, WIRE_LEN, WIRE_VARINT } from './protobuf.ts';

export type SentencePieceType = 'normal' | 'unknown' | 'control' | 'user' | 'unused' | 'byte';
export type SentencePieceModelType = 'unigram' | 'bpe' | 'word' | 'char';

export interface SentencePiece {
  piece: string;
  score: number;
  type: SentencePieceType;
}

export interface SentencePieceTrainerSpec {
  modelType: SentencePieceModelType;
  vocabSize: number;
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  /** -1 when the model has no such token. */
  eosId: number;
  padId: number;
  unkPiece: string;
  bosPiece: string;
  eosPiece: string;
  padPiece: string;
  splitDigits: boolean;
  splitByWhitespace: boolean;
  splitByNumber: boolean;
  splitByUnicodeScript: boolean;
  treatWhitespaceAsSuffix: boolean;
  allowWhitespaceOnlyPieces: boolean;
  maxSentencepieceLength: number;
  characterCoverage: number;
  controlSymbols: string[];
  userDefinedSymbols: string[];
  /** The training inputs recorded in the model (often local paths of whoever trained it). */
  input: string[];
  modelPrefix?: string;
}

export interface SentencePieceNormalizerSpec {
  name?: string;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
  precompiledCharsmap?: Uint8Array;
  normalizationRuleTsv?: string;
}

export interface SentencePieceModel {
  pieces: SentencePiece[];
  trainerSpec: SentencePieceTrainerSpec;
  normalizerSpec: SentencePieceNormalizerSpec;
  /** Present when the model carries a denormalizer (rare). */
  denormalizerSpec?: SentencePieceNormalizerSpec;
  /** Oddities SentencePiece itself tolerates (a special id outside the pieces), one line each. */
  warnings: string[];
}

const PIECE_TYPES: Record<number, SentencePieceType> = {
  1: 'normal', 2: 'unknown', 3: 'control', 4: 'user', 5: 'unused', 6: 'byte',
};
const MODEL_TYPES: Record<number, SentencePieceModelType> = { 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' };

function readPiece(r: ProtoReader, index: number): SentencePiece {
  let piece: string | undefined;
  let score = 0;
  let type: SentencePieceType = 'normal';
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1) { r.expect(field, wire, WIRE_LEN); piece = r.string(); }
    else if (field === 2) { r.expect(field, wire, WIRE_FIXED32); score = r.float(); }
    else if (field === 3) {
      r.expect(field, wire, WIRE_VARINT);
      const at = r.pos;
      const t = r.int32();
      const name = PIECE_TYPES[t];
      if (name === undefined) r.fail(`piece #${index} has unknown type ${t}`, at);
      type = name;
    } else r.skip(wire);
  }
  if (piece === undefined) r.fail(`piece #${index} has no text`);
  return { piece, score, type };
}

function readTrainerSpec(r: ProtoReader): SentencePieceTrainerSpec {
  const spec: SentencePieceTrainerSpec = {
    modelType: 'unigram', vocabSize: 8000, byteFallback: false, unkId: 0, bosId: 1, eosId: 2, padId: -1,
    unkPiece: '<unk>', bosPiece: '<s>', eosPiece: '</s>', padPiece: '<pad>', splitDigits: false,
    splitByWhitespace: true, splitByNumber: true, splitByUnicodeScript: true, treatWhitespaceAsSuffix: false,
    allowWhitespaceOnlyPieces: false, maxSentencepieceLength: 16, characterCoverage: 0.9995,
    controlSymbols: [], userDefinedSymbols: [], input: [],
  };
  while (!r.done) {
    const { field, wire } = r.tag();
    const varint = (): void => r.expect(field, wire, WIRE_VARINT);
    const len = (): void => r.expect(field, wire, WIRE_LEN);
    switch (field) {
      case 1: len(); spec.input.push(r.string()); break;
      case 2: len(); spec.modelPrefix = r.string(); break;
      case 3: {
        varint();
        const at = r.pos;
        const t = r.int32();
        const name = MODEL_TYPES[t];
        if (name === undefined) r.fail(`trainer_spec.model_type ${t} is unknown`, at);
        spec.modelType = name;
        break;
      }
      case 4: varint(); spec.vocabSize = r.int32(); break;
      case 10: r.expect(field, wire, WIRE_FIXED32); spec.characterCoverage = r.float(); break;
      case 20: varint(); spec.maxSentencepieceLength = r.int32(); break;
      case 21: varint(); spec.splitByUnicodeScript = r.bool(); break;
      case 22: varint(); spec.splitByWhitespace = r.bool(); break;
      case 23: varint(); spec.splitByNumber = r.bool(); break;
      case 24: varint(); spec.treatWhitespaceAsSuffix = r.bool(); break;
      case 25: varint(); spec.splitDigits = r.bool(); break;
      case 26: varint(); spec.allowWhitespaceOnlyPieces = r.bool(); break;
      case 30: len(); spec.controlSymbols.push(r.string()); break;
      case 31: len(); spec.userDefinedSymbols.push(r.string()); break;
      case 35: varint(); spec.byteFallback = r.bool(); break;
      case 40: varint(); spec.unkId = r.int32(); break;
      case 41: varint(); spec.bosId = r.int32(); break;
      case 42: varint(); spec.eosId = r.int32(); break;
      case 43: varint(); spec.padId = r.int32(); break;
      case 45: len(); spec.unkPiece = r.string(); break;
      case 46: len(); spec.bosPiece = r.string(); break;
      case 47: len(); spec.eosPiece = r.string(); break;
      case 48: len(); spec.padPiece = r.string(); break;
      default: r.skip(wire);
    }
  }
  return spec;
}

function readNormalizerSpec(r: ProtoReader): SentencePieceNormalizerSpec {
  const spec: SentencePieceNormalizerSpec = { addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true };
  while (!r.done) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1: r.expect(field, wire, WIRE_LEN); spec.name = r.string(); break;
      case 2: r.expect(field, wire, WIRE_LEN); spec.precompiledCharsmap = r.bytesField(); break;
      case 3: r.expect(field, wire, WIRE_VARINT); spec.addDummyPrefix = r.bool(); break;
      case 4: r.expect(field, wire, WIRE_VARINT); spec.removeExtraWhitespaces = r.bool(); break;
      case 5: r.expect(field, wire, WIRE_VARINT); spec.escapeWhitespaces = r.bool(); break;
      case 6: r.expect(field, wire, WIRE_LEN); spec.normalizationRuleTsv = r.string(); break;
      default: r.skip(wire);
    }
  }
  return spec;
}

/**
 * Parses a SentencePiece model (gzip input is decompressed first). Throws BadInputError on
 * malformed protobuf, unknown enum values or a model with no pieces.
 */
export function parseSentencePieceModel(input: Uint8Array, file: string): SentencePieceModel {
  const bytes = gunzipIfNeeded(input, file);
  if (bytes.length === 0) throw new BadInputError(file, 'empty file, not a SentencePiece model');
  const r = new ProtoReader(bytes, file);
  const pieces: SentencePiece[] = [];
  let trainerSpec: SentencePieceTrainerSpec | undefined;
  let normalizerSpec: SentencePieceNormalizerSpec | undefined;
  let denormalizerSpec: SentencePieceNormalizerSpec | undefined;
  while (!r.done) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1: r.expect(field, wire, WIRE_LEN); pieces.push(readPiece(r.message(), pieces.length)); break;
      case 2: r.expect(field, wire, WIRE_LEN); trainerSpec = readTrainerSpec(r.message()); break;
      case 3: r.expect(field, wire, WIRE_LEN); normalizerSpec = readNormalizerSpec(r.message()); break;
      case 5: r.expect(field, wire, WIRE_LEN); denormalizerSpec = readNormalizerSpec(r.message()); break;
      default: r.skip(wire);
    }
  }
  if (pieces.length === 0) throw new BadInputError(file, 'SentencePiece model has no pieces');
  trainerSpec ??= readTrainerSpec(new ProtoReader(new Uint8Array(0), file));
  normalizerSpec ??= readNormalizerSpec(new ProtoReader(new Uint8Array(0), file));
  // SentencePiece finds special pieces by type and name, so ids recorded in the trainer spec
  // that point nowhere are worth a warning, not a refusal.
  const warnings: string[] = [];
  for (const key of ['unkId', 'bosId', 'eosId', 'padId'] as const) {
    const id = trainerSpec[key];
    if (id < -1 || id >= pieces.length) warnings.push(`trainer_spec ${key} = ${id} is outside the ${pieces.length} pieces`);
  }
  const model: SentencePieceModel = { pieces, trainerSpec, normalizerSpec, warnings };
  if (denormalizerSpec) model.denormalizerSpec = denormalizerSpec;
  return model;
}
