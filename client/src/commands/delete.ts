/** `lineage delete JOB`: removes a job's record, report and messages from the cluster. */
import { parseCommandLine, requirePositionals } from '../args.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connectFromCommandLine } from '../cluster/cli-connection.ts';

const USAGE = `usage: lineage delete JOB [options]

Deletes a job: its record, its stored report, and any of its tasks and results still in NATS.
A job still running is cancelled first. A job whose stored record the coordinator refused
(altered by someone without the cluster key) is deleted the same way.

${CONNECTION_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('delete', argv, {
    ...CONNECTION_OPTIONS, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [jobId] = requirePositionals('delete', positionals, ['JOB']);
  const client = await connectFromCommandLine('delete', values);
  try {
    const job = await client.delete(jobId!);
    process.stdout.write(`job ${job.jobId} deleted (it was ${job.state})\n`);
    return 0;
  } finally {
    await client.close();
  }
}
