/**
 * tiktoken rank files (cl100k_base.tiktoken, o200k_base.tiktoken, Llama 3's original
 * tokenizer.model, Kimi's tiktoken.model): one `base64(token bytes) rank` per line, the rank being
 * both the token id and the BPE merge priority. Special tokens are not in these files.
 */
import { BadInputError } from '../../errors.ts';
import { textOf } from './bytes.ts';

export interface TiktokenRanks {
  /** Token bytes (as a latin1 string: one char per byte) to rank. */
  ranks: Map<string, number>;
  /** Token bytes by rank; a rank missing from the file (see `gaps`) is undefined. */
  tokens: (Uint8Array | undefined)[];
  /** Highest rank in the file; tokens.length is maxRank + 1. */
  maxRank: number;
  /** Ranks absent from 0..maxRank, as inclusive [first, last] ranges (p50k_base lacks 50256). */
  gaps: [number, number][];
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const RANK = /^\d+$/;

/**
 * Parses a tiktoken rank file given as text or bytes (gzip accepted). Throws BadInputError on a
 * malformed line, invalid base64, a repeated token or rank, or ranks so sparse the file cannot be
 * a rank table.
 */
export function parseTiktoken(input: string | Uint8Array, file: string): TiktokenRanks {
  const text = textOf(input, file);
  const ranks = new Map<string, number>();
  const byRank = new Map<number, Uint8Array>();
  let maxRank = -1;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (line === '') {
      // Only trailing blank lines are tolerated; a blank line in the middle means damage.
      if (lines.slice(i + 1).every((l) => l === '' || l === '\r')) break;
      throw new BadInputError(file, `line ${i + 1} is empty`);
    }
    const space = line.indexOf(' ');
    if (space < 0) throw new BadInputError(file, `line ${i + 1} has no rank (expected "base64token rank")`);
    const b64 = line.slice(0, space);
    const rankText = line.slice(space + 1);
    if (!RANK.test(rankText)) {
      throw new BadInputError(file, `line ${i + 1}: rank "${rankText.slice(0, 40)}" is not a non-negative integer`);
    }
    if (b64.length % 4 !== 0 || !BASE64.test(b64)) {
      throw new BadInputError(file, `line ${i + 1}: token "${b64.slice(0, 40)}" is not valid base64`);
    }
    const rank = Number(rankText);
    if (!Number.isSafeInteger(rank)) throw new BadInputError(file, `line ${i + 1}: rank ${rankText} is too large`);
    const buf = Buffer.from(b64, 'base64');
    if (buf.length === 0) throw new BadInputError(file, `line ${i + 1}: empty token`);
    const key = buf.toString('latin1');
    const previous = ranks.get(key);
    if (previous !== undefined) {
      throw new BadInputError(file, `line ${i + 1}: token "${b64}" already has rank ${previous}`);
    }
    if (byRank.has(rank)) throw new BadInputError(file, `line ${i + 1}: rank ${rank} is given twice`);
    ranks.set(key, rank);
    byRank.set(rank, new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
    if (rank > maxRank) maxRank = rank;
  }
  if (ranks.size === 0) throw new BadInputError(file, 'no tokens: not a tiktoken rank file');
  // Real files are dense (at most a special token's rank is missing); a table mostly made of
  // holes is not a rank file, and would make `tokens` huge.
  const missing = maxRank + 1 - ranks.size;
  if (missing > Math.max(1024, ranks.size / 10)) {
    throw new BadInputError(file, `ranks are not dense: ${ranks.size} tokens spread over ranks 0..${maxRank}`);
  }
  const tokens: (Uint8Array | undefined)[] = new Array(maxRank + 1).fill(undefined);
  for (const [rank, bytes] of byRank) tokens[rank] = bytes;
  const gaps: [number, number][] = [];
  for (let r = 0; r <= maxRank; r++) {
    if (tokens[r] !== undefined) continue;
    const first = r;
    while (r + 1 <= maxRank && tokens[r + 1] === undefined) r++;
    gaps.push([first, r]);
  }
  return { ranks, tokens, maxRank, gaps };
}
