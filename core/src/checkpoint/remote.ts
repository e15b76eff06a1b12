/**
 * Opening a model over HTTP(S) without downloading it: from a folder URL (`.../resolve/<rev>/`
 * style, file names appended) or from a list of file URLs. Small files (config.json, the
 * shard index, tokenizer files) are fetched whole into a temporary folder, so the architecture and
 * tokenizer loaders read them as they read any model folder; safetensors headers are read with
 * Range requests and checked exactly as local ones are. Tensor files are named by their pinned
 * URL (see io/http.ts), so the executor reads only the byte ranges each task needs.
 *
 * The revision is pinned: where the server names the commit it served (Hugging Face's
 * X-Repo-Commit), every later URL names that commit instead of a branch, so a push during the
 * job cannot mix two revisions; each file is also held to the ETag and length it had when opened.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadInputError } from '../errors.ts';
import { HttpClient, pinnedFile, readRemoteSafetensorsHeader, type HttpReadOptions, type PinHolder } from '../io/http.ts';
import { ReadRecorder, type ReadLog } from '../io/read-log.ts';
import { openCheckpoint, type Checkpoint, type TensorEntry } from './folder.ts';

export interface RemoteFileInfo {
  role: 'config' | 'index' | 'tokenizer' | 'shard';
  name: string;
  /** The URL read (with the pinned commit in place of a branch, where there was one to pin). */
  url: string;
  size: number;
  etag: string | null;
  /** The commit the server said it served this file from, if it said. */
  commit: string | null;
  /** SHA-256 of the whole file, for the small files read whole. */
  sha256: string | null;
}

export interface RemoteRevision {
  /** The revision the URL(s) named (a branch, tag or commit), or null where the URL has no `/resolve/<rev>/`. */
  requested: string | null;
  /** The commit every file was read at, or null when the server named none (files are then held to ETag and length). */
  pinned: string | null;
  /** How the pin was obtained, or why there is none. */
  how: string;
}

export interface RemoteModelInfo {
  source: string;
  layout: 'folder' | 'files';
  revision: RemoteRevision;
  files: RemoteFileInfo[];
  /** What opening fetched (headers and small files), with the SHA-256 of every run. */
  openLog: ReadLog;
  /** The temporary folder holding the small files. */
  cacheDir: string;
}

export interface RemoteCheckpoint extends Checkpoint {
  remote: RemoteModelInfo;
}

const INDEX_FILE = 'model.safetensors.index.json';
/** Small files are read whole up to this size (a large vocabulary's tokenizer.json is ~30 MB). */
const MAX_SMALL_FILE = 512 * 1024 * 1024;
/** Tokenizer files looked for in a folder URL (a folder cannot be listed over HTTP); tokenizer.json first. */
const TOKENIZER_FIRST = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
const TOKENIZER_FALLBACK = ['tokenizer.model', 'tiktoken.model', 'vocab.json', 'merges.txt', 'vocab.txt', 'added_tokens.json'];
/** Names a list of file URLs may hold besides config, index and shards. */
const TOKENIZER_NAME = /^(tokenizer\.json|tokenizer\.model|tiktoken\.model|[^/]*\.tiktoken|tokenizer_config\.json|special_tokens_map\.json|added_tokens\.json|vocab\.json|vocab\.txt|merges\.txt)(\.gz)?$/i;

/** Temporary folders of open remote checkpoints, removed at exit if not released before. */
const cacheDirs = new Set<string>();
let cleanupAtExit = false;

function makeCacheDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lineage-remote-'));
  cacheDirs.add(dir);
  if (!cleanupAtExit) {
    cleanupAtExit = true;
    process.once('exit', () => { for (const d of cacheDirs) rmSync(d, { recursive: true, force: true }); });
  }
  return dir;
}

export const isRemoteSource = (path: string): boolean => /^https?:\/\//i.test(path.trim());

export function isRemoteCheckpoint(ck: Checkpoint): ck is RemoteCheckpoint {
  return (ck as Partial<RemoteCheckpoint>).remote !== undefined;
}

/** What failed openings fetched, by the error they failed with (see openLogOfFailure). */
const failedOpenLogs = new WeakMap<object, ReadLog>();

/**
 * What an opening that failed (a read that gave up after its retries, a revision that moved, a
 * bad header) had fetched by then, with the SHA-256 of every run, or null for an error that did
 * not come from an opening. The error itself is thrown unchanged: callers that keep read logs take
 * the log from here, so the bytes of a failed opening are accounted for as a finished one's are.
 */
export function openLogOfFailure(err: unknown): ReadLog | null {
  return typeof err === 'object' && err !== null ? failedOpenLogs.get(err) ?? null : null;
}

/**
 * A model folder, a folder URL, or file URLs separated by commas (a comma inside a URL is
 * written %2C): local paths open as before, URLs over HTTP.
 */
export async function openModel(path: string, options: HttpReadOptions = {}): Promise<Checkpoint> {
  if (!isRemoteSource(path)) return openCheckpoint(path);
  const urls = path.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const url of urls) if (!isRemoteSource(url)) throw new BadInputError(url, 'a list of model files must be all http(s) URLs');
  return urls.length === 1 && fileRole(urls[0]!) === null ? openRemoteFolder(urls[0]!, options) : openRemoteFiles(urls, options);
}

/** The config file's name in reports: its URL for a remote model. */
export function configLabel(ck: Checkpoint, path: string): string {
  if (!isRemoteCheckpoint(ck)) return `${path}/config.json`;
  return ck.remote.files.find((f) => f.role === 'config')?.url ?? `${ck.remote.source} (no config.json)`;
}

/** Removes the temporary folder of a remote checkpoint (it is removed at exit anyway). */
export function releaseRemoteCheckpoint(ck: Checkpoint): void {
  if (!isRemoteCheckpoint(ck)) return;
  rmSync(ck.remote.cacheDir, { recursive: true, force: true });
  cacheDirs.delete(ck.remote.cacheDir);
}

/** A folder URL: `https://host/org/model/resolve/<rev>/`, or `https://huggingface.co/org/model` (revision main). */
export async function openRemoteFolder(folderUrl: string, options: HttpReadOptions = {}): Promise<RemoteCheckpoint> {
  const base = normalizeFolderUrl(folderUrl);
  const revision = new RevisionPin(base);
  const open = new Opening(options);
  try {
    // config.json and the index first and in turn: the first answer pins the revision for the rest.
    const config = await open.small(revision, base + 'config.json', 'config');
    const index = await open.small(revision, base + INDEX_FILE, 'index');
    const tokenizer = await Promise.all(TOKENIZER_FIRST.map((n) => open.small(revision, base + n, 'tokenizer')));
    if (!tokenizer[0]) await Promise.all(TOKENIZER_FALLBACK.map((n) => open.small(revision, base + n, 'tokenizer')));
    const indexUrl = revision.url(base + INDEX_FILE);
    const weightMap = index ? parseWeightMap(index, indexUrl) : null;
    const shardNames = weightMap ? [...new Set(Object.values(weightMap))].sort() : ['model.safetensors'];
    const shards = await Promise.all(shardNames.map(async (name) => {
      try {
        return await open.shard(revision, base + name);
      } catch (err) {
        if (!(err instanceof BadInputError) || !/HTTP 404/.test(err.reason)) throw err;
        if (weightMap) throw new BadInputError(indexUrl, `names shard '${name}', which is missing (HTTP 404 at ${err.file})`);
        throw new BadInputError(base, `no weights: neither ${INDEX_FILE} nor model.safetensors (a folder URL cannot be listed; give the file URLs, separated by commas, instead)`);
      }
    }));
    return open.finish(folderUrl, 'folder', revision.report(), config, weightMap ? { map: weightMap, url: indexUrl } : null, shards);
  } catch (err) {
    throw open.failed(err);
  } finally {
    open.close();
  }
}

/** A list of file URLs: config.json, the index, shards and tokenizer files, each pinned by its own answer. */
export async function openRemoteFiles(urls: string[], options: HttpReadOptions = {}): Promise<RemoteCheckpoint> {
  const byRole = { config: [] as string[], index: [] as string[], shard: [] as string[], tokenizer: [] as string[] };
  const names = new Map<string, string>();
  for (const url of urls) {
    const role = fileRole(url);
    if (role === null) throw new BadInputError(url, 'not a file lineage reads (config.json, *.safetensors, model.safetensors.index.json or a tokenizer file)');
    const name = fileName(url);
    if (names.has(name)) throw new BadInputError(url, `a second file named ${name} (the first is ${names.get(name)})`);
    names.set(name, url);
    byRole[role].push(url);
  }
  if (byRole.config.length > 1 || byRole.index.length > 1) throw new BadInputError(urls.join(','), 'more than one config.json or index in one model');
  const pins = new Map(urls.map((u) => [u, new RevisionPin(u)]));
  const open = new Opening(options);
  try {
    const config = byRole.config[0] ? await open.small(pins.get(byRole.config[0])!, byRole.config[0], 'config') : null;
    const indexUrlGiven = byRole.index[0];
    const index = indexUrlGiven ? await open.small(pins.get(indexUrlGiven)!, indexUrlGiven, 'index', true) : null;
    await Promise.all(byRole.tokenizer.map((u) => open.small(pins.get(u)!, u, 'tokenizer', true)));
    const indexUrl = indexUrlGiven ? pins.get(indexUrlGiven)!.url(indexUrlGiven) : null;
    const weightMap = index && indexUrl ? parseWeightMap(index, indexUrl) : null;
    // Shards the index names but the list does not give are found beside the index.
    const shardUrls = [...byRole.shard];
    if (weightMap && indexUrlGiven) {
      for (const name of new Set(Object.values(weightMap))) {
        if (!byRole.shard.some((u) => fileName(u) === name)) shardUrls.push(new URL(encodeURIComponent(name), indexUrlGiven).toString());
      }
    }
    if (shardUrls.length === 0) throw new BadInputError(urls.join(','), 'no weights: no *.safetensors URL and no model.safetensors.index.json');
    shardUrls.sort((x, y) => (fileName(x) < fileName(y) ? -1 : fileName(x) > fileName(y) ? 1 : 0));
    const shards = await Promise.all(shardUrls.map((u) => open.shard(pins.get(u) ?? new RevisionPin(u), u)));
    const revisions = [...pins.values()].map((p) => p.report());
    return open.finish(urls.join(','), 'files', combineRevisions(revisions), config, weightMap && indexUrl ? { map: weightMap, url: indexUrl } : null, shards);
  } catch (err) {
    throw open.failed(err);
  } finally {
    open.close();
  }
}

interface OpenedShard {
  url: string;
  pin: PinHolder;
  tensors: TensorEntry[];
}

/** The fetches of one opening: one client, one log, one temporary folder. */
class Opening {
  private readonly client: HttpClient;
  private readonly recorder = new ReadRecorder();
  private readonly files: RemoteFileInfo[] = [];
  readonly cacheDir = makeCacheDir();
  private readonly smallFiles = new Map<string, Buffer>();
  private finished = false;

  constructor(options: HttpReadOptions) {
    this.client = new HttpClient(options);
  }

  /** A small file read whole, or null where it does not exist (unless `required`). */
  async small(revision: RevisionPin, requested: string, role: RemoteFileInfo['role'], required = false): Promise<Buffer | null> {
    const asked = revision.url(requested);
    const got = await this.client.whole(asked, MAX_SMALL_FILE);
    if (!got) {
      if (required) throw new BadInputError(asked, 'not found (HTTP 404)');
      return null;
    }
    revision.observe(got.commit, asked);
    // Named by the commit it came from (the answer said which), so it can be fetched again as read.
    const url = revision.url(requested);
    const sha256 = createHash('sha256').update(got.bytes).digest('hex');
    this.recorder.fetched(url, 0, got.bytes);
    const name = fileName(requested);
    this.files.push({ role, name, url, size: got.bytes.length, etag: got.etag, commit: got.commit, sha256 });
    this.smallFiles.set(name, got.bytes);
    return got.bytes;
  }

  async shard(revision: RevisionPin, requested: string): Promise<OpenedShard> {
    const pin: PinHolder = { current: null };
    // The first answer may pin the revision: read the header from the URL as it stands, then name the pinned one.
    const firstUrl = revision.url(requested);
    const fetched: [number, Uint8Array][] = [];
    const { header, commit } = await readRemoteSafetensorsHeader(this.client, firstUrl, pin, (start, bytes) => fetched.push([start, bytes]));
    revision.observe(commit, firstUrl);
    const url = revision.url(requested);
    for (const [start, bytes] of fetched) this.recorder.fetched(url, start, bytes);
    const file = pinnedFile(url, pin.current!);
    this.files.push({ role: 'shard', name: fileName(requested), url, size: pin.current!.size, etag: pin.current!.etag, commit, sha256: null });
    return { url, pin, tensors: header.tensors.map((t) => ({ ...t, file })) };
  }

  finish(
    source: string, layout: RemoteModelInfo['layout'], revision: RemoteRevision, configBytes: Buffer | null,
    index: { map: Record<string, string>; url: string } | null, shards: OpenedShard[],
  ): RemoteCheckpoint {
    const configFile = this.files.find((f) => f.role === 'config');
    const config = configBytes && configFile ? parseConfig(configBytes, configFile.url) : null;
    const byName = new Map<string, TensorEntry>();
    for (const shard of shards) {
      for (const entry of shard.tensors) {
        const previous = byName.get(entry.name);
        if (previous) throw new BadInputError(shard.url, `tensor '${entry.name}' is also in ${fileName(previous.file.split('#')[0]!)}`);
        byName.set(entry.name, entry);
      }
    }
    if (index) {
      for (const [name, shard] of Object.entries(index.map)) {
        const entry = byName.get(name);
        if (!entry) throw new BadInputError(index.url, `lists tensor '${name}' in ${shard}, but no shard holds it`);
        const actual = fileName(entry.file.split('#')[0]!);
        if (actual !== shard) throw new BadInputError(index.url, `puts '${name}' in ${shard}, but it is in ${actual}`);
      }
    }
    for (const [name, bytes] of this.smallFiles) writeFileSync(join(this.cacheDir, name), bytes);
    const tensors = [...byName.values()];
    const stats = Object.fromEntries(this.client.stats);
    this.finished = true;
    return {
      root: this.cacheDir,
      config,
      shards: shards.map((s) => pinnedFile(s.url, s.pin.current!)),
      tensors,
      totalBytes: tensors.reduce((s, t) => s + t.byteLength, 0),
      remote: { source, layout, revision, files: this.files, openLog: this.recorder.drain(stats), cacheDir: this.cacheDir },
    };
  }

  /**
   * The opening failed with `err`: what it fetched so far is kept for openLogOfFailure (fetches
   * still in flight, cut off by close(), are not in it). Returns `err`, to be thrown unchanged.
   */
  failed(err: unknown): unknown {
    if (typeof err === 'object' && err !== null && !failedOpenLogs.has(err)) {
      // Counters copied: requests still in flight go on counting into the client's own.
      const stats = Object.fromEntries([...this.client.stats].map(([url, st]) => [url, { ...st }]));
      failedOpenLogs.set(err, this.recorder.drain(stats));
    }
    return err;
  }

  /** Closes the connections; an opening that failed leaves no temporary folder behind. */
  close(): void {
    this.client.close();
    if (!this.finished) {
      rmSync(this.cacheDir, { recursive: true, force: true });
      cacheDirs.delete(this.cacheDir);
    }
  }
}

/**
 * The revision in a `/resolve/<rev>/` URL and the commit it resolved to: once a server answer
 * names the commit, URLs name the commit instead of the branch.
 */
class RevisionPin {
  readonly requested: string | null;
  private pinned: string | null = null;
  private how: string;

  constructor(url: string) {
    this.requested = /\/resolve\/([^/?#]+)\//.exec(url)?.[1] ?? null;
    if (this.requested === null) this.how = 'the URL names no revision (no /resolve/<rev>/): files are held to their ETag and length';
    else if (/^[0-9a-f]{40}$/i.test(this.requested)) {
      this.pinned = this.requested.toLowerCase();
      this.how = 'the URL names a commit';
    } else this.how = `the server named no commit for '${this.requested}' (no X-Repo-Commit): files are held to their ETag and length`;
  }

  url(requested: string): string {
    if (this.pinned === null || this.requested === null || this.pinned === this.requested) return requested;
    return requested.replace(`/resolve/${this.requested}/`, `/resolve/${this.pinned}/`);
  }

  /** A server answer for `url` named `commit`: pin it, or check it against the pin. */
  observe(commit: string | null, url: string): void {
    if (commit === null || this.requested === null) return;
    if (this.pinned === null) {
      this.pinned = commit.toLowerCase();
      this.how = `X-Repo-Commit of ${url}`;
    } else if (commit.toLowerCase() !== this.pinned) {
      throw new BadInputError(url, `was served from commit ${commit}, but the model is pinned to ${this.pinned}`);
    }
  }

  report(): RemoteRevision {
    return { requested: this.requested, pinned: this.pinned, how: this.how };
  }
}

function combineRevisions(revisions: RemoteRevision[]): RemoteRevision {
  const requested = [...new Set(revisions.map((r) => r.requested).filter((r): r is string => r !== null))];
  if (requested.length === 0) return revisions[0]!;
  const pinned = [...new Set(revisions.map((r) => r.pinned))];
  if (pinned.length === 1 && pinned[0] !== null) {
    return { requested: requested.length === 1 ? requested[0]! : null, pinned: pinned[0]!, how: revisions[0]!.how };
  }
  return {
    requested: requested.length === 1 ? requested[0]! : null,
    pinned: null,
    how: pinned.length > 1 && !pinned.includes(null) ? `the files come from different commits (${pinned.join(', ')})` : 'not every file named a commit: files are held to their ETag and length',
  };
}

function normalizeFolderUrl(url: string): string {
  const parsed = new URL(url);
  parsed.hash = '';
  // https://huggingface.co/org/model → its main revision.
  if (/^(www\.)?(huggingface\.co|hf\.co)$/i.test(parsed.hostname) && /^\/[^/]+\/[^/]+\/?$/.test(parsed.pathname)) {
    parsed.pathname = parsed.pathname.replace(/\/?$/, '/resolve/main/');
  }
  if (!parsed.pathname.endsWith('/')) parsed.pathname += '/';
  return parsed.toString();
}

function fileName(url: string): string {
  const path = new URL(url).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
}

function fileRole(url: string): RemoteFileInfo['role'] | null {
  const name = fileName(url);
  if (name === 'config.json') return 'config';
  if (/\.safetensors\.index\.json$/i.test(name)) return 'index';
  if (/\.safetensors$/i.test(name)) return 'shard';
  if (TOKENIZER_NAME.test(name)) return 'tokenizer';
  return null;
}

function parseJson(bytes: Buffer, url: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new BadInputError(url, `not valid JSON (${(err as Error).message})`);
  }
}

function parseConfig(bytes: Buffer, url: string): Record<string, unknown> {
  const parsed = parseJson(bytes, url);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadInputError(url, 'not a JSON object');
  return parsed as Record<string, unknown>;
}

/** The index's weight_map, checked as a local one is. */
function parseWeightMap(bytes: Buffer, url: string): Record<string, string> {
  const map = (parseJson(bytes, url) as { weight_map?: unknown } | null)?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new BadInputError(url, 'has no weight_map object');
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) {
      throw new BadInputError(url, `weight_map entry '${name}' names an invalid shard ${JSON.stringify(shard)}`);
    }
  }
  return map as Record<string, string>;
}

