// Why this file exists: the linearizability model of the simulated clients' operations. Every
// operation touches one group, so histories are checked per group (Porcupine's partitioning);
// the model is a plain restatement of the domain's rules for groups, written independently.

import type { Model, Operation } from '../linearizability.js';

export type GroupInput =
  | { kind: 'create' | 'join' | 'leave'; group: string; user: string }
  | { kind: 'accept'; group: string; user: string; target: string }
  | { kind: 'read'; group: string; user: string };

/** An error code or 'OK' for writes; the canonical group view (or 'NO_SUCH_GROUP') for reads. */
export type GroupOutput = string;

interface GroupState {
  owner: string;
  /** In the order they joined. */
  members: string[];
  pending: string[];
}

type State = GroupState | null;

export function describeGroup(state: State): string {
  if (state === null) return 'NO_SUCH_GROUP';
  return `owner=${state.owner} members=${state.members.join(',')} pending=${[...state.pending].sort().join(',')}`;
}

function apply(state: State, input: GroupInput): { state: State; output: GroupOutput } {
  const same = (output: string): { state: State; output: string } => ({ state, output });
  switch (input.kind) {
    case 'read':
      return same(describeGroup(state));
    case 'create':
      return state === null ? { state: { owner: input.user, members: [input.user], pending: [] }, output: 'OK' } : same('GROUP_EXISTS');
    case 'join':
      if (state === null) return same('NO_SUCH_GROUP');
      if (state.members.includes(input.user)) return same('ALREADY_MEMBER');
      if (state.pending.includes(input.user)) return same('REQUEST_PENDING');
      return { state: { ...state, pending: [...state.pending, input.user] }, output: 'OK' };
    case 'accept':
      if (state === null) return same('NO_SUCH_GROUP');
      if (state.owner !== input.user) return same('NOT_OWNER');
      if (!state.pending.includes(input.target)) return same('NO_SUCH_REQUEST');
      return { state: { ...state, pending: state.pending.filter((u) => u !== input.target), members: [...state.members, input.target] }, output: 'OK' };
    case 'leave': {
      if (state === null) return same('NO_SUCH_GROUP');
      if (!state.members.includes(input.user)) return same('NOT_A_MEMBER');
      const members = state.members.filter((u) => u !== input.user);
      if (members.length === 0) return { state: null, output: 'OK' };
      return { state: { ...state, members, owner: state.owner === input.user ? members[0]! : state.owner }, output: 'OK' };
    }
  }
}

export const groupModel: Model<State, GroupInput, GroupOutput> = {
  partition(history: readonly Operation<GroupInput, GroupOutput>[]): Operation<GroupInput, GroupOutput>[][] {
    const byGroup = new Map<string, Operation<GroupInput, GroupOutput>[]>();
    for (const op of history) {
      const list = byGroup.get(op.input.group) ?? [];
      list.push(op);
      byGroup.set(op.input.group, list);
    }
    return [...byGroup.keys()].sort().map((group) => byGroup.get(group)!);
  },
  init: () => null,
  step(state, input, output) {
    const next = apply(state, input);
    return { ok: next.output === output, state: next.state };
  },
  stepUnknown: (state, input) => apply(state, input).state,
  key: describeGroup,
  describeOperation: (input, output) =>
    `${input.user} ${input.kind} ${input.group}${input.kind === 'accept' ? ' ' + input.target : ''} -> ${output ?? '?'}`,
};
