/**
 * Log lines about refused messages, throttled: a flood of forged messages must not become a flood
 * of log lines (metrics count every one). The first line of each kind is written at once, then at
 * most one per window, saying how many were left out.
 */
export function throttledLog(log: (line: string) => void, windowMs = 10_000): (kind: string, line: string) => void {
  const seen = new Map<string, { at: number; skipped: number }>();
  return (kind, line) => {
    const now = Date.now();
    const state = seen.get(kind);
    if (state && now - state.at < windowMs) {
      state.skipped++;
      return;
    }
    const skipped = state?.skipped ?? 0;
    seen.set(kind, { at: now, skipped: 0 });
    log(skipped ? `${line} (and ${skipped} more like it in the last ${Math.round((now - state!.at) / 1000)} s)` : line);
  };
}
