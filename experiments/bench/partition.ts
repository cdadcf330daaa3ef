/**
 * Partition benchmark (issue "Running partitions"): each zoo model cut in the middle, run for real as a head (device
 * worker) and a tail (server worker) over an emulated 10 Mbit/s, 20 ms RTT link — an INT8 head (deployable QDQ,
 * int8 weights) with 8-bit activations on the link against the FP32 partition at the same cut. Prints the head's
 * size, the bytes on the wire per request, the per-stage medians of the sequential run, and throughput with and
 * without pipelining, measured side by side in one run.
 *
 * `npx tsx experiments/bench/partition.ts [REQUESTS]` runs it alone (default 1000 requests per configuration).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FASHION_MNIST_DIR, loadIdxDataset } from '../../core/accuracy/idxDataset.js';
import { zooDir } from '../../core/host/seed.js';
import { formatTable } from '../../core/host/table.js';
import { buildGraph } from '../../core/onnx/graph.js';
import { decodeModel } from '../../core/onnx/modelCodec.js';
import { quantizableLayers } from '../../core/quant/quantizableLayers.js';
import { calibrateRanges } from '../../core/run/calibrate.js';
import { runPlanLocally, type LocalRunReport } from '../../core/run/localRun.js';
import { buildPartitions, partitionRangeTensors, type PartitionFormat, type PartitionPlan } from '../../core/run/partitionBuilder.js';
import { probeShapes } from '../../core/run/shapeProbe.js';

const LINK = { name: '10 Mbit/s, 20 ms RTT', uplinkBps: 10e6, downlinkBps: 10e6, rttMs: 20 };

export async function benchPartitions(requests = 1000): Promise<void> {
  const test = loadIdxDataset(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));
  const train = loadIdxDataset(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'), join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'));
  const rows: (string | number)[][] = [];
  for (const name of ['fmnist-cnn', 'fmnist-resnet', 'fmnist-mlp']) {
    const proto = decodeModel(readFileSync(join(zooDir(), `${name}.onnx`)), name);
    const graph = buildGraph(proto, name);
    const shapes = await probeShapes(proto, graph, name, { [graph.inputs[0]]: [1, 1, 28, 28] });
    const cut = Math.floor(graph.layers.length / 2);
    const quantizable = new Set(quantizableLayers(proto, graph).map((l) => l.position));
    const variants: { label: string; format: PartitionFormat; plan: PartitionPlan }[] = [
      { label: 'FP32', format: 'simulation', plan: { cut, bits: new Array(cut).fill(32), activationBits: 32 } },
      { label: 'INT8 qdq, 8-bit link', format: 'qdq', plan: { cut, bits: graph.layers.slice(0, cut).map((l) => (quantizable.has(l.position) ? 8 : 32)), activationBits: 8 } },
    ];
    for (const v of variants) {
      const need = partitionRangeTensors(proto, graph, v.plan, v.format, shapes);
      // Calibration on the last 1000 training images (held out from training), evaluation on the test set.
      const ranges = need.length ? await calibrateRanges(proto, graph, name, need, train, [1, 28, 28], { method: 'minmax', bits: 8, offset: 59000, samples: 1000 }) : {};
      const parts = buildPartitions(proto, graph, v.plan, { format: v.format, ranges }, shapes);
      const run = (pipelined: boolean): Promise<LocalRunReport> =>
        runPlanLocally(parts, LINK, { requests, inputs: { data: test, offset: 0, sampleDims: [1, 28, 28] }, pipelined, includeDownload: true, deviceThreads: 1, serverThreads: 1 });
      const seq = await run(false);
      const pipe = await run(true);
      const s = seq.stages;
      rows.push([
        name,
        `${cut}/${graph.layers.length}`,
        v.label,
        parts.headBytes!.length,
        parts.headWeightBytes,
        seq.download!.ms,
        seq.bytes.uplinkPerRequest,
        seq.bytes.uplinkPayloadPerRequest,
        seq.bytes.downlinkPerRequest,
        s.deviceMs.median,
        s.uplinkMs.median,
        s.serverMs.median,
        s.downlinkMs.median,
        s.latencyMs.median,
        seq.throughputRps,
        pipe.throughputRps,
        pipe.throughputRps / seq.throughputRps,
        seq.accuracy!.top1,
      ]);
    }
  }
  console.log(`\nPartitions at the middle cut over an emulated ${LINK.name} link, ${requests} requests (Fashion-MNIST test images), one device and one server thread, ORT 'all':`);
  console.log(
    formatTable(
      ['model', 'cut', 'head', 'head file B', 'head weights B', 'download ms', 'up B/req', 'payload B/req', 'down B/req', 'device ms', 'uplink ms', 'server ms', 'downlink ms', 'latency ms', 'seq req/s', 'pipelined req/s', 'ratio', 'top-1'],
      rows,
    ),
  );
  console.log('Stage times: medians of the sequential run. "head weights B": packed weight bytes (codes + scales). Pipelined: up to 16 requests in flight.');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchPartitions(Number(process.argv[2] ?? 1000));
}
