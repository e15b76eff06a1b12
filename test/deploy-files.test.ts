/**
 * The shipped deployment files are secure as shipped: NATS needs a user per role (compose, the
 * Helm values), the permissions in the Helm values are those of deploy/nats/permissions.conf
 * (which test/security-nats.test.ts runs a cluster under), coordinator and workers get the
 * cluster key and their NATS user, workers their model root, and the Kubernetes manifests carry
 * network policies. The files are checked by the tools themselves where installed:
 * `nats-server -t`, `docker-compose config`, `kubectl kustomize`.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NATS_SERVER_BINARY } from './helpers/nats-server.ts';
import { unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

const DEPLOY = fileURLToPath(new URL('../deploy/', import.meta.url));
const read = (path: string) => readFileSync(join(DEPLOY, path), 'utf8');
const has = (tool: string, args: string[]) => spawnSync(tool, args, { encoding: 'utf8' }).status === 0;
const ENV = { LINEAGE_TOKEN: 't', LINEAGE_CLUSTER_KEY: 'k'.repeat(64), LINEAGE_NATS_COORDINATOR_PASS: 'c', LINEAGE_NATS_WORKER_PASS: 'w' };

/** The `- item` lines of a YAML block list that follows `key:` (at one indentation), from `from` on. */
function yamlList(text: string, key: string, from = 0): string[] {
  const start = text.indexOf(`${key}:\n`, from);
  if (start < 0) return [];
  const items: string[] = [];
  let indent: string | null = null;
  for (const line of text.slice(start).split('\n').slice(1)) {
    const m = /^(\s*)- (.+)$/.exec(line);
    if (!m || (indent !== null && m[1] !== indent)) break;
    indent = m[1]!;
    items.push(m[2]!.trim().replace(/^['"]|['"]$/g, ''));
  }
  return items;
}

/** A service's block of the compose file (up to the next key at the services' indentation or above). */
function composeService(text: string, name: string): string {
  const start = text.indexOf(`\n  ${name}:\n`);
  if (start < 0) return '';
  const body = text.slice(start + name.length + 5);
  const end = body.search(/\n {0,2}[a-z][\w-]*:/);
  return end < 0 ? body : body.slice(0, end);
}

/** The publish and subscribe lists of one permissions block of a nats-server config. */
function confPermissions(conf: string, name: string): { publish: string[]; subscribe: string[] } {
  const block = new RegExp(`${name}\\s*=\\s*\\{([\\s\\S]*?)\\n\\}`).exec(conf)?.[1] ?? '';
  const list = (key: string) => [...(new RegExp(`${key}:\\s*\\[([\\s\\S]*?)\\]`).exec(block)?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
  return { publish: list('publish'), subscribe: list('subscribe') };
}

test('compose: NATS with a user per role on an internal network; the key, users and roots on coordinator and workers', (t) => {
  const compose = read('compose.yaml');
  const nats = composeService(compose, 'nats');
  t.regex(nats, /command: \['--config', '\/etc\/nats\/nats\.conf'\]/);
  t.notRegex(nats, /ports:/, 'NATS is not published');
  t.regex(nats, /networks: \[nats\]/);
  t.regex(compose, /\n  nats:\n    internal: true/);
  for (const role of ['coordinator', 'worker']) {
    const service = composeService(compose, role);
    t.regex(service, new RegExp(`--nats-user'?,?\\s*'?-? ?'?${role}`), role);
    t.regex(service, /LINEAGE_CLUSTER_KEY: \$\{LINEAGE_CLUSTER_KEY:\?/, role);
    t.regex(service, /LINEAGE_NATS_PASS: \$\{LINEAGE_NATS_(COORDINATOR|WORKER)_PASS:\?/, role);
    t.notRegex(service, /--insecure/, role);
  }
  t.regex(composeService(compose, 'worker'), /'--model-root', '\/models'/);
});

test('the Helm values give NATS the permissions of deploy/nats/permissions.conf', (t) => {
  const conf = read('nats/permissions.conf');
  const values = read('kubernetes/nats/values.yaml');
  const at = (user: string) => values.indexOf(`- user: ${user}`);
  t.true(at('coordinator') > 0 && at('worker') > at('coordinator'));
  const permissions = (user: string) => ({ publish: yamlList(values, 'publish', at(user)), subscribe: yamlList(values, 'subscribe', at(user)) });
  t.deepEqual(permissions('coordinator'), confPermissions(conf, 'LINEAGE_COORDINATOR_PERMISSIONS'));
  t.deepEqual(permissions('worker'), confPermissions(conf, 'LINEAGE_WORKER_PERMISSIONS'));
  t.true(confPermissions(conf, 'LINEAGE_WORKER_PERMISSIONS').publish.length > 5);
  t.true(confPermissions(conf, 'LINEAGE_WORKER_PERMISSIONS').publish.every((s) => !/^\$KV\.|^lineage\.tasks|^\$JS\.API\.STREAM\.(PURGE|DELETE|UPDATE)/.test(s)), 'workers cannot write buckets or tasks');
});

unless(NATS_SERVER_BINARY ? null : 'nats-server is not installed')('nats-server accepts deploy/nats/nats.conf', (t) => {
  const r = spawnSync(NATS_SERVER_BINARY!, ['-c', join(DEPLOY, 'nats', 'nats.conf'), '-t'], { encoding: 'utf8', env: { ...process.env, ...ENV } });
  t.is(r.status, 0, r.stderr);
});

unless(has('kubectl', ['version', '--client']) ? null : 'kubectl is not installed')('kubectl kustomize renders the manifests, with network policies and the cluster key', (t) => {
  const render = (dir: string) => {
    const r = spawnSync('kubectl', ['kustomize', join(DEPLOY, dir)], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    return r.stdout.split(/^---$/m);
  };
  const lineage = render('kubernetes');
  const policies = lineage.filter((d) => /^kind: NetworkPolicy$/m.test(d)).map((d) => /^  name: (\S+)$/m.exec(d)?.[1]).sort();
  t.deepEqual(policies, ['lineage-coordinator', 'lineage-default-deny', 'lineage-worker']);
  for (const name of ['lineage-coordinator', 'lineage-worker']) {
    const deployment = lineage.find((d) => /^kind: Deployment$/m.test(d) && new RegExp(`^  name: ${name}$`, 'm').test(d))!;
    const args = yamlList(deployment, 'args').join(' ');
    t.regex(args, /--cluster-key \/etc\/lineage\/cluster-key\/key/, name);
    t.regex(args, /--nats-user (coordinator|worker) --nats-ca /, name);
  }
  t.true(render('kubernetes/nats').some((d) => /^kind: NetworkPolicy$/m.test(d)));
});

unless(has('docker-compose', ['version']) ? null : 'docker-compose is not installed')('docker-compose config accepts compose.yaml', (t) => {
  // docker-compose v1 predates the top-level `name`; everything else it checks as Compose does.
  const copy = join(tempDir(), 'compose.yaml');
  writeFileSync(copy, read('compose.yaml').replace(/^name:.*$/m, '').replaceAll('../', `${join(DEPLOY, '..')}/`).replaceAll('./', `${DEPLOY}`));
  const r = spawnSync('docker-compose', ['-f', copy, 'config', '--quiet'], { encoding: 'utf8', env: { ...process.env, ...ENV } });
  t.is(r.status, 0, r.stderr);
  const missing = spawnSync('docker-compose', ['-f', copy, 'config', '--quiet'], { encoding: 'utf8', env: { ...process.env, LINEAGE_CLUSTER_KEY: '' } });
  t.not(missing.status, 0, 'refused without the secrets');
});
