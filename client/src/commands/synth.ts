/** `lineage synth base|derivative|independent --out DIR [--like DIR] [--drift X] [--seed N] ...` */
import { UsageError } from '../../../core/src/errors.ts';
import { synthesize, type SynthKind, type SynthShape } from '../../../core/src/synth/index.ts';
import { numberOption, parseCommandLine } from '../args.ts';

const USAGE = `usage: lineage synth base|derivative|independent --out DIR [options]

  base          fresh random weights (--layout, --layers, --hidden, ... choose the shape)
  derivative    the model in --like plus noise: b = a + drift·std(a)·z (a fine-tune)
  independent   fresh random weights with the config of --like (a control)

options:
  --out DIR             folder to write (new or empty)
  --like DIR            the model to derive from or to shape like
  --drift X             relative size of the noise of a derivative (default 0.01)
  --seed N              random seed (default 1 for base/derivative, 2 for independent)
  --layout dense|moe    base only (default dense); also --layers --hidden --intermediate
                        --heads --kv-heads --vocab --experts --experts-per-token --moe-intermediate
  --dtype bf16|f16|f32  base only (default bf16)
  --shard-size BYTES    cut shards at this size and write model.safetensors.index.json`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('synth', argv, {
    out: { type: 'string' }, like: { type: 'string' }, drift: { type: 'string' }, seed: { type: 'string' },
    layout: { type: 'string' }, layers: { type: 'string' }, hidden: { type: 'string' }, intermediate: { type: 'string' },
    heads: { type: 'string' }, 'kv-heads': { type: 'string' }, vocab: { type: 'string' }, experts: { type: 'string' },
    'experts-per-token': { type: 'string' }, 'moe-intermediate': { type: 'string' }, dtype: { type: 'string' },
    'shard-size': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const kind = positionals[0] as SynthKind | undefined;
  if (positionals.length !== 1 || !['base', 'derivative', 'independent'].includes(kind!)) {
    throw new UsageError(`lineage synth: expected one of base, derivative, independent\n${USAGE}`);
  }
  if (!values.out) throw new UsageError('lineage synth: --out DIR is required');
  const int = (name: string, value: string | undefined) => numberOption('synth', name, value, { integer: true, min: 1 });
  const shape: Partial<SynthShape> = {};
  if (values.layout !== undefined) {
    if (values.layout !== 'dense' && values.layout !== 'moe') throw new UsageError(`lineage synth: --layout must be dense or moe, got '${values.layout}'`);
    shape.layout = values.layout;
  }
  if (values.dtype !== undefined) {
    const dtype = ({ bf16: 'BF16', f16: 'F16', f32: 'F32' } as const)[values.dtype.toLowerCase() as 'bf16'];
    if (!dtype) throw new UsageError(`lineage synth: --dtype must be bf16, f16 or f32, got '${values.dtype}'`);
    shape.dtype = dtype;
  }
  const dims: [keyof SynthShape, string][] = [
    ['layers', 'layers'], ['hidden', 'hidden'], ['intermediate', 'intermediate'], ['heads', 'heads'], ['kvHeads', 'kv-heads'],
    ['vocab', 'vocab'], ['experts', 'experts'], ['expertsPerToken', 'experts-per-token'], ['moeIntermediate', 'moe-intermediate'],
  ];
  for (const [key, flag] of dims) {
    const v = int(flag, (values as Record<string, string | undefined>)[flag]);
    if (v !== undefined) (shape as Record<string, unknown>)[key] = v;
  }
  if (shape.hidden !== undefined && shape.hidden % (shape.heads ?? 8) !== 0) {
    throw new UsageError(`lineage synth: --hidden (${shape.hidden}) must be a multiple of --heads (${shape.heads ?? 8})`);
  }
  const result = synthesize(kind!, {
    out: values.out,
    like: values.like,
    drift: numberOption('synth', 'drift', values.drift, { min: 0 }),
    seed: numberOption('synth', 'seed', values.seed, { integer: true, min: 0 }),
    shape,
    shardBytes: numberOption('synth', 'shard-size', values['shard-size'], { integer: true, min: 1 }),
  });
  process.stdout.write(`wrote ${kind} model to ${values.out}: ${result.tensors} tensors, ${(result.bytes / 1e6).toFixed(1)} MB in ${result.files.length} file(s)\n`);
  return 0;
}
