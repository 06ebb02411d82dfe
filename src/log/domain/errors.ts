// Why this file exists: the domain's refusals are data, not exceptions. Every refusal carries a
// stable upper-snake-case code that the shell prints, the wire carries and scripts match on.

export const DOMAIN_ERROR_CODES = [
  'BAD_COMMAND',
  'BAD_NAME',
  'BAD_ADDRESS',
  'BAD_FILE',
  'BAD_CREDENTIALS',
  'BAD_REFRESH',
  'USER_EXISTS',
  'NOT_LOGGED_IN',
  'NO_SUCH_SESSION',
  'SESSION_EXISTS',
  'GROUP_EXISTS',
  'NO_SUCH_GROUP',
  'NOT_A_MEMBER',
  'NOT_OWNER',
  'ALREADY_MEMBER',
  'CANNOT_REMOVE_SELF',
  'REQUEST_PENDING',
  'NO_SUCH_REQUEST',
  'NO_SUCH_FILE',
  'NOT_SHARING',
  'FILE_NAME_TAKEN',
  'FILE_TOO_LARGE',
  'STALE_REQUEST',
  'NOT_A_HOLDER',
  'CANNOT_REPORT_SELF',
  'BAD_EVIDENCE',
] as const;

export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number];

export interface DomainError {
  readonly kind: 'error';
  readonly code: DomainErrorCode;
  readonly message: string;
}

export function domainError(code: DomainErrorCode, message: string): DomainError {
  return { kind: 'error', code, message };
}

export function isDomainError(value: unknown): value is DomainError {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'error';
}
