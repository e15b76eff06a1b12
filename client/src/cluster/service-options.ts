/**
 * Command-line options the coordinator and the workers share: how they reach NATS (credentials,
 * user/password, token, NKEY, TLS) and the cluster key that signs what they exchange.
 */
import type { NatsAuth } from '../../../proto/jetstream.ts';

export const SERVICE_OPTIONS = {
  'cluster-key': { type: 'string' },
  insecure: { type: 'boolean' },
  'nats-creds': { type: 'string' },
  'nats-user': { type: 'string' },
  'nats-pass': { type: 'string' },
  'nats-token': { type: 'string' },
  'nats-nkey': { type: 'string' },
  'nats-ca': { type: 'string' },
  'nats-tls-cert': { type: 'string' },
  'nats-tls-key': { type: 'string' },
} as const;

export const SERVICE_USAGE = `cluster key (required unless --insecure):
  --cluster-key FILE    the key tasks, results and stored records are signed with, shared by the
                        coordinator and every worker (default: the LINEAGE_CLUSTER_KEY environment
                        variable); make one with \`openssl rand -hex 32 > cluster.key\`
  --insecure            run without a key: nothing is signed or checked (a trusted lab network only)
reaching NATS (one way of authenticating at most):
  --nats-creds FILE     credentials file (JWT and NKEY seed)
  --nats-user U --nats-pass P   user and password (default pass: LINEAGE_NATS_PASS)
  --nats-token T        token (default: LINEAGE_NATS_TOKEN)
  --nats-nkey FILE      file holding an NKEY user seed (SU...)
  --nats-ca FILE        CA certificate the NATS server's certificate must chain to (turns TLS on)
  --nats-tls-cert FILE --nats-tls-key FILE   client certificate and key, for servers that verify clients`;

type ServiceValues = { [K in keyof typeof SERVICE_OPTIONS]?: (typeof SERVICE_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** NATS authentication and the cluster key from the parsed options (secrets also from the environment). */
export function serviceOptions(values: ServiceValues): { natsAuth: NatsAuth; clusterKeyFile?: string; insecure: boolean } {
  return {
    natsAuth: {
      creds: values['nats-creds'],
      user: values['nats-user'],
      pass: values['nats-pass'] ?? (values['nats-user'] ? process.env.LINEAGE_NATS_PASS : undefined),
      token: values['nats-token'] ?? (values['nats-creds'] || values['nats-user'] || values['nats-nkey'] ? undefined : process.env.LINEAGE_NATS_TOKEN || undefined),
      nkeySeed: values['nats-nkey'],
      tlsCa: values['nats-ca'],
      tlsCert: values['nats-tls-cert'],
      tlsKey: values['nats-tls-key'],
    },
    clusterKeyFile: values['cluster-key'],
    insecure: values.insecure ?? false,
  };
}
