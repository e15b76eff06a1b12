/** The workers the coordinator has heard from (their periodic WorkerHeartbeat on core NATS). */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ClusterKey } from '../../proto/cluster-key.ts';
import { HEARTBEAT_SUBJECT_PREFIX } from '../../proto/jetstream.ts';
import type { WorkerHeartbeat } from '../../proto/lineage/v1/lineage.ts';
import { openHeartbeat, UntrustedDataError, type UntrustedReason } from '../../proto/signed.ts';

export class WorkerRegistry {
  private readonly seen = new Map<string, WorkerHeartbeat & { receivedAtMs: number }>();
  private readonly sub: Subscription;

  /** `onHeartbeat` is called for every heartbeat received, `onRejected` for every one that does not verify (metrics). */
  constructor(nc: NatsConnection, key: ClusterKey, onHeartbeat?: () => void, onRejected?: (reason: UntrustedReason) => void) {
    this.sub = nc.subscribe(`${HEARTBEAT_SUBJECT_PREFIX}.>`, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const beat = openHeartbeat(key, msg.data, msg.headers);
          this.seen.set(beat.worker, { ...beat, receivedAtMs: Date.now() });
          onHeartbeat?.();
        } catch (e) {
          // Not a heartbeat of this cluster: count it, never let a stray publisher disturb the coordinator.
          onRejected?.(e instanceof UntrustedDataError ? e.reason : 'malformed');
        }
      },
    });
  }

  /** Workers heard from within the last `withinMs`. */
  alive(withinMs = 30_000): (WorkerHeartbeat & { receivedAtMs: number })[] {
    const since = Date.now() - withinMs;
    return [...this.seen.values()].filter((w) => w.receivedAtMs >= since);
  }

  threadsOf(worker: string): number | null {
    return this.seen.get(worker)?.threads ?? null;
  }

  close(): void {
    this.sub.unsubscribe();
  }
}
