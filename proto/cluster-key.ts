/**
 * The cluster key: what makes a task, a result, a heartbeat or a stored record provably the
 * cluster's own. Everything that travels on NATS or sits in JetStream carries an HMAC-SHA256 of
 * its exact bytes, keyed with one secret shared by the coordinator and the workers.
 *
 * Why HMAC-SHA256 with a shared key rather than Ed25519 signatures: the parties that hold the key
 * are exactly the parties that may write (the coordinator and its workers), so a public-key scheme
 * would add key pairs, key distribution and a key list to rotate without keeping out anyone who
 * can be kept out. What a key holder may *do* is limited by NATS permissions instead (workers can
 * pull tasks and publish results, never publish tasks or write the buckets: deploy/ and
 * docs/deploy.md). HMAC is in Node's crypto, runs at GB/s (a task message is verified in
 * microseconds), and the key is one Secret to mount. A stolen worker key lets its holder forge what
 * a worker could forge anyway (its own results), and only where NATS lets it publish.
 *
 * Every MAC covers a domain (what kind of thing it is) and the fields that bind it (job id, task
 * id, attempt, KV key, chunk number), each length-prefixed, then the payload: a MAC made for one
 * thing never verifies as another.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from '../core/src/errors.ts';

/** Below this a key could be guessed; `openssl rand -hex 32` gives 64 characters. */
export const MIN_KEY_BYTES = 32;
export const CLUSTER_KEY_ENV = 'LINEAGE_CLUSTER_KEY';

export type MacDomain = 'task' | 'result' | 'heartbeat' | 'job-record' | 'report-chunk';

export class ClusterKey {
  private constructor(private readonly key: Buffer | null) {}

  /**
   * The key from a file, else from LINEAGE_CLUSTER_KEY; without either, only `insecure` lets a
   * cluster process start (then nothing is signed or checked: a lab on a trusted network).
   */
  static load(options: { keyFile?: string; key?: string | Uint8Array; insecure?: boolean }, who: string): ClusterKey {
    let raw: Buffer | null = null;
    let source = '';
    if (options.key !== undefined) {
      raw = Buffer.from(options.key);
      source = 'the cluster key';
    } else if (options.keyFile !== undefined) {
      try {
        raw = readFileSync(options.keyFile);
      } catch (err) {
        throw new UsageError(`cannot read the cluster key ${options.keyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      source = options.keyFile;
    } else if (process.env[CLUSTER_KEY_ENV]) {
      raw = Buffer.from(process.env[CLUSTER_KEY_ENV]!, 'utf8');
      source = CLUSTER_KEY_ENV;
    }
    if (raw === null) {
      if (options.insecure) return new ClusterKey(null);
      throw new UsageError(`${who} needs a cluster key to sign and check tasks, results and stored records: --cluster-key FILE or the ${CLUSTER_KEY_ENV} environment variable (make one with \`openssl rand -hex 32\`), or --insecure on a trusted network`);
    }
    // A key file written by `echo` or an editor ends in a newline that is not part of the key.
    const key = Buffer.from(raw.toString('latin1').replace(/[\r\n]+$/, ''), 'latin1');
    if (key.length < MIN_KEY_BYTES) throw new UsageError(`${source}: the cluster key has ${key.length} bytes; at least ${MIN_KEY_BYTES} are needed (\`openssl rand -hex 32\`)`);
    return new ClusterKey(key);
  }

  /** A cluster that signs and checks nothing (`--insecure`). */
  static insecure(): ClusterKey {
    return new ClusterKey(null);
  }

  get insecure(): boolean {
    return this.key === null;
  }

  /** Hex HMAC-SHA256 of the domain, the binding fields and the payload; '' when insecure. */
  mac(domain: MacDomain, fields: readonly (string | number)[], payload: Uint8Array): string {
    if (!this.key) return '';
    const h = createHmac('sha256', this.key);
    const part = (s: string) => {
      const bytes = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bytes.length);
      h.update(len);
      h.update(bytes);
    };
    part(`lineage/v1 ${domain}`);
    for (const f of fields) part(String(f));
    h.update(payload);
    return h.digest('hex');
  }

  /** True when `mac` is the MAC of these; always true when insecure. Constant time. */
  verify(domain: MacDomain, fields: readonly (string | number)[], payload: Uint8Array, mac: string | undefined | null): boolean {
    if (!this.key) return true;
    if (!mac || !/^[0-9a-f]{64}$/.test(mac)) return false;
    return timingSafeEqual(Buffer.from(this.mac(domain, fields, payload), 'hex'), Buffer.from(mac, 'hex'));
  }
}
