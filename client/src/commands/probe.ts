/**
 * `lineage probe A B`: behavioural evidence alone. Both sides answer the same seeded probes and
 * the section says whether they behave as related models do, with a p-value and the
 * false-positive rate it is held to.
 */
import { writeFileSync } from 'node:fs';
import {
  compareBehaviour, EndpointModel, openBehaviourModel, renderBehaviourHtml, renderBehaviourMarkdown, renderBehaviourText, ResponseCache, type BehaviourModel,
} from '../../../core/src/behaviour/index.ts';
import { BadInputError, UsageError } from '../../../core/src/errors.ts';
import { numberOption, parseCommandLine, requirePositionals } from '../args.ts';

const USAGE = `usage: lineage probe A B [options]
       lineage probe --endpoint-a URL --model-a NAME B            (and so on, for either side)

A and B are model folders (Hugging Face layout, Llama/Mistral/Qwen2/Qwen3 families, run here by
the built-in float32 forward pass; the whole model is held in memory), .gguf files (run by
llama.cpp through node-llama-cpp, a development dependency; CPU, float32 cache), or OpenAI-compatible
endpoints (/v1/completions with logprobs, falling back to /v1/chat/completions), which take the
text probes. A side given as an endpoint takes no positional argument.

Probes: seeded random token sequences over the ids both vocabularies have, and the fixed text
prompt set (lineage-prompts-v1: English, Korean, code, math, facts) when both sides have a
tokenizer. The decision is greedy next-token agreement against a permutation null (A's answer to
probe i against B's to a random probe) and against any --reference models; top-k overlap and Jensen-Shannon
divergence are reported beside it.

options:
  --json FILE        write {"behaviour": {related, pValue, agreement, probes, sources, ...}}
  --md FILE          write the section as Markdown
  --html FILE        write the section as a self-contained HTML page
  --probes N         random token probes (default 200; 0 for text probes only)
  --seed N           seed of the probes and of the null (default 0)
  --top-k K          candidates compared per probe (default 10)
  --alpha A          false-positive rate of the decision (default 0.01)
  --permutations N   draws of the permutation null (default 999)
  --reference DIR    a model known to be unrelated to both (repeatable): A and B must agree with
                     each other more than either agrees with it
  --no-text          leave out the text prompt set
  --max-gib G        refuse local models above G GiB as float32 (default 2)

endpoints:
  --endpoint-a URL, --endpoint-b URL   base URL (http(s)://host:port or .../v1)
  --model-a NAME, --model-b NAME       the model name the endpoint serves
  --api-key-a KEY, --api-key-b KEY     API key (default: LINEAGE_API_KEY_A / LINEAGE_API_KEY_B,
                                       then OPENAI_API_KEY); sent only to that endpoint, never printed
  --concurrency N    requests in flight per endpoint (default 4)
  --timeout S        seconds per request (default 60)
  --retries N        retries on 429, 5xx, timeouts (default 4; exponential backoff, Retry-After honoured)
  --cache DIR        keep answers here, keyed by endpoint, model, prompt and parameters
  --quiet            no summary on stdout
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('probe', argv, {
    json: { type: 'string' }, md: { type: 'string' }, html: { type: 'string' }, probes: { type: 'string' }, seed: { type: 'string' },
    'top-k': { type: 'string' }, alpha: { type: 'string' }, permutations: { type: 'string' },
    reference: { type: 'string', multiple: true }, 'no-text': { type: 'boolean' }, 'max-gib': { type: 'string' },
    'endpoint-a': { type: 'string' }, 'model-a': { type: 'string' }, 'api-key-a': { type: 'string' },
    'endpoint-b': { type: 'string' }, 'model-b': { type: 'string' }, 'api-key-b': { type: 'string' },
    concurrency: { type: 'string' }, timeout: { type: 'string' }, retries: { type: 'string' }, cache: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const endpointA = values['endpoint-a'];
  const endpointB = values['endpoint-b'];
  const locals = requirePositionals('probe', positionals, [...(endpointA ? [] : ['A']), ...(endpointB ? [] : ['B'])]);
  for (const side of ['a', 'b'] as const) {
    const has = values[`endpoint-${side}`] !== undefined;
    if (!has && (values[`model-${side}`] !== undefined || values[`api-key-${side}`] !== undefined)) {
      throw new UsageError(`lineage probe: --model-${side} and --api-key-${side} need --endpoint-${side}`);
    }
    if (has && !values[`model-${side}`]) throw new UsageError(`lineage probe: --endpoint-${side} needs --model-${side} NAME`);
  }
  const transport = {
    concurrency: numberOption('probe', 'concurrency', values.concurrency, { integer: true, min: 1, max: 256 }),
    timeoutMs: seconds(numberOption('probe', 'timeout', values.timeout, { min: 0.001, max: 3600 })),
    retries: numberOption('probe', 'retries', values.retries, { integer: true, min: 0, max: 20 }),
  };
  const cache = values.cache !== undefined ? new ResponseCache(values.cache) : undefined;
  const options = {
    probes: numberOption('probe', 'probes', values.probes, { integer: true, min: 0, max: 20_000 }),
    seed: numberOption('probe', 'seed', values.seed, { integer: true, min: 0 }),
    topK: numberOption('probe', 'top-k', values['top-k'], { integer: true, min: 1, max: 1000 }),
    alpha: numberOption('probe', 'alpha', values.alpha, { min: 1e-9, max: 0.5 }),
    draws: numberOption('probe', 'permutations', values.permutations, { integer: true, min: 19, max: 1_000_000 }),
    text: !values['no-text'],
  };
  const maxGib = numberOption('probe', 'max-gib', values['max-gib'], { min: 0.001 }) ?? 2;
  const open = (path: string): Promise<BehaviourModel> => openBehaviourModel(path, { maxBytes: maxGib * 1024 ** 3 });
  let next = 0;
  const side = async (which: 'a' | 'b'): Promise<BehaviourModel> => {
    const url = values[`endpoint-${which}`];
    if (url === undefined) return open(locals[next++]!);
    const env = which === 'a' ? 'LINEAGE_API_KEY_A' : 'LINEAGE_API_KEY_B';
    const apiKey = values[`api-key-${which}`] ?? process.env[env] ?? process.env.OPENAI_API_KEY ?? null;
    return new EndpointModel({ url, model: values[`model-${which}`]!, apiKey, cache, ...transport });
  };
  const a = await side('a');
  const b = await side('b');
  const references: BehaviourModel[] = await Promise.all((values.reference ?? []).map(open));
  try {
    const section = await compareBehaviour(a, b, { ...options, references });
    // The files first: a path that cannot be written fails before anything is printed.
    if (values.json !== undefined) write(values.json, JSON.stringify({ behaviour: section }, null, 2) + '\n');
    if (values.md !== undefined) write(values.md, renderBehaviourMarkdown(section));
    if (values.html !== undefined) write(values.html, renderBehaviourHtml(section));
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

const seconds = (s: number | undefined) => (s === undefined ? undefined : Math.round(s * 1000));
