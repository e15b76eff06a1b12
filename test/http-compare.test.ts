/**
 * `lineage compare` on models served over HTTP by a real loopback server (hub-style folder URLs
 * with a token and a redirect to a second origin, and plain file URLs): the weights section equals
 * the one from local reads of the same files, the `remote` part of each model says what was read
 * (pinned revision, SHA-256 of every run, coverage), and faults either survive or fail clearly.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RemoteSection } from '../core/src/checkpoint/remote-section.ts';
import { compareModels, type ComparisonReport } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { permuteHidden } from '../core/src/synth/transforms.ts';
import { RangeServer } from './helpers/range-server.ts';
import { tempDir } from './helpers/tmpdir.ts';

const BIN = fileURLToPath(new URL('../client/bin/lineage.js', import.meta.url));
const root = tempDir('lineage-http-compare-');
const base = join(root, 'base');
const derived = join(root, 'derived');
const COMMIT_A = 'a1'.repeat(20);
const COMMIT_B = 'b2'.repeat(20);
const TOKEN = 'hf_secret';
const FAST = { token: TOKEN, backoffMs: 5, maxBackoffMs: 20, timeoutMs: 2000 };
/** Small windows: every tensor takes several reads, so faults and changes land inside tensors. */
const OPTIONS = { threads: 2, kernel: 'js' as const, windowElements: 8192 };

let server: RangeServer;
let localReport: ComparisonReport;

/** A tiny byte-level BPE tokenizer.json, so the tokenizer files travel too. */
function writeTokenizer(dir: string): void {
  const vocab: Record<string, number> = {};
  [...'abcdefghijklmnopqrstuvwxyz'].forEach((c, i) => { vocab[c] = i; });
  Object.assign(vocab, { 'Ġ': 26, th: 27, the: 28, 'Ġt': 29 });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', added_tokens: [], normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', vocab, merges: ['t h', 'th e', 'Ġ t'] },
  }));
}

function copyFolder(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) copyFileSync(join(from, f), join(to, f));
}

/** Runs the CLI without blocking this process, whose event loop serves the HTTP requests. */
function lineage(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  if (!env.HF_TOKEN) delete childEnv.HF_TOKEN;
  const child = spawn(process.execPath, [BIN, ...args], { env: childEnv });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

test.before(async () => {
  synthesize('base', { out: base, shape: { layout: 'moe', layers: 2, experts: 4 }, shardBytes: 400_000 });
  synthesize('derivative', { out: derived, like: base, drift: 0.02, shardBytes: 400_000 });
  writeTokenizer(base);
  writeTokenizer(derived);
  server = await RangeServer.start({
    repos: { 'org/base': { folder: base, commit: COMMIT_A }, 'org/derived': { folder: derived, commit: COMMIT_B } },
    token: TOKEN, redirectWeights: true,
  });
  localReport = await compareModels(base, derived, OPTIONS);
});

test.after.always(async () => {
  await server?.close();
});

/** The local file a remote URL names (the last path segment, in the model's folder). */
const localBytes = (folder: string, url: string, start: number, end: number) =>
  readFileSync(join(folder, decodeURIComponent(url.split('/').at(-1)!))).subarray(start, end);

test.serial('a remote comparison equals the local one, and says what it read', async (t) => {
  const report = await compareModels(server.folderUrl('org/base'), server.folderUrl('org/derived'), { ...OPTIONS, remote: FAST });
  t.deepEqual(report.weights, localReport.weights);
  t.is(report.verdict.label, localReport.verdict.label);
  t.is((report.tokenizer as { relation: string }).relation, 'identical');
  t.deepEqual((report.architecture as { diffs: unknown }).diffs, (localReport.architecture as { diffs: unknown }).diffs);
  t.is(report.models.a.paramsFromTensors, localReport.models.a.paramsFromTensors);
  t.is(localReport.models.a.remote, undefined, 'local models have no remote part');

  for (const [side, folder, commit] of [['a', base, COMMIT_A], ['b', derived, COMMIT_B]] as const) {
    const remote = report.models[side].remote as RemoteSection;
    t.deepEqual(remote.revision, { requested: 'main', pinned: commit, how: `X-Repo-Commit of ${server.folderUrl(`org/${side === 'a' ? 'base' : 'derived'}`)}config.json` });
    t.deepEqual(remote.files.map((f) => f.role).sort(), ['config', 'index', 'tokenizer', ...remote.files.filter((f) => f.role === 'shard').map(() => 'shard')].sort());
    t.true(remote.files.filter((f) => f.role === 'shard').length >= 3);
    t.true(remote.files.every((f) => f.url.includes(`/resolve/${commit}/`) && f.size > 0));
    t.true(remote.files.every((f) => f.role !== 'shard' || (f.etag !== null && f.sha256 === null)));
    // Exact mode reads every byte of every tensor.
    t.is(remote.coverage.fraction, 1);
    t.is(remote.coverage.tensorsWhole, report.models[side].tensors);
    t.is(remote.coverage.tensorsPartial + remote.coverage.tensorsUnread, 0);
    t.true(remote.coverage.tensors.every((x) => x.read.length === 1 && x.read[0]![0] === 0 && x.read[0]![1] === x.byteLength));
    t.true(remote.bytesFetched >= remote.coverage.tensorBytes);
    t.deepEqual(remote.changes, []);
    t.deepEqual(remote.failures, []);
    // Every run's SHA-256 is that of the same bytes of the local file.
    for (const run of remote.reads) {
      t.is(run.sha256, createHash('sha256').update(localBytes(folder, run.url, run.start, run.end)).digest('hex'), `${run.url} [${run.start}, ${run.end})`);
    }
    const small = remote.files.find((f) => f.role === 'config')!;
    t.is(small.sha256, createHash('sha256').update(readFileSync(join(folder, 'config.json'))).digest('hex'));
  }
  t.true(server.requests.filter((r) => r.origin === 'cdn').every((r) => r.authorization === null));
});

test.serial('URL models get the controls: the same as from local reads, fetched by Range requests and logged', async (t) => {
  // A derivative whose hidden dimension is permuted: only the aligned tests (controls) see through it.
  const permuted = join(root, 'permuted');
  permuteHidden(derived, permuted, 7);
  writeTokenizer(permuted);
  const served = await RangeServer.start({ repos: { base: { folder: base, commit: COMMIT_A }, permuted: { folder: permuted, commit: COMMIT_B } } });
  try {
    const local = await compareModels(base, permuted, OPTIONS);
    const before = served.requests.length;
    const report = await compareModels(served.folderUrl('base'), served.folderUrl('permuted'), { ...OPTIONS, remote: FAST });
    t.truthy(report.controls?.alignment, 'the aligned tests ran on the URL models');
    t.deepEqual(report.controls, local.controls);
    t.deepEqual(report.verdict, local.verdict);
    t.is(report.controls!.alignment!.hidden!.kind, 'permuted');
    t.true(report.run.controls!.tasks > 0);
    // The controls' reads are in the read log beside the weights pass's, each run's SHA-256 that of the local bytes.
    for (const [side, folder] of [['a', base], ['b', permuted]] as const) {
      const remote = report.models[side].remote as RemoteSection;
      for (const run of remote.reads) t.is(run.sha256, createHash('sha256').update(localBytes(folder, run.url, run.start, run.end)).digest('hex'));
      t.deepEqual(remote.failures, []);
    }
    // Rows are fetched in batches: a few hundred requests for the whole comparison (windows of 8192
    // elements included), not one per row. (786 when the controls started after the weights pass,
    // ~805 now that their first tasks run beside it: each thread keeps its own spans.)
    t.true(served.requests.length - before < 900, `${served.requests.length - before} requests`);
    t.true((report.models.b.remote as RemoteSection).phases.controls!.bytesRead > 0);
  } finally {
    await served.close();
  }
});

test.serial('lineage compare takes folder URLs, the token from HF_TOKEN or --hub-token, and names a missing one', async (t) => {
  const json = join(root, 'remote.json');
  const urlA = server.folderUrl('org/base');
  const urlB = server.folderUrl('org/derived');
  const ok = await lineage(['compare', urlA, urlB, '--json', json, '--quiet', '--threads', '2', '--kernel', 'js'], { HF_TOKEN: TOKEN });
  t.is(ok.status, 0, ok.stderr);
  const report = JSON.parse(readFileSync(json, 'utf8')) as ComparisonReport;
  t.deepEqual(report.weights.tensors.map((x) => [x.name, x.hashA, x.hashB]), localReport.weights.tensors.map((x) => [x.name, x.hashA, x.hashB]));
  t.is((report.models.a.remote as RemoteSection).revision.pinned, COMMIT_A);
  t.is(report.models.a.path, urlA);

  const flag = await lineage(['compare', urlA, urlA, '--quiet', '--hub-token', TOKEN, '--threads', '1']);
  t.is(flag.status, 0, flag.stderr);

  const denied = await lineage(['compare', urlA, urlB, '--quiet']);
  t.is(denied.status, 2);
  t.regex(denied.stderr, /^lineage compare: http:\/\/127\.0\.0\.1:\d+\/org\/base\/resolve\/main\/config\.json: access denied \(HTTP 401\); a gated or private model needs a token \(--hub-token or HF_TOKEN\)\n$/);

  const missing = await lineage(['compare', server.folderUrl('org/base', 'v9'), urlB, '--quiet'], { HF_TOKEN: TOKEN });
  t.is(missing.status, 2);
  t.regex(missing.stderr, /org\/base\/resolve\/v9\/: no weights: neither model\.safetensors\.index\.json nor model\.safetensors/);
  t.false(/hf_secret/.test(denied.stderr + missing.stderr + ok.stderr));
});

test.serial('resets, dropped bodies and 503s during the job are retried: same weights, retries reported', async (t) => {
  server.clearFaults();
  server.inject({ kind: 'reset', times: 3, match: /^\/cdn\// });
  server.inject({ kind: 'drop', times: 3, afterBytes: 5000, match: /^\/cdn\// });
  server.inject({ kind: '503', times: 4, match: /^\/cdn\// });
  const report = await compareModels(server.folderUrl('org/base'), server.folderUrl('org/derived'), { ...OPTIONS, remote: FAST });
  server.clearFaults();
  t.deepEqual(report.weights, localReport.weights);
  const retries = (report.models.a.remote as RemoteSection).retries + (report.models.b.remote as RemoteSection).retries;
  t.true(retries >= 10, `${retries} retries`);
});

test.serial('a file that changes during the job: its tensors get a note, the others are exact', async (t) => {
  const servedB = join(root, 'served-derived');
  copyFolder(derived, servedB);
  const changing = await RangeServer.start({ repos: { a: { folder: base, commit: COMMIT_A }, b: { folder: servedB, commit: COMMIT_B } } });
  try {
    const shard = 'model-00002-of-' + readdirSync(servedB).find((f) => f.startsWith('model-00001-of-'))!.slice('model-00001-of-'.length);
    let dataReads = 0;
    changing.onRequest = (r) => {
      // After a few reads of tensor data (not header probes at 0), the shard is replaced by one of the same length.
      if (r.path.endsWith(`/${shard}`) && r.range && !r.range.startsWith('bytes=0-') && ++dataReads === 3) {
        const bytes = readFileSync(join(servedB, shard));
        for (let i = bytes.length - 1000; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0x55;
        changing.replaceFile('b', shard, bytes);
      }
    };
    const report = await compareModels(changing.folderUrl('a'), changing.folderUrl('b'), { ...OPTIONS, threads: 1, remote: FAST });
    const remote = report.models.b.remote as RemoteSection;
    t.is(remote.changes.length, 1);
    t.true(remote.changes[0]!.url.endsWith(`/${shard}`));
    t.regex(remote.changes[0]!.reason, /^changed since it was opened: ETag ".*" then, ".*" now$/);
    const inShard = new Set(remote.coverage.tensors.filter((x) => x.file.endsWith(`/${shard}`)).map((x) => x.name));
    let noted = 0;
    for (const [i, tensor] of report.weights.tensors.entries()) {
      const local = localReport.weights.tensors[i]!;
      if (tensor.note !== null && /changed since it was opened/.test(tensor.note)) {
        noted++;
        t.true(inShard.has(tensor.nameB ?? ''), `${tensor.name} is in the changed shard`);
        t.is(tensor.cosine, null);
      } else {
        t.deepEqual(tensor, local, `${tensor.name} unaffected`);
      }
    }
    t.true(noted >= 1, `${noted} tensors noted`);
    t.true(remote.coverage.tensorsPartial + remote.coverage.tensorsUnread >= 1);
  } finally {
    await changing.close();
  }
});

test.serial('a list of file URLs: the shards are found beside the index; no revision to pin', async (t) => {
  const plain = await RangeServer.start({ repos: { base: { folder: base, commit: COMMIT_A }, derived: { folder: derived, commit: COMMIT_B } } });
  try {
    const list = (repo: string) => ['config.json', 'model.safetensors.index.json', 'tokenizer.json'].map((f) => plain.rawUrl(repo, f)).join(',');
    const report = await compareModels(list('base'), list('derived'), { ...OPTIONS, remote: FAST });
    t.deepEqual(report.weights, localReport.weights);
    const remote = report.models.a.remote as RemoteSection;
    t.is(remote.layout, 'files');
    t.is(remote.revision.pinned, null);
    t.regex(remote.revision.how, /names no revision/);
    t.is(remote.coverage.fraction, 1);
    t.true(remote.files.filter((f) => f.role === 'shard').every((f) => f.url.startsWith(plain.rawUrl('base', 'model-'))));
  } finally {
    await plain.close();
  }
});

test.serial('sampled mode over HTTP: the same sampled weights as locally, and only the sampled ranges fetched', async (t) => {
  // Large enough vocabulary that the embeddings are sampled (a tensor needs ~80 blocks of 16 Ki elements).
  const bigA = join(root, 'vocab-a');
  const bigB = join(root, 'vocab-b');
  synthesize('base', { out: bigA, shape: { layers: 1, vocab: 8192 } });
  synthesize('derivative', { out: bigB, like: bigA, drift: 0.05 });
  const plain = await RangeServer.start({ repos: { a: { folder: bigA, commit: COMMIT_A }, b: { folder: bigB, commit: COMMIT_B } } });
  try {
    const sampled = { ...OPTIONS, sample: 0.1, seed: 3 };
    const local = await compareModels(bigA, bigB, sampled);
    const report = await compareModels(plain.folderUrl('a'), plain.folderUrl('b'), { ...sampled, remote: FAST });
    t.deepEqual(report.weights, local.weights);
    const remote = report.models.a.remote as RemoteSection;
    t.true(remote.coverage.tensorsPartial >= 2, `${remote.coverage.tensorsPartial} tensors read in part`);
    // The weights pass read the sampled ranges only; the controls (one layer here: their matchings read it whole) are counted apart.
    t.true(remote.phases.weights.fraction! < 0.5, `weights pass read ${remote.phases.weights.fraction}`);
    t.true(remote.phases.controls!.bytesRead > 0);
    // The weights pass fetched the bytes it read, give or take the header probes (HttpRangeReader reads a header to coalesce).
    const weights = remote.phases.weights;
    const dataStart = 8 + Number(readFileSync(join(bigA, 'model.safetensors')).readBigUInt64LE(0));
    t.true(weights.bytesFetched >= weights.bytesRead && weights.bytesFetched <= weights.bytesRead + dataStart + 3 * 65536, `${weights.bytesFetched} fetched for ${weights.bytesRead} read`);
    // Everything fetched is in the log, hashed: the controls' fetches included.
    t.is(remote.reads.reduce((s, r) => s + r.end - r.start, 0), remote.bytesFetched);
  } finally {
    await plain.close();
  }
});
