// Why this file exists: how an action's outcome reads — a refusal as one line with its code
// (`NOT_A_MEMBER: …`), a success as one quiet line.

export function ErrorLine(props: { error: string | null; testId?: string }) {
  if (props.error === null) return null;
  return (
    <p class="error-line" role="alert" data-testid={props.testId ?? 'error-line'}>
      {props.error}
    </p>
  );
}

export function DoneLine(props: { done: string | null }) {
  if (props.done === null) return null;
  return (
    <p class="done-line" role="status" data-testid="done-line">
      {props.done}
    </p>
  );
}
