/** Where ../shared/data is, and whether it is there (tests that need it skip, saying so, when not). */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SHARED_DATA = fileURLToPath(new URL('../../../shared/data/', import.meta.url));
export const sharedDataPresent = existsSync(SHARED_DATA);
export const SKIP_REASON = `../shared/data is absent (looked in ${SHARED_DATA}): tests on real weights and tokenizers skipped`;

export function sharedPath(relative: string): string {
  return SHARED_DATA + relative;
}
