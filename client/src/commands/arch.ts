/**
 * `lineage arch A B [--json FILE] [--tokens N]`: the architecture evidence alone. A and B are
 * model folders or config.json files; where a folder holds weights, their shapes check the
 * config's parameter count.
 */
import { writeFileSync } from 'node:fs';
import { BadInputError, UsageError } from '../../../core/src/errors.ts';
import {
  analyzeArchitecture,
  configFileOf,
  holdsWeights,
  loadCheckpointIndex,
  loadConfig,
  parseTokenCount,
  renderArchitectureText,
} from '../../../core/src/arch/index.ts';
import { parseCommandLine, requirePositionals } from '../args.ts';

const USAGE = `usage: lineage arch A B [--json FILE] [--tokens N]

Compares two architectures from their config.json: a side-by-side table, total and active
parameter counts, the differences and what they mean, and which tensor groups can be compared.

  A, B          model folders (config.json, optionally weights and model.safetensors.index.json)
                or config.json files
  --json FILE   write the architecture section as JSON ({"architecture": {a, b, diffs, comparable, ...}})
  --tokens N    training tokens for the 6·N_active·D compute estimate (e.g. 19.7T, 2.5B, 1e12)
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('arch', argv, {
    json: { type: 'string' },
    tokens: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [pathA, pathB] = requirePositionals('arch', positionals, ['A', 'B']);
  let tokens: number | undefined;
  if (values.tokens !== undefined) {
    const parsed = parseTokenCount(values.tokens);
    if (parsed === null) throw new UsageError(`lineage arch: --tokens must be a positive number with an optional K/M/B/T suffix, got '${values.tokens}'`);
    tokens = parsed;
  }

  const sideA = await readSide(pathA!);
  const sideB = await readSide(pathB!);
  const section = analyzeArchitecture(sideA.config, sideB.config, {
    labelA: sideA.file,
    labelB: sideB.file,
    tokens,
    indexA: sideA.index,
    indexB: sideB.index,
    tensorsA: sideA.tensors,
    tensorsB: sideB.tensors,
  });
  section.notes.push(...sideA.notes.map((n) => `A: ${n}.`), ...sideB.notes.map((n) => `B: ${n}.`));

  // The file first: a path that cannot be written fails before anything is printed. The section
  // sits under the same key as in `lineage compare`'s report, so one script reads both.
  if (values.json !== undefined) {
    try {
      writeFileSync(values.json, JSON.stringify({ architecture: section }, null, 2) + '\n');
    } catch (err) {
      throw new BadInputError(values.json, `cannot write the JSON report (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  process.stdout.write(renderArchitectureText(section));
  if (values.json !== undefined) process.stdout.write(`\nwrote ${values.json}\n`);
  return 0;
}

interface Side {
  file: string;
  config: Record<string, unknown>;
  index: ReturnType<typeof loadCheckpointIndex>;
  tensors: { name: string; shape: number[] }[] | null;
  notes: string[];
}

async function readSide(path: string): Promise<Side> {
  const file = configFileOf(path);
  const config = loadConfig(path);
  const index = loadCheckpointIndex(path);
  const notes: string[] = [];
  let tensors: Side['tensors'] = null;
  if (holdsWeights(path)) {
    // Only the headers are read. A broken checkpoint does not stop the architecture comparison,
    // which needs the config alone; it is reported instead.
    try {
      const { readTensorList } = await import('../../../core/src/checkpoint/index.ts');
      tensors = await readTensorList(path);
    } catch (err) {
      notes.push(`weights not read (${(err as Error).message})`);
    }
  }
  return { file, config, index, tensors, notes };
}
