/** The workers the coordinator has heard from (their periodic WorkerHeartbeat on core NATS). */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { HEARTBEAT_SUBJECT_PREFIX } from '../../proto/jetstream.ts';
import { WorkerHeartbeat } from '../../proto/lineage/v1/lineage.ts';

export class WorkerRegistry {
  private readonly seen = new Map<string, WorkerHeartbeat & { receivedAtMs: number }>();
  private readonly sub: Subscription;

  /** `onHeartbeat` is called for every heartbeat received (metrics). */
  constructor(nc: NatsConnection, onHeartbeat?: () => void) {
    this.sub = nc.subscribe(`${HEARTBEAT_SUBJECT_PREFIX}.>`, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const beat = WorkerHeartbeat.decode(msg.data);
          this.seen.set(beat.worker, { ...beat, receivedAtMs: Date.now() });
          onHeartbeat?.();
        } catch {
          // Not a heartbeat: ignore it rather than let a stray publisher disturb the coordinator.
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
