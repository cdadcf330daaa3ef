/**
 * Long jobs behind the job methods of the contract: a handler calls `jobs.start(ctx, method, run)` and returns its
 * `{ jobId }` at once; the job starts after that answer has been sent, reports `job.progress` to the caller that
 * started it, and ends with exactly one `job.done`. `jobs.cancel` aborts the job's signal; the services in
 * core/host already stop on an aborted signal.
 */
import { CONTRACT, RPC_ERROR_CODES, type ApiErrorPayload, type ApiJobResult, type JobMethodName } from '../api/contract.js';
import { CoreError } from '../api/errors.js';
import type { CallContext } from './server.js';
import { jsonProblem, toWireError } from './wire.js';

export interface JobContext {
  readonly jobId: string;
  /** Aborted by `jobs.cancel` (and when the caller disconnects, unless keepOnDisconnect). */
  readonly signal: AbortSignal;
  /** Reports done of total units of a stage. Rate-limited per job; the latest value is always delivered. */
  progress(stage: string, done: number, total: number): void;
}

export interface JobManagerOptions {
  /** Least time between two progress events of one job (default 50 ms; 0 sends every call). */
  progressIntervalMs?: number;
  /** Keep a job running when the connection that started it closes (default false: it is cancelled). */
  keepOnDisconnect?: boolean;
  /** Check each job's result against the method's `jobResult` schema: a mismatch is an internal error (tests, dev). */
  validateResults?: boolean;
  /** Receives the original of a job's internal error (with its stack) for the log; default console.error. */
  onInternalError?: (error: unknown, method: string) => void;
}

interface Job {
  method: JobMethodName;
  controller: AbortController;
  cancelled: boolean;
}

/** How many finished job ids are remembered, so cancelling a job that just ended answers `cancelled: false`. */
const FINISHED_MEMORY = 1000;

export class JobManager {
  private nextId = 1;
  private readonly running = new Map<string, Job>();
  private readonly finished = new Set<string>();
  private readonly intervalMs: number;

  constructor(private readonly options: JobManagerOptions = {}) {
    this.intervalMs = options.progressIntervalMs ?? 50;
  }

  /** Ids of the jobs still running. */
  get active(): string[] {
    return [...this.running.keys()];
  }

  start<M extends JobMethodName>(ctx: CallContext, method: M, run: (job: JobContext) => Promise<ApiJobResult<M>>): { jobId: string } {
    const jobId = `job-${this.nextId++}`;
    const job: Job = { method, controller: new AbortController(), cancelled: false };
    this.running.set(jobId, job);

    const onInternal = (e: unknown): void => (this.options.onInternalError ?? ((x: unknown) => console.error(`partita: internal error in job ${jobId} (${method}):`, x)))(e, method);
    let lastSent = -Infinity;
    let queued: { stage: string; done: number; total: number } | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ended = false;
    const flush = (): void => {
      timer = undefined;
      if (!queued || ended || job.cancelled) return;
      try {
        ctx.emit('job.progress', { jobId, ...queued });
      } catch (e) {
        onInternal(e);
      }
      queued = null;
      lastSent = Date.now();
    };
    const progress = (stage: string, done: number, total: number): void => {
      if (ended || job.cancelled) return;
      queued = { stage, done, total };
      const wait = lastSent + this.intervalMs - Date.now();
      if (wait <= 0) flush();
      else timer ??= setTimeout(flush, wait);
    };

    const stopOnDisconnect = this.options.keepOnDisconnect ? () => {} : ctx.connection.onClose(() => this.cancel(jobId));

    const fail = (error: ApiErrorPayload): void => {
      try {
        ctx.emit('job.done', { jobId, method, error });
      } catch (e) {
        onInternal(e);
      }
    };
    const finish = (outcome: { result: unknown } | { error: unknown }): void => {
      if (timer) clearTimeout(timer);
      if (!job.cancelled) flush();
      ended = true;
      stopOnDisconnect();
      this.running.delete(jobId);
      this.finished.add(jobId);
      if (this.finished.size > FINISHED_MEMORY) this.finished.delete(this.finished.values().next().value!);
      if (job.cancelled) {
        // Whatever the run did after the request to stop, the caller asked for it to be dropped.
        return fail({ code: RPC_ERROR_CODES.cancelled, message: `Job '${jobId}' (${method}) was cancelled.` });
      }
      if ('error' in outcome) return fail(toWireError(outcome.error, method, onInternal));
      try {
        if (this.options.validateResults) {
          const r = CONTRACT[method].jobResult.safeParse(outcome.result);
          if (!r.success) throw new Error(`the result of job '${method}' does not match the contract: ${r.error.issues[0]?.message} at ${r.error.issues[0]?.path.join('.')}`);
        }
        const notJson = jsonProblem(outcome.result, 'result');
        if (notJson) throw new Error(`the result of job '${method}' is not JSON: ${notJson}`);
        ctx.emit('job.done', { jobId, method, result: outcome.result });
      } catch (e) {
        // A result that cannot be sent (not JSON, too large) must still end the job for the caller.
        fail(toWireError(e, method, onInternal));
      }
    };

    ctx.afterResponse(() => {
      if (job.cancelled) return finish({ error: null });
      Promise.resolve()
        .then(() => run({ jobId, signal: job.controller.signal, progress }))
        .then(
          (result) => finish({ result }),
          (error: unknown) => finish({ error }),
        );
    });
    return { jobId };
  }

  /**
   * Asks a job to stop: its signal aborts, and its `job.done` (code `cancelled`) follows once its run has
   * settled. False when the job had already finished. Throws `job-unknown` for an id never issued.
   */
  cancel(jobId: string): { cancelled: boolean } {
    const job = this.running.get(jobId);
    if (!job) {
      if (this.finished.has(jobId)) return { cancelled: false };
      throw new CoreError('job-unknown', `No job '${jobId}'. Use the jobId that the job method answered.`, { jobId });
    }
    if (!job.cancelled) {
      job.cancelled = true;
      job.controller.abort(new CoreError(RPC_ERROR_CODES.cancelled, `Job '${jobId}' (${job.method}) was cancelled.`));
    }
    return { cancelled: true };
  }

  /** Cancels every running job (at shutdown). */
  cancelAll(): void {
    for (const id of [...this.running.keys()]) this.cancel(id);
  }
}
