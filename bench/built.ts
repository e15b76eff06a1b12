/**
 * Which entry a bench starts `lineage` processes from: the build (dist/, what the package and
 * ./lineage run) when it is there and newer than every source, else the sources through tsx
 * (slower to start and compiling as they go: a bench of those measures tsx too).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUILT = join(ROOT, 'dist/client/src/main.js');
export const SOURCES = join(ROOT, 'client/bin/lineage.js');
/** The folders the build compiles. */
const COMPILED = (JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;

/** True when dist/ is missing or older than a source (the same test ./lineage makes). */
export function buildIsStale(): boolean {
  const stamp = join(ROOT, 'dist/.built');
  if (!existsSync(stamp)) return true;
  const out = execFileSync('find', [...COMPILED, '-newer', stamp, '(', '-name', '*.ts', '-o', '-name', '*.mjs', '-o', '-name', '*.wasm', ')', '-print'], { cwd: ROOT, encoding: 'utf8' });
  return out.trim() !== '';
}

/** The build when it is current, else the sources; `fromBuild` says which. */
export function cliEntry(): { entry: string; fromBuild: boolean } {
  const fromBuild = !buildIsStale();
  return { entry: fromBuild ? BUILT : SOURCES, fromBuild };
}
