/**
 * Normalizers: the Hugging Face tokenizers components (tokenizer.json `normalizer`) as string
 * transforms. Offsets are not tracked: the comparison needs the tokens, not their alignment.
 */
import { BadInputError } from '../errors.ts';
import type { Spec } from './model.ts';
import { compilePattern } from './regex.ts';

export type Normalizer = (text: string) => string;

const CONTROL = /^[\p{Cc}\p{Cf}\p{Cn}\p{Co}]$/u;
const NONSPACING_MARK = /\p{Mn}/gu;

/** tokenizers' `is_whitespace` for BERT: tab, newline, return, or Unicode White_Space. */
function isBertWhitespace(ch: string): boolean {
  return ch === '\t' || ch === '\n' || ch === '\r' || /^\p{White_Space}$/u.test(ch);
}

/** tokenizers' `is_control` for BERT: Cc/Cf/Cn/Co, but not tab, newline or return. */
function isBertControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return CONTROL.test(ch);
}

/** CJK ideographs, as BERT's `_is_chinese_char` defines them. */
export function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

function bertNormalizer(spec: Spec): Normalizer {
  const cleanText = spec.clean_text !== false;
  const handleChinese = spec.handle_chinese_chars !== false;
  const lowercase = spec.lowercase !== false;
  const stripAccents = typeof spec.strip_accents === 'boolean' ? spec.strip_accents : lowercase;
  return (text) => {
    let out = text;
    if (cleanText) {
      let s = '';
      for (const ch of out) {
        const cp = ch.codePointAt(0)!;
        if (cp === 0 || cp === 0xfffd || isBertControl(ch)) continue;
        s += isBertWhitespace(ch) ? ' ' : ch;
      }
      out = s;
    }
    if (handleChinese) {
      let s = '';
      for (const ch of out) s += isChineseChar(ch.codePointAt(0)!) ? ` ${ch} ` : ch;
      out = s;
    }
    if (stripAccents) out = out.normalize('NFD').replace(NONSPACING_MARK, '');
    if (lowercase) out = out.toLowerCase();
    return out;
  };
}

/** Names the first normalizer type this module cannot apply exactly, or null. */
export function unsupportedNormalizer(spec: Spec | null): string | null {
  if (!spec) return null;
  const known = ['NFC', 'NFD', 'NFKC', 'NFKD', 'Lowercase', 'Strip', 'StripAccents', 'Replace', 'Prepend', 'Sequence', 'BertNormalizer', 'Nmt'];
  if (spec.type === 'Precompiled') return null; // approximated, see compileNormalizer
  if (!known.includes(spec.type)) return `normalizer '${spec.type}' is not supported`;
  if (spec.type === 'Sequence') {
    for (const inner of (spec.normalizers as Spec[] | undefined) ?? []) {
      const bad = unsupportedNormalizer(inner);
      if (bad) return bad;
    }
  }
  return null;
}

/** True when the spec holds a SentencePiece precompiled charsmap, which is approximated by NFKC. */
export function usesPrecompiled(spec: Spec | null): boolean {
  if (!spec) return false;
  if (spec.type === 'Precompiled') return true;
  if (spec.type === 'Sequence') return ((spec.normalizers as Spec[] | undefined) ?? []).some(usesPrecompiled);
  return false;
}

/** Compiles a tokenizer.json normalizer spec (null = identity). */
export function compileNormalizer(spec: Spec | null, file: string): Normalizer {
  if (!spec) return (t) => t;
  switch (spec.type) {
    case 'Sequence': {
      const parts = ((spec.normalizers as Spec[] | undefined) ?? []).map((s) => compileNormalizer(s, file));
      return (text) => parts.reduce((acc, f) => f(acc), text);
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = spec.type;
      return (text) => text.normalize(form);
    }
    case 'Lowercase':
      return (text) => text.toLowerCase();
    case 'Strip': {
      const left = spec.strip_left !== false;
      const right = spec.strip_right !== false;
      return (text) => {
        let t = text;
        if (left) t = t.replace(/^\p{White_Space}+/u, '');
        if (right) t = t.replace(/\p{White_Space}+$/u, '');
        return t;
      };
    }
    case 'StripAccents':
      return (text) => text.replace(NONSPACING_MARK, '');
    case 'Replace': {
      const pattern = spec.pattern as Record<string, unknown> | undefined;
      const content = typeof spec.content === 'string' ? spec.content : '';
      if (pattern && typeof pattern.String === 'string') {
        const literal = pattern.String;
        return (text) => (literal === '' ? text : text.replaceAll(literal, content));
      }
      if (pattern && typeof pattern.Regex === 'string') {
        const re = compilePattern(pattern.Regex);
        return (text) => text.replace(re, () => content);
      }
      throw new BadInputError(file, 'Replace normalizer without a pattern');
    }
    case 'Prepend': {
      const prefix = typeof spec.prepend === 'string' ? spec.prepend : '';
      return (text) => (text.length > 0 ? prefix + text : text);
    }
    case 'BertNormalizer':
      return bertNormalizer(spec);
    case 'Nmt':
      // SentencePiece's nmt_nfkc control-character rules, without the NFKC part.
      return (text) =>
        text
          .replace(/[\u0001-\u0008\u000B\u000E-\u001F\u007F\u008F\u009F]/g, '')
          .replace(/[\u0009\u000A\u000C\u000D\u1680\u200B-\u200F\u2028\u2029\u2581\uFEFF\uFFFD]/g, ' ');
    case 'Precompiled':
      // The charsmap of SentencePiece models is nmt_nfkc in nearly all models; NFKC is its core.
      return (text) => text.normalize('NFKC');
    default:
      throw new BadInputError(file, `normalizer '${spec.type}' is not supported`);
  }
}
