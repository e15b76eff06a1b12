/** `lineage submit A B [--coordinator HOST:PORT] [--job-id ID] [--hash ...] [--sample F] [--wait] [--json FILE]` */
import { UsageError } from '../../../core/src/errors.ts';
import { HASH_ALGORITHMS, type HashAlgorithm } from '../../../core/src/hash/index.ts';
import { KERNEL_CHOICES, type KernelChoice } from '../../../core/src/kernels/index.ts';
import { numberOption, parseCommandLine, requirePositionals } from '../args.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connectFromCommandLine } from '../cluster/cli-connection.ts';
import { followJob, formatFinalLine } from '../cluster/job-progress.ts';
import { modelLocation } from '../cluster/run-job.ts';
import { writeReport } from '../report/write.ts';

const USAGE = `usage: lineage submit A B [options]

Submits the comparison of model folders A and B to a coordinator and prints the job id.
A and B must be readable by the workers at the same path (a shared filesystem); relative
paths are made absolute here.

options:
  --job-id ID              the job's id (default: a fresh UUID); submitting again with the
                           same id returns the existing job instead of starting another
  --hash xxh3-128|sha256   content hash of each tensor (default xxh3-128)
  --kernel auto|wasm-simd|js|gpu.js   weight kernel on the workers (default auto)
  --sample F               read a fraction F of each large tensor and report every statistic
                           with a confidence interval (as \`lineage compare --sample\`)
  --confidence C           confidence of the intervals (default 0.95)
  --seed N                 seed of the block draw (default 1): a job is reproducible
  --wait                   follow the job to its end (progress on stderr); exit status 0 only if done
  --json FILE              wait, then write the report as \`lineage compare --json\` does
  --quiet                  no progress display while waiting

${CONNECTION_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('submit', argv, {
    ...CONNECTION_OPTIONS,
    'job-id': { type: 'string' }, hash: { type: 'string' }, kernel: { type: 'string' },
    sample: { type: 'string' }, confidence: { type: 'string' }, seed: { type: 'string' },
    wait: { type: 'boolean' }, json: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [a, b] = requirePositionals('submit', positionals, ['A', 'B']);
  const hash = (values.hash ?? 'xxh3-128') as HashAlgorithm;
  if (!HASH_ALGORITHMS.includes(hash)) throw new UsageError(`lineage submit: --hash must be one of ${HASH_ALGORITHMS.join(', ')}, got '${values.hash}'`);
  const kernel = (values.kernel ?? 'auto') as KernelChoice;
  if (!KERNEL_CHOICES.includes(kernel)) throw new UsageError(`lineage submit: --kernel must be one of ${KERNEL_CHOICES.join(', ')}, got '${values.kernel}'`);
  if (values['job-id'] !== undefined && values['job-id'].trim() === '') throw new UsageError('lineage submit: --job-id must not be empty');
  const sampling = {
    sample: numberOption('submit', 'sample', values.sample, { min: 1e-6, max: 1 }),
    confidence: numberOption('submit', 'confidence', values.confidence, { min: 0.5, max: 0.9999 }),
    seed: numberOption('submit', 'seed', values.seed, { integer: true, min: 1 }),
  };

  const client = await connectFromCommandLine('submit', values);
  try {
    const { job, created } = await client.submit({
      modelA: modelLocation(a!), modelB: modelLocation(b!), jobId: values['job-id'], options: { hash, kernel, ...sampling },
    });
    process.stdout.write(job.jobId + '\n');
    if (!created) process.stderr.write(`lineage submit: job ${job.jobId} already existed (${job.state}); not started again\n`);
    if (!values.wait && values.json === undefined) return 0;

    const final = await followJob(client, job.jobId, values.quiet ? null : process.stderr);
    if (!values.quiet || final.state !== 'done') process.stderr.write(formatFinalLine(final) + '\n');
    if (final.state !== 'done') return 1;
    if (values.json !== undefined) writeReport(await client.report(job.jobId), { json: values.json, quiet: true });
    return 0;
  } finally {
    await client.close();
  }
}
