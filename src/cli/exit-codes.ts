// Why this file exists: the scripting contract's exit statuses (DESIGN.md §1) and the one-line
// error every command prints: `error CODE: message`.

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** A failure the user can act on: printed as one line with its stable code. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
  }
}

export function errorLine(code: string, message: string): string {
  return `error ${code}: ${message}`;
}
