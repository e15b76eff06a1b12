/** `lineage cancel JOB`: cancels a queued or running job. */
import { parseCommandLine, requirePositionals } from '../args.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connectFromCommandLine } from '../cluster/cli-connection.ts';
import { formatFinalLine } from '../cluster/job-progress.ts';

const USAGE = `usage: lineage cancel JOB [options]

Cancels a queued or running job: its remaining tasks are dropped. A job that already ended
keeps its state, which is printed.

${CONNECTION_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('cancel', argv, {
    ...CONNECTION_OPTIONS, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [jobId] = requirePositionals('cancel', positionals, ['JOB']);
  const client = await connectFromCommandLine('cancel', values);
  try {
    const job = await client.cancel(jobId!);
    process.stdout.write(formatFinalLine(job) + '\n');
    return 0;
  } finally {
    await client.close();
  }
}
