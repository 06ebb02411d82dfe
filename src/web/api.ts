// Why this file exists: the page's one way to the peer — fetch with the token header, answers
// unwrapped from their `{ok, result | error}` envelope, errors as ApiError (code and message),
// and a 401 reported once to whoever shows "this link's token is wrong or missing".

import type { PathCompletion, WebState } from '../peer/web/web-api.js';
import type { CommandName, CommandResults } from './commands.js';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number,
  ) {
    super(message);
  }
}

export interface ApiClient {
  command<N extends CommandName>(name: N, args?: readonly string[]): Promise<CommandResults[N]>;
  state(): Promise<WebState>;
  complete(path: string): Promise<PathCompletion>;
  /** Opens the live stream (GET /api/events); the caller reads its body. */
  events(signal: AbortSignal): Promise<Response>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The result in an answer, or the ApiError it carries. A bare (unwrapped) JSON body is taken as the result. */
export function unwrapAnswer(body: unknown, httpStatus: number): unknown {
  if (isRecord(body) && typeof body.ok === 'boolean') {
    if (body.ok) return body.result;
    const error = isRecord(body.error) ? body.error : {};
    const code = typeof error.code === 'string' ? error.code : `HTTP_${httpStatus}`;
    throw new ApiError(code, typeof error.message === 'string' ? error.message : 'the peer refused', httpStatus);
  }
  if (httpStatus >= 400) throw new ApiError(`HTTP_${httpStatus}`, 'the peer answered with an error', httpStatus);
  return body;
}

export function apiClient(token: string, onUnauthorized: () => void, fetchImpl: typeof fetch = fetch.bind(globalThis)): ApiClient {
  const headers = { authorization: `Bearer ${token}` };

  const request = async (path: string, init: RequestInit = {}): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetchImpl(path, { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) }, cache: 'no-store' });
    } catch (error) {
      throw new ApiError('UNREACHABLE', `the peer did not answer (${error instanceof Error ? error.message : String(error)})`, 0);
    }
    if (response.status === 401) onUnauthorized();
    const text = await response.text();
    let body: unknown;
    try {
      body = text.length === 0 ? null : JSON.parse(text);
    } catch {
      throw new ApiError(`HTTP_${response.status}`, text.slice(0, 200) || response.statusText, response.status);
    }
    return unwrapAnswer(body, response.status);
  };

  return {
    command: async (name, args = []) =>
      (await request(`/api/commands/${encodeURIComponent(name)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ args: [...args] }) })) as CommandResults[typeof name],
    state: async () => (await request('/api/state')) as WebState,
    complete: async (path) => (await request(`/api/complete?path=${encodeURIComponent(path)}`)) as PathCompletion,
    events: async (signal) => {
      const response = await fetchImpl('/api/events', { headers: { ...headers, accept: 'text/event-stream' }, cache: 'no-store', signal });
      if (response.status === 401) onUnauthorized();
      return response;
    },
  };
}
