/**
 * A transport, as small as VS Code's IMessagePassingProtocol: it moves JSON-shaped messages and knows nothing of
 * the API. Electron IPC (ipcPort.ts), WebSocket (core/host/wsPort.ts) and the in-memory pair below implement it.
 *
 * Messages on one port arrive in the order they were sent. `send` on a closed port drops the message (like a
 * closed socket); callers learn of the closing through `onClose`.
 */
export interface Port {
  send(msg: unknown): void;
  /** Subscribes to incoming messages; returns the unsubscribe function. */
  onMessage(cb: (msg: unknown) => void): () => void;
  /** Closes the transport (both directions). */
  close?(): void;
  /** Called once when the port closes, from either side. Returns the unsubscribe function. */
  onClose?(cb: () => void): () => void;
}

/**
 * Two connected in-memory ports. Every message is copied with structuredClone (so sender and receiver never share
 * references) and delivered asynchronously, in order, in a later task: the same timing a real transport has.
 * Closing either end closes both.
 */
export function memoryPorts(): [Port, Port] {
  const listeners: [Set<(msg: unknown) => void>, Set<(msg: unknown) => void>] = [new Set(), new Set()];
  const closeListeners = new Set<() => void>();
  let closed = false;

  const close = (): void => {
    if (closed) return;
    closed = true;
    // Messages already queued are dropped by the closed check below, as a socket would drop them.
    setTimeout(() => {
      for (const cb of [...closeListeners]) cb();
      closeListeners.clear();
    }, 0);
  };

  const end = (self: 0 | 1): Port => ({
    send(msg) {
      if (closed) return;
      const copy = structuredClone(msg);
      setTimeout(() => {
        if (closed) return;
        for (const cb of [...listeners[1 - self]]) cb(copy);
      }, 0);
    },
    onMessage(cb) {
      listeners[self].add(cb);
      return () => listeners[self].delete(cb);
    },
    close,
    onClose(cb) {
      closeListeners.add(cb);
      return () => closeListeners.delete(cb);
    },
  });
  return [end(0), end(1)];
}
