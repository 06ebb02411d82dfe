// Why this file exists: the small hooks every view uses — the store's current state, data read
// from the peer again whenever its inputs (or the store's generation) change, and an action
// whose refusal reads as one line with its code.

import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import type { PageState, PageStore } from './store.js';

export function usePageState(store: PageStore): PageState {
  const [state, setState] = useState(store.get());
  useEffect(() => {
    setState(store.get());
    return store.subscribe(() => setState(store.get()));
  }, [store]);
  return state;
}

/** `CODE: message`, the one line an error shows as. */
export function errorLine(error: unknown): string {
  if (error instanceof ApiError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
}

/** Reads `load()` now and whenever `inputs` change; the last answer stays shown while the next is read. */
export function useLoad<T>(load: (() => Promise<T>) | null, inputs: readonly unknown[]): Loaded<T> {
  const [loaded, setLoaded] = useState<Loaded<T>>({ data: null, error: null, loading: load !== null });
  useEffect(() => {
    if (load === null) {
      setLoaded({ data: null, error: null, loading: false });
      return;
    }
    let current = true;
    setLoaded((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => current && setLoaded({ data, error: null, loading: false }),
      (error: unknown) => current && setLoaded((previous) => ({ data: previous.data, error: errorLine(error), loading: false })),
    );
    return () => {
      current = false;
    };
  }, inputs);
  return loaded;
}

export interface Action {
  busy: boolean;
  error: string | null;
  done: string | null;
  /** Runs `work`; its answer (a sentence) or error shows until the next run. */
  run(work: () => Promise<string | null>): Promise<void>;
}

export function useAction(): Action {
  const [state, setState] = useState<{ busy: boolean; error: string | null; done: string | null }>({ busy: false, error: null, done: null });
  const run = useCallback(async (work: () => Promise<string | null>) => {
    setState({ busy: true, error: null, done: null });
    try {
      const done = await work();
      setState({ busy: false, error: null, done });
    } catch (error) {
      setState({ busy: false, error: errorLine(error), done: null });
    }
  }, []);
  return { ...state, run };
}
