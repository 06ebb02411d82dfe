// Linearizability checking for simulation histories: a port of Porcupine's checker
// (anishathalye/porcupine, Wing & Gong / Lowe search with memoisation), so a simulated run of the
// replicated tracker can be judged against a sequential model of what clients may observe.
//
// Real-time order: op A precedes op B only if A.return < B.call; ops whose intervals touch
// (A.return === B.call) are concurrent (calls sort before returns at equal times, as in Porcupine).
// Unknown outcomes (output null): the op's recorded return is ignored and taken as +infinity, so the
// search may linearize it anywhere after its call (via `stepUnknown`) or leave it out.

/** One client operation as recorded by a simulation; times in virtual ms. output null = unknown outcome (the client gave up: it may or may not have taken effect). */
export interface Operation<I, O> {
  clientId: string;
  input: I;
  call: number;
  output: O | null;
  return: number;
}

export interface Model<S, I, O> {
  /** Splits a history into independent sub-histories (e.g. per key); default: one partition. */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  init(): S;
  /** Applies input to state: whether output is a legal answer, and the next state. Must not mutate `state`. */
  step(state: S, input: I, output: O): { ok: boolean; state: S };
  /** For an unknown outcome: the next state if the operation took effect (its output does not matter). */
  stepUnknown?(state: S, input: I): S;
  /** State equality for the memo: states with the same key are interchangeable. */
  key(state: S): string;
  describeOperation?(input: I, output: O | null): string;
}

export type CheckResult =
  | { result: 'ok' }
  | { result: 'illegal'; partition: number; longestPrefix: string[] /* described ops of the longest linearizable prefix found */ }
  | { result: 'unknown'; reason: string /* e.g. partition too long or search budget exhausted */ };

export interface CheckOptions {
  /** Partitions with more operations than this are not searched ('unknown'); default 10_000. */
  maxOperationsPerPartition?: number;
  /** Search steps (attempts plus backtracks) allowed per partition before giving up ('unknown'); default 1e6. */
  maxSearchSteps?: number;
}

const DEFAULT_MAX_OPERATIONS = 10_000;
const DEFAULT_MAX_STEPS = 1_000_000;

type PartitionResult = { result: 'ok' } | { result: 'illegal'; prefix: number[] } | { result: 'unknown'; reason: string };

/**
 * Checks that `history` is linearizable with respect to `model`. 'illegal' is definitive and names
 * the first failing partition; 'unknown' means some partition could not be decided within the limits
 * (and no partition was found illegal).
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult {
  const maxOps = options.maxOperationsPerPartition ?? DEFAULT_MAX_OPERATIONS;
  const maxSteps = options.maxSearchSteps ?? DEFAULT_MAX_STEPS;
  for (const op of history) validate(model, op);
  const partitions = model.partition ? model.partition(history) : [history.slice()];
  let undecided: string | null = null;
  for (const [index, ops] of partitions.entries()) {
    if (ops.length > maxOps) {
      undecided ??= `partition ${index} has ${ops.length} operations (limit ${maxOps})`;
      continue;
    }
    const outcome = checkPartition(model, ops, maxSteps);
    if (outcome.result === 'illegal') {
      const longestPrefix = outcome.prefix.map((i) => describe(model, ops[i] as Operation<I, O>));
      return { result: 'illegal', partition: index, longestPrefix };
    }
    if (outcome.result === 'unknown') undecided ??= `partition ${index}: ${outcome.reason}`;
  }
  return undecided === null ? { result: 'ok' } : { result: 'unknown', reason: undecided };
}

function validate<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): void {
  if (!Number.isFinite(op.call)) throw new RangeError(`operation of client ${op.clientId} has a non-finite call time ${op.call}`);
  if (op.output === null) {
    if (!model.stepUnknown) {
      throw new TypeError(`history has an unknown outcome (client ${op.clientId}, call ${op.call}) but the model has no stepUnknown`);
    }
    return;
  }
  if (!Number.isFinite(op.return) || op.return < op.call) {
    throw new RangeError(`operation of client ${op.clientId} returns at ${op.return}, before or without its call at ${op.call}`);
  }
}

function describe<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  const text = model.describeOperation
    ? model.describeOperation(op.input, op.output)
    : `${show(op.input)} -> ${op.output === null ? '?' : show(op.output)}`;
  return `${op.clientId}: ${text}`;
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * The search over one partition. Entries 0..2n-1 are the call and return events sorted by time,
 * linked through `next`/`prev` (index 2n is the head sentinel, -1 is nil). Linearizing an op lifts its
 * call and return out of the list; backtracking puts them back (dancing links).
 */
function checkPartition<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], maxSteps: number): PartitionResult {
  const n = ops.length;
  let remaining = 0; // completed ops not yet linearized; the search succeeds when it reaches 0
  const events: { op: number; isCall: boolean; time: number }[] = [];
  for (const [i, op] of ops.entries()) {
    if (op.output !== null) remaining += 1;
    events.push({ op: i, isCall: true, time: op.call });
    events.push({ op: i, isCall: false, time: op.output === null ? Infinity : op.return });
  }
  if (remaining === 0) return { result: 'ok' };
  // Array.prototype.sort is stable, so ties among calls (or among returns) keep history order.
  events.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));

  const head = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  const opOf = new Int32Array(2 * n);
  const isCall = new Uint8Array(2 * n);
  const returnOf = new Int32Array(n); // op -> index of its return event
  for (const [e, ev] of events.entries()) {
    opOf[e] = ev.op;
    isCall[e] = ev.isCall ? 1 : 0;
    if (!ev.isCall) returnOf[ev.op] = e;
    next[e] = e + 1 < 2 * n ? e + 1 : -1;
    prev[e] = e === 0 ? head : e - 1;
  }
  next[head] = 0;
  prev[head] = -1;

  const unlink = (e: number): void => {
    const p = prev[e] as number;
    const q = next[e] as number;
    next[p] = q;
    if (q !== -1) prev[q] = p;
  };
  const relink = (e: number): void => {
    const p = prev[e] as number;
    const q = next[e] as number;
    next[p] = e;
    if (q !== -1) prev[q] = e;
  };

  const bits = new Uint32Array(Math.ceil(n / 32));
  const bitsKey = (): string => {
    let s = '';
    for (const word of bits) s += String.fromCharCode(word & 0xffff, word >>> 16);
    return s;
  };
  const memo = new Set<string>();
  const stack: { call: number; state: S }[] = [];
  let longest: number[] = [];
  let state = model.init();
  let entry = next[head] as number;
  let steps = 0;

  while (remaining > 0) {
    steps += 1;
    if (steps > maxSteps) return { result: 'unknown', reason: `search budget of ${maxSteps} steps exhausted` };
    if (entry !== -1 && isCall[entry] === 1) {
      const i = opOf[entry] as number;
      const op = ops[i] as Operation<I, O>;
      let ok = true;
      let nextState: S;
      if (op.output === null) {
        nextState = (model.stepUnknown as (state: S, input: I) => S)(state, op.input);
      } else {
        const stepped = model.step(state, op.input, op.output);
        ok = stepped.ok;
        nextState = stepped.state;
      }
      if (ok) {
        const word = i >>> 5;
        const mask = 1 << (i & 31);
        bits[word] = (bits[word] as number) | mask;
        const key = `${bitsKey()}\u0000${model.key(nextState)}`;
        if (!memo.has(key)) {
          memo.add(key);
          stack.push({ call: entry, state });
          state = nextState;
          unlink(entry);
          unlink(returnOf[i] as number);
          if (op.output !== null) remaining -= 1;
          entry = next[head] as number;
          continue;
        }
        bits[word] = (bits[word] as number) & ~mask;
      }
      entry = next[entry] as number;
    } else {
      // A pending return (or the end of the list): every candidate at this depth failed.
      if (stack.length > longest.length) longest = stack.map((frame) => opOf[frame.call] as number);
      const top = stack.pop();
      if (top === undefined) return { result: 'illegal', prefix: longest };
      const i = opOf[top.call] as number;
      state = top.state;
      bits[i >>> 5] = (bits[i >>> 5] as number) & ~(1 << (i & 31));
      relink(returnOf[i] as number);
      relink(top.call);
      if ((ops[i] as Operation<I, O>).output !== null) remaining += 1;
      entry = next[top.call] as number;
    }
  }
  return { result: 'ok' };
}
