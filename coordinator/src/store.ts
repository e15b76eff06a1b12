/**
 * Job records and reports in JetStream KV. A report can be far larger than a NATS message (one
 * entry per tensor: megabytes for a 100B MoE model), so it is stored in chunks under
 * `<job>.<n>` keys, written before the record that says how many there are.
 */
import type { KV } from '@nats-io/kv';
import { REPORTS_BUCKET, retryOnTimeout } from '../../proto/jetstream.ts';
import type { JobRecord } from './job-record.ts';

/** Below the default 1 MiB max_payload of nats-server, with room for headers. */
const CHUNK_BYTES = 512 * 1024;

export class JobStore {
  constructor(private readonly jobs: KV, private readonly reports: KV) {}

  async get(jobId: string): Promise<JobRecord | null> {
    const entry = await retryOnTimeout(() => this.jobs.get(jobId));
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return null;
    return entry.json<JobRecord>();
  }

  /** Creates the record unless one exists; false when it did (another Submit won). */
  async create(record: JobRecord): Promise<boolean> {
    const value = JSON.stringify(record);
    try {
      await retryOnTimeout(() => this.jobs.create(record.jobId, value));
      return true;
    } catch (err) {
      if (!/wrong last sequence|key exists/i.test((err as Error).message)) throw err;
      // A retried create whose first attempt did land finds its own record: that is a success.
      const existing = await retryOnTimeout(() => this.jobs.get(record.jobId));
      return existing?.string() === value;
    }
  }

  async put(record: JobRecord): Promise<void> {
    record.updatedAtMs = Date.now();
    const value = JSON.stringify(record);
    await retryOnTimeout(() => this.jobs.put(record.jobId, value));
  }

  async list(): Promise<JobRecord[]> {
    const keys: string[] = [];
    for await (const key of await retryOnTimeout(() => this.jobs.keys())) keys.push(key);
    const records = await Promise.all(keys.map((k) => this.get(k)));
    return records.filter((r): r is JobRecord => r !== null);
  }

  /** Stores the report; returns its number of chunks (for the job record). */
  async putReport(jobId: string, json: string): Promise<number> {
    const bytes = Buffer.from(json, 'utf8');
    const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
    for (let i = 0; i < chunks; i++) {
      const chunk = bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
      await retryOnTimeout(() => this.reports.put(`${jobId}.${i}`, chunk));
    }
    return chunks;
  }

  async getReport(jobId: string, chunks: number): Promise<string> {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < chunks; i++) {
      const entry = await retryOnTimeout(() => this.reports.get(`${jobId}.${i}`));
      if (!entry || entry.operation !== 'PUT') throw new Error(`report of job ${jobId}: chunk ${i} of ${chunks} is missing from the ${REPORTS_BUCKET} bucket`);
      parts.push(entry.value);
    }
    return Buffer.concat(parts).toString('utf8');
  }
}
