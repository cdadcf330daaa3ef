import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CoreError, isCoreError } from '../api/errors.js';
import { SqliteStore } from '../store/sqliteStore.js';
import { defaultDbPath } from './dataDir.js';
import { addFashionMnist, addIdxDataset } from './datasets.js';
import { evaluateModel } from './evaluation.js';
import { measureFidelity } from './fidelity.js';
import { duplicateNotebook, exportNotebookFile, importNotebookFile } from './notebookFiles.js';
import { importModel, loadModel } from './models.js';
import { aimetEncodings, ortQuantOverrides } from '../quant/configExport.js';
import { profileModel } from './profiling.js';
import { quantizeModel, writeFileAtomic } from './quantize.js';
import { estimateDegradation, validateDegradation } from './sensitivity.js';
import { runFlexiq } from './flexiq.js';
import { openBrowser, serveWorkbench } from './serve.js';
import { progressBar } from './progress.js';
import { formatBytes, formatTable } from './table.js';
import { seedDefaults } from './seed.js';
import { buildPlanningProblem, parseBudget, parseObjective, seedPresets, solveWithBaselines, type PlanOutcome } from './planning.js';
import { describePlan } from '../plan/planCost.js';
import { paretoFront } from '../plan/pareto.js';
import { computeBaselines } from '../plan/baselines.js';
import { paretoSvg } from './paretoSvg.js';
import { solve, validateProblem } from '../plan/solver.js';
import { exportPlan } from './exportPlan.js';
import { savePlan } from '../store/planStore.js';
import { addRunCommands, agentTable, attachedAgents } from './cliRuns.js';
import { checkDevice, checkLink, type DeviceProfile } from '../plan/devices.js';
import { benchHostDevice } from '../run/deviceBench.js';

interface GlobalOptions {
  db?: string;
  json?: boolean;
}

/** Everything a command prints goes through here, so --json is honoured everywhere. */
class Output {
  constructor(private readonly json: boolean) {}
  /** Human text, or the JSON value when --json. */
  result(value: unknown, text: () => string): void {
    process.stdout.write(this.json ? JSON.stringify(value, null, 2) + '\n' : text() + '\n');
  }
}

const positiveInt = (what: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a whole number >= 1, got '${v}'.`);
  return n;
};
const nonNegativeInt = (what: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${what} must be a whole number >= 0, got '${v}'.`);
  return n;
};

/** 'HOST:PORT' or 'PORT' (host 127.0.0.1). */
const hostPort = (v: string): { host: string; port: number } => {
  const m = /^(?:(.+):)?(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`'${v}' is not HOST:PORT, e.g. 0.0.0.0:7070.`);
  return { host: m[1] ?? '127.0.0.1', port };
};

/** '1x3x640x640' for the only input, or 'name=1x3x48x320,other=…'. */
export function parseInputShape(v: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const part of v.split(',')) {
    const [name, dims] = part.includes('=') ? part.split('=', 2) : ['*', part];
    const nums = dims.split(/[x×]/).map(Number);
    if (nums.length === 0 || nums.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new InvalidArgumentError(`Input shape '${part}' is not sizes joined by 'x', e.g. 1x3x640x640.`);
    }
    out[name.trim()] = nums;
  }
  return out;
}

export function buildCli(): Command {
  const program = new Command('partita')
    .description('Partita: profile, quantize, partition and run ONNX models between an edge device and a server.')
    .option('--db <file>', 'SQLite database file (env PARTITA_DB; default: per-user data folder)')
    .option('--json', 'machine-readable JSON on stdout')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) });

  const ctx = (cmd: Command): { store: SqliteStore; out: Output; opts: GlobalOptions } => {
    const opts = cmd.optsWithGlobals() as GlobalOptions;
    const store = SqliteStore.open(opts.db ?? defaultDbPath());
    return { store, out: new Output(Boolean(opts.json)), opts };
  };

  program
    .command('import')
    .description('import an ONNX model file into the database (the same content twice reuses the row)')
    .argument('<file>', 'the .onnx file')
    .option('--name <name>', 'name to store it under (default: the file name)')
    .action(async (file: string, o: { name?: string }, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const r = await importModel(store, file, o);
        const m = r.model;
        out.result({ ...m, reused: r.reused }, () =>
          `${r.reused ? 'Already imported' : 'Imported'} '${m.name}' (id ${m.id}): ${m.layerCount} layers, ${m.paramCount.toLocaleString('en-US')} parameters, ` +
          `${formatBytes(m.weightBytes)} of weights, opset ${m.opset}, sha256 ${m.sha256.slice(0, 12)}…`,
        );
      } finally {
        store.close();
      }
    });

  program
    .command('models')
    .description('list the imported models')
    .action((_o: unknown, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const models = store.listModels();
        out.result(models, () =>
          models.length === 0
            ? 'No models yet. Import one with `partita import FILE`.'
            : formatTable(
                ['id', 'name', 'layers', 'params', 'weights', 'opset', 'inputs'],
                models.map((m) => [m.id, m.name, m.layerCount, m.paramCount, formatBytes(m.weightBytes), m.opset, m.inputs.map((i) => `${i.name}[${i.dims.join(',')}]`).join(' ')]),
              ),
        );
      } finally {
        store.close();
      }
    });

  program
    .command('profile')
    .description('per-layer profile: params, weight bytes, MACs/FLOPs, activation bytes, and measured latency on this host')
    .argument('<model>', 'model name or id')
    .option('--input-shape <dims>', "input dims, e.g. 1x3x640x640 (or name=dims,…); needed when non-batch axes are dynamic", parseInputShape)
    .option('--runs <n>', 'timed runs for the latency medians', positiveInt('--runs'), 20)
    .option('--warmup <n>', 'untimed warm-up runs', nonNegativeInt('--warmup'), 3)
    .option('--threads <n>', 'intra-op threads for ONNX Runtime', positiveInt('--threads'), 1)
    .option('--static-only', 'skip the latency measurement')
    .action(async (model: string, o: { inputShape?: Record<string, number[]>; runs: number; warmup: number; threads: number; staticOnly?: boolean }, cmd: Command) => {
      const { store, out } = ctx(cmd);
      const bar = progressBar('profiling');
      try {
        const r = await profileModel(store, model, {
          inputShape: o.inputShape,
          latency: !o.staticOnly,
          runs: o.runs,
          warmup: o.warmup,
          threads: o.threads,
          onProgress: (stage, d, t) => bar.update(d, t, stage),
        });
        bar.stop();
        const lat = new Map((r.latency?.layers ?? []).map((l) => [l.position, l]));
        out.result(r, () => {
          const s = r.static.summary as { params: number; weightBytes: number; macs: number; flops: number; opsWithoutFormula: string[] };
          const rows = r.static.layers.map((l) => [l.position, l.name, l.opType, l.params, l.macs, l.flops, l.outBytes, lat.get(l.position)?.latencyMs ?? null]);
          const head = formatTable(['#', 'layer', 'op', 'params', 'MACs', 'FLOPs', 'out bytes', 'latency ms'], rows);
          const lines = [
            head,
            '',
            `${r.static.layers.length} layers, ${s.params.toLocaleString('en-US')} params (${formatBytes(s.weightBytes)}), ${(s.macs / 1e6).toFixed(2)} M MACs, ${(s.flops / 1e6).toFixed(2)} M FLOPs` +
              (r.cached.static ? ' (cached)' : ''),
          ];
          if (s.opsWithoutFormula.length) lines.push(`No cost formula for: ${s.opsWithoutFormula.join(', ')} (their MACs/FLOPs show as '-').`);
          if (r.latency) {
            const ls = r.latency.summary as { sumOfLayerMediansMs: number; wholeModelMedianMs: number; ratio: number };
            lines.push(
              `Latency (${(r.latency.settings as { runs: number }).runs} runs, ${(r.latency.settings as { threads: number }).threads} thread(s)): sum of layer medians ${ls.sumOfLayerMediansMs.toFixed(3)} ms, ` +
                `whole-model median ${ls.wholeModelMedianMs.toFixed(3)} ms, ratio ${ls.ratio.toFixed(3)}` +
                (r.cached.latency ? ' (cached)' : ''),
            );
          }
          return lines.join('\n');
        });
      } finally {
        bar.stop();
        store.close();
      }
    });

  const datasets = program.command('datasets').description('labelled datasets for accuracy measurements');
  datasets
    .command('add')
    .description("register an IDX images/labels pair, or 'fashion-mnist' for the Debian package's splits")
    .argument('<name>', "dataset name, or 'fashion-mnist' to add fashion-mnist-test and fashion-mnist-train")
    .option('--images <file>', 'IDX images file (gzipped or not)')
    .option('--labels <file>', 'IDX labels file')
    .option('--dir <dir>', "folder holding Fashion-MNIST's files (for 'fashion-mnist')")
    .action((name: string, o: { images?: string; labels?: string; dir?: string }, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        let rows;
        if (name === 'fashion-mnist' && !o.images) rows = addFashionMnist(store, o.dir);
        else if (!o.images) throw new CoreError('dataset-images-required', `Give the images file: partita datasets add ${name} --images FILE [--labels FILE].`);
        else rows = [addIdxDataset(store, name, o.images, o.labels)];
        out.result(rows, () => rows.map((d) => `Dataset '${d.name}': ${d.count} samples of [${d.shape.join('x')}], ${d.labelCount ?? 'no'} labels.`).join('\n'));
      } finally {
        store.close();
      }
    });
  datasets
    .command('list')
    .description('list registered datasets')
    .action((_o: unknown, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const rows = store.listDatasets();
        out.result(rows, () =>
          rows.length === 0
            ? 'No datasets yet. Add Fashion-MNIST with `partita datasets add fashion-mnist`.'
            : formatTable(['name', 'samples', 'shape', 'labels', 'images'], rows.map((d) => [d.name, d.count, d.shape.join('x'), d.labelCount, d.imagesPath])),
        );
      } finally {
        store.close();
      }
    });

  program
    .command('eval')
    .description('top-1 accuracy of a model on a labelled dataset, in onnxruntime-node')
    .argument('<model>', 'model name or id')
    .requiredOption('--dataset <name>', 'registered dataset name')
    .option('--limit <n>', 'evaluate only the first N samples', positiveInt('--limit'))
    .option('--offset <n>', 'skip the first N samples', nonNegativeInt('--offset'))
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 1)
    .action(async (model: string, o: { dataset: string; limit?: number; offset?: number; threads: number }, cmd: Command) => {
      const { store, out } = ctx(cmd);
      const bar = progressBar('evaluating');
      try {
        const r = await evaluateModel(store, model, o.dataset, { ...o, onProgress: (d, t) => bar.update(d, t) });
        bar.stop();
        const { predictions: _p, ...summary } = r;
        out.result(summary, () => `Top-1 of '${r.model}' on '${r.dataset}': ${(100 * r.top1).toFixed(2)}% (${r.correct}/${r.count}).`);
      } finally {
        bar.stop();
        store.close();
      }
    });

  program
    .command('fidelity')
    .description('how faithful a quantized copy is to its FP32 model on a dataset, no labels needed: agreement, KL, SQNR')
    .argument('<model>', 'the FP32 model (name or id)')
    .requiredOption('--quantized <file>', 'the quantized ONNX file (e.g. from `partita quantize`)')
    .requiredOption('--dataset <name>', 'registered dataset (labels not needed)')
    .option('--samples <n>', 'samples to compare (default: all from --offset)', positiveInt('--samples'))
    .option('--offset <n>', 'first sample', nonNegativeInt('--offset'), 0)
    .action(async (model: string, o: { quantized: string; dataset: string; samples?: number; offset: number }, cmd: Command) => {
      const { store, out } = ctx(cmd);
      const bar = progressBar('comparing');
      try {
        const r = await measureFidelity(store, model, o.quantized, o.dataset, { samples: o.samples, offset: o.offset, onProgress: (d, t) => bar.update(d, t) });
        bar.stop();
        out.result(r, () => `'${r.quantized}' against '${r.model}' on ${r.samples} samples of '${r.dataset}': agreement ${(100 * r.agreement).toFixed(2)}%, KL ${r.klNats.toExponential(3)} nats, SQNR ${r.sqnrDb.toFixed(1)} dB.`);
      } finally {
        bar.stop();
        store.close();
      }
    });

  program
    .command('init')
    .description('create the database with the bundled reference models and Fashion-MNIST (when installed)')
    .action(async (_o: unknown, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const r = await seedDefaults(store);
        out.result(r, () => [`Database: ${store.path}`, ...r.models.map((m) => `model ${m}`), ...r.datasets.map((d) => `dataset ${d}`), ...r.notes].join('\n'));
      } finally {
        store.close();
      }
    });

  program
    .command('quantize')
    .description('write a quantized copy of a model: simulation (any bits), deployable INT8 QDQ, or 2/4/8-bit MatMulNBits')
    .argument('<model>', 'model name or id')
    .option('--bits <spec>', 'weight bits per layer: LAYER=BITS,…,default=BITS (bits 2,3,4,5,6,8, 16 = FP16, 32 = keep FP32)', 'default=8')
    .option('--act-bits <n>', 'activation bits of quantized layers (32 = float; qdq uses 8)', (v) => Number(v))
    .addOption(new Option('--format <f>', 'what to write').choices(['simulation', 'qdq', 'matmul-nbits']).default('simulation'))
    .option('--asymmetric', 'unsigned codes with zero points (default: symmetric)')
    .addOption(new Option('--granularity <g>', 'weight scale groups').choices(['tensor', 'channel', 'block']))
    .option('--block-size <n>', 'elements per block along the reduction axis', positiveInt('--block-size'))
    .addOption(new Option('--clipping <c>', 'weight range: round-to-nearest over the full range, or MSE-optimal clipping').choices(['none', 'mse']).default('none'))
    .option('--calib <dataset>', 'calibration dataset for activation ranges')
    .option('--calib-samples <n>', 'calibration samples', positiveInt('--calib-samples'), 1000)
    .option('--calib-offset <n>', 'first calibration sample (default: the last N of the set)', nonNegativeInt('--calib-offset'))
    .addOption(new Option('--method <m>', 'calibration method').choices(['minmax', 'percentile', 'mse']).default('minmax'))
    .requiredOption('--out <file>', 'where to write the .onnx')
    .option('--export-ort <file>', "also write the configuration as ONNX Runtime quantizer overrides (JSON)")
    .option('--export-aimet <file>', 'also write AIMET-style encodings (JSON)')
    .action(async (model: string, o: Record<string, any>, cmd: Command) => {
      const { store, out } = ctx(cmd);
      const bar = progressBar('calibrating');
      try {
        const r = await quantizeModel(store, model, {
          bits: o.bits,
          actBits: o.actBits,
          format: o.format,
          symmetric: !o.asymmetric,
          granularity: o.granularity,
          blockSize: o.blockSize,
          clipping: o.clipping,
          calib: o.calib,
          calibSamples: o.calibSamples,
          calibOffset: o.calibOffset,
          method: o.method,
          onProgress: (d, t) => bar.update(d, t),
        });
        bar.stop();
        const path = writeFileAtomic(o.out, r.bytes);
        const m = loadModel(store, model);
        if (o.exportOrt) writeFileAtomic(o.exportOrt, JSON.stringify(ortQuantOverrides(m.proto, m.graph, r.config), null, 2) + '\n');
        if (o.exportAimet) writeFileAtomic(o.exportAimet, JSON.stringify(aimetEncodings(m.proto, m.graph, r.config), null, 2) + '\n');
        const { bytes: _b, ...summary } = r;
        out.result({ ...summary, path, fileBytes: r.bytes.byteLength }, () =>
          `Wrote ${path} (${r.format}, ${formatBytes(r.bytes.byteLength)}): average ${r.averageBits.toFixed(2)} bits over quantizable layers, ` +
          `packed weights ${formatBytes(r.packedWeightBytes)} vs ${formatBytes(r.fp32WeightBytes)} FP32 (${((100 * r.packedWeightBytes) / r.fp32WeightBytes).toFixed(1)}%).`,
        );
      } finally {
        bar.stop();
        store.close();
      }
    });

  program
    .command('sensitivity')
    .description('measure per-layer sensitivity (layer x bits) and the noise model on a calibration split; optionally validate both on held-out data')
    .argument('<model>', 'model name or id')
    .requiredOption('--dataset <name>', 'labelled calibration dataset (default slice: its last --samples samples)')
    .option('--samples <n>', 'calibration samples', positiveInt('--samples'), 2000)
    .option('--offset <n>', 'first calibration sample', nonNegativeInt('--offset'))
    .option('--bits <list>', 'bit widths to measure', (v) => v.split(',').map(Number), [8, 6, 5, 4, 3, 2])
    .option('--link-bits <list>', "link widths whose cost is measured at every cut ('none' to skip)", (v) => (v === 'none' ? [] : v.split(',').map(Number)), [8, 4])
    .option('--validate <n>', 'also measure N random mixed configurations on --eval-dataset and report rank correlations', nonNegativeInt('--validate'), 0)
    .option('--eval-dataset <name>', 'held-out dataset for --validate', 'fashion-mnist-test')
    .option('--eval-samples <n>', 'held-out samples for --validate', positiveInt('--eval-samples'))
    .action(async (model: string, o: Record<string, any>, cmd: Command) => {
      const { store, out } = ctx(cmd);
      const bar = progressBar('measuring');
      try {
        const onProgress = (stage: string, d: number, t: number) => bar.update(d, t, stage);
        const est = await estimateDegradation(store, model, { dataset: o.dataset, samples: o.samples, offset: o.offset, bits: o.bits, linkBits: o.linkBits, onProgress });
        const validation = o.validate > 0 ? await validateDegradation(store, model, est, { evalDataset: o.evalDataset, evalSamples: o.evalSamples, configs: o.validate }, { onProgress }) : undefined;
        bar.stop();
        out.result({ ...est, validation }, () => {
          const t = est.sensitivity;
          const lines = [
            (t.metric === 'agreement'
              ? `Unlabelled data: share of outputs whose class changes against FP32 when only one layer is quantized (${o.samples} calibration samples)`
              : `Top-1 drop when only one layer is quantized (FP32 top-1 ${(100 * t.fp32Top1).toFixed(2)}% on ${o.samples} calibration samples)`) + `${est.cached.sensitivity ? ' (cached)' : ''}:`,
            formatTable(['layer', ...t.bits.map((b) => `${b}-bit`), 'kappa'], t.layers.map((l, i) => [l, ...t.drop[i].map((d) => `${(100 * d).toFixed(2)}%`), est.noise.kappa[i]])),
          ];
          const link = t.link;
          if (link) {
            lines.push(
              '',
              'Top-1 drop when only the link is quantized (the tensors crossing the cut, as sent by a partition):',
              formatTable(['cut after layer', ...link.bits.map((b) => `${b}-bit link`)], link.drop.map((row, c) => [c === 0 ? '0 (input)' : c, ...row.map((d) => `${(100 * d).toFixed(2)}%`)])),
            );
          }
          if (validation) {
            lines.push(
              `Validation on ${validation.points.length} random configurations (held-out '${o.evalDataset}'): Spearman predicted vs measured = ` +
                `${validation.spearmanSensitivity.toFixed(3)} (sensitivity sum), ${validation.spearmanNoise.toFixed(3)} (noise model).`,
            );
          }
          return lines.join('\n');
        });
      } finally {
        bar.stop();
        store.close();
      }
    });

  program
    .command('flexiq')
    .description('FlexiQ: switchable 4/8-bit channel mix for Gemm/MatMul layers; accuracy and latency per ratio, and the switch time')
    .argument('<model>', 'model name or id')
    .option('--ratios <list>', 'percent of 4-bit input channels', (v) => v.split(',').map(Number), [0, 25, 50, 75, 100])
    .option('--calib <dataset>', 'calibration dataset (its last --calib-samples)', 'fashion-mnist-train')
    .option('--calib-samples <n>', 'calibration samples', positiveInt('--calib-samples'), 1000)
    .option('--eval-dataset <name>', 'held-out dataset', 'fashion-mnist-test')
    .option('--eval-samples <n>', 'held-out samples (default all)', positiveInt('--eval-samples'))
    .option('--search', 'refine the channel ranking with a greedy swap search on the calibration split')
    .option('--runs <n>', 'timed runs per latency', positiveInt('--runs'), 50)
    .action(async (model: string, o: Record<string, any>, cmd: Command) => {
      const { store, out } = ctx(cmd);
      const bar = progressBar('flexiq');
      try {
        const r = await runFlexiq(store, model, {
          ratios: o.ratios,
          calib: o.calib,
          calibSamples: o.calibSamples,
          evalDataset: o.evalDataset,
          evalSamples: o.evalSamples,
          search: Boolean(o.search),
          latencyRuns: o.runs,
          onProgress: (stage, d, t) => bar.update(d, t, stage),
        });
        bar.stop();
        out.result(r, () =>
          [
            formatTable(
              ['configuration', 'effective 4-bit %', 'top-1', 'batch 1 ms', 'batch 64 ms'],
              [...r.rows, ...r.references].map((x) => [x.label, x.effectiveRatio, `${(100 * x.top1).toFixed(2)}%`, x.latencyMsBatch1, x.latencyMsBatch64]),
            ),
            `Switching ratio (${r.switching.switches} switches): first result at the new ratio after ${(1000 * r.switching.switchToResultMs).toFixed(1)} us vs ${(1000 * r.switching.steadyMs).toFixed(1)} us steady; ` +
              `overhead ${(1000 * r.switching.overheadMs).toFixed(1)} us; the switch call itself ${r.switching.selectUs.toFixed(2)} us.`,
          ].join('\n'),
        );
      } finally {
        bar.stop();
        store.close();
      }
    });

  const devices = program.command('devices').description('device profiles: presets, measured, custom');
  devices
    .command('list')
    .description('list device profiles (presets are stored on first use) and the agents attached to a running workbench')
    .action(async (_o: unknown, cmd: Command) => {
      const { store, out, opts } = ctx(cmd);
      try {
        seedPresets(store);
        const rows = store.listDevices();
        const live = await attachedAgents(opts.db ?? defaultDbPath());
        out.result({ devices: rows, agents: live.agents, hubUrl: live.hubUrl }, () =>
          [formatTable(
            ['name', 'kind', 'FP32 GMAC/s', 'INT8 GMAC/s', 'INT4 GMAC/s', 'memory', 'compute W', 'source'],
            rows.map((r) => {
              const d = r.profile as DeviceProfile;
              return [d.name, r.kind, d.macsPerSecond.fp32 / 1e9, d.macsPerSecond.int8 / 1e9, d.macsPerSecond.int4 / 1e9, formatBytes(d.memoryBytes), d.power.computeW, r.source.slice(0, 60)];
            }),
          ),
          '',
          live.hubUrl === null ? `Attached agents: ${live.note}` : `Attached agents (hub ${live.hubUrl}):\n${agentTable(live.agents)}`].join('\n'),
        );
      } finally {
        store.close();
      }
    });
  devices
    .command('add')
    .description('add or replace a custom device from a JSON profile file (fields as in `devices list --json`)')
    .argument('<file>', 'JSON file with one device profile')
    .action((file: string, _o: unknown, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        let d: DeviceProfile;
        try {
          d = JSON.parse(readFileSync(file, 'utf8')) as DeviceProfile;
        } catch (e) {
          throw new CoreError('device-invalid', `Cannot read device profile '${file}' (${(e as Error).message}). Give a JSON file like the output of \`partita devices list --json\`.`);
        }
        if (typeof d?.name !== 'string' || !d.macsPerSecond || !d.power) throw new CoreError('device-invalid', `Device profile '${file}' lacks name, macsPerSecond or power. Start from \`partita devices list --json\`.`);
        checkDevice({ ...d, kind: 'custom' });
        store.saveDevice({ name: d.name, kind: 'custom', source: d.source ?? file, profile: { ...d, kind: 'custom' } });
        out.result({ saved: d.name }, () => `Saved device '${d.name}'.`);
      } finally {
        store.close();
      }
    });
  devices
    .command('bench')
    .description('measure this host with onnxruntime-node micro-benchmarks and save it as a measured device')
    .option('--name <name>', 'device name', 'this-host')
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), 1)
    .option('--runs <n>', 'timed runs per kernel', positiveInt('--runs'), 30)
    .option('--power <w>', 'compute,idle,tx,rx power in watts (not measurable from software)', (v) => v.split(',').map(Number))
    .action(async (o: { name: string; threads: number; runs: number; power?: number[] }, cmd: Command) => {
      const { store, out } = ctx(cmd);
      const bar = progressBar('benchmarking');
      try {
        const power = o.power ? { computeW: o.power[0], idleW: o.power[1], txW: o.power[2], rxW: o.power[3] } : undefined;
        const d = await benchHostDevice(o.name, { threads: o.threads, runs: o.runs, power, onProgress: (x, t) => bar.update(x, t) });
        bar.stop();
        checkDevice(d);
        store.saveDevice({ name: d.name, kind: 'measured', source: d.source, profile: d });
        out.result(d, () => `Saved measured device '${d.name}': FP32 ${(d.macsPerSecond.fp32 / 1e9).toFixed(1)}, INT8 ${(d.macsPerSecond.int8 / 1e9).toFixed(1)}, INT4 ${(d.macsPerSecond.int4 / 1e9).toFixed(1)} GMAC/s; ${(d.elementsPerSecond / 1e9).toFixed(2)} Gelem/s; ${(1000 * d.layerOverheadMs).toFixed(1)} us per layer.`);
      } finally {
        bar.stop();
        store.close();
      }
    });

  program
    .command('agent')
    .description('run a device agent: attach this machine to a workbench hub, run the head models it sends (ONNX only)')
    .requiredOption('--server <url>', 'the hub endpoint, ws://HOST:PORT/agent')
    .addOption(new Option('--token <token>', 'pairing token from the workbench').env('PARTITA_AGENT_TOKEN').makeOptionMandatory())
    .option('--name <name>', 'agent name (default: this host name)')
    .option('--max-retries <n>', 'give up after this many failed reconnections (default: never)', nonNegativeInt('--max-retries'))
    .option('--max-model-mb <n>', 'largest head model accepted, MiB', positiveInt('--max-model-mb'), 256)
    .action(async (o: { server: string; token: string; name?: string; maxRetries?: number; maxModelMb: number }) => {
      const { startDeviceAgent } = await import('../run/deviceAgent.js');
      const { hostname } = await import('node:os');
      if (!/^wss?:\/\//.test(o.server)) throw new CoreError('agent-server-invalid', `Server '${o.server}' is not a ws:// or wss:// URL. Pass the hub endpoint, e.g. ws://192.168.1.10:7070/agent.`);
      const name = (o.name ?? hostname()).replace(/[^A-Za-z0-9_.@:-]/g, '-').slice(0, 100) || 'agent';
      const agent = startDeviceAgent({
        server: o.server,
        token: o.token,
        name,
        limits: { maxModelBytes: o.maxModelMb * 2 ** 20 },
        backoff: { maxAttempts: o.maxRetries ?? Infinity },
        log: (line) => process.stdout.write(`agent '${name}': ${line}\n`),
      });
      const stop = () => void agent.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await agent.done;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });

  addRunCommands(program, devices, { ctx, positiveInt, nonNegativeInt, dbPath: (cmd) => (cmd.optsWithGlobals() as GlobalOptions).db ?? defaultDbPath() });

  const links = program.command('links').description('network links between device and server');
  links
    .command('list')
    .description('list links (presets are stored on first use)')
    .action((_o: unknown, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        seedPresets(store);
        const rows = store.listLinks();
        out.result(rows, () => formatTable(['name', 'kind', 'up Mbit/s', 'down Mbit/s', 'RTT ms', 'loss', 'source'], rows.map((l) => [l.name, l.kind, l.uplinkBps / 1e6, l.downlinkBps / 1e6, l.rttMs, l.loss, l.source.slice(0, 60)])));
      } finally {
        store.close();
      }
    });
  links
    .command('add')
    .description('add or replace a custom link')
    .argument('<name>', 'link name')
    .requiredOption('--up <mbps>', 'uplink bandwidth, Mbit/s', Number)
    .requiredOption('--down <mbps>', 'downlink bandwidth, Mbit/s', Number)
    .option('--rtt <ms>', 'round-trip time, ms', Number, 10)
    .option('--loss <fraction>', 'packet loss, 0..1', Number, 0)
    .action((name: string, o: { up: number; down: number; rtt: number; loss: number }, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const l = checkLink({ name, kind: 'custom', source: 'user', uplinkBps: o.up * 1e6, downlinkBps: o.down * 1e6, rttMs: o.rtt, loss: o.loss });
        store.saveLink(l);
        out.result(l, () => `Saved link '${name}'.`);
      } finally {
        store.close();
      }
    });

  const planOptions = (c: Command): Command =>
    c
      .requiredOption('--device <name>', 'device profile (see `partita devices list`)')
      .requiredOption('--link <name>', 'link (see `partita links list`)')
      .option('--server <name>', 'server profile', 'a100')
      .option('--max-drop <budget>', 'accuracy budget: predicted top-1 drop, e.g. 1% or 0.01', '1%')
      .option('--objective <o>', 'latency | energy | cost | weighted:A,B,C', 'latency')
      .option('--slo-ms <ms>', 'end-to-end latency bound', Number)
      .option('--no-memory', 'ignore the device memory limit')
      .option('--head-cached', 'the device already holds the head: no model download')
      .addOption(new Option('--estimator <e>', 'degradation estimator').choices(['sensitivity', 'noise', 'none']).default('sensitivity'))
      .option('--input-shape <dims>', 'input dims for models with dynamic axes', parseInputShape);
  const requestOf = (model: string, o: Record<string, any>) => ({
    model,
    device: o.device,
    link: o.link,
    server: o.server,
    estimator: o.estimator,
    inputShape: o.inputShape,
    objective: parseObjective(o.objective),
    constraints: { maxDegradation: parseBudget(o.maxDrop), sloMs: o.sloMs, enforceMemory: o.memory !== false, headCached: Boolean(o.headCached) },
  });
  const printOutcome = (out: Output, r: PlanOutcome, planId: number | null = null) =>
    out.result(
      { status: r.result.status, planId, plan: r.result.status === 'optimal' ? r.result.plan : null, report: r.result.status === 'infeasible' ? r.result.report : null, stats: r.result.stats, baselines: r.baselines, comparison: r.comparison },
      () => {
        if (r.result.status === 'infeasible') return r.result.report.message;
        const p = r.result.plan;
        const lines = [
          `Plan${planId === null ? '' : ` ${planId}`} (${r.result.stats.solveMs.toFixed(2)} ms to solve): ${describePlan(r.problem, p)}`,
          `Energy ${p.energyJ.toExponential(3)} J, server cost $${p.costUsd.toExponential(3)}, payload: computation ${(100 * p.payload.computation).toFixed(1)}%, communication ${(100 * p.payload.communication).toFixed(1)}%`,
          '',
          formatTable(
            ['baseline', 'meets constraints', 'latency ms', 'plan/baseline latency', 'energy ratio', 'computation payload ratio', 'degradation diff'],
            Object.values(r.baselines)
              .filter((b): b is NonNullable<typeof b> => b !== null)
              .map((b) => {
                const c = r.comparison.find((x) => x.baseline === b.baseline)!;
                return [b.label, b.feasible.all ? 'yes' : 'no', b.latencyMs, c.latencyRatio, c.energyRatio, c.computationPayloadRatio, `${(100 * c.degradationDiff).toFixed(2)} pt`];
              }),
          ),
        ];
        return lines.join('\n');
      },
    );

  planOptions(
    program
      .command('plan')
      .description('choose the cut and the bits of every device layer (QPART), exactly, and compare with the baselines')
      .argument('<model>', 'model name or id')
      .option('--dump-problem <file>', 'also write the planning problem as JSON (solve it later with `partita solve`)'),
  ).action(async (model: string, o: Record<string, any>, cmd: Command) => {
    const { store, out } = ctx(cmd);
    try {
      const req = requestOf(model, o);
      const problem = await buildPlanningProblem(store, req);
      if (o.dumpProblem) writeFileAtomic(o.dumpProblem, JSON.stringify(problem, null, 1) + '\n');
      const outcome = solveWithBaselines(problem);
      // The chosen plan is kept, so `partita run MODEL --plan ID` can run it and compare with what was predicted.
      const stored =
        outcome.result.status === 'optimal'
          ? savePlan(store, {
              modelId: store.requireModel(model).id,
              request: { device: req.device, link: req.link, server: req.server, estimator: req.estimator, objective: req.objective, constraints: req.constraints },
              plan: outcome.result.plan,
            })
          : null;
      printOutcome(out, outcome, stored?.id ?? null);
    } finally {
      store.close();
    }
  });

  planOptions(
    program
      .command('export')
      .description('plan, then export the configuration as a folder: plan.json, head.onnx, tail.onnx, ORT overrides, AIMET encodings, report.html')
      .argument('<model>', 'model name or id')
      .requiredOption('--out <dir>', 'folder to write')
      .addOption(new Option('--format <f>', 'head weights: simulation (any bits), qdq (INT8), matmul-nbits').choices(['simulation', 'qdq', 'matmul-nbits']).default('simulation'))
      .option('--calib <dataset>', 'dataset for activation ranges when the link or head quantizes activations'),
  ).action(async (model: string, o: Record<string, any>, cmd: Command) => {
    const { store, out } = ctx(cmd);
    try {
      const req = requestOf(model, o);
      const problem = await buildPlanningProblem(store, req);
      const r = solve(problem);
      if (r.status !== 'optimal') throw new CoreError('plan-infeasible', `${r.report.message} Nothing was exported.`);
      const e = await exportPlan(store, model, r.plan, {
        outDir: o.out,
        problem,
        format: o.format,
        calib: o.calib,
        inputShape: o.inputShape,
        request: { device: req.device, link: req.link, server: req.server, objective: req.objective, constraints: problem.constraints },
      });
      out.result(e, () => `Exported to ${e.outDir}: ${Object.keys(e.files).join(', ')}.`);
    } finally {
      store.close();
    }
  });

  program
    .command('solve')
    .description('solve a planning problem file (as written by `partita plan --dump-problem`)')
    .argument('<file>', 'problem JSON')
    .action((file: string, _o: unknown, cmd: Command) => {
      const out = new Output(Boolean((cmd.optsWithGlobals() as GlobalOptions).json));
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        throw new CoreError('plan-problem-invalid', `Cannot read planning problem '${file}' (${(e as Error).message}). Give a JSON file written by \`partita plan --dump-problem\`.`);
      }
      printOutcome(out, solveWithBaselines(validateProblem(json)));
    });

  planOptions(
    program
      .command('pareto')
      .description('the Pareto front over latency, energy, degradation and cost, with the knee marked')
      .argument('<model>', 'model name or id')
      .option('--points <n>', 'budget values per weighting', positiveInt('--points'), 50)
      .option('--svg <file>', 'also draw the front (with the baselines) as an SVG file'),
  ).action(async (model: string, o: Record<string, any>, cmd: Command) => {
    const { store, out } = ctx(cmd);
    try {
      const problem = await buildPlanningProblem(store, requestOf(model, o));
      const front = paretoFront(problem, { points: o.points });
      if (o.svg) writeFileAtomic(o.svg, paretoSvg(front.plans, front.knee, computeBaselines(problem), `${model} on ${o.device} over ${o.link}`) + '\n');
      out.result(front, () =>
        [
          `${front.plans.length} non-dominated plans (${front.stats.solves} solves, ${front.stats.solveMs.toFixed(1)} ms); knee marked *`,
          formatTable(
            ['', 'cut', 'latency ms', 'energy J', 'degradation', 'cost $', 'avg head bits'],
            front.plans.map((p, i) => [i === front.knee ? '*' : '', p.cut, p.latencyMs, p.energyJ, `${(100 * p.degradation).toFixed(2)}%`, p.costUsd, p.bits.length ? p.bits.reduce((a, b) => a + b, 0) / p.bits.length : null]),
          ),
        ].join('\n'),
      );
    } finally {
      store.close();
    }
  });

  // Notebooks without the UI: the cells run in-process against the database (the logic is in notebookRun.ts).
  const notebook = program.command('notebook').description('notebook files (*.notebook.json) without the UI');
  notebook
    .command('run')
    .description('evaluate every cell of a notebook file headless and print the outcomes; exit 1 when a cell fails')
    .argument('<file>', 'the .notebook.json file')
    .option('--out <file>', 'also write the outputs as a report: FILE.html (Pareto fronts inline as SVG) or FILE.md')
    .option('--execute-runs', 'start the runs of run cells ({"view": "run"}) and report what they measured (default: say what they would run)')
    .action(async (file: string, o: { out?: string; executeRuns?: boolean }, cmd: Command) => {
      const { runNotebookFile } = await import('./notebookRun.js');
      const { store, out, opts } = ctx(cmd);
      const bar = progressBar('evaluating');
      try {
        const r = await runNotebookFile(store, file, {
          out: o.out,
          executeRuns: o.executeRuns,
          onProgress: (d, t, id) => bar.update(d, t, id),
          onWarning: (line) => process.stderr.write(`${line}\n`),
        });
        bar.stop();
        // With --json a failed run is one document: the error, with every cell's outcome in its details.
        if (!(r.failure && opts.json)) out.result(r.report, () => r.text);
        if (r.failure) throw r.failure;
      } finally {
        bar.stop();
        store.close();
      }
    });

  notebook
    .command('list')
    .description('the notebooks saved in the database')
    .action((_o: unknown, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const list = store.listNotebooks();
        out.result({ notebooks: list }, () => (list.length ? formatTable(['id', 'name', 'cells', 'saved'], list.map((n) => [n.id, n.name, n.cellCount, n.updatedAt])) : 'No saved notebooks.'));
      } finally {
        store.close();
      }
    });
  notebook
    .command('import')
    .description('save a notebook file in the database (a new notebook; the workbench lists it)')
    .argument('<file>', 'the .notebook.json file')
    .option('--name <name>', "the saved notebook's name (default: the file's)")
    .action((file: string, o: { name?: string }, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const r = importNotebookFile(store, file, o.name);
        out.result(r, () => `Saved notebook ${r.id} ('${r.name}', ${r.cells} cells).`);
      } finally {
        store.close();
      }
    });
  notebook
    .command('export')
    .description('write a saved notebook as a text file that diffs well in git')
    .argument('<id>', 'saved notebook id (see `partita notebook list`)')
    .requiredOption('--out <file>', 'the .notebook.json file to write')
    .action((id: string, o: { out: string }, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const r = exportNotebookFile(store, id, o.out);
        out.result(r, () => `Wrote ${r.file} (${r.bytes} bytes).`);
      } finally {
        store.close();
      }
    });
  notebook
    .command('duplicate')
    .description('copy a saved notebook under a new id')
    .argument('<id>', 'saved notebook id')
    .option('--name <name>', 'name of the copy')
    .action((id: string, o: { name?: string }, cmd: Command) => {
      const { store, out } = ctx(cmd);
      try {
        const r = duplicateNotebook(store, id, o.name);
        out.result(r, () => `Saved copy ${r.id} ('${r.name}').`);
      } finally {
        store.close();
      }
    });

  const serveAction = (seed: boolean) => async (o: { port?: number; open?: boolean; agents?: { host: string; port: number } }, cmd: Command) => {
    const { store } = ctx(cmd);
    if (seed) {
      const r = await seedDefaults(store);
      process.stderr.write(`Database: ${store.path}\nModels: ${r.models.join(', ')}\nDatasets: ${r.datasets.join(', ') || '(none)'}\n${r.notes.join('\n')}\n`);
    }
    const server = await serveWorkbench(store, { port: o.port, agentHost: o.agents?.host, agentPort: o.agents?.port });
    process.stdout.write(
      `Partita workbench: ${server.url}\n(listening on 127.0.0.1 only; the token in the URL is required; Ctrl+C stops)\n` +
        `Device agents attach to ${server.hub.url} (pairing token: \`partita devices pair --label NAME\`)\n`,
    );
    if (o.open !== false && !process.env.CI) openBrowser(server.url);
    await new Promise<void>((done) => {
      const stop = () => void server.stop().then(() => (store.close(), done()));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  };
  program
    .command('serve')
    .description('browser mode: serve the workbench on 127.0.0.1 with a per-launch token')
    .option('--port <n>', 'TCP port (default: any free one)', nonNegativeInt('--port'))
    .option('--agents <host:port>', 'where device agents attach (default 127.0.0.1, any port; 0.0.0.0:7070 for devices on your LAN)', hostPort)
    .option('--no-open', 'do not open the system browser')
    .action(serveAction(false));
  program
    .command('start')
    .description('set up the default database (bundled models, presets, Fashion-MNIST) and open the workbench')
    .option('--port <n>', 'TCP port (default: any free one)', nonNegativeInt('--port'))
    .option('--agents <host:port>', 'where device agents attach (default 127.0.0.1, any port; 0.0.0.0:7070 for devices on your LAN)', hostPort)
    .option('--no-open', 'do not open the system browser')
    .action(serveAction(true));

  // Global options are accepted after the subcommand too (`partita models --json`).
  const addGlobals = (c: Command): void => {
    for (const sub of c.commands) {
      sub.addOption(new Option('--json', 'machine-readable JSON on stdout').hideHelp());
      sub.addOption(new Option('--db <file>', 'SQLite database file').hideHelp());
      addGlobals(sub);
    }
  };
  addGlobals(program);
  return program;
}

/** Runs the CLI; user errors print one clear line and exit 1, bugs print the stack and exit 70. */
export async function main(argv: string[]): Promise<number> {
  const program = buildCli();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    const json = argv.includes('--json');
    const commanderCode = (e as { code?: unknown } | null)?.code;
    if (typeof commanderCode === 'string' && commanderCode.startsWith('commander.')) {
      const code = commanderCode;
      return code === 'commander.helpDisplayed' || code === 'commander.version' ? 0 : 2;
    }
    if (isCoreError(e)) {
      if (json) process.stdout.write(JSON.stringify({ error: (e as CoreError).toJSON() }, null, 2) + '\n');
      process.stderr.write(`error: ${(e as CoreError).message} [${(e as CoreError).code}]\n`);
      return 1;
    }
    process.stderr.write(`internal error (a bug in Partita; please report it):\n${(e as Error)?.stack ?? String(e)}\n`);
    return 70;
  }
}
