/**
 * Job records and reports in JetStream KV. A report can be far larger than a NATS message (one
 * entry per tensor: megabytes for a 100B MoE model), so it is stored in chunks under
 * `<job>.<n>` keys, written before the record that says how many there are.
 *
 * Every value is sealed with the cluster key (proto/signed.ts): a record bound to its job id, a
 * chunk to its job id, number and count, and the record holds the report's SHA-256. Anything read
 * back that does not verify or parse is an UntrustedDataError, never data.
 */
import { createHash } from 'node:crypto';
import { Bucket, type KV } from '@nats-io/kv';
import type { ClusterKey } from '../../proto/cluster-key.ts';
import { JOB_ID_PATTERN, REPORTS_BUCKET, retryOnTimeout } from '../../proto/jetstream.ts';
import { openValue, sealValue, UntrustedDataError } from '../../proto/signed.ts';
import { parseJobRecord, type JobRecord } from './job-record.ts';

/** Below the default 1 MiB max_payload of nats-server, with room for headers and the MAC line. */
const CHUNK_BYTES = 512 * 1024;

/** A key of the jobs bucket whose record could not be used, and why. */
export interface RejectedRecord {
  jobId: string;
  error: UntrustedDataError;
}

export class JobStore {
  constructor(private readonly jobs: KV, private readonly reports: KV, private readonly key: ClusterKey) {}

  private seal(record: JobRecord): Uint8Array {
    return sealValue(this.key, 'job-record', [record.jobId], Buffer.from(JSON.stringify(record), 'utf8'));
  }

  /** The job's record; null when there is none; an UntrustedDataError when it does not verify or parse. */
  async get(jobId: string): Promise<JobRecord | null> {
    const entry = await retryOnTimeout(() => this.jobs.get(jobId));
    if (!entry || entry.operation !== 'PUT' || entry.length === 0) return null;
    const payload = openValue(this.key, `job record ${JSON.stringify(jobId)}`, 'job-record', [jobId], entry.value);
    return parseJobRecord(jobId, payload);
  }

  /** Creates the record unless one exists; false when it did (another Submit won). */
  async create(record: JobRecord): Promise<boolean> {
    const value = this.seal(record);
    try {
      await retryOnTimeout(() => this.jobs.create(record.jobId, value));
      return true;
    } catch (err) {
      if (!/wrong last sequence|key exists/i.test((err as Error).message)) throw err;
      // A retried create whose first attempt did land finds its own record: that is a success.
      const existing = await retryOnTimeout(() => this.jobs.get(record.jobId));
      return existing !== null && Buffer.from(existing.value).equals(Buffer.from(value));
    }
  }

  async put(record: JobRecord): Promise<void> {
    record.updatedAtMs = Date.now();
    const value = this.seal(record);
    await retryOnTimeout(() => this.jobs.put(record.jobId, value));
  }

  /** Every record that verifies, and the keys whose records do not (keys that cannot be job ids are left out). */
  /**
   * The jobs bucket's keys. The KV's key listing follows the stream with a consumer, and a key
   * updated while it runs can come back twice (measured: every listing under concurrent puts
   * repeated one; a running job was listed twice, the sdk-cluster test's rare failure) or not at
   * all (its older message gone before the consumer reached it, the newer one after the consumer
   * stopped: a loaded CI run listed 11 of 12 running jobs). The stream's subject list is what the
   * server holds at one moment, so each key is there once; the listing is kept as a fallback for a
   * KV that is not a JetStream bucket. Keys whose last message is a delete come back too: get()
   * then finds no record.
   */
  private async keys(): Promise<Set<string>> {
    const keys = new Set<string>();
    const bucket = this.jobs;
    if (bucket instanceof Bucket) {
      const prefix = `${bucket.prefix}.`;
      const info = await retryOnTimeout(() => bucket.jsm.streams.info(bucket.stream, { subjects_filter: `${prefix}>` }));
      for (const subject of Object.keys(info.state.subjects ?? {})) if (subject.startsWith(prefix)) keys.add(subject.slice(prefix.length));
      return keys;
    }
    for await (const key of await retryOnTimeout(() => bucket.keys())) keys.add(key);
    return keys;
  }

  async list(): Promise<{ records: JobRecord[]; rejected: RejectedRecord[] }> {
    const keys = await this.keys();
    const records: JobRecord[] = [];
    const rejected: RejectedRecord[] = [];
    await Promise.all([...keys].filter((k) => JOB_ID_PATTERN.test(k)).map(async (k) => {
      try {
        const r = await this.get(k);
        if (r) records.push(r);
      } catch (err) {
        if (!(err instanceof UntrustedDataError)) throw err;
        rejected.push({ jobId: k, error: err });
      }
    }));
    return { records, rejected };
  }

  /** Stores the report (its JSON's bytes); returns its number of chunks and SHA-256 (for the job record). */
  async putReport(jobId: string, bytes: Buffer): Promise<{ chunks: number; sha256: string }> {
    const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
    // Hashed chunk by chunk between the puts: at once, ~20 MB held the event loop for tens of milliseconds.
    const hash = createHash('sha256');
    for (let i = 0; i < chunks; i++) {
      const chunk = bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
      hash.update(chunk);
      const value = sealValue(this.key, 'report-chunk', [jobId, i, chunks], chunk);
      await retryOnTimeout(() => this.reports.put(`${jobId}.${i}`, value));
    }
    return { chunks, sha256: hash.digest('hex') };
  }

  /**
   * The stored report's bytes (UTF-8 JSON), sent on as they are; an UntrustedDataError when a chunk
   * or the whole does not verify.
   */
  async getReport(jobId: string, chunks: number, sha256: string | undefined): Promise<Buffer> {
    const parts: Uint8Array[] = [];
    const hash = createHash('sha256');
    for (let i = 0; i < chunks; i++) {
      const entry = await retryOnTimeout(() => this.reports.get(`${jobId}.${i}`));
      if (!entry || entry.operation !== 'PUT') throw new Error(`report of job ${jobId}: chunk ${i} of ${chunks} is missing from the ${REPORTS_BUCKET} bucket`);
      const part = openValue(this.key, `report of job ${jobId}, chunk ${i} of ${chunks}`, 'report-chunk', [jobId, i, chunks], entry.value);
      hash.update(part);
      parts.push(part);
    }
    if (!this.key.insecure && sha256 !== undefined && hash.digest('hex') !== sha256) {
      throw new UntrustedDataError(`report of job ${jobId}`, 'tampered', 'its chunks verify one by one but are not the report its job record names (chunks of another report)');
    }
    return Buffer.concat(parts);
  }

  /** Removes the job's record and every report chunk stored under its id. */
  async delete(jobId: string): Promise<void> {
    const chunks: string[] = [];
    for await (const k of await retryOnTimeout(() => this.reports.keys(`${jobId}.*`))) chunks.push(k);
    for (const k of chunks) await retryOnTimeout(() => this.reports.purge(k));
    await retryOnTimeout(() => this.jobs.purge(jobId));
  }
}
