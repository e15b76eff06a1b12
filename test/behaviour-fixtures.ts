/**
 * Test inputs for the behaviour tests: the 105-piece vocabulary of BabyLlama's tok105 tokenizer
 * (the piece list of EN10/BabyLlama's tok105/tok105.vocab, MIT, "Copyright (c) 2023 Enio
 * Fernandes"; pieces only: its ids 3..104 are single characters, so no merges exist), and model
 * folders made from ../shared/data models with extra files (a tokenizer.json, a changed config).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export const TOK105_PIECES: readonly string[] = [
  '<unk>', '<s>', '</s>',
  ...'\u2581eatohnidsrlymwu.pgcbf,kTv"SL\'HOI!xBMAWj?zYFJDqCNEPRKG-\u201c\u201d:\u2019ZVU3Q;1\u20130X25\u2014\u201894\u00e9\u20268)(67/\u00f1$`+*\u00a0&\\%\u00e2\u20ac<>|\u2122[]~\u200a',
];

/** Text of token ids under the 105-piece vocabulary (SentencePiece: ▁ is a space). */
export function decode105(ids: readonly number[]): string {
  return ids.map((id) => TOK105_PIECES[id] ?? '?').join('').replaceAll('\u2581', ' ');
}

/** A Llama-2-style tokenizer.json (Prepend ▁, spaces to ▁, BPE without merges) for the 105 pieces. */
export function tokenizer105Json(): string {
  const vocab = Object.fromEntries(TOK105_PIECES.map((p, i) => [p, i]));
  const special = (id: number) => ({ id, content: TOK105_PIECES[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return JSON.stringify({
    version: '1.0',
    added_tokens: [special(0), special(1), special(2)],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    pre_tokenizer: null,
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  });
}

/**
 * A model folder in `dir` that links `source`'s weights, with its config.json (changed by
 * `config`) and extra files.
 */
export function modelFolder(source: string, dir: string, options: { config?: (c: Record<string, unknown>) => Record<string, unknown>; files?: Record<string, string> } = {}): string {
  mkdirSync(dir, { recursive: true });
  symlinkSync(join(source, 'model.safetensors'), join(dir, 'model.safetensors'));
  const config = JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.json'), JSON.stringify((options.config ?? ((c) => c))(config)));
  for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), text);
  return dir;
}

/** Runs the real `lineage` executable (asynchronously: a server in the test process keeps answering). */
export function lineage(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'client/bin/lineage.js'), ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
