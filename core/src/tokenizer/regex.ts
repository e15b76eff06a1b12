/**
 * Oniguruma (Hugging Face tokenizers) and Rust-regex (tiktoken) patterns rewritten for JavaScript
 * regular expressions with the `u` flag.
 *
 * The patterns tokenizers ship are almost JavaScript already; the differences that change results
 * are rewritten here:
 * - `(?i:...)` inline case-insensitive groups (not in Node 20): letters become `[xX]` classes;
 * - `\s`/`\S`: both engines use Unicode White_Space (with U+0085, without U+FEFF); JS differs;
 * - `\d`, `\w`: Unicode in Oniguruma, ASCII in JS;
 * - possessive quantifiers (`?+`, `++`, `*+`): dropped, which does not change the tokenizers'
 *   patterns because what follows them can never match what they would give back;
 * - `\p{Han}`-style script names: JS needs `\p{Script=Han}`;
 * - `$`/`^`: Oniguruma's Ruby syntax means end/start of line.
 */

const WHITE_SPACE = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WORD = '\\p{L}\\p{M}\\p{Nd}\\p{Pc}';
const GENERAL_CATEGORIES = new Set([
  'L', 'LC', 'Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'M', 'Mn', 'Mc', 'Me', 'N', 'Nd', 'Nl', 'No',
  'P', 'Pc', 'Pd', 'Ps', 'Pe', 'Pi', 'Pf', 'Po', 'S', 'Sm', 'Sc', 'Sk', 'So',
  'Z', 'Zs', 'Zl', 'Zp', 'C', 'Cc', 'Cf', 'Cs', 'Co', 'Cn',
  'Letter', 'Mark', 'Number', 'Punctuation', 'Symbol', 'Separator', 'Other',
]);

function propertyName(name: string): string {
  if (name.includes('=') || GENERAL_CATEGORIES.has(name)) return name;
  if (/^(Alphabetic|White_Space|Emoji|Any|ASCII|Uppercase|Lowercase)$/.test(name)) return name;
  return `Script=${name}`;
}

function caseClass(ch: string): string {
  const lower = ch.toLowerCase();
  const upper = ch.toUpperCase();
  return lower === upper ? ch : `[${lower}${upper}]`;
}

/** Rewrites an Oniguruma / Rust-regex pattern into an equivalent JavaScript `u` pattern. */
export function toJsRegexSource(pattern: string): string {
  let out = '';
  let inClass = 0;
  // Stack of open groups; true where the group is case-insensitive.
  const groups: boolean[] = [];
  const caseInsensitive = () => groups.includes(true);
  // Whether the last thing written was a quantifier, so that a following '+' is possessive.
  let afterQuantifier: boolean = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    const wasQuantifier: boolean = afterQuantifier;
    afterQuantifier = false;
    if (ch === '\\') {
      const next = pattern[i + 1] ?? '';
      i++;
      if (next === 's') { out += inClass ? WHITE_SPACE : `[${WHITE_SPACE}]`; continue; }
      if (next === 'S') { out += inClass ? `\\P{White_Space}` : `[^${WHITE_SPACE}]`; continue; }
      if (next === 'd') { out += '\\p{Nd}'; continue; }
      if (next === 'D') { out += '\\P{Nd}'; continue; }
      if (next === 'w') { out += inClass ? WORD : `[${WORD}]`; continue; }
      if (next === 'W') { out += `[^${WORD}]`; continue; }
      if (next === 'A') { out += '^'; continue; }
      if (next === 'z') { out += '$'; continue; }
      if (next === 'Z') { out += '(?=\\n?$)'; continue; }
      if (next === 'h') { out += inClass ? '0-9a-fA-F' : '[0-9a-fA-F]'; continue; }
      if ((next === 'p' || next === 'P') && pattern[i + 1] === '{') {
        const end = pattern.indexOf('}', i + 1);
        let name = pattern.slice(i + 2, end);
        let negate = next === 'P';
        if (name.startsWith('^')) { negate = !negate; name = name.slice(1); }
        out += `\\${negate ? 'P' : 'p'}{${propertyName(name)}}`;
        i = end;
        continue;
      }
      if (next === 'U' && /^[0-9a-fA-F]{8}$/.test(pattern.slice(i + 1, i + 9))) {
        out += `\\u{${pattern.slice(i + 1, i + 9).replace(/^0+/, '') || '0'}}`;
        i += 8;
        continue;
      }
      out += '\\' + next;
      continue;
    }
    if (inClass) {
      if (ch === '[') inClass++;
      else if (ch === ']') inClass--;
      if (caseInsensitive() && /[a-zA-Z]/.test(ch) && pattern[i - 1] !== '-' && pattern[i + 1] !== '-') {
        out += ch.toLowerCase() + ch.toUpperCase();
        continue;
      }
      // A literal '/' or '-' inside classes is fine as is; a bare '[' nested would be a set op in
      // Oniguruma, which the tokenizers' patterns do not use.
      out += ch;
      continue;
    }
    if (ch === '[') { inClass = 1; out += ch; continue; }
    if (ch === '(') {
      if (pattern.startsWith('(?i:', i)) { groups.push(true); out += '(?:'; i += 3; continue; }
      groups.push(false);
      out += ch;
      continue;
    }
    if (ch === ')') { groups.pop(); out += ch; continue; }
    if (ch === '+' && wasQuantifier) continue; // possessive `X?+`, `X*+`, `X++`, `X{n}+` -> greedy
    if (ch === '?' || ch === '*' || ch === '+') {
      afterQuantifier = ch !== '?' || !wasQuantifier; // `X??` is lazy, not a quantifier to follow
      out += ch;
      continue;
    }
    if (ch === '{') {
      const m = /^\{\d+(,\d*)?\}/.exec(pattern.slice(i));
      if (m) {
        out += m[0];
        i += m[0].length - 1;
        afterQuantifier = true;
        continue;
      }
    }
    if (ch === '$') { out += '(?=\\n|$)'; continue; }
    if (ch === '^') { out += '(?<=^|\\n)'; continue; }
    if (caseInsensitive() && /[a-zA-Z]/.test(ch)) { out += caseClass(ch); continue; }
    out += ch;
  }
  return out;
}

const cache = new Map<string, RegExp>();

/** The global, Unicode JS RegExp for an Oniguruma / Rust-regex pattern (cached). */
export function compilePattern(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (!re) {
    re = new RegExp(toJsRegexSource(pattern), 'gu');
    cache.set(pattern, re);
  }
  return re;
}

/**
 * Escapes a literal string for use in a JS regex outside a character class. Only the syntax
 * characters: with the `u` flag any other escape (`\-` for one) is a syntax error, and `-` is a
 * literal outside a class anyway.
 */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
