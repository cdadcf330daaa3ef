/**
 * One calibration in a fresh process, for the memory benchmark: prints {seconds, maxRssMiB} as JSON.
 * Usage: node --import tsx experiments/bench/calibrationRss.ts SAMPLES METHOD
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FASHION_MNIST_DIR, loadIdxDataset } from '../../core/accuracy/idxDataset.js';
import { zooDir } from '../../core/host/seed.js';
import { buildGraph } from '../../core/onnx/graph.js';
import { decodeModel } from '../../core/onnx/modelCodec.js';
import type { CalibrationMethod } from '../../core/quant/quantConfig.js';
import { quantizableLayers } from '../../core/quant/quantizableLayers.js';
import { calibrateRanges } from '../../core/run/calibrate.js';

const samples = Number(process.argv[2]);
const method = process.argv[3] as CalibrationMethod;
const proto = decodeModel(readFileSync(join(zooDir(), 'fmnist-resnet.onnx')), 'resnet');
const graph = buildGraph(proto);
const data = loadIdxDataset(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'), null);
const tensors = quantizableLayers(proto, graph).map((l) => l.activation);
const t0 = performance.now();
await calibrateRanges(proto, graph, 'resnet', tensors, data, [1, 28, 28], { method, bits: 8, offset: 60000 - samples, samples });
console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
