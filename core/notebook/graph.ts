/**
 * The notebook's reactive cell graph (no DOM): every cell produces a value; a cell lists the cells it reads; when a
 * cell's value changes, the cells that read it re-evaluate. Each evaluation gets a generation number, and an async
 * result that arrives after a newer evaluation started is dropped, so a slow stale answer never overwrites a fresh
 * one. A failing cell keeps its error; the cells that read it report "waiting for …" rather than running on a
 * value that no longer matches the source.
 */

export type CellState =
  | { status: 'idle' }
  | { status: 'running'; generation: number }
  | { status: 'ok'; value: unknown; generation: number }
  | { status: 'error'; error: Error; generation: number };

export interface GraphCell {
  id: string;
  /** Ids of the cells whose values this cell reads. */
  reads: string[];
  /**
   * Computes the value from the values read. Settings cells that fail keep their last good value (`keepLast`), so
   * a typo does not blank the plans that depend on them.
   */
  evaluate(inputs: Record<string, unknown>, signal: AbortSignal): unknown | Promise<unknown>;
  keepLast?: boolean;
}

/** The error of a cell whose input has no value (the input failed, or is skipped): names the input it waits for. */
export class CellWaitingError extends Error {
  override readonly name = 'CellWaitingError';
  constructor(readonly waitingFor: string) {
    super(`Waiting for cell "${waitingFor}" (it has no value: fix its error first).`);
  }
}

export interface GraphListener {
  (id: string, state: CellState): void;
}

export class CellGraph {
  private cells = new Map<string, GraphCell>();
  private states = new Map<string, CellState>();
  private generations = new Map<string, number>();
  private lastGood = new Map<string, unknown>();
  private aborts = new Map<string, AbortController>();
  private listeners = new Set<GraphListener>();

  onChange(cb: GraphListener): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  state(id: string): CellState {
    return this.states.get(id) ?? { status: 'idle' };
  }

  /** The value other cells see: the current one, or for keepLast cells the last good one. */
  value(id: string): { has: boolean; value?: unknown } {
    if (this.lastGood.has(id)) return { has: true, value: this.lastGood.get(id) };
    return { has: false };
  }

  /** Adds or replaces a cell definition (does not evaluate). */
  define(cell: GraphCell): void {
    this.cells.set(cell.id, cell);
  }

  remove(id: string): void {
    this.cells.delete(id);
    this.aborts.get(id)?.abort();
    this.states.delete(id);
    this.lastGood.delete(id);
    for (const d of this.dependents(id)) void this.evaluate(d);
  }

  /** Cells that read `id` directly. */
  dependents(id: string): string[] {
    return [...this.cells.values()].filter((c) => c.reads.includes(id)).map((c) => c.id);
  }

  /** Evaluates every cell in dependency order (cells without inputs first). */
  async evaluateAll(): Promise<void> {
    const order = this.topoOrder();
    const roots = order.filter((id) => this.cells.get(id)!.reads.every((r) => !this.cells.has(r)));
    await Promise.all(roots.map((id) => this.evaluate(id)));
    // Cells reading an unknown id never become roots' dependents; evaluate them so they show their error.
    await Promise.all(order.filter((id) => this.state(id).status === 'idle').map((id) => this.evaluate(id)));
  }

  /**
   * Re-evaluates one cell, then (if its visible value changed) its dependents. Resolves when this cell and
   * everything downstream of it have settled or been superseded.
   */
  async evaluate(id: string): Promise<void> {
    const cell = this.cells.get(id);
    if (!cell) return;
    const generation = (this.generations.get(id) ?? 0) + 1;
    this.generations.set(id, generation);
    this.aborts.get(id)?.abort();
    const abort = new AbortController();
    this.aborts.set(id, abort);
    const current = () => this.generations.get(id) === generation && this.cells.get(id) === cell;

    let inputs: Record<string, unknown>;
    try {
      inputs = this.inputsOf(cell);
    } catch (e) {
      this.set(id, { status: 'error', error: e as Error, generation });
      if (!cell.keepLast) this.lastGood.delete(id);
      await this.propagate(id);
      return;
    }
    this.set(id, { status: 'running', generation });
    let value: unknown;
    try {
      value = await cell.evaluate(inputs, abort.signal);
    } catch (e) {
      if (!current()) return;
      this.set(id, { status: 'error', error: e instanceof Error ? e : new Error(String(e)), generation });
      if (cell.keepLast) return; // dependents keep running on the last good value
      this.lastGood.delete(id);
      await this.propagate(id);
      return;
    }
    if (!current()) return; // stale: a newer evaluation of this cell has started
    this.lastGood.set(id, value);
    this.set(id, { status: 'ok', value, generation });
    await this.propagate(id);
  }

  /** Sets a cell's value from outside (e.g. a selection made in a view) and re-evaluates its dependents. */
  async publish(id: string, value: unknown): Promise<void> {
    const generation = (this.generations.get(id) ?? 0) + 1;
    this.generations.set(id, generation);
    this.lastGood.set(id, value);
    this.set(id, { status: 'ok', value, generation });
    await this.propagate(id);
  }

  /**
   * Re-evaluates the cells that read `id`, except those on a cycle through `id`: they cannot get a value, and
   * re-evaluating them would bounce the error around the cycle forever (each is evaluated on its own and shows it).
   */
  private async propagate(id: string): Promise<void> {
    await Promise.all(
      this.dependents(id)
        .filter((d) => !this.reaches(id, d))
        .map((d) => this.evaluate(d)),
    );
  }

  private inputsOf(cell: GraphCell): Record<string, unknown> {
    const inputs: Record<string, unknown> = {};
    for (const r of cell.reads) {
      if (r === cell.id) throw new Error(`Cell "${cell.id}" reads itself.`);
      if (!this.cells.has(r)) throw new Error(`Cell "${cell.id}" reads "${r}", but there is no cell with that id.`);
      if (this.reaches(r, cell.id)) throw new Error(`Cells "${cell.id}" and "${r}" read each other (a cycle). Remove one of the reads.`);
      const v = this.value(r);
      if (!v.has) throw new CellWaitingError(r);
      inputs[r] = v.value;
    }
    return inputs;
  }

  /** Whether `to` is reachable from `from` by following reads. */
  private reaches(from: string, to: string): boolean {
    const seen = new Set<string>();
    const stack = [from];
    while (stack.length) {
      const id = stack.pop()!;
      if (id === to) return true;
      if (seen.has(id)) continue;
      seen.add(id);
      stack.push(...(this.cells.get(id)?.reads ?? []));
    }
    return false;
  }

  private topoOrder(): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    const visit = (id: string, path: Set<string>) => {
      if (seen.has(id) || path.has(id) || !this.cells.has(id)) return;
      path.add(id);
      for (const r of this.cells.get(id)!.reads) visit(r, path);
      path.delete(id);
      seen.add(id);
      out.push(id);
    };
    for (const id of this.cells.keys()) visit(id, new Set());
    return out;
  }

  private set(id: string, state: CellState): void {
    this.states.set(id, state);
    for (const cb of [...this.listeners]) cb(id, state);
  }
}

/** The ids a query or plot cell reads: a first comment line `-- reads: a, b` or `// reads: a, b`. */
export function declaredReads(source: string): string[] {
  const m = /^\s*(?:--|\/\/)\s*reads:\s*([^\n]*)/m.exec(source);
  if (!m) return [];
  return m[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => /^[A-Za-z0-9_-]{1,64}$/.test(s));
}
