/**
 * `lineage tokenizer A B [--json FILE] [--texts FILE]`: the tokenizer evidence alone. A and B are
 * model folders or tokenizer files (tokenizer.json, tokenizer.model, *.tiktoken, *.gguf, gzip
 * accepted).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from '../../../core/src/errors.ts';
import { compareTokenizers, loadTokenizer, renderTokenizerText } from '../../../core/src/tokenizer/index.ts';
import { parseCommandLine, requirePositionals } from '../args.ts';

const USAGE = `usage: lineage tokenizer A B [--json FILE] [--texts FILE]

Compares two tokenizers: vocabulary sizes, tokens shared as bytes (byte-level BPE, SentencePiece,
tiktoken and WordPiece vocabularies compare with each other), ids, special tokens, BPE merge order,
and how both encode the same texts; then names the relation (identical, extension, reordered,
overlapping, independent) and why.

  A, B          model folders or tokenizer files: tokenizer.json, tokenizer.model (SentencePiece or
                tiktoken), *.tiktoken, *.gguf; gzip accepted
  --json FILE   write the section as JSON ({"tokenizer": {...}})
  --texts FILE  texts to encode instead of the built-in corpus: a JSON array of strings, texts
                separated by lines holding only __ggml_vocab_test__, or one text per line
`;

const VECTOR_SEPARATOR = '\n__ggml_vocab_test__\n';

/** Reads the texts of --texts: a JSON array of strings, llama.cpp test-vector input, or lines. */
export function readTexts(file: string): string[] {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BadInputError(file, `cannot read the texts (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let texts: string[];
  if (content.trimStart().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(content);
    } catch (err) {
      throw new BadInputError(file, `texts look like JSON but do not parse (${(err as Error).message})`);
    }
    if (!Array.isArray(parsed) || parsed.some((t) => typeof t !== 'string')) {
      throw new BadInputError(file, 'texts in JSON must be an array of strings');
    }
    texts = parsed as string[];
  } else if (content.includes(VECTOR_SEPARATOR)) {
    texts = content.split(VECTOR_SEPARATOR);
    if (texts[texts.length - 1] === '') texts.pop();
  } else {
    texts = content.split(/\r?\n/).filter((t) => t.trim() !== '');
  }
  if (texts.length === 0) throw new BadInputError(file, 'holds no texts');
  return texts;
}

/** vocab_size from a model folder's config.json (or its text_config), when it says. */
function configVocabSize(path: string): number | undefined {
  let isFolder = false;
  try {
    isFolder = statSync(path).isDirectory();
  } catch {
    return undefined;
  }
  if (!isFolder) return undefined;
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(join(path, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    // No or unreadable config.json: the architecture command reports on it; here it only adds a number.
    return undefined;
  }
  const pick = (c: unknown) => {
    const v = (c as Record<string, unknown> | null)?.vocab_size;
    return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
  };
  return pick(config) ?? pick(config.text_config);
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('tokenizer', argv, {
    json: { type: 'string' },
    texts: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [pathA, pathB] = requirePositionals('tokenizer', positionals, ['A', 'B']);
  const texts = values.texts !== undefined ? readTexts(values.texts) : undefined;
  const a = await loadTokenizer(pathA!);
  const b = await loadTokenizer(pathB!);
  const section = compareTokenizers(a, b, {
    texts,
    configVocabA: configVocabSize(pathA!),
    configVocabB: configVocabSize(pathB!),
    labelA: pathA,
    labelB: pathB,
  });
  // The file first: a path that cannot be written fails before anything is printed. The section
  // sits under the same key as in `lineage compare`'s report.
  if (values.json !== undefined) {
    try {
      writeFileSync(values.json, JSON.stringify({ tokenizer: section }, null, 2) + '\n');
    } catch (err) {
      throw new BadInputError(values.json, `cannot write the JSON report (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  process.stdout.write(renderTokenizerText(section));
  if (values.json !== undefined) process.stdout.write(`\nwrote ${values.json}\n`);
  return 0;
}
