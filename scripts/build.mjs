#!/usr/bin/env node
/**
 * `npm run build` (and `prepare`, so `npm install`/`npm ci` from a clone builds it): compiles the
 * TypeScript sources to dist/ with tsc, then copies what tsc does not emit: every runtime asset
 * beside the sources (.mjs entries such as the executor threads', .wasm kernels, .json), found by
 * walking the compiled folders so a new asset cannot be forgotten. dist/package.json carries the version (the report's
 * `tool.version` and `lineage --version` read it from `../../../package.json` of their module)
 * and marks dist/ as ES modules on its own. dist/.built is written last: the `lineage` script
 * runs dist only when no source is newer than it.
 *
 * Type errors fail the build, except in the `prepare` of `npm install`/`npm ci`: there they are
 * printed and dist/ is left without .built (so ./lineage runs the sources), and the install goes
 * on: a checkout in the middle of an edit still installs; `npm run typecheck` (and CI) still fail.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const require = createRequire(import.meta.url);

/** The folders tsc compiles (tsconfig.build.json's include), and the files beside the sources that are needed at run time. */
const ROOTS = ['core/src', 'client/src', 'coordinator/src', 'worker/src', 'service/src', 'proto'];
const ASSET_EXTENSIONS = new Set(['.mjs', '.cjs', '.wasm', '.json']);

function assetsUnder(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return assetsUnder(path);
    return ASSET_EXTENSIONS.has(extname(name)) ? [relative(root, path)] : [];
  });
}

const duringInstall = process.env.npm_lifecycle_event === 'prepare' && ['install', 'ci'].includes(process.env.npm_command ?? '');

rmSync(dist, { recursive: true, force: true });
try {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
} catch {
  console.error(`build: the sources do not type-check (above)${duringInstall ? '; dist/ is incomplete and ./lineage will run the sources' : ''}`);
  process.exit(duringInstall ? 0 : 1);
}
for (const asset of ROOTS.flatMap((r) => assetsUnder(join(root, r)))) {
  mkdirSync(dirname(join(dist, asset)), { recursive: true });
  copyFileSync(join(root, asset), join(dist, asset));
}
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
writeFileSync(join(dist, 'package.json'), JSON.stringify({ type: 'module', version }, null, 2) + '\n');
writeFileSync(join(dist, '.built'), new Date().toISOString() + '\n');
