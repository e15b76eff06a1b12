/**
 * Signed messages and sealed records: the only way tasks, results, heartbeats, job records and
 * report chunks are written to or read from NATS. Whatever arrives is untrusted until its MAC
 * (proto/cluster-key.ts) verifies; what does not verify, or does not decode, is rejected with an
 * `UntrustedDataError` saying which and why, never used.
 *
 *  - A task's MAC (header `Lineage-Mac`) covers its encoded bytes, bound to job id and task id
 *    (the worker also checks the subject it came on).
 *  - A result's MAC covers its bytes bound to job id, task id, attempt and the MAC of the task it
 *    answers: the coordinator recomputes that task MAC from its own plan, so a result verifies
 *    only for a task the coordinator published, with exactly the items it published.
 *  - A KV value is `<mac>\n<payload>`, the MAC bound to the key (and, for report chunks, to the
 *    chunk's number and count): a record copied to another key does not verify.
 */
import { createHash } from 'node:crypto';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { LineageError } from '../core/src/errors.ts';
import type { ClusterKey, MacDomain } from './cluster-key.ts';
import { decodeTask, decodeTaskResult, encodeTask, encodeTaskResult, type TaskEnvelope, type TaskOutcome } from './convert.ts';
import { WorkerHeartbeat } from './lineage/v1/lineage.ts';

export const MAC_HEADER = 'Lineage-Mac';

export type UntrustedReason = 'unsigned' | 'tampered' | 'malformed' | 'foreign';

/** A message or record that is not the cluster's own, or not what it claims to be. */
export class UntrustedDataError extends LineageError {
  constructor(readonly what: string, readonly reason: UntrustedReason, detail: string) {
    super('INTERNAL', `${what}: ${detail}`);
  }
}

export interface Signed {
  data: Uint8Array;
  headers: MsgHdrs;
}

function withMac(mac: string): MsgHdrs {
  const h = natsHeaders();
  if (mac) h.set(MAC_HEADER, mac);
  return h;
}

function macOf(headers: MsgHdrs | undefined): string | undefined {
  return headers?.get(MAC_HEADER) || undefined;
}

function check(key: ClusterKey, what: string, domain: MacDomain, fields: readonly (string | number)[], data: Uint8Array, mac: string | undefined): void {
  if (key.insecure) return;
  if (!mac) throw new UntrustedDataError(what, 'unsigned', 'carries no MAC (not sent by a member of this cluster)');
  if (!key.verify(domain, fields, data, mac)) throw new UntrustedDataError(what, 'tampered', 'its MAC does not verify (forged, altered, or signed with another cluster key)');
}

// ---- Tasks ----

/** The MAC a task message carries: also what its result is bound to. */
export function taskMac(key: ClusterKey, envelope: TaskEnvelope, data = encodeTask(envelope)): string {
  return key.mac('task', [envelope.jobId, envelope.task.id], data);
}

export function signTask(key: ClusterKey, envelope: TaskEnvelope): Signed & { mac: string } {
  const data = encodeTask(envelope);
  const mac = taskMac(key, envelope, data);
  return { data, headers: withMac(mac), mac };
}

/** A verified task, with its MAC (which the result must be bound to). `subject` is where it came. */
export function openTask(key: ClusterKey, subject: string, data: Uint8Array, headers: MsgHdrs | undefined, expectedSubject: (jobId: string, taskId: number) => string): { envelope: TaskEnvelope; mac: string } {
  let envelope: TaskEnvelope;
  try {
    envelope = decodeTask(data);
  } catch (err) {
    throw new UntrustedDataError(`task message on ${subject}`, 'malformed', `does not decode (${(err as Error).message})`);
  }
  const what = `task ${envelope.jobId}/${envelope.task.id} on ${subject}`;
  const mac = macOf(headers);
  check(key, what, 'task', [envelope.jobId, envelope.task.id], data, mac);
  if (subject !== expectedSubject(envelope.jobId, envelope.task.id)) throw new UntrustedDataError(what, 'foreign', 'came on another task\'s subject');
  return { envelope, mac: mac ?? '' };
}

// ---- Results ----

export function signResult(key: ClusterKey, outcome: TaskOutcome, taskMacHex: string): Signed {
  const data = encodeTaskResult(outcome);
  return { data, headers: withMac(key.mac('result', [outcome.jobId, outcome.taskId, outcome.attempt, taskMacHex], data)) };
}

/**
 * A verified result. `expectedTaskMac` gives the MAC of the task as the coordinator published it,
 * or null when this coordinator published no such task (then the result is foreign).
 */
export function openResult(key: ClusterKey, data: Uint8Array, headers: MsgHdrs | undefined, expectedTaskMac: (jobId: string, taskId: number) => string | null): TaskOutcome {
  let outcome: TaskOutcome;
  try {
    outcome = decodeTaskResult(data);
  } catch (err) {
    throw new UntrustedDataError('result message', 'malformed', `does not decode (${(err as Error).message})`);
  }
  const what = `result of task ${outcome.jobId}/${outcome.taskId}`;
  const task = expectedTaskMac(outcome.jobId, outcome.taskId);
  if (task === null) throw new UntrustedDataError(what, 'foreign', 'answers a task this job does not have');
  check(key, what, 'result', [outcome.jobId, outcome.taskId, outcome.attempt, task], data, macOf(headers));
  return outcome;
}

/**
 * The message id a result is published with. JetStream drops a second message with the same id
 * (the copy a retried publish may add); the id depends on the signed bytes, so no one without
 * them can publish first under it and have the real result dropped as a duplicate.
 */
export function resultMessageId(outcome: TaskOutcome, signed: Signed): string {
  const digest = createHash('sha256').update(signed.data).update(macOf(signed.headers) ?? '').digest('hex').slice(0, 24);
  return `${outcome.jobId}.${outcome.taskId}.${digest}`;
}

// ---- Heartbeats ----

export function signHeartbeat(key: ClusterKey, beat: WorkerHeartbeat): Signed {
  const data = WorkerHeartbeat.encode(beat).finish();
  return { data, headers: withMac(key.mac('heartbeat', [beat.worker], data)) };
}

export function openHeartbeat(key: ClusterKey, data: Uint8Array, headers: MsgHdrs | undefined): WorkerHeartbeat {
  let beat: WorkerHeartbeat;
  try {
    beat = WorkerHeartbeat.decode(data);
  } catch (err) {
    throw new UntrustedDataError('heartbeat', 'malformed', `does not decode (${(err as Error).message})`);
  }
  check(key, `heartbeat of ${beat.worker}`, 'heartbeat', [beat.worker], data, macOf(headers));
  return beat;
}

// ---- Stored values ----

const UNSIGNED = 'unsigned';
const NEWLINE = 0x0a;

/** `<mac>\n<payload>` (`unsigned` in place of the MAC on an insecure cluster). */
export function sealValue(key: ClusterKey, domain: MacDomain, fields: readonly (string | number)[], payload: Uint8Array): Uint8Array {
  const mac = key.mac(domain, fields, payload) || UNSIGNED;
  return Buffer.concat([Buffer.from(`${mac}\n`, 'latin1'), payload]);
}

/** The payload of a sealed value, or an UntrustedDataError naming `what`. */
export function openValue(key: ClusterKey, what: string, domain: MacDomain, fields: readonly (string | number)[], value: Uint8Array): Uint8Array {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const nl = bytes.subarray(0, 80).indexOf(NEWLINE);
  if (nl < 0) throw new UntrustedDataError(what, key.insecure ? 'malformed' : 'unsigned', 'is not a sealed lineage record (no MAC line)');
  const mac = bytes.subarray(0, nl).toString('latin1');
  const payload = bytes.subarray(nl + 1);
  if (!key.insecure) {
    if (mac === UNSIGNED) throw new UntrustedDataError(what, 'unsigned', 'was written without a cluster key');
    if (!key.verify(domain, fields, payload, mac)) throw new UntrustedDataError(what, 'tampered', 'its MAC does not verify: it was altered, or written by someone without this cluster\'s key');
  }
  return payload;
}
