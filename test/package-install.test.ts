/**
 * lineage as other people get it: `npm pack`, the tarball installed into an empty folder (from
 * the npm cache, offline), then `npx lineage` and `import … from 'lineage'` there. No tsx and no
 * TypeScript sources exist in that folder, so the CLI and its threads must run compiled code.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/tmpdir.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string; overrides?: Record<string, string>;
};

/**
 * The consumer's lockfile: lineage from the tarball, and its production dependencies at the
 * versions (and integrity) the repository locks, so `npm ci --offline` needs only the tarballs
 * already in the npm cache, never the registry's metadata.
 */
function consumerLock(tarball: string): object {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const self = lock.packages['']!;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { lineage: `file:${tarball}` } },
    'node_modules/lineage': {
      version: self.version, resolved: `file:${tarball}`, license: self.license, hasInstallScript: true,
      dependencies: self.dependencies, optionalDependencies: self.optionalDependencies, bin: self.bin, engines: self.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev) continue;
    const { devOptional, ...rest } = entry;
    packages[path] = devOptional ? { ...rest, optional: true } : rest;
  }
  return { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

/** Files beside the sources that tsc does not emit (paths relative to the repository). */
function assetsUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return assetsUnder(path);
    return /\.(mjs|cjs|wasm|json)$/.test(name) ? [relative(ROOT, path)] : [];
  });
}

const run = (cwd: string, command: string, args: string[]) => {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, all: `${r.stdout}\n${r.stderr}` };
};

test('the packed tarball installs into an empty folder and works there: npx lineage compare, import from a .mjs file, emitted types', (t) => {
  t.timeout(10 * 60_000);
  const work = tempDir('lineage-package-');

  // The build `prepare` runs (npm pack would run it too; run here so its output is not mixed with pack's JSON).
  execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'pipe' });
  const pack = run(ROOT, NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', work]);
  t.is(pack.status, 0, pack.all);
  const [packed] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
  const files = packed.files.map((f) => f.path);
  for (const needed of ['dist/client/src/main.js', 'dist/core/src/mod.js', 'dist/core/src/mod.d.ts', 'dist/client/src/sdk/index.js',
    'dist/core/src/exec/thread-worker.mjs', 'dist/core/src/exec/thread-main.js', 'dist/core/src/kernels/wasm/moments.wasm', 'dist/package.json']) {
    t.true(files.includes(needed), `${needed} is in the tarball`);
  }
  t.deepEqual(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), [], 'no TypeScript sources are shipped');
  // Every asset beside the sources (thread entries, WASM kernels) is shipped where the code looks for it.
  const compiled = (JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
  const assets = compiled.flatMap((dir) => assetsUnder(join(ROOT, dir)));
  t.true(assets.length >= 3, `assets found: ${assets.join(', ')}`);
  for (const asset of assets) t.true(files.includes(`dist/${asset}`), `dist/${asset} is in the tarball`);
  t.false(files.some((f) => f.startsWith('test/') || f.startsWith('bench/')), 'no tests or benches are shipped');

  const consumer = join(work, 'consumer');
  execFileSync('mkdir', [consumer]);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({
    name: 'consumer', version: '1.0.0', private: true, type: 'module',
    dependencies: { lineage: `file:../${packed.filename}` },
    // The same pins the repository installs with (overrides apply only at a project's root).
    overrides: manifest.overrides,
  }, null, 2));
  writeFileSync(join(consumer, 'package-lock.json'), JSON.stringify(consumerLock(`../${packed.filename}`), null, 2));
  const install = run(consumer, NPM, ['ci', '--offline', '--no-audit', '--no-fund']);
  t.is(install.status, 0, install.all);
  t.false(existsSync(join(consumer, 'node_modules/tsx')), 'tsx (a dev dependency) is not installed: nothing can compile TypeScript');
  t.false(existsSync(join(consumer, 'node_modules/typescript')), 'typescript is not installed');

  const version = run(consumer, 'npx', ['--no-install', 'lineage', '--version']);
  t.is(version.status, 0, version.all);
  t.is(version.stdout.trim(), `lineage ${manifest.version}`);

  // The cluster processes load from the build too (gRPC, NATS, the worker's thread entry).
  for (const command of ['coordinator', 'worker', 'submit']) {
    const help = run(consumer, 'npx', ['--no-install', 'lineage', command, '--help']);
    t.is(help.status, 0, help.all);
    t.regex(help.stdout, new RegExp(`^usage: lineage ${command}`));
  }

  const models = join(work, 'models');
  for (const args of [
    ['synth', 'base', '--out', join(models, 'base')],
    ['synth', 'derivative', '--like', join(models, 'base'), '--drift', '0.02', '--out', join(models, 'derived')],
  ]) {
    const r = run(consumer, 'npx', ['--no-install', 'lineage', ...args]);
    t.is(r.status, 0, r.all);
  }
  // Two threads: the executor's threads load the compiled thread entry from the installed package.
  const report = join(work, 'report.json');
  const compare = run(consumer, 'npx', ['--no-install', 'lineage', 'compare', join(models, 'base'), join(models, 'derived'), '--threads', '2', '--json', report, '--quiet']);
  t.is(compare.status, 0, compare.all);
  const written = JSON.parse(readFileSync(report, 'utf8')) as { tool: { version: string }; verdict: { label: string }; run: { threads: number } };
  t.is(written.verdict.label, 'derived');
  t.is(written.tool.version, manifest.version);
  t.is(written.run.threads, 2);

  const bad = run(consumer, 'npx', ['--no-install', 'lineage', 'compare', join(models, 'base'), join(models, 'missing')]);
  t.is(bad.status, 2, 'bad input still exits 2 from the built CLI');

  writeFileSync(join(consumer, 'use.mjs'), [
    "import { compareModels } from 'lineage';",
    "import { connect } from 'lineage/sdk';",
    'const report = await compareModels(process.argv[2], process.argv[3], { threads: 2 });',
    "console.log(JSON.stringify({ label: report.verdict.label, tensors: report.weights.tensors.length, connect: typeof connect }));",
  ].join('\n'));
  const used = run(consumer, process.execPath, ['use.mjs', join(models, 'base'), join(models, 'derived')]);
  t.is(used.status, 0, used.all);
  const out = JSON.parse(used.stdout.trim()) as { label: string; tensors: number; connect: string };
  t.is(out.label, 'derived');
  t.true(out.tensors > 0);
  t.is(out.connect, 'function');

  // The emitted types, as a strict TypeScript project sees them (node's types from this repository).
  writeFileSync(join(consumer, 'use.ts'), [
    "import { compareModels, openCheckpoint, type ComparisonReport, type VerdictLabel } from 'lineage';",
    "import { connect, type JobInfo } from 'lineage/sdk';",
    'export async function label(a: string, b: string): Promise<VerdictLabel> {',
    '  const report: ComparisonReport = await compareModels(a, b, { threads: 2 });',
    '  // @ts-expect-error a label is a string union, not a number (fails if the types resolved to any)',
    '  const wrong: number = report.verdict.label;',
    '  void wrong;',
    '  return report.verdict.label;',
    '}',
    'export const tensors = (folder: string): number => openCheckpoint(folder).tensors.length;',
    'export type Connect = typeof connect;',
    'export type State = JobInfo;',
  ].join('\n'));
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
      types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')], skipLibCheck: true,
    },
    files: ['use.ts'],
  }));
  const types = run(consumer, process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
  t.is(types.status, 0, types.all);
});
