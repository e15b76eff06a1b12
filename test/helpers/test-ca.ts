/**
 * A throwaway certificate authority for TLS tests, made with openssl: a CA, a server certificate
 * for 127.0.0.1 and localhost, and client certificates, all signed by the CA (EC P-256, one day).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmpdir.ts';

export interface TestCa {
  ca: string;
  /** Certificate and key of a server at 127.0.0.1 / localhost. */
  serverCert: string;
  serverKey: string;
  /** A client certificate and key with the given common name. */
  client(name: string): { cert: string; key: string };
}

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.error?.message ?? r.stderr}`);
}

export function makeTestCa(): TestCa {
  const dir = tempDir('lineage-ca-');
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-keyout', caKey, '-out', ca, '-subj', '/CN=lineage test CA']);
  const issue = (name: string, ext: string) => {
    const key = join(dir, `${name}-key.pem`);
    const csr = join(dir, `${name}.csr`);
    const cert = join(dir, `${name}.pem`);
    const extFile = join(dir, `${name}.ext`);
    writeFileSync(extFile, ext);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
    openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '1', '-out', cert, '-extfile', extFile]);
    return { cert, key };
  };
  const server = issue('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  return {
    ca, serverCert: server.cert, serverKey: server.key,
    client: (name) => issue(name, 'extendedKeyUsage=clientAuth\n'),
  };
}
