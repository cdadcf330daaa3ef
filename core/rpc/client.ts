/**
 * The caller's side: a CoreApi whose methods send requests over a port. Errors come back as CoreError instances
 * (code, message, details), whatever the transport.
 */
import {
  METHOD_NAMES,
  RPC_ERROR_CODES,
  type ApiArg,
  type ApiErrorPayload,
  type ApiEvents,
  type ApiJobResult,
  type CoreApi,
  type EventName,
  type JobMethodName,
  type JobProgress,
} from '../api/contract.js';
import { CoreError } from '../api/errors.js';
import type { Port } from './port.js';
import { DEFAULT_MAX_MESSAGE_BYTES, checkMessage, classifyMessage, fromWireError } from './wire.js';

export interface ConnectOptions {
  /** Reject a call with `rpc-timeout` when no answer comes within this time (default: wait forever). */
  timeoutMs?: number;
  /** Largest request sent, as UTF-8 JSON (default 16 MiB). */
  maxMessageBytes?: number;
}

export interface RunJobOptions {
  /** Progress of this job only, in order. */
  onProgress?: (p: JobProgress) => void;
  /** Aborting asks the core to cancel the job (`jobs.cancel`); the promise then rejects with code `cancelled`. */
  signal?: AbortSignal;
}

export type ApiClient = CoreApi & {
  /** Any method by name, unchecked on this side (the core still checks): for tools and tests. */
  call(method: string, arg?: unknown): Promise<unknown>;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, cb: (payload: ApiEvents[E]) => void): () => void;
  /** Starts a job method and resolves with its result when its `job.done` arrives (rejects with its error). */
  runJob<M extends JobMethodName>(method: M, arg: ApiArg<M>, options?: RunJobOptions): Promise<ApiJobResult<M>>;
  /** Closes the port; pending calls reject with `rpc-closed`. */
  close(): void;
  readonly closed: boolean;
};

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: CoreError) => void;
  /** Runs synchronously when the answer arrives, before any later message is handled. */
  onResult?: (v: unknown) => void;
  timer?: ReturnType<typeof setTimeout>;
}

interface JobWatch {
  onProgress?: (p: JobProgress) => void;
  resolve: (v: unknown) => void;
  reject: (e: CoreError) => void;
}

export function connectApi(port: Port, options: ConnectOptions = {}): ApiClient {
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const pending = new Map<number, Pending>();
  const jobs = new Map<string, JobWatch>();
  const listeners = new Map<string, Set<(payload: never) => void>>();
  let nextId = 1;
  let closed = false;
  let lastProtocolError: ApiErrorPayload | null = null;
  /** Unsubscribers from the port, filled below; markClosed may run before they all exist. */
  const subscriptions: (() => void)[] = [];

  const closedError = (method: string): CoreError =>
    new CoreError(
      RPC_ERROR_CODES.closed,
      `The connection to the Partita core closed before '${method}' was answered${lastProtocolError ? ` (${lastProtocolError.message})` : ''}. Reload the window or restart Partita.`,
    );

  const markClosed = (): void => {
    if (closed) return;
    closed = true;
    for (const off of subscriptions.splice(0)) off();
    for (const p of pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(closedError(p.method));
    }
    pending.clear();
    for (const j of jobs.values()) j.reject(closedError('job'));
    jobs.clear();
  };

  const request = (method: string, arg: unknown, onResult?: (v: unknown) => void): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (closed) return reject(closedError(method));
      const id = nextId++;
      const msg = { id, method, arg: arg === undefined ? {} : arg };
      const bad = checkMessage(msg, msg.arg, `The argument of '${method}'`, 'arg', maxBytes);
      if (bad) return reject(bad);
      const p: Pending = { method, resolve, reject, onResult };
      if (options.timeoutMs !== undefined) {
        p.timer = setTimeout(() => {
          pending.delete(id);
          reject(new CoreError(RPC_ERROR_CODES.timeout, `'${method}' got no answer within ${options.timeoutMs} ms. Check that the Partita core is running, or allow more time.`));
        }, options.timeoutMs);
      }
      pending.set(id, p);
      try {
        port.send(msg);
      } catch (e) {
        pending.delete(id);
        if (p.timer) clearTimeout(p.timer);
        reject(new CoreError(RPC_ERROR_CODES.closed, `Could not send '${method}' to the Partita core (${e instanceof Error ? e.message : String(e)}). Reload the window or restart Partita.`));
      }
    });

  const dispatchEvent = (event: string, payload: unknown): void => {
    if (event === 'job.progress' || event === 'job.done') {
      const jobId = (payload as { jobId?: unknown } | null)?.jobId;
      const watch = typeof jobId === 'string' ? jobs.get(jobId) : undefined;
      if (watch && event === 'job.progress') watch.onProgress?.(payload as JobProgress);
      if (watch && event === 'job.done') {
        jobs.delete(jobId as string);
        const done = payload as { result?: unknown; error?: ApiErrorPayload };
        if (done.error) watch.reject(fromWireError(done.error));
        else watch.resolve(done.result);
      }
    }
    for (const cb of [...(listeners.get(event) ?? [])]) cb(payload as never);
  };

  subscriptions.push(port.onMessage((raw) => {
    if (closed) return;
    const c = classifyMessage(raw);
    switch (c.kind) {
      case 'result':
      case 'error': {
        if (c.msg.id === null) {
          // The core could not read something we sent and will usually close; say why when it does.
          lastProtocolError = (c.msg as { error: ApiErrorPayload }).error;
          return;
        }
        const p = pending.get(c.msg.id);
        if (!p) return;
        pending.delete(c.msg.id);
        if (p.timer) clearTimeout(p.timer);
        if (c.kind === 'error') p.reject(fromWireError(c.msg.error));
        else {
          p.onResult?.(c.msg.result);
          p.resolve(c.msg.result);
        }
        return;
      }
      case 'event':
        dispatchEvent(c.msg.event, c.msg.payload);
        return;
      default:
        // A request sent to the caller, or garbage: the core never sends these, so there is no one to answer.
        return;
    }
  }));
  if (port.onClose) subscriptions.push(port.onClose(markClosed));

  const client = {
    call: (method: string, arg?: unknown) => request(method, arg),
    on(event: EventName, cb: (payload: never) => void) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(cb);
      return () => void set.delete(cb);
    },
    runJob(method: JobMethodName, arg: unknown, o: RunJobOptions = {}) {
      return new Promise((resolve, reject) => {
        if (o.signal?.aborted) return reject(new CoreError(RPC_ERROR_CODES.cancelled, `The '${method}' job was cancelled before it started.`));
        let jobId: string | undefined;
        const onAbort = (): void => {
          if (jobId) request('jobs.cancel', { jobId }).catch(() => {});
        };
        const settle = <T>(fn: (v: T) => void) => (v: T): void => {
          o.signal?.removeEventListener('abort', onAbort);
          fn(v);
        };
        o.signal?.addEventListener('abort', onAbort);
        request(method, arg, (r) => {
          jobId = (r as { jobId: string }).jobId;
          jobs.set(jobId, { onProgress: o.onProgress, resolve: settle(resolve), reject: settle(reject) });
          if (o.signal?.aborted) onAbort();
        }).catch(settle(reject));
      });
    },
    close() {
      port.close?.();
      markClosed();
    },
    get closed() {
      return closed;
    },
  } as Record<string, unknown>;
  for (const m of METHOD_NAMES) client[m] = (arg?: unknown) => request(m, arg);
  return client as unknown as ApiClient;
}
