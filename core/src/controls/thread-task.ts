/**
 * A control task on a pool thread (exec/thread-tasks.ts kind 'control'): the thread opens the
 * model folders' headers once per session (a 100B MoE lists ~19k tensors: opened per session,
 * not per task) and runs the task.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize } from 'node:v8';
import { openCheckpoint, type Checkpoint } from '../checkpoint/folder.ts';
import { isRemoteCheckpoint, isRemoteSource, openLogOfFailure, openModel, releaseRemoteCheckpoint } from '../checkpoint/remote.ts';
import { tensorTableDigest } from '../checkpoint/source.ts';
import { BadInputError } from '../errors.ts';
import type { ThreadEnv } from '../exec/thread-protocol.ts';
import { blockingBytesRead } from '../io/blocking.ts';
import type { HttpReadOptions } from '../io/http-client.ts';
import type { ReadLog } from '../io/read-log.ts';
import { runControlTask, type ControlTask } from './tasks.ts';
import { asWire } from './wire.ts';
import { rememberRoles, type PackedRoles } from '../roles/roles.ts';

let opened: { session: string; byRoot: Map<string, Promise<Checkpoint>> } | null = null;

/** The session's checkpoint for a task's model (opened once per session); a remote one held to the digest the task carries. */
function open(session: string, path: string, digest: string | undefined, remote: HttpReadOptions | null): Promise<Checkpoint> {
  if (opened?.session !== session) {
    // The previous session's remote checkpoints keep small files in temporary folders: let them go.
    for (const ck of opened?.byRoot.values() ?? []) void ck.then(releaseRemoteCheckpoint, () => {});
    opened = { session, byRoot: new Map() };
  }
  let ck = opened.byRoot.get(path);
  if (!ck) {
    ck = isRemoteSource(path) ? openRemote(path, digest, remote) : Promise.resolve(openCheckpoint(path));
    const byRoot = opened.byRoot;
    byRoot.set(path, ck);
    // A failed opening is not kept: the next task tries again.
    const kept = ck;
    kept.catch(() => { if (byRoot.get(path) === kept) byRoot.delete(path); });
  }
  return ck;
}

async function openRemote(path: string, digest: string | undefined, remote: HttpReadOptions | null): Promise<Checkpoint> {
  // The path lists every file of the model: errors name its first URL (the config), not the list.
  const first = path.split(',')[0]!;
  if (!remote) throw new BadInputError(first, 'a model URL, and this executor was not given settings to read URLs');
  if (!digest) throw new BadInputError(first, 'a model URL without the digest of its tensor table: the version to read cannot be checked');
  // A cluster worker's opening fetched bytes too (headers, small files): its log goes back with the
  // task that opened it, beside the task's reads, or with its failure (the version differs, or the
  // opening itself failed: a read that gave up after its retries).
  let ck: Checkpoint;
  try {
    ck = await openModel(path, { ...remote, logDir: undefined });
  } catch (err) {
    const log = openLogOfFailure(err);
    if (remote.logDir && log) {
      // The opening's own error is what fails the task: a log that cannot be written does not replace it.
      try { writeOpenLog(remote.logDir, log); } catch { /* the task fails with err all the same, without this log */ }
    }
    throw err;
  }
  if (remote.logDir && isRemoteCheckpoint(ck)) writeOpenLog(remote.logDir, ck.remote.openLog);
  if (tensorTableDigest(ck) !== digest) {
    releaseRemoteCheckpoint(ck);
    throw new BadInputError(first, 'the model is not the version the job was planned from (its tensor table differs): it changed since');
  }
  return ck;
}

/** An opening's log beside the task's readers' (the worker gathers every *.json of the folder). */
function writeOpenLog(logDir: string, log: ReadLog): void {
  writeFileSync(join(logDir, `open-${randomUUID()}.json`), JSON.stringify(log));
}

let unpacked: { id: string; models: { a: Checkpoint; b: Checkpoint } } | null = null;

/** The checkpoints from the executor's serialized copy, decoded once per copy and thread (the thread keeps the last one). */
function unpack(id: string, packed: Uint8Array): { a: Checkpoint; b: Checkpoint } {
  if (unpacked?.id !== id) {
    const { a, b, rolesA, rolesB } = deserialize(Buffer.from(packed)) as { a: Checkpoint; b: Checkpoint; rolesA: PackedRoles; rolesB: PackedRoles };
    rememberRoles(a.tensors.map((t) => t.name), rolesA);
    rememberRoles(b.tensors.map((t) => t.name), rolesB);
    unpacked = { id, models: { a, b } };
  }
  return unpacked.models;
}

/**
 * `packedModels`: the checkpoints as the caller opened them, serialized (in process: the tensors
 * planned are the tensors read, and a shard cut short since costs only its own tensors); absent on
 * a cluster worker, which opens the models itself.
 */
export async function run(
  input: { task: ControlTask; session: string; packedModels?: Uint8Array; packedId?: string; remote?: HttpReadOptions | null }, _env: ThreadEnv,
): Promise<{ value: unknown; bytes: number }> {
  const { task, session } = input;
  // A thread runs one task at a time: what its readers read meanwhile is this task's.
  const before = blockingBytesRead();
  const remote = input.remote ?? null;
  const models = (input.packedModels && input.packedId ? unpack(input.packedId, input.packedModels) : null) ?? {
    a: await open(session, task.models.a, task.models.digestA, remote),
    b: await open(session, task.models.b, task.models.digestB, remote),
  };
  // As it would travel (wire.ts), made here rather than on the thread that gathers the answers.
  const value = asWire(await runControlTask(task, models, remote));
  return { value, bytes: blockingBytesRead() - before };
}
