// Why this file exists: what encryption costs, measured beside the same run without it. Our
// peers run once as they ship (TLS 1.3) and once with the test-only switch that turns TLS off
// (CLIQUE_TEST_PLAINTEXT=1, inherited by the processes launched while it is set); the cipher a
// connection negotiates is read from a TLS handshake with a running seeder.

import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';

export const GOAL_TLS_TIME_RATIO = 1.1;
export const GOAL_TLS_CPU_RATIO = 1.25;

/** Runs `work` with encryption off in every process it launches. */
export async function withPlaintext(work) {
  process.env.CLIQUE_TEST_PLAINTEXT = '1';
  try {
    return await work();
  } finally {
    delete process.env.CLIQUE_TEST_PLAINTEXT;
  }
}

/** The cipher and version a TLS handshake with the peer at `pinned` (KEY@HOST:PORT) settles on, showing the key in `keyFile` (a home's peer-key.json). */
export function negotiatedCipher(pinned, keyFile) {
  const address = pinned.slice(pinned.indexOf('@') + 1);
  const colon = address.lastIndexOf(':');
  const { certificate, key } = JSON.parse(readFileSync(keyFile, 'utf8'));
  return new Promise((resolve) => {
    const socket = connect({ host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)), cert: certificate, key, rejectUnauthorized: false, checkServerIdentity: () => undefined }, () => {
      const cipher = socket.getCipher();
      socket.destroy();
      resolve(`${cipher.version} ${cipher.standardName ?? cipher.name}`);
    });
    socket.on('error', (error) => resolve(`unknown (${error.message})`));
  });
}

/** Whether the CPU has the AES instructions AES-GCM runs on. */
export function aesInstructions() {
  try {
    return /^flags\s*:.*\baes\b/m.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'yes' : 'no';
  } catch {
    return 'unknown';
  }
}

/** The cost of TLS: time and leecher CPU of `tls` over `plain`, against the goals. */
export function printTlsCost(prefix, tls, plain, metOrMissed) {
  if (!tls || !plain) return;
  const time = tls.seconds / plain.seconds;
  const cpu = tls.cpuSeconds / plain.cpuSeconds;
  console.log(`${prefix} tls cost: time ${time.toFixed(2)}x without TLS (goal <= ${GOAL_TLS_TIME_RATIO}x: ${metOrMissed(time <= GOAL_TLS_TIME_RATIO)}), ` +
    `leecher cpu ${cpu.toFixed(2)}x (goal <= ${GOAL_TLS_CPU_RATIO}x: ${metOrMissed(cpu <= GOAL_TLS_CPU_RATIO)})`);
}
