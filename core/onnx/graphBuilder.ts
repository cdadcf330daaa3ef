import type { onnx } from './generated/onnxProto.js';
import { int64ToNumber } from './modelCodec.js';

/**
 * Copy-on-write editing of a model's main graph for the writers: add initializers and nodes, rewire inputs, drop
 * Constant nodes nobody reads, and set metadata. The source model is never mutated. New nodes are placed just
 * before the node they feed, so the node list stays topologically ordered as ONNX requires.
 */
export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[];
  private readonly before = new Map<number, onnx.INodeProto[]>();
  private readonly appended: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[];
  private readonly names = new Set<string>();
  private readonly metadata = new Map<string, string>();
  private opsetBump: number | undefined;
  private readonly removed = new Set<number>();
  private readonly domains = new Map<string, number>();

  constructor(private readonly model: onnx.IModelProto) {
    const g = model.graph!;
    this.nodes = (g.node ?? []).map((n) => ({ ...n, input: [...(n.input ?? [])], output: [...(n.output ?? [])] }));
    this.initializers = [...(g.initializer ?? [])];
    for (const n of this.nodes) for (const o of n.output ?? []) this.names.add(o);
    for (const t of this.initializers) this.names.add(t.name ?? '');
    for (const v of [...(g.input ?? []), ...(g.output ?? [])]) this.names.add(v.name ?? '');
    for (const n of this.nodes) if (n.name) this.names.add(n.name);
  }

  /** A name not used by any tensor or node yet, derived from `base`. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  node(index: number): onnx.INodeProto {
    return this.nodes[index];
  }

  addInitializer(t: onnx.ITensorProto): string {
    this.initializers.push(t);
    this.names.add(t.name ?? '');
    return t.name ?? '';
  }

  /** Inserts nodes to run just before node `index` (in the order given). */
  insertBefore(index: number, ...nodes: onnx.INodeProto[]): void {
    const list = this.before.get(index) ?? [];
    list.push(...nodes);
    this.before.set(index, list);
  }

  /** Inserts nodes to run right after node `index` (before whatever follows it). */
  insertAfter(index: number, ...nodes: onnx.INodeProto[]): void {
    if (index + 1 < this.nodes.length) this.insertBefore(index + 1, ...nodes);
    else this.append(...nodes);
  }

  /** Appends nodes after every existing node (for consumers of graph outputs). */
  append(...nodes: onnx.INodeProto[]): void {
    this.appended.push(...nodes);
  }

  setInput(index: number, slot: number, tensor: string): void {
    this.nodes[index].input![slot] = tensor;
  }

  /** Renames a graph output's producer side: every reader of `from` (and the graph output) now reads `to`. */
  replaceUses(from: string, to: string, exceptNodes: ReadonlySet<onnx.INodeProto> = new Set()): void {
    for (const n of [...this.nodes, ...[...this.before.values()].flat(), ...this.appended]) {
      if (exceptNodes.has(n)) continue;
      n.input = (n.input ?? []).map((x) => (x === from ? to : x));
    }
  }

  /** Drops node `index` (its replacement must already produce its outputs). */
  remove(index: number): void {
    this.removed.add(index);
  }

  /** Declares an operator-set domain the new nodes use, e.g. com.microsoft for MatMulNBits. */
  useDomain(domain: string, version: number): void {
    this.domains.set(domain, version);
  }

  setMetadata(key: string, value: string): void {
    this.metadata.set(key, value);
  }

  /** Raises the default-domain opset (e.g. to 21 for int4 DequantizeLinear). */
  requireOpset(version: number): void {
    this.opsetBump = Math.max(this.opsetBump ?? 0, version);
  }

  build(): onnx.IModelProto {
    const ordered: onnx.INodeProto[] = [];
    this.nodes.forEach((n, i) => {
      ordered.push(...(this.before.get(i) ?? []));
      if (!this.removed.has(i)) ordered.push(n);
    });
    ordered.push(...this.appended);
    // Constant nodes whose value no longer feeds anything (weights we replaced) would still be shipped.
    const used = new Set<string>();
    for (const n of ordered) for (const x of n.input ?? []) used.add(x);
    const g = this.model.graph!;
    for (const o of g.output ?? []) used.add(o.name ?? '');
    const node = ordered.filter((n) => n.opType !== 'Constant' || (n.output ?? []).some((o) => used.has(o)));
    const initializer = this.initializers.filter((t) => used.has(t.name ?? ''));
    const meta = [...(this.model.metadataProps ?? []).filter((p) => !this.metadata.has(p.key ?? ''))];
    for (const [key, value] of this.metadata) meta.push({ key, value });
    let opsetImport = this.model.opsetImport ?? [];
    if (this.opsetBump !== undefined) {
      opsetImport = opsetImport.map((o) =>
        (o.domain ?? '') === '' || o.domain === 'ai.onnx' ? { ...o, version: Math.max(int64ToNumber(o.version), this.opsetBump!) } : o,
      );
    }
    for (const [domain, version] of this.domains) {
      if (!opsetImport.some((o) => o.domain === domain)) opsetImport = [...opsetImport, { domain, version }];
    }
    // Opset 21 (int4 tensors) needs IR version 10; opset 13 needs 7.
    const minIr = (this.opsetBump ?? 0) >= 21 ? 10 : (this.opsetBump ?? 0) >= 13 ? 7 : 0;
    const irVersion = Math.max(int64ToNumber(this.model.irVersion), minIr);
    return { ...this.model, irVersion, opsetImport, metadataProps: meta, graph: { ...g, node, initializer } };
  }
}
