// The linearizability checker accepts every history a correct implementation can produce, rejects
// stale, future and invented reads (per key when partitioned), handles unknown outcomes, and stays fast.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkOperations } from '../../src/sim/linearizability.js';
import type { Model, Operation } from '../../src/sim/linearizability.js';
import { SeededRng } from '../../src/world/rng.js';

// --- a single register -------------------------------------------------------------------------

type RegInput = { type: 'write'; value: number } | { type: 'read' };
type RegOutput = 'ack' | number;
type RegOp = Operation<RegInput, RegOutput>;

const register: Model<number, RegInput, RegOutput> = {
  init: () => 0,
  step: (state, input, output) =>
    input.type === 'write' ? { ok: output === 'ack', state: input.value } : { ok: output === state, state },
  stepUnknown: (state, input) => (input.type === 'write' ? input.value : state),
  key: (state) => String(state),
  describeOperation: (input, output) =>
    input.type === 'write' ? `write(${input.value})` : `read() -> ${output === null ? '?' : output}`,
};

function write(clientId: string, value: number, call: number, ret: number, output: 'ack' | null = 'ack'): RegOp {
  return { clientId, input: { type: 'write', value }, call, output, return: ret };
}
function read(clientId: string, value: number, call: number, ret: number): RegOp {
  return { clientId, input: { type: 'read' }, call, output: value, return: ret };
}

describe('register', () => {
  it('accepts a sequential history', () => {
    const history = [write('a', 1, 0, 10), read('b', 1, 20, 30), write('b', 2, 40, 50), read('a', 2, 60, 70)];
    expect(checkOperations(register, history)).toEqual({ result: 'ok' });
    expect(checkOperations(register, [])).toEqual({ result: 'ok' });
  });

  it('accepts a read concurrent with a write seeing either value', () => {
    expect(checkOperations(register, [write('a', 1, 0, 100), read('b', 1, 10, 20)])).toEqual({ result: 'ok' });
    expect(checkOperations(register, [write('a', 1, 0, 100), read('b', 0, 10, 20)])).toEqual({ result: 'ok' });
    // A read overlapping a second write may see the old or the new value, in either order of listing.
    const before = [write('a', 1, 0, 10), write('a', 2, 20, 60)];
    expect(checkOperations(register, [...before, read('b', 1, 30, 40)])).toEqual({ result: 'ok' });
    expect(checkOperations(register, [read('b', 2, 30, 40), ...before])).toEqual({ result: 'ok' });
    // ...but two sequential reads cannot see new then old.
    expect(checkOperations(register, [...before, read('b', 2, 30, 40), read('c', 1, 45, 50)]).result).toBe('illegal');
  });

  it('rejects the classic stale read and reports the longest prefix', () => {
    const history = [write('a', 1, 0, 10), write('b', 2, 20, 30), read('c', 1, 40, 50)];
    const result = checkOperations(register, history);
    expect(result).toEqual({ result: 'illegal', partition: 0, longestPrefix: ['a: write(1)', 'b: write(2)'] });
  });

  it('rejects a read of a value never written', () => {
    expect(checkOperations(register, [write('a', 1, 0, 10), read('b', 7, 5, 50)]).result).toBe('illegal');
    expect(checkOperations(register, [read('b', 7, 5, 50)])).toEqual({ result: 'illegal', partition: 0, longestPrefix: [] });
  });

  it('treats touching intervals as concurrent and strictly earlier returns as preceding', () => {
    expect(checkOperations(register, [write('a', 1, 0, 10), read('b', 0, 10, 20)])).toEqual({ result: 'ok' });
    expect(checkOperations(register, [write('a', 1, 0, 10), read('b', 0, 11, 20)]).result).toBe('illegal');
  });
});

describe('unknown outcomes', () => {
  it('accepts an unknown write that a later read observes', () => {
    const history = [write('a', 1, 0, 10, null), read('b', 1, 500, 510)];
    expect(checkOperations(register, history)).toEqual({ result: 'ok' });
  });

  it('accepts an unknown write that is never observed', () => {
    const history = [write('a', 1, 0, 10, null), read('b', 0, 20, 30), read('b', 0, 500, 510)];
    expect(checkOperations(register, history)).toEqual({ result: 'ok' });
  });

  it('rejects reads that see the unknown write and then the old value in real-time order', () => {
    const history = [write('a', 1, 0, 10, null), read('b', 1, 20, 30), read('c', 0, 40, 50)];
    expect(checkOperations(register, history).result).toBe('illegal');
  });

  it('requires stepUnknown when the history has unknown outcomes', () => {
    const { stepUnknown: _unused, ...withoutUnknown } = register;
    expect(() => checkOperations(withoutUnknown, [write('a', 1, 0, 10, null)])).toThrow(/stepUnknown/);
    expect(checkOperations(withoutUnknown, [write('a', 1, 0, 10)])).toEqual({ result: 'ok' });
  });
});

describe('limits', () => {
  it('returns unknown when a partition is too long or the search budget runs out', () => {
    const history = [write('a', 1, 0, 10), write('b', 2, 0, 10), read('c', 2, 0, 10)];
    expect(checkOperations(register, history, { maxOperationsPerPartition: 2 })).toMatchObject({ result: 'unknown' });
    expect(checkOperations(register, history, { maxSearchSteps: 2 })).toMatchObject({
      result: 'unknown',
      reason: expect.stringMatching(/budget/),
    });
    expect(checkOperations(register, history, { maxOperationsPerPartition: 3, maxSearchSteps: 100 })).toEqual({ result: 'ok' });
  });
});

// --- a partitioned key-value store ---------------------------------------------------------------

type KvInput = { op: 'put' | 'append'; key: string; value: string } | { op: 'get'; key: string };
type KvOutput = 'ack' | string;
type KvOp = Operation<KvInput, KvOutput>;

const kv: Model<string, KvInput, KvOutput> = {
  partition: (history) => {
    const byKey = new Map<string, KvOp[]>();
    for (const op of history) {
      const ops = byKey.get(op.input.key) ?? [];
      ops.push(op);
      byKey.set(op.input.key, ops);
    }
    return [...byKey.values()];
  },
  init: () => '',
  step: (state, input, output) => {
    if (input.op === 'get') return { ok: output === state, state };
    return { ok: output === 'ack', state: input.op === 'put' ? input.value : state + input.value };
  },
  stepUnknown: (state, input) => (input.op === 'put' ? input.value : input.op === 'append' ? state + input.value : state),
  key: (state) => state,
};

function kvOp(clientId: string, input: KvInput, call: number, ret: number, output: KvOutput | null): KvOp {
  return { clientId, input, call, output, return: ret };
}

describe('per-key kv', () => {
  it('accepts interleaved keys and reports the illegal partition only', () => {
    const ok = [
      kvOp('a', { op: 'put', key: 'x', value: '1' }, 0, 10, 'ack'),
      kvOp('b', { op: 'append', key: 'y', value: 'q' }, 5, 15, 'ack'),
      kvOp('a', { op: 'append', key: 'x', value: '2' }, 20, 30, 'ack'),
      kvOp('c', { op: 'get', key: 'y' }, 25, 35, 'q'),
      kvOp('c', { op: 'get', key: 'x' }, 25, 26, '1'),
      kvOp('b', { op: 'get', key: 'x' }, 40, 50, '12'),
    ];
    expect(checkOperations(kv, ok)).toEqual({ result: 'ok' });
    // y: a stale read after the append completed; x is still fine.
    const bad = [...ok, kvOp('d', { op: 'get', key: 'y' }, 60, 70, '')];
    expect(checkOperations(kv, bad)).toEqual({ result: 'illegal', partition: 1, longestPrefix: ['b: {"op":"append","key":"y","value":"q"} -> "ack"', 'c: {"op":"get","key":"y"} -> "q"'] });
    // Against one big partition the same history is still illegal, at partition 0.
    const { partition: _unused, ...single } = kv;
    expect(checkOperations(single, bad)).toMatchObject({ result: 'illegal', partition: 0 });
  });
});

// --- property tests: correct executions with random overlap -------------------------------------

interface Step<I> {
  client: number;
  input: I;
  /** 'done': took effect, outcome recorded; 'unknown': took effect, client gave up; 'lost': never took effect, client gave up. */
  fate: 'done' | 'unknown' | 'lost';
  shiftCall: number;
  shiftReturn: number;
}

/**
 * Runs `steps` sequentially against `apply` (the correct implementation), step i taking effect at
 * time 10(i+1), then widens each interval around that point without overlapping the same client's
 * neighbouring operations, so the execution order is always a valid linearization.
 */
function execute<S, I, O>(steps: readonly Step<I>[], initial: S, apply: (state: S, input: I) => { state: S; output: O }): Operation<I, O>[] {
  const at = (i: number): number => 10 * (i + 1);
  const nextOfClient = new Map<number, number>();
  const nextSame: number[] = new Array<number>(steps.length).fill(Infinity);
  for (let i = steps.length - 1; i >= 0; i--) {
    const client = (steps[i] as Step<I>).client;
    nextSame[i] = nextOfClient.get(client) ?? Infinity;
    nextOfClient.set(client, at(i));
  }
  const lastReturn = new Map<number, number>();
  let state = initial;
  return steps.map((step, i) => {
    const t = at(i);
    const call = Math.max(t - step.shiftCall, (lastReturn.get(step.client) ?? -Infinity) + 1);
    const ret = Math.min(t + step.shiftReturn, (nextSame[i] as number) - 1);
    lastReturn.set(step.client, ret);
    let output: O | null = null;
    if (step.fate !== 'lost') {
      const applied = apply(state, step.input);
      state = applied.state;
      if (step.fate === 'done') output = applied.output;
    }
    return { clientId: `c${step.client}`, input: step.input, call, output, return: ret };
  });
}

const applyRegister = (state: number, input: RegInput): { state: number; output: RegOutput } =>
  input.type === 'write' ? { state: input.value, output: 'ack' } : { state, output: state };

const stepFields = {
  client: fc.integer({ min: 0, max: 4 }),
  fate: fc.constantFrom<Step<unknown>['fate']>('done', 'done', 'done', 'done', 'unknown', 'lost'),
  shiftCall: fc.nat(45),
  shiftReturn: fc.nat(45),
};
const regStep: fc.Arbitrary<Step<RegInput>> = fc.record({
  ...stepFields,
  input: fc.oneof(fc.record({ type: fc.constant('write' as const), value: fc.integer({ min: 1, max: 4 }) }), fc.constant({ type: 'read' as const })),
});

/** Values a completed read can provably not return: every write of v either starts after the read ends or is overwritten by a completed write that precedes the read. */
function impossibleReads(history: readonly RegOp[], r: RegOp, domain: readonly number[]): number[] {
  const writes = history.filter((op) => op.input.type === 'write');
  const valueOf = (op: RegOp): number => (op.input.type === 'write' ? op.input.value : 0);
  const end = (op: RegOp): number => (op.output === null ? Infinity : op.return);
  return domain.filter((v) => {
    const sources = writes.filter((w) => valueOf(w) === v).map((w) => ({ call: w.call, ret: end(w) }));
    if (v === 0) sources.push({ call: -Infinity, ret: -Infinity });
    return sources.every(
      (s) =>
        s.call > r.return ||
        writes.some((w) => w.output !== null && valueOf(w) !== v && s.ret < w.call && w.return < r.call),
    );
  });
}

describe('property: correct executions', () => {
  it('a register history from a correct implementation is linearizable; a provably impossible read is not', () => {
    fc.assert(
      fc.property(fc.array(regStep, { minLength: 1, maxLength: 40 }), fc.nat(), fc.nat(), (steps, pickRead, pickValue) => {
        const history = execute(steps, 0, applyRegister);
        expect(checkOperations(register, history)).toEqual({ result: 'ok' });
        const reads = history.filter((op) => op.input.type === 'read' && op.output !== null);
        fc.pre(reads.length > 0);
        const target = reads[pickRead % reads.length] as RegOp;
        const candidates = impossibleReads(history, target, [0, 1, 2, 3, 4, 99]);
        expect(candidates).not.toContain(target.output); // the oracle itself is sound
        const mutated = history.map((op) => (op === target ? { ...op, output: candidates[pickValue % candidates.length] as number } : op));
        expect(checkOperations(register, mutated).result).toBe('illegal');
      }),
      { numRuns: 300 },
    );
  });

  it('a per-key kv history from a correct implementation is linearizable; a corrupted get is illegal in its key', () => {
    const kvStep: fc.Arbitrary<Step<KvInput>> = fc.record({
      ...stepFields,
      input: fc.oneof(
        fc.record({ op: fc.constantFrom('put' as const, 'append' as const), key: fc.constantFrom('a', 'b', 'c'), value: fc.constantFrom('x', 'y', 'zz') }),
        fc.record({ op: fc.constant('get' as const), key: fc.constantFrom('a', 'b', 'c') }),
      ),
    });
    const applyKv = (state: Map<string, string>, input: KvInput): { state: Map<string, string>; output: KvOutput } => {
      const current = state.get(input.key) ?? '';
      if (input.op === 'get') return { state, output: current };
      const nextState = new Map(state);
      nextState.set(input.key, input.op === 'put' ? input.value : current + input.value);
      return { state: nextState, output: 'ack' };
    };
    fc.assert(
      fc.property(fc.array(kvStep, { minLength: 1, maxLength: 40 }), fc.nat(), (steps, pickGet) => {
        const history = execute(steps, new Map<string, string>(), applyKv);
        expect(checkOperations(kv, history)).toEqual({ result: 'ok' });
        const gets = history.filter((op) => op.input.op === 'get' && op.output !== null);
        fc.pre(gets.length > 0);
        const target = gets[pickGet % gets.length] as KvOp;
        const mutated = history.map((op) => (op === target ? { ...op, output: `${String(op.output)}!` } : op));
        const keys = [...new Set(history.map((op) => op.input.key))];
        expect(checkOperations(kv, mutated)).toMatchObject({ result: 'illegal', partition: keys.indexOf(target.input.key) });
      }),
      { numRuns: 200 },
    );
  });
});

describe('performance', () => {
  it('checks 2,000 operations of 5 concurrent clients on one register', () => {
    const rng = new SeededRng('linearizability/perf');
    const steps: Step<RegInput>[] = Array.from({ length: 2000 }, () => ({
      client: rng.int(5),
      input: rng.int(2) === 0 ? { type: 'write', value: 1 + rng.int(5) } : { type: 'read' },
      fate: rng.int(50) === 0 ? 'unknown' : 'done',
      shiftCall: rng.int(40),
      shiftReturn: rng.int(40),
    }));
    const history = execute(steps, 0, applyRegister);
    expect(checkOperations(register, history)).toEqual({ result: 'ok' });
  });
});
