/** `lineage compare A B [--json FILE] [--threads N] [--hash xxh3-128|sha256] ...` */
import { availableParallelism } from 'node:os';
import { writeFileSync } from 'node:fs';
import { UsageError } from '../../../core/src/errors.ts';
import { compareModels } from '../../../core/src/compare/model-report.ts';
import { HASH_ALGORITHMS, type HashAlgorithm } from '../../../core/src/hash/content-hash.ts';
import { KERNEL_CHOICES, type KernelChoice } from '../../../core/src/kernels/select.ts';
import { numberOption, parseCommandLine, requirePositionals } from '../args.ts';
import { formatSummary } from '../report/summary.ts';
import { Progress } from '../report/progress.ts';

const USAGE = `usage: lineage compare A B [options]

A and B are model folders (config.json, *.safetensors with or without
model.safetensors.index.json, tokenizer files).

options:
  --json FILE              write the full report as JSON
  --threads N              worker threads (default: all cores, ${availableParallelism()} here)
  --hash xxh3-128|sha256   content hash of each tensor (default xxh3-128)
  --kernel auto|wasm-simd|js|gpu.js   weight kernel (default auto: gpu.js on a real GPU, else WASM SIMD)
  --reader pread|mmap      how tensor bytes are read (default pread: faster here, see README)
  --quiet                  no progress and no summary on stdout (errors still on stderr)`;

const NOT_YET: Record<string, string> = {
  md: 'the Markdown report', html: 'the HTML report', sample: 'sampled comparison', confidence: 'sampled comparison',
  seed: 'sampled comparison', coordinator: 'the cluster mode',
};

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('compare', argv, {
    json: { type: 'string' }, md: { type: 'string' }, html: { type: 'string' }, sample: { type: 'string' },
    confidence: { type: 'string' }, seed: { type: 'string' }, threads: { type: 'string' }, hash: { type: 'string' },
    coordinator: { type: 'string' }, kernel: { type: 'string' }, reader: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  for (const [flag, what] of Object.entries(NOT_YET)) {
    if ((values as Record<string, unknown>)[flag] !== undefined) throw new UsageError(`lineage compare: --${flag} (${what}) is not implemented yet`);
  }
  const [a, b] = requirePositionals('compare', positionals, ['A', 'B']);
  const hash = (values.hash ?? 'xxh3-128') as HashAlgorithm;
  if (!HASH_ALGORITHMS.includes(hash)) throw new UsageError(`lineage compare: --hash must be one of ${HASH_ALGORITHMS.join(', ')}, got '${values.hash}'`);
  const kernel = (values.kernel ?? 'auto') as KernelChoice;
  if (!KERNEL_CHOICES.includes(kernel)) throw new UsageError(`lineage compare: --kernel must be one of ${KERNEL_CHOICES.join(', ')}, got '${values.kernel}'`);
  const reader = values.reader ?? 'pread';
  if (reader !== 'pread' && reader !== 'mmap') throw new UsageError(`lineage compare: --reader must be pread or mmap, got '${reader}'`);
  const threads = numberOption('compare', 'threads', values.threads, { integer: true, min: 1, max: 256 }) ?? availableParallelism();

  const progress = values.quiet ? null : new Progress(process.stderr);
  const report = await compareModels(a!, b!, {
    threads, hash, kernel, reader,
    onStart: (total, tasks) => progress?.start(total, tasks),
    onProgress: (bytes) => progress?.advance(bytes),
  });
  progress?.finish();
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  if (!values.quiet) process.stdout.write(formatSummary(report) + '\n');
  return 0;
}
