/**
 * `lineage probe A B`: behavioural evidence alone. Both sides answer the same seeded probes and
 * the section says whether they behave as related models do, with a p-value and the
 * false-positive rate it is held to.
 */
import { writeFileSync } from 'node:fs';
import { compareBehaviour, LocalLlamaModel, renderBehaviourMarkdown, renderBehaviourText, type BehaviourModel } from '../../../core/src/behaviour/index.ts';
import { BadInputError } from '../../../core/src/errors.ts';
import { numberOption, parseCommandLine, requirePositionals } from '../args.ts';

const USAGE = `usage: lineage probe A B [options]

A and B are model folders (Hugging Face layout, Llama/Mistral/Qwen2/Qwen3 families, run here by
the built-in float32 forward pass; the whole model is held in memory).

Probes: seeded random token sequences over the ids both vocabularies have, and the fixed text
prompt set (lineage-prompts-v1: English, Korean, code, math, facts) when both sides have a
tokenizer. The decision is greedy next-token agreement against a permutation null (probe i of A
against probe j≠i of B) and against any --reference models; top-k overlap and Jensen-Shannon
divergence are reported beside it.

options:
  --json FILE        write {"behaviour": {related, pValue, agreement, probes, sources, ...}}
  --md FILE          write the section as Markdown
  --probes N         random token probes (default 200; 0 for text probes only)
  --seed N           seed of the probes and of the null (default 0)
  --top-k K          candidates compared per probe (default 10)
  --alpha A          false-positive rate of the decision (default 0.01)
  --permutations N   draws of the permutation null (default 999)
  --reference DIR    a model known to be unrelated to both (repeatable): A and B must agree with
                     each other more than either agrees with it
  --no-text          leave out the text prompt set
  --max-gib G        refuse local models above G GiB as float32 (default 2)
  --quiet            no summary on stdout
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('probe', argv, {
    json: { type: 'string' }, md: { type: 'string' }, probes: { type: 'string' }, seed: { type: 'string' },
    'top-k': { type: 'string' }, alpha: { type: 'string' }, permutations: { type: 'string' },
    reference: { type: 'string', multiple: true }, 'no-text': { type: 'boolean' }, 'max-gib': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [pathA, pathB] = requirePositionals('probe', positionals, ['A', 'B']);
  const options = {
    probes: numberOption('probe', 'probes', values.probes, { integer: true, min: 0, max: 100_000 }),
    seed: numberOption('probe', 'seed', values.seed, { integer: true, min: 0 }),
    topK: numberOption('probe', 'top-k', values['top-k'], { integer: true, min: 1, max: 1000 }),
    alpha: numberOption('probe', 'alpha', values.alpha, { min: 1e-9, max: 0.5 }),
    draws: numberOption('probe', 'permutations', values.permutations, { integer: true, min: 19, max: 1_000_000 }),
    text: !values['no-text'],
  };
  const maxGib = numberOption('probe', 'max-gib', values['max-gib'], { min: 0.001 }) ?? 2;
  const open = (path: string) => LocalLlamaModel.open(path, { maxBytes: maxGib * 1024 ** 3 });
  const a: BehaviourModel = await open(pathA!);
  const b: BehaviourModel = await open(pathB!);
  const references: BehaviourModel[] = await Promise.all((values.reference ?? []).map(open));
  try {
    const section = await compareBehaviour(a, b, { ...options, references });
    // The files first: a path that cannot be written fails before anything is printed.
    if (values.json !== undefined) write(values.json, JSON.stringify({ behaviour: section }, null, 2) + '\n');
    if (values.md !== undefined) write(values.md, renderBehaviourMarkdown(section));
    if (!values.quiet) process.stdout.write(renderBehaviourText(section));
  } finally {
    for (const m of [a, b, ...references]) await m.close?.();
  }
  return 0;
}

function write(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (err) {
    throw new BadInputError(file, `cannot write the report (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
