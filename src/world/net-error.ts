// The error that Network.listen and Network.connect reject with, in both worlds: an Error (so
// it has a stack) that is also a NetError (so callers switch on the same codes as close()).

import type { NetError } from './world.js';

export type NetErrorCode = NetError['code'];

export class NetFailure extends Error implements NetError {
  constructor(
    readonly code: NetErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'NetFailure';
  }
}

export function isNetFailure(error: unknown, code?: NetErrorCode): error is NetFailure {
  return error instanceof NetFailure && (code === undefined || error.code === code);
}

const NET_ERROR_CODES: readonly NetErrorCode[] = [
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EPIPE',
  'EADDRINUSE',
  'EIO',
  'ETLS',
];

/** Maps an error from node:net (or anything) to a NetError code; unknown codes become EIO. */
export function netErrorCodeOf(error: unknown): NetErrorCode {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  const known = NET_ERROR_CODES.find((candidate) => candidate === code);
  if (known !== undefined) return known;
  if (code === 'ENETUNREACH') return 'EHOSTUNREACH';
  return 'EIO';
}
