// A tracker node checks its open file limit at start (issue 20): its client connection cap is
// what the limit leaves after the files it keeps for itself, and a limit too low for the full
// cap is said once in its log, with the ulimit that would lift it.

import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CONNECTIONS, RESERVED_FILE_DESCRIPTORS } from '../../src/tracker/client-door.js';
import { CLI, TrackerProcesses, until } from '../helpers/tracker-processes.js';

const cluster = new TrackerProcesses();

beforeAll(async () => {
  await cluster.init(3);
});

afterAll(async () => {
  await cluster.dispose();
});

describe('the open file limit', () => {
  it('sizes the client connection cap, and a limit too low for the full cap is logged with the ulimit to set', async () => {
    const id = cluster.config.nodes[0]!.id;
    const log = cluster.logPath(id);
    const child = spawn('sh', ['-c', `ulimit -n 3000 && exec "${process.execPath}" "${CLI}" tracker --id ${id} --cluster "${cluster.clusterPath}" --data "${cluster.dataDir(id)}"`], { stdio: ['ignore', 'ignore', openSync(log, 'a')] });
    try {
      const line = await until('the client_port line', async () => {
        const found = existsSync(log) ? readFileSync(log, 'utf8').split('\n').find((l) => l.includes('"event":"client_port"')) : undefined;
        return found === undefined ? null : (JSON.parse(found) as { maxConnections: number; openFileLimit: number; warning?: string });
      });
      expect(line.openFileLimit).toBe(3000);
      expect(line.maxConnections).toBe(3000 - RESERVED_FILE_DESCRIPTORS);
      expect(line.warning).toContain(`ulimit -n ${MAX_CONNECTIONS + RESERVED_FILE_DESCRIPTORS}`);
      const status = await until('its status', () => cluster.client('probe').status(cluster.config.nodes[0]!.client));
      expect(status.clients).toMatchObject({ maxConnections: 3000 - RESERVED_FILE_DESCRIPTORS });
    } finally {
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGKILL');
      });
    }
  });
});
