// Why this file exists: commands that print many lines gather them into large writes.

import type { LineSink } from './audit-command.js';

const FLUSH_BYTES = 64 * 1024;

export function stdoutSink(write: (text: string) => void = (text) => process.stdout.write(text)): LineSink {
  let pending: string[] = [];
  let pendingBytes = 0;
  return {
    line(text: string): void {
      pending.push(text);
      pendingBytes += text.length + 1;
      if (pendingBytes >= FLUSH_BYTES) this.flush();
    },
    flush(): void {
      if (pending.length === 0) return;
      write(pending.join('\n') + '\n');
      pending = [];
      pendingBytes = 0;
    },
  };
}
