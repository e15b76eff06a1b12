/**
 * Pre-tokenizers: the Hugging Face tokenizers components (tokenizer.json `pre_tokenizer`), applied
 * with the same split semantics, so that the words handed to the model are the same ones.
 * GGUF and tiktoken files are given equivalent specs by the loaders (see presets.ts).
 */
import { BadInputError } from '../errors.ts';
import type { Spec } from './model.ts';
import { bytesToByteLevel, METASPACE, utf8 } from './pieces.ts';
import { compilePattern } from './regex.ts';

/** GPT-2's pattern, which the ByteLevel pre-tokenizer uses when `use_regex` is on. */
export const GPT2_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

type Behavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

/** One piece of text with whether it came from a delimiter match. */
type Span = [start: number, end: number, isMatch: boolean];

/** Splits covering the whole string: the regex matches and the gaps between them. */
function regexSpans(text: string, re: RegExp): Span[] {
  const spans: Span[] = [];
  let last = 0;
  re.lastIndex = 0;
  for (const m of text.matchAll(re)) {
    const start = m.index!;
    const end = start + m[0].length;
    if (end === start) continue;
    if (start > last) spans.push([last, start, false]);
    spans.push([start, end, true]);
    last = end;
  }
  if (last < text.length) spans.push([last, text.length, false]);
  return spans;
}

/** Splits where every character that satisfies the predicate is its own match. */
function charSpans(text: string, predicate: (ch: string) => boolean): Span[] {
  const spans: Span[] = [];
  let last = 0;
  let i = 0;
  for (const ch of text) {
    const end = i + ch.length;
    if (predicate(ch)) {
      if (last < i) spans.push([last, i, false]);
      spans.push([i, end, true]);
      last = end;
    }
    i = end;
  }
  if (last < text.length) spans.push([last, text.length, false]);
  return spans;
}

/** Hugging Face `SplitDelimiterBehavior`, applied to the covering spans. */
function applyBehavior(text: string, spans: Span[], behavior: Behavior, invert = false): string[] {
  const marked: Span[] = invert ? spans.map(([s, e, m]) => [s, e, !m]) : spans;
  let out: Span[];
  switch (behavior) {
    case 'Isolated':
      out = marked;
      break;
    case 'Removed':
      out = marked.filter(([, , m]) => !m);
      break;
    case 'MergedWithPrevious': {
      out = [];
      let previousMatch = false;
      for (const [s, e, m] of marked) {
        const last = out[out.length - 1];
        if (m && !previousMatch && last) last[1] = e;
        else out.push([s, e, false]);
        previousMatch = m;
      }
      break;
    }
    case 'MergedWithNext': {
      out = [];
      let previousMatch = false;
      for (let k = marked.length - 1; k >= 0; k--) {
        const [s, e, m] = marked[k]!;
        const last = out[out.length - 1];
        if (m && !previousMatch && last) last[0] = s;
        else out.push([s, e, false]);
        previousMatch = m;
      }
      out.reverse();
      break;
    }
    case 'Contiguous': {
      out = [];
      let previousMatch = false;
      for (const [s, e, m] of marked) {
        const last = out[out.length - 1];
        if (m === previousMatch && last) last[1] = e;
        else out.push([s, e, false]);
        previousMatch = m;
      }
      break;
    }
  }
  return out.filter(([s, e]) => e > s).map(([s, e]) => text.slice(s, e));
}

const UNICODE_PUNCT = /\p{P}/u;
/** Rust's `char::is_ascii_punctuation() || char.is_punctuation()` (tokenizers' `is_punc`). */
export function isPunctuation(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  return UNICODE_PUNCT.test(ch);
}

const WHITE_SPACE_CHAR = /^\p{White_Space}$/u;
/** Rust's `char::is_whitespace` (Unicode White_Space). */
export function isWhitespace(ch: string): boolean {
  return WHITE_SPACE_CHAR.test(ch);
}

const NUMERIC = /^\p{N}$/u;
/** Rust's `char::is_numeric` (Nd, Nl, No: `½` and `²` too), which the Digits pre-tokenizer uses. */
const isNumeric = (ch: string) => NUMERIC.test(ch);

function str(spec: Spec, key: string): string | undefined {
  const v = spec[key];
  return typeof v === 'string' ? v : undefined;
}

function bool(spec: Spec, key: string, fallback: boolean): boolean {
  const v = spec[key];
  return typeof v === 'boolean' ? v : fallback;
}

/** A Split pattern: `{ String: "..." }` or `{ Regex: "..." }`. */
function splitPattern(spec: Spec): { literal?: string; regex?: string } {
  const p = spec.pattern as Record<string, unknown> | string | undefined;
  if (typeof p === 'string') return { literal: p };
  if (p && typeof p.String === 'string') return { literal: p.String };
  if (p && typeof p.Regex === 'string') return { regex: p.Regex };
  throw new Error('Split pre-tokenizer without a pattern');
}

function literalSpans(text: string, literal: string): Span[] {
  const spans: Span[] = [];
  if (literal === '') return [[0, text.length, false]];
  let last = 0;
  let at = text.indexOf(literal);
  while (at >= 0) {
    if (at > last) spans.push([last, at, false]);
    spans.push([at, at + literal.length, true]);
    last = at + literal.length;
    at = text.indexOf(literal, last);
  }
  if (last < text.length) spans.push([last, text.length, false]);
  return spans;
}

/**
 * A compiled pre-tokenizer: maps one segment of normalized text to the words the model sees.
 * `first` says whether the segment starts the text (Metaspace's `prepend_scheme: first`).
 */
export type PreTokenizer = (pieces: string[], first: boolean) => string[];

/** Names the component types this module knows, to tell unsupported ones early. */
export function unsupportedPreTokenizer(spec: Spec | null): string | null {
  if (!spec) return null;
  const known = ['ByteLevel', 'Split', 'Digits', 'Punctuation', 'Whitespace', 'WhitespaceSplit', 'BertPreTokenizer', 'Metaspace', 'Sequence', 'CharDelimiterSplit'];
  if (!known.includes(spec.type)) return `pre-tokenizer '${spec.type}' is not supported`;
  if (spec.type === 'Sequence') {
    for (const inner of (spec.pretokenizers as Spec[] | undefined) ?? []) {
      const bad = unsupportedPreTokenizer(inner);
      if (bad) return bad;
    }
  }
  return null;
}

/** Compiles a tokenizer.json pre-tokenizer spec (null = the text is one word). */
export function compilePreTokenizer(spec: Spec | null, file: string): PreTokenizer {
  if (!spec) return (pieces) => pieces;
  const each = (fn: (piece: string, first: boolean, index: number) => string[]): PreTokenizer =>
    (pieces, first) => pieces.flatMap((p, i) => fn(p, first, i));
  switch (spec.type) {
    case 'Sequence': {
      const parts = ((spec.pretokenizers as Spec[] | undefined) ?? []).map((s) => compilePreTokenizer(s, file));
      return (pieces, first) => parts.reduce((acc, part) => part(acc, first), pieces);
    }
    case 'ByteLevel': {
      const addPrefixSpace = bool(spec, 'add_prefix_space', true);
      const useRegex = bool(spec, 'use_regex', true);
      const re = compilePattern(GPT2_PATTERN);
      return each((piece) => {
        let text = piece;
        if (addPrefixSpace && !text.startsWith(' ')) text = ' ' + text;
        const words = useRegex ? applyBehavior(text, regexSpans(text, re), 'Isolated') : [text];
        return words.map((w) => bytesToByteLevel(utf8(w)));
      });
    }
    case 'Split': {
      const pattern = splitPattern(spec);
      const behavior = (str(spec, 'behavior') ?? 'Isolated') as Behavior;
      const invert = bool(spec, 'invert', false);
      if (pattern.regex !== undefined) {
        let re: RegExp;
        try {
          re = compilePattern(pattern.regex);
        } catch (err) {
          throw new BadInputError(file, `pre-tokenizer regex cannot be compiled: ${(err as Error).message}`);
        }
        return each((piece) => applyBehavior(piece, regexSpans(piece, re), behavior, invert));
      }
      const literal = pattern.literal!;
      return each((piece) => applyBehavior(piece, literalSpans(piece, literal), behavior, invert));
    }
    case 'Digits': {
      const individual = bool(spec, 'individual_digits', false);
      return each((piece) => applyBehavior(piece, charSpans(piece, isNumeric), individual ? 'Isolated' : 'Contiguous'));
    }
    case 'Punctuation': {
      const behavior = (str(spec, 'behavior') ?? 'Isolated') as Behavior;
      return each((piece) => applyBehavior(piece, charSpans(piece, isPunctuation), behavior));
    }
    case 'CharDelimiterSplit': {
      const delimiter = str(spec, 'delimiter') ?? ' ';
      return each((piece) => applyBehavior(piece, charSpans(piece, (c) => c === delimiter), 'Removed'));
    }
    case 'WhitespaceSplit':
      return each((piece) => applyBehavior(piece, charSpans(piece, isWhitespace), 'Removed'));
    case 'Whitespace': {
      const re = compilePattern('\\w+|[^\\w\\s]+');
      return each((piece) => applyBehavior(piece, regexSpans(piece, re), 'Removed', true));
    }
    case 'BertPreTokenizer':
      return each((piece) =>
        applyBehavior(piece, charSpans(piece, isWhitespace), 'Removed').flatMap((w) =>
          applyBehavior(w, charSpans(w, isPunctuation), 'Isolated'),
        ),
      );
    case 'Metaspace': {
      const replacement = str(spec, 'replacement') ?? METASPACE;
      // Older files say add_prefix_space; newer ones prepend_scheme (always | first | never).
      const scheme = str(spec, 'prepend_scheme') ?? (bool(spec, 'add_prefix_space', true) ? 'always' : 'never');
      const split = bool(spec, 'split', true);
      return each((piece, first, index) => {
        let text = piece.replaceAll(' ', replacement);
        const prepend = scheme === 'always' || (scheme === 'first' && first && index === 0);
        if (prepend && !text.startsWith(replacement)) text = replacement + text;
        return split ? applyBehavior(text, literalSpans(text, replacement), 'MergedWithNext') : [text];
      });
    }
    default:
      throw new BadInputError(file, `pre-tokenizer '${spec.type}' is not supported`);
  }
}
