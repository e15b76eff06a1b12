/** Bearer-token check of every call: `authorization: Bearer <token>` in the call's metadata. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { status, type Metadata } from '@grpc/grpc-js';
import { RpcError } from './rpc-error.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function tokenChecker(token: string): (metadata: Metadata) => void {
  const expected = digest(token);
  return (metadata) => {
    const header = metadata.get('authorization')[0];
    if (header === undefined) throw new RpcError(status.UNAUTHENTICATED, 'missing token: send "authorization: Bearer <token>" metadata');
    const match = /^Bearer\s+(.+)$/i.exec(String(header).trim());
    // Compare digests in constant time, so the comparison does not leak how much of a guess was right.
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) throw new RpcError(status.UNAUTHENTICATED, 'invalid token');
  };
}
