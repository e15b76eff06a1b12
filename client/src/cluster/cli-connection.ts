/**
 * What every cluster command shares: the options that say where the coordinator is and how to
 * reach it, and turning them into a connected client.
 */
import { readFileSync } from 'node:fs';
import { BadInputError, UsageError } from '../../../core/src/errors.ts';
import type { LineageClient } from '../sdk/client.ts';

/** parseArgs options of the connection, to spread into a command's own. */
export const CONNECTION_OPTIONS = {
  coordinator: { type: 'string' },
  token: { type: 'string' },
  tls: { type: 'boolean' },
  'tls-ca': { type: 'string' },
} as const;

export const CONNECTION_USAGE = `connection:
  --coordinator HOST:PORT  the coordinator's gRPC address (default: LINEAGE_COORDINATOR)
  --token TOKEN            API token (default: LINEAGE_TOKEN)
  --tls                    TLS to the coordinator, checked against the system's roots
  --tls-ca FILE            TLS, checked against this CA certificate (PEM)`;

export interface ConnectionValues {
  coordinator?: string;
  token?: string;
  tls?: boolean;
  'tls-ca'?: string;
}

/** The coordinator's address from the options or the environment; a UsageError when neither gives one. */
export function coordinatorAddress(command: string, values: ConnectionValues): string {
  const address = values.coordinator ?? process.env.LINEAGE_COORDINATOR;
  if (!address) throw new UsageError(`lineage ${command}: no coordinator: give --coordinator HOST:PORT or set LINEAGE_COORDINATOR`);
  if (!/^[^\s/]+:\d+$/.test(address)) throw new UsageError(`lineage ${command}: --coordinator must be HOST:PORT, got '${address}'`);
  return address;
}

export async function connectFromCommandLine(command: string, values: ConnectionValues): Promise<LineageClient> {
  const address = coordinatorAddress(command, values);
  let tls: boolean | { ca: Buffer } = values.tls ?? false;
  if (values['tls-ca'] !== undefined) {
    try {
      tls = { ca: readFileSync(values['tls-ca']) };
    } catch (err) {
      throw new BadInputError(values['tls-ca'], `cannot read the CA certificate (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  // Loaded here, not above: gRPC costs a local `lineage compare` (which shares these options) ~0.1 s to load.
  const { connect } = await import('../sdk/client.ts');
  return connect({ address, token: values.token, tls });
}
