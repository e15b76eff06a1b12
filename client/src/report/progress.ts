/** A one-line progress display (bytes, rate, ETA) on a terminal; silent when not a TTY. */
import type { WriteStream } from 'node:tty';

export class Progress {
  private total = 0;
  private done = 0;
  private started = 0;
  private lastDraw = 0;
  private readonly tty: boolean;

  constructor(private readonly out: NodeJS.WriteStream | WriteStream) {
    this.tty = Boolean((out as WriteStream).isTTY);
  }

  start(totalBytes: number, tasks: number): void {
    this.total = totalBytes;
    this.started = Date.now();
    if (this.tty) this.out.write(`comparing ${(totalBytes / 1e9).toFixed(2)} GB in ${tasks} task(s)\n`);
  }

  advance(bytes: number): void {
    this.done += bytes;
    const now = Date.now();
    if (!this.tty || now - this.lastDraw < 200) return;
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    const rate = this.done / Math.max(seconds, 1e-3);
    const eta = rate > 0 ? (this.total - this.done) / rate : 0;
    const width = 30;
    const filled = Math.round((width * this.done) / Math.max(this.total, 1));
    this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(100 * this.done / Math.max(this.total, 1)).toFixed(1)}%  ${(rate / 1e9).toFixed(2)} GB/s  ETA ${eta.toFixed(0)}s `);
  }

  finish(): void {
    if (this.tty && this.lastDraw > 0) this.out.write('\n');
    this.lastDraw = 0;
  }

  private controls = { total: 0, done: 0 };

  /** The controls phase (after the weights pass): its tasks, as stages are planned and tasks answered. */
  controlsEvent(event: { stage: number; tasks: number } | { answered: number }): void {
    if ('stage' in event) {
      if (event.stage === 1) this.finish();
      this.controls.total += event.tasks;
    } else {
      this.controls.done += event.answered;
    }
    const now = Date.now();
    if (!this.tty || ('answered' in event && now - this.lastDraw < 200 && this.controls.done < this.controls.total)) return;
    this.lastDraw = now;
    this.out.write(`\rcontrols: ${this.controls.done}/${this.controls.total} tasks `);
  }
}
