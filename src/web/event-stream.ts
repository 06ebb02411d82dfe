// Why this file exists: the page's one long request. It keeps GET /api/events open, turns its
// messages into WebEvents, and reconnects with back-off (1 s, doubling to 30 s) when it drops.
// Nothing else in the page runs on a timer: while idle this is the only request it makes.

import type { WebEvent, WebEventType } from '../peer/web/web-api.js';
import type { ApiClient } from './api.js';
import { SseParser } from './sse.js';

export interface StreamHandlers {
  /** The stream is open (the first time, or again after a drop). */
  onOpen(): void;
  onEvent(event: WebEvent): void;
  /** The stream dropped; the next try is in `retryInMs`. */
  onDown(retryInMs: number, reason: string): void;
  /** 401: the token is wrong; the stream stops for good. */
  onUnauthorized(): void;
}

const FIRST_RETRY_MS = 1_000;
const LAST_RETRY_MS = 30_000;
const EVENT_TYPES: ReadonlySet<WebEventType> = new Set(['status', 'downloads', 'news', 'cluster']);

/** A message's WebEvent, or null for one the page does not know (a newer peer's, say). */
export function parseWebEvent(name: string, data: string): WebEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || !('type' in value)) return null;
  const type = value.type;
  if (typeof type !== 'string' || !EVENT_TYPES.has(type as WebEventType) || (name !== 'message' && name !== type)) return null;
  return value as WebEvent;
}

/** Runs the stream until the returned function is called. */
export function runEventStream(api: ApiClient, handlers: StreamHandlers): () => void {
  const abort = new AbortController();
  let retryMs = FIRST_RETRY_MS;
  let timer: number | undefined;

  const connect = async (): Promise<void> => {
    let reason = 'the stream ended';
    try {
      const response = await api.events(abort.signal);
      if (response.status === 401) {
        handlers.onUnauthorized();
        return;
      }
      if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
      retryMs = FIRST_RETRY_MS;
      handlers.onOpen();
      const parser = new SseParser();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const message of parser.feed(value)) {
          const event = parseWebEvent(message.event, message.data);
          if (event !== null) handlers.onEvent(event);
        }
      }
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
    if (abort.signal.aborted) return;
    const wait = retryMs;
    retryMs = Math.min(LAST_RETRY_MS, retryMs * 2);
    handlers.onDown(wait, reason);
    timer = window.setTimeout(() => void connect(), wait);
  };

  void connect();
  return () => {
    abort.abort();
    window.clearTimeout(timer);
  };
}
