import type { JobProgress } from '../../core/api/contract.js';
import { h } from '../dom.js';

export type JobState = 'idle' | 'running' | 'done' | 'error' | 'cancelled';

/**
 * One cancellable core job behind a panel (a run, an export): its state, last error and progress, which the panel
 * renders from. `changed` is called when the job starts, `progressed` on each progress event; the panel renders
 * the end itself, after it has taken the result.
 */
export class JobRunner {
  state: JobState = 'idle';
  error: unknown = null;
  progress: JobProgress | null = null;
  private abort: AbortController | null = null;

  constructor(
    private readonly changed: () => void,
    private readonly progressed: () => void,
  ) {}

  get running(): boolean {
    return this.state === 'running';
  }

  cancel(): void {
    this.abort?.abort();
  }

  /** Runs `job` unless one is running; its result, or undefined when it failed or was cancelled (`state` says which). */
  async run<T>(job: (o: { signal: AbortSignal; onProgress: (p: JobProgress) => void }) => Promise<T>): Promise<T | undefined> {
    if (this.running) return undefined;
    this.abort = new AbortController();
    this.state = 'running';
    this.error = null;
    this.progress = null;
    this.changed();
    try {
      const result = await job({
        signal: this.abort.signal,
        onProgress: (p) => {
          this.progress = p;
          this.progressed();
        },
      });
      this.state = 'done';
      return result;
    } catch (e) {
      this.state = (e as { code?: string }).code === 'cancelled' ? 'cancelled' : 'error';
      this.error = e;
      return undefined;
    } finally {
      this.abort = null;
    }
  }
}

/**
 * A job's progress as a bar and a line of text (`text` says the stage in words), for a panel's progress element.
 * The bar is indeterminate until a stage reports a total.
 */
export function progressView(p: JobProgress | null, barClass: string, text: string, textClass?: string): [HTMLProgressElement, HTMLElement] {
  const bar = h('progress', { class: barClass, max: 1 });
  if (p && p.total > 0) {
    bar.max = p.total;
    bar.value = p.done;
  }
  return [bar, h('span', { ...(textClass ? { class: textClass } : {}), 'data-stage': p?.stage ?? 'start' }, text)];
}
