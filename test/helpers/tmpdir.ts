import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();
process.once('exit', () => { for (const dir of made) rmSync(dir, { recursive: true, force: true }); });

/** A fresh temporary folder, removed when the test process exits. */
export function tempDir(prefix = 'lineage-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}
