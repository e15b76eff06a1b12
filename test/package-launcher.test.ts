/**
 * The repository's `lineage` script picks the build (dist/) when no source is newer than it, and
 * the TypeScript sources otherwise: tried on a copy of the script in a folder laid out like the
 * repository, whose two entry points only say which one ran.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/tmpdir.ts';

const SCRIPT = fileURLToPath(new URL('../lineage', import.meta.url));

function layout(): string {
  const dir = tempDir('lineage-launcher-');
  copyFileSync(SCRIPT, join(dir, 'lineage'));
  for (const [file, text] of [
    ['dist/client/src/main.js', "console.log('dist', process.argv.slice(2).join(' '));"],
    ['client/bin/lineage.js', "console.log('sources', process.argv.slice(2).join(' '));"],
    ['core/src/errors.ts', 'export {};'],
    ['client/src/cli.ts', 'export {};'],
    ['proto/convert.ts', 'export {};'],
  ] as const) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1) + seconds * 1000);
const run = (dir: string, env: Record<string, string> = {}) => spawnSync('sh', [join(dir, 'lineage'), 'compare', 'a', 'b'], { encoding: 'utf8', env: { ...process.env, ...env, LINEAGE_FROM_SOURCE: env.LINEAGE_FROM_SOURCE ?? '' } });

test('no build: the sources run', (t) => {
  const r = run(layout());
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), 'sources compare a b');
});

test('a build newer than every source runs; an edit since, or LINEAGE_FROM_SOURCE=1, runs the sources', (t) => {
  const dir = layout();
  for (const file of ['core/src/errors.ts', 'client/src/cli.ts', 'proto/convert.ts']) utimesSync(join(dir, file), at(0), at(0));
  writeFileSync(join(dir, 'dist/.built'), 'now\n');
  utimesSync(join(dir, 'dist/.built'), at(10), at(10));
  t.is(run(dir).stdout.trim(), 'dist compare a b');
  t.is(run(dir, { LINEAGE_FROM_SOURCE: '1' }).stdout.trim(), 'sources compare a b');
  utimesSync(join(dir, 'proto/convert.ts'), at(20), at(20));
  t.is(run(dir).stdout.trim(), 'sources compare a b', 'an edited source is newer than the build');
});
