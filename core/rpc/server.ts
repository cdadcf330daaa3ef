/**
 * The core side of a connection: reads requests from a port, checks each against the contract (the caller is
 * untrusted), runs the handler and answers. One serveApi per connection; handlers are shared.
 */
import {
  CONTRACT,
  EVENTS,
  METHOD_NAMES,
  RPC_ERROR_CODES,
  isMethodName,
  type ApiEvents,
  type ApiParsedArg,
  type ApiResult,
  type EventName,
  type MethodName,
} from '../api/contract.js';
import { CoreError } from '../api/errors.js';
import type { Port } from './port.js';
import { DEFAULT_MAX_MESSAGE_BYTES, checkMessage, classifyMessage, invalidArgumentError, jsonProblem, toWireError, type RequestMessage } from './wire.js';

/** What a handler knows about the call it serves. */
export interface CallContext {
  readonly method: MethodName;
  /** The connection the request came in on. */
  readonly connection: ApiConnection;
  /** Sends an event to this caller (see ApiConnection.emit). */
  emit<E extends EventName>(event: E, payload: ApiEvents[E]): void;
  /**
   * Runs fn right after the response has been sent (or failed to send), so work that emits events, such as a
   * job, cannot overtake the answer that names it.
   */
  afterResponse(fn: () => void): void;
}

export type ApiHandler<M extends MethodName> = (arg: ApiParsedArg<M>, ctx: CallContext) => Promise<ApiResult<M>> | ApiResult<M>;

/** One handler per method. Type the core's object as `ApiHandlers` so a missing method is a compile error. */
export type ApiHandlers = { [M in MethodName]: ApiHandler<M> };

export interface ServeOptions {
  /** Check every argument against the contract (default true; false only for an in-process, trusted caller). */
  validate?: boolean;
  /** Also check every result and event payload against the contract: a mismatch is an internal error (tests, dev). */
  validateResults?: boolean;
  /** Largest message accepted or sent, as UTF-8 JSON (default 16 MiB). */
  maxMessageBytes?: number;
  /** Receives the original of every internal error (with its stack) for the log; default console.error. */
  onInternalError?: (error: unknown, method: string | undefined) => void;
}

export interface ApiConnection {
  /**
   * Sends an event (dropped once closed). Throws when the payload is not JSON or over the size limit
   * (CoreError), or, with validateResults, does not match its schema (Error): the sender decides what then.
   */
  emit<E extends EventName>(event: E, payload: ApiEvents[E]): void;
  /** Called once when the connection closes. Returns the unsubscribe function. */
  onClose(cb: () => void): () => void;
  /** Stops serving and closes the port. */
  close(): void;
  readonly closed: boolean;
}

export function serveApi(port: Port, handlers: Partial<ApiHandlers>, options: ServeOptions = {}): ApiConnection {
  const validate = options.validate ?? true;
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const onInternalError = options.onInternalError ?? ((e: unknown, method: string | undefined) => console.error(`partita: internal error${method ? ` in ${method}` : ''}:`, e));
  const closeListeners = new Set<() => void>();
  let closed = false;
  /** Unsubscribers from the port, filled below; markClosed may run before they all exist. */
  const subscriptions: (() => void)[] = [];

  const send = (msg: unknown): void => {
    if (closed) return;
    try {
      port.send(msg);
    } catch (e) {
      onInternalError(e, undefined);
    }
  };

  const markClosed = (): void => {
    if (closed) return;
    closed = true;
    for (const off of subscriptions.splice(0)) off();
    for (const cb of [...closeListeners]) {
      try {
        cb();
      } catch (e) {
        onInternalError(e, undefined);
      }
    }
    closeListeners.clear();
  };

  const connection: ApiConnection = {
    emit(event, payload) {
      if (closed) return;
      if (options.validateResults) {
        const r = EVENTS[event].safeParse(payload);
        if (!r.success) throw new Error(`the '${event}' event does not match the contract: ${r.error.issues[0]?.message} at ${r.error.issues[0]?.path.join('.')}`);
      }
      const msg = { event, payload };
      const bad = checkMessage(msg, payload, `The '${event}' event`, 'payload', maxBytes);
      if (bad) throw bad;
      send(msg);
    },
    onClose(cb) {
      if (closed) {
        cb();
        return () => {};
      }
      closeListeners.add(cb);
      return () => closeListeners.delete(cb);
    },
    close() {
      markClosed();
      port.close?.();
    },
    get closed() {
      return closed;
    },
  };

  const answerError = (id: number | null, e: unknown, method: string | undefined): void => {
    send({ id, error: toWireError(e, method, (err) => onInternalError(err, method)) });
  };

  const handle = async (req: RequestMessage): Promise<void> => {
    const { id, method } = req;
    const after: (() => void)[] = [];
    try {
      if (!isMethodName(method)) {
        throw new CoreError(
          RPC_ERROR_CODES.unknownMethod,
          `Unknown method '${method.length > 80 ? `${method.slice(0, 80)}…` : method}'. Known methods: ${METHOD_NAMES.join(', ')}.`,
          { method },
        );
      }
      const spec = CONTRACT[method];
      const handler = handlers[method] as ApiHandler<MethodName> | undefined;
      if (!handler) throw new CoreError(RPC_ERROR_CODES.notImplemented, `Method '${method}' is not available in this core. Update Partita, or use another method.`, { method });
      const rawArg = req.arg === undefined ? {} : req.arg;
      let arg: unknown = rawArg;
      if (validate) {
        const r = spec.arg.safeParse(rawArg);
        if (!r.success) throw invalidArgumentError(method, rawArg, r.error);
        arg = r.data;
      }
      const ctx: CallContext = {
        method,
        connection,
        emit: connection.emit,
        afterResponse: (fn) => void after.push(fn),
      };
      const result = await handler(arg as never, ctx);
      if (options.validateResults) {
        const r = spec.result.safeParse(result);
        if (!r.success) throw new Error(`the result of '${method}' does not match the contract: ${r.error.issues[0]?.message} at ${r.error.issues[0]?.path.join('.')}`);
      }
      const notJson = jsonProblem(result, 'result');
      if (notJson) throw new Error(`the result of '${method}' is not JSON: ${notJson}`);
      const msg = { id, result };
      const bad = checkMessage(msg, result, `The answer of '${method}'`, 'result', maxBytes);
      if (bad) throw bad;
      send(msg);
    } catch (e) {
      answerError(id, e, method);
    } finally {
      for (const fn of after) {
        try {
          fn();
        } catch (e) {
          onInternalError(e, method);
        }
      }
    }
  };

  subscriptions.push(port.onMessage((raw) => {
    if (closed) return;
    const c = classifyMessage(raw);
    if (c.kind !== 'request') {
      const why = c.kind === 'invalid' ? c.why : `a ${c.kind} was sent to the core`;
      answerError(c.kind === 'invalid' ? c.id : null, new CoreError(RPC_ERROR_CODES.badMessage, `Unreadable message: ${why}. Send { id, method, arg }.`), undefined);
      return;
    }
    const tooBig = checkMessage(raw, c.msg.arg, `The argument of '${c.msg.method}'`, 'arg', maxBytes);
    if (tooBig) {
      answerError(c.msg.id, tooBig, c.msg.method);
      return;
    }
    void handle(c.msg);
  }));
  if (port.onClose) subscriptions.push(port.onClose(markClosed));

  return connection;
}
