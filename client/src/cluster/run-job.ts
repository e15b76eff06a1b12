/** Submitting a comparison from the command line and waiting for its report. */
import { isAbsolute, resolve } from 'node:path';
import type { ComparisonReport } from '../../../core/src/compare/index.ts';
import type { LineageClient } from '../sdk/client.ts';
import { JobFailedError } from '../sdk/errors.ts';
import { followJob } from './job-progress.ts';

/**
 * A model argument as the coordinator should see it: URLs as given, local paths made absolute
 * (the coordinator and workers do not share our working directory, only the filesystem).
 */
export function modelLocation(arg: string): string {
  return /^https?:\/\//i.test(arg) || isAbsolute(arg) ? arg : resolve(arg);
}

/** Follows the job (progress on `progressOut`), then fetches its report; JobFailedError unless it is done. */
export async function waitForReport(client: LineageClient, jobId: string, progressOut: NodeJS.WritableStream | null): Promise<ComparisonReport> {
  const final = await followJob(client, jobId, progressOut);
  if (final.state === 'failed' || final.state === 'cancelled') throw new JobFailedError(jobId, final.state, final.error ?? '');
  return client.report(jobId);
}

/** Writes the report as `lineage compare` does: JSON to `jsonFile` if given, the summary on stdout unless quiet. */
