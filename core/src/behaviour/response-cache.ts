/**
 * Answers of endpoints, kept by what was asked (endpoint, model, API, prompt, parameters), so a
 * repeated run asks nothing twice and gives the same answers. In memory, and on disk when a folder
 * is given: one JSON file per request, named by the SHA-256 of the request. Only real answers are
 * kept: a missing answer is asked again next time.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../errors.ts';
import type { NextTokenAnswer } from './model.ts';

export class ResponseCache {
  private readonly memory = new Map<string, NextTokenAnswer>();
  hits = 0;
  misses = 0;

  constructor(private readonly folder: string | null = null) {
    if (folder) {
      try {
        mkdirSync(folder, { recursive: true });
      } catch (err) {
        throw new BadInputError(folder, `cannot create the response cache folder (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
  }

  /** The cache key of a request: never includes credentials. */
  static key(request: Record<string, unknown>): string {
    return createHash('sha256').update(JSON.stringify(request)).digest('hex');
  }

  get(key: string): NextTokenAnswer | undefined {
    let hit = this.memory.get(key);
    if (!hit && this.folder) hit = this.readFile(key);
    if (hit) {
      this.memory.set(key, hit);
      this.hits++;
    } else {
      this.misses++;
    }
    return hit;
  }

  set(key: string, answer: NextTokenAnswer): void {
    this.memory.set(key, answer);
    if (!this.folder) return;
    const file = join(this.folder, `${key}.json`);
    // Written whole then renamed: a reader never sees half a file.
    writeFileSync(`${file}.tmp`, JSON.stringify({ greedy: answer.greedy, top: answer.top }));
    renameSync(`${file}.tmp`, file);
  }

  private readFile(key: string): NextTokenAnswer | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.folder!, `${key}.json`), 'utf8');
    } catch {
      return undefined;
    }
    // A cache file is untrusted input: anything that is not a well-formed answer is ignored.
    try {
      const parsed = JSON.parse(text) as NextTokenAnswer;
      const ok = (c: unknown) => !!c && typeof c === 'object' && typeof (c as { logprob: unknown }).logprob === 'number' && typeof (c as { key: unknown }).key === 'string';
      if (ok(parsed.greedy) && Array.isArray(parsed.top) && parsed.top.every(ok)) return { greedy: parsed.greedy, top: parsed.top };
    } catch {
      // fall through
    }
    return undefined;
  }
}
