// Why this file exists: the test-only switch that makes a real peer a liar
// (CLIQUE_TEST_SERVE_GARBAGE=1): every block it serves has its bytes inverted, so every piece
// others get from it alone fails its SHA1. The liar tests (a holder delisted after members'
// reports) need a real process that lies while everything else about it is honest. Never set it
// outside those tests; a process under it says so on stderr.

export const TAMPER_SWITCH = 'CLIQUE_TEST_SERVE_GARBAGE';

/** A block changer when the switch is on (with a warning on stderr), else null. */
export function garbageServingForTests(): ((pieceIndex: number, beginBytes: number, block: Uint8Array) => Uint8Array) | null {
  if (process.env[TAMPER_SWITCH] !== '1') return null;
  process.stderr.write(`warning: ${TAMPER_SWITCH}=1: this peer serves garbage (a test-only switch)\n`);
  return (_pieceIndex, _beginBytes, block) => block.map((byte) => byte ^ 0xff);
}
