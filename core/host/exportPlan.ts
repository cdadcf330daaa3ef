import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CoreError } from '../api/errors.js';
import { PlanFileSchema, type PlanFile } from '../api/planFile.js';
import type { Plan, PlanningProblem } from '../api/planning.js';
import { computeBaselines } from '../plan/baselines.js';
import { paretoFront } from '../plan/pareto.js';
import { aimetEncodings, ortQuantOverrides } from '../quant/configExport.js';
import type { PartitionFormat } from '../run/partitionBuilder.js';
import type { SqliteStore } from '../store/sqliteStore.js';
import { sha256Hex } from '../util/hash.js';
import { paretoSvg } from './paretoSvg.js';
import { preparePartitions } from './planPartitions.js';
import { writeFileAtomic } from './quantize.js';

export interface ExportOptions {
  outDir: string;
  /** The problem the plan was solved on (for predictions, the request and the report's plots). */
  problem?: PlanningProblem;
  format?: PartitionFormat;
  /** Dataset for activation ranges when the link or an INT8 head needs them. */
  calib?: string;
  calibSamples?: number;
  inputShape?: Record<string, number[]>;
  request?: PlanFile['request'];
  /** Stages `partitions` (calibration and the head/tail build) and `files` (done/total = files written). */
  onProgress?: (stage: 'partitions' | 'files', done: number, total: number) => void;
  /** Checked between stages; an aborted export throws before it writes anything more. */
  signal?: AbortSignal;
  /** Also written to plan.json's `createdBy` (default `partita export`). */
  createdBy?: string;
}

export interface ExportResult {
  outDir: string;
  files: PlanFile['files'];
  planFile: PlanFile;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Exports a chosen configuration as a folder other tools can load: plan.json (schemas/plan.schema.json),
 * head.onnx and tail.onnx (runnable in onnxruntime), the quantization as ONNX Runtime overrides and AIMET-style
 * encodings, and report.html with the plots as inline SVG. Files are written whole (temp + rename).
 */
export async function exportPlan(store: SqliteStore, ref: string, plan: Pick<Plan, 'cut' | 'bits' | 'activationBits'> & Partial<Plan>, o: ExportOptions): Promise<ExportResult> {
  o.onProgress?.('partitions', 0, 1);
  const { m, parts } = await preparePartitions(store, ref, plan, o);
  o.signal?.throwIfAborted();
  o.onProgress?.('partitions', 1, 1);
  const total = 4 + (parts.headBytes ? 1 : 0) + (parts.tailBytes ? 1 : 0);

  const dir = resolve(o.outDir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new CoreError('output-unwritable', `Cannot create '${o.outDir}' (${(e as Error).message}). Choose a folder you may write to.`);
  }
  const files: PlanFile['files'] = {};
  const put = (name: string, data: Uint8Array | string) => {
    writeFileAtomic(join(dir, name), data);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    files[name] = { bytes: bytes.byteLength, sha256: sha256Hex(bytes) };
    o.onProgress?.('files', Object.keys(files).length, total);
  };
  if (parts.headBytes) put('head.onnx', parts.headBytes);
  if (parts.tailBytes) put('tail.onnx', parts.tailBytes);
  put('quantization.ort.json', JSON.stringify(ortQuantOverrides(m.proto, m.graph, parts.config), null, 2) + '\n');
  put('encodings.aimet.json', JSON.stringify(aimetEncodings(m.proto, m.graph, parts.config), null, 2) + '\n');

  const full = plan.latencyMs !== undefined ? (plan as Plan) : null;
  const planFile: PlanFile = PlanFileSchema.parse({
    format: 'partita-plan/1',
    model: { name: m.row.name, sha256: m.row.sha256, layers: m.graph.layers.length },
    cut: plan.cut,
    deviceLayers: plan.bits.map((bits, i) => ({ position: i + 1, name: m.graph.layers[i].name, opType: m.graph.layers[i].opType, bits })),
    link: parts.wire.map((w) => ({ tensor: w.tensor, encoding: w.encoding, bits: w.bits, scale: w.scale, zeroPoint: w.zeroPoint })),
    activationBits: plan.activationBits,
    predicted: full
      ? {
          latencyMs: full.latencyMs,
          breakdownMs: full.breakdownMs,
          energyJ: full.energyJ,
          costUsd: full.costUsd,
          degradation: full.degradation,
          headWeightBytes: full.headWeightBytes,
          uplinkBytes: full.uplinkBytes,
          payload: full.payload,
        }
      : null,
    request: o.request ?? null,
    files,
    createdBy: o.createdBy ?? 'partita export',
  });

  o.signal?.throwIfAborted();
  let plots = '';
  if (o.problem) {
    const front = paretoFront(o.problem, { points: 30 });
    plots = paretoSvg(front.plans, front.knee, computeBaselines(o.problem), `${m.row.name}: Pareto front`);
  }
  const rows = planFile.deviceLayers.map((l) => `<tr><td>${l.position}</td><td>${esc(l.name)}</td><td>${esc(l.opType)}</td><td>${l.bits}</td></tr>`).join('');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partita plan: ${esc(m.row.name)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style></head>
<body><h1>Plan for ${esc(m.row.name)}</h1>
<p>Cut after layer ${plan.cut} of ${m.graph.layers.length}; link activations ${plan.activationBits ?? 'none (device only)'}${plan.activationBits ? '-bit' : ''}.</p>
${full ? `<p>Predicted latency ${full.latencyMs.toFixed(3)} ms (download ${full.breakdownMs.download.toFixed(3)}, device ${full.breakdownMs.device.toFixed(3)}, uplink ${full.breakdownMs.uplink.toFixed(3)}, server ${full.breakdownMs.server.toFixed(3)}, result ${full.breakdownMs.result.toFixed(3)}); device energy ${full.energyJ.toExponential(3)} J; predicted top-1 drop ${(100 * full.degradation).toFixed(2)}%.</p>` : ''}
${plots}
<h2>Device layers</h2><table><tr><th>#</th><th>layer</th><th>op</th><th>bits</th></tr>${rows}</table>
<h2>Files</h2><ul>${Object.entries(files)
    .map(([n, f]) => `<li>${esc(n)}: ${f.bytes} bytes, sha256 ${f.sha256}</li>`)
    .join('')}</ul></body></html>
`;
  put('report.html', html);
  // plan.json lists the files beside it (all but itself); the result returns it as written.
  const written: PlanFile = { ...planFile, files: { ...files } };
  put('plan.json', JSON.stringify(written, null, 2) + '\n');
  return { outDir: dir, files, planFile: written };
}
