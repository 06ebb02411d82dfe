// Why this file exists: the page's one long request. It keeps GET /api/events open, turns its
// messages into WebEvents, and reconnects with back-off (1 s, doubling to 30 s) when it drops.
// Nothing else in the page runs on a timer: while idle this is the only request it makes.
// A peer with as many pages listening as it serves refuses more (503, TOO_MANY_PAGES): that is
// a failure like any other for the back-off (which only an opened stream resets), and the page
// is told so it can ask the user to close one.

import type { WebEvent, WebEventType } from '../peer/web/web-api.js';
import type { ApiClient } from './api.js';
import { SseParser } from './sse.js';

/** Why the stream is down: the peer refused it for too many pages, or any other failure. */
export type StreamDownCause = 'too-many-pages' | 'failed';

export interface StreamHandlers {
  /** The stream is open (the first time, or again after a drop). */
  onOpen(): void;
  onEvent(event: WebEvent): void;
  /** The stream dropped or was refused; the next try is in `retryInMs`. */
  onDown(retryInMs: number, reason: string, cause: StreamDownCause): void;
  /** 401: the token is wrong; the stream stops for good. */
  onUnauthorized(): void;
}

/** Runs `run` after `ms`; answers with the function that cancels it (a fake one in tests). */
export type RetryTimer = (ms: number, run: () => void) => () => void;

const windowTimer: RetryTimer = (ms, run) => {
  const id = window.setTimeout(run, ms);
  return () => window.clearTimeout(id);
};

export const FIRST_RETRY_MS = 1_000;
export const LAST_RETRY_MS = 30_000;
/** The code of the peer's 503 when it already serves as many pages as it will. */
export const TOO_MANY_PAGES = 'TOO_MANY_PAGES';
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

/** The error code in a refused stream's JSON body (null when there is none). */
async function refusalCode(response: Response): Promise<string | null> {
  try {
    const body: unknown = await response.json();
    if (typeof body !== 'object' || body === null || !('error' in body)) return null;
    const error = body.error;
    return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : null;
  } catch {
    return null;
  }
}

/** Runs the stream until the returned function is called. */
export function runEventStream(api: Pick<ApiClient, 'events'>, handlers: StreamHandlers, retryTimer: RetryTimer = windowTimer): () => void {
  const abort = new AbortController();
  let retryMs = FIRST_RETRY_MS;
  let cancelRetry: () => void = () => undefined;

  const connect = async (): Promise<void> => {
    let reason = 'the stream ended';
    let cause: StreamDownCause = 'failed';
    try {
      const response = await api.events(abort.signal);
      if (response.status === 401) {
        handlers.onUnauthorized();
        return;
      }
      if (!response.ok || response.body === null) {
        const code = response.ok ? null : await refusalCode(response);
        if (code === TOO_MANY_PAGES) cause = 'too-many-pages';
        throw new Error(code === null ? `HTTP ${response.status}` : `HTTP ${response.status} ${code}`);
      }
      // Only a stream that opened resets the back-off (never a refusal such as a 503).
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
    handlers.onDown(wait, reason, cause);
    cancelRetry = retryTimer(wait, () => void connect());
  };

  void connect();
  return () => {
    abort.abort();
    cancelRetry();
  };
}
