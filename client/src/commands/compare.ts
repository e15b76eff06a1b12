/** `lineage compare A B [--json FILE] [--threads N] [--hash xxh3-128|sha256] ...` */
import { availableParallelism } from 'node:os';
import { UsageError } from '../../../core/src/errors.ts';
import { compareModels } from '../../../core/src/compare/index.ts';
import { HASH_ALGORITHMS, type HashAlgorithm } from '../../../core/src/hash/index.ts';
import { KERNEL_CHOICES, type KernelChoice } from '../../../core/src/kernels/index.ts';
import { numberOption, parseCommandLine, requirePositionals } from '../args.ts';
import { writeReport } from '../report/write.ts';
import { Progress } from '../report/progress.ts';
import { CONNECTION_OPTIONS, connectFromCommandLine, type ConnectionValues } from '../cluster/cli-connection.ts';

const USAGE = `usage: lineage compare A B [options]

A and B are model folders (config.json, *.safetensors with or without
model.safetensors.index.json, tokenizer files), http(s) URLs of such a folder
(https://huggingface.co/ORG/NAME/resolve/REVISION/, files appended; read with
Range requests, the revision pinned), or comma-separated URLs of its files.

options:
  --json FILE              write the full report as JSON
  --md FILE                write the report as Markdown (verdict, evidence, per-layer tables)
  --html FILE              write the report as one self-contained HTML page with charts
  --threads N              worker threads (default: all cores, ${availableParallelism()} here)
  --hash xxh3-128|sha256   content hash of each tensor (default xxh3-128)
  --kernel auto|wasm-simd|js|gpu.js   weight kernel (default auto: WASM SIMD; gpu.js only when asked,
                           measured slower even on a GPU, see README)
  --reader pread|mmap      how tensor bytes are read (default pread: faster here, see README)
  --sample F               read a fraction F of each large tensor (row blocks drawn without
                           replacement) and report every statistic with a confidence interval
  --confidence C           confidence of the intervals (default 0.95)
  --seed N                 seed of the block draw (default 1): a run is reproducible
  --target-halfwidth W     keep sampling until every interval is narrower than ±W (or the
                           tensor is read whole); starts from --sample, or 0.02 without it
  --hub-token TOKEN        bearer token for remote models (default: HF_TOKEN), sent only to
                           the models' own hosts
  --behaviour on|auto|off  also compare what the models do (lineage probe's section, weighed in
                           the verdict): on, or auto for small local models; default off
  --quiet                  no progress and no summary on stdout (errors still on stderr)

cluster (runs the comparison on a coordinator's workers, with the same report):
  --coordinator HOST:PORT  submit to this coordinator, show its progress, write its report;
                           A and B must be readable by the workers at the same path
  --job-id ID              the job's id (default: a fresh UUID)
  --token TOKEN            API token (default: LINEAGE_TOKEN)
  --tls, --tls-ca FILE     TLS to the coordinator (system roots, or this CA certificate)`;

/** Options of the local executor that mean nothing on a cluster, where each worker chooses. */
const LOCAL_ONLY = ['threads', 'reader'] as const;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('compare', argv, {
    json: { type: 'string' }, md: { type: 'string' }, html: { type: 'string' }, sample: { type: 'string' },
    confidence: { type: 'string' }, seed: { type: 'string' }, threads: { type: 'string' }, hash: { type: 'string' },
    ...CONNECTION_OPTIONS, 'job-id': { type: 'string' }, kernel: { type: 'string' }, reader: { type: 'string' },
    'target-halfwidth': { type: 'string' }, 'hub-token': { type: 'string' }, behaviour: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [a, b] = requirePositionals('compare', positionals, ['A', 'B']);
  const hash = (values.hash ?? 'xxh3-128') as HashAlgorithm;
  if (!HASH_ALGORITHMS.includes(hash)) throw new UsageError(`lineage compare: --hash must be one of ${HASH_ALGORITHMS.join(', ')}, got '${values.hash}'`);
  const kernel = (values.kernel ?? 'auto') as KernelChoice;
  if (!KERNEL_CHOICES.includes(kernel)) throw new UsageError(`lineage compare: --kernel must be one of ${KERNEL_CHOICES.join(', ')}, got '${values.kernel}'`);
  if (values.coordinator !== undefined) {
    if (values['target-halfwidth'] !== undefined) throw new UsageError('lineage compare: --target-halfwidth is not implemented on the cluster yet; run it locally');
    if (values.behaviour !== undefined) throw new UsageError('lineage compare: --behaviour runs locally only (lineage probe A B gives the same section)');
    for (const flag of LOCAL_ONLY) {
      if (values[flag] !== undefined) throw new UsageError(`lineage compare: --${flag} applies to local mode only; with --coordinator each worker chooses its own`);
    }
    const sampling = {
      sample: numberOption('compare', 'sample', values.sample, { min: 1e-6, max: 1 }),
      seed: numberOption('compare', 'seed', values.seed, { integer: true, min: 1 }),
      confidence: numberOption('compare', 'confidence', values.confidence, { min: 0.5, max: 0.9999 }),
    };
    return compareOnCluster(a!, b!, { ...values, hash, kernel, sampling });
  }
  for (const flag of ['job-id', 'token', 'tls', 'tls-ca'] as const) {
    if (values[flag] !== undefined) throw new UsageError(`lineage compare: --${flag} needs --coordinator`);
  }
  const reader = values.reader ?? 'pread';
  if (reader !== 'pread' && reader !== 'mmap') throw new UsageError(`lineage compare: --reader must be pread or mmap, got '${reader}'`);
  const threads = numberOption('compare', 'threads', values.threads, { integer: true, min: 1, max: 256 }) ?? availableParallelism();

  const targetHalfwidth = numberOption('compare', 'target-halfwidth', values['target-halfwidth'], { min: 1e-9, max: 2 });
  const sample = numberOption('compare', 'sample', values.sample, { min: 1e-6, max: 1 }) ?? (targetHalfwidth !== undefined ? 0.02 : undefined);
  const confidence = numberOption('compare', 'confidence', values.confidence, { min: 0.5, max: 0.9999 });
  const seed = numberOption('compare', 'seed', values.seed, { integer: true, min: 1 });
  const behaviour = values.behaviour ?? 'off';
  if (behaviour !== 'on' && behaviour !== 'auto' && behaviour !== 'off') throw new UsageError(`lineage compare: --behaviour must be on, auto or off, got '${behaviour}'`);

  const progress = values.quiet ? null : new Progress(process.stderr);
  const report = await compareModels(a!, b!, {
    threads, hash, kernel, reader, sample, confidence, seed, targetHalfwidth, behaviour,
    remote: { token: values['hub-token'] ?? process.env.HF_TOKEN },
    onStart: (total, tasks) => progress?.start(total, tasks),
    onProgress: (bytes) => progress?.advance(bytes),
    onControls: (event) => progress?.controlsEvent(event),
  });
  progress?.finish();
  writeReport(report, { json: values.json, md: values.md, html: values.html, quiet: values.quiet });
  return 0;
}

/** `lineage compare A B --coordinator HOST:PORT`: submit, show progress, write the same report and summary. */
async function compareOnCluster(
  a: string, b: string,
  values: ConnectionValues & {
    hash: HashAlgorithm; kernel: KernelChoice; 'job-id'?: string; json?: string; md?: string; html?: string; quiet?: boolean;
    sampling: { sample?: number; seed?: number; confidence?: number };
  },
): Promise<number> {
  // The cluster modules (gRPC) load only for a cluster run: a local comparison starts faster.
  const { modelLocation, waitForReport } = await import('../cluster/run-job.ts');
  const client = await connectFromCommandLine('compare', values);
  try {
    const { job } = await client.submit({
      modelA: modelLocation(a), modelB: modelLocation(b), jobId: values['job-id'], options: { hash: values.hash, kernel: values.kernel, ...values.sampling },
    });
    if (!values.quiet) process.stderr.write(`job ${job.jobId} on ${client.address}\n`);
    const report = await waitForReport(client, job.jobId, values.quiet ? null : process.stderr);
    writeReport(report, { json: values.json, md: values.md, html: values.html, quiet: values.quiet });
    return 0;
  } finally {
    await client.close();
  }
}
