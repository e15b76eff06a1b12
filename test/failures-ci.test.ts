/** .ci/run's own parts: a missing server fails CI by name; skips and todos are never counted as passes. */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/tmpdir.ts';

const CI = new URL('../.ci/', import.meta.url).pathname;

test('need-tools fails, naming nats-server, on a machine without it', (t) => {
  // A PATH holding only the shell and the core utilities: no nats-server, prometheus, chromium.
  const bin = join(tempDir(), 'bin');
  mkdirSync(bin);
  for (const tool of ['bash', 'cut', 'sort', 'tr']) symlinkSync(spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), join(bin, tool));
  const run = spawnSync(join(bin, 'bash'), [join(CI, 'need-tools')], { encoding: 'utf8', env: { PATH: bin, LINEAGE_CI_NO_INSTALL: '1' } });
  t.is(run.status, 1, run.stderr);
  t.regex(run.stderr, /^error: nats-server is not installed and could not be installed \(Debian package nats-server\)/m);
  t.regex(run.stderr, /^error: prometheus is not installed/m);
  t.regex(run.stderr, /^error: chromium is not installed/m);
});

test('need-tools passes where every tool is on the PATH', (t) => {
  const bin = join(tempDir(), 'bin');
  mkdirSync(bin);
  for (const tool of ['nats-server', 'prometheus', 'promtool', 'chromium', 'openssl', 'strace']) symlinkSync('/bin/true', join(bin, tool));
  const run = spawnSync('bash', [join(CI, 'need-tools')], { encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin`, LINEAGE_CI_NO_INSTALL: '1' } });
  t.is(run.status, 0, run.stderr);
  t.is(run.stderr, '');
});

test('tap-count: ava skips and todos are counted as skipped, never as passed or failed', (t) => {
  // ava 7's TAP for one skip, one todo, one pass and one failure (its footer counts the todo under fail).
  const tap = [
    'TAP version 13', 'ok 1 - b (skipped: why) # SKIP', 'not ok 2 - c # TODO', 'ok 3 - a', 'not ok 4 - d', '  ---',
    '    message: Test failed via `t.fail()`', '  ...', '', '1..4', '# tests 3', '# pass 1', '# skip 1', '# fail 2', '',
  ].join('\n');
  const run = spawnSync('bash', [join(CI, 'tap-count')], { input: tap, encoding: 'utf8' });
  t.is(run.status, 0, run.stderr);
  t.is(run.stdout, '1 passed, 1 failed, 2 skipped\n');
});
