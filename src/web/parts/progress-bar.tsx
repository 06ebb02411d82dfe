// Why this file exists: a progress bar people and tests can both read (role progressbar with
// aria-valuenow in percent); its fill's width is set through element.style, which the page's
// Content-Security-Policy allows (an inline style attribute in HTML it would not).

import { percent } from '../format.js';

export function ProgressBar(props: { doneBytes: number; totalBytes: number; label: string; tone: 'running' | 'paused' | 'complete' | 'failed' | 'waiting' }) {
  const value = props.tone === 'complete' ? 100 : percent(props.doneBytes, props.totalBytes);
  return (
    <div class={`progress progress-${props.tone}`} role="progressbar" aria-label={props.label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={value} data-testid="progress-bar">
      <div class="progress-fill" style={{ width: `${value}%` }} />
    </div>
  );
}
