import type { Constraints, Cut, Objective, PlanLayer, PlanningProblem } from '../api/planning.js';
import { precisionClass, type DeviceProfile, type LinkProfile, type ServerProfile } from './devices.js';
import { predictLatencyMs, type LatencyPredictor } from './latencyPredictor.js';

/**
 * Turns a profiled model plus device, link and server models into a PlanningProblem: every number the solver
 * needs is computed here, once, so the solver itself stays a pure optimisation over a JSON document.
 */

/** What the planner needs to know of a model, at one input shape (from the static profile in the store). */
export interface ModelFacts {
  name: string;
  sha256?: string;
  layers: {
    position: number;
    name: string;
    opType: string;
    /** Regression family (e.g. 'Conv:depthwise') for a fitted predictor; defaults to opType. */
    family?: string;
    macs: number;
    /** Activation bytes read + written + weight bytes, the predictor's memory feature. */
    bytes: number;
    outElements: number;
    /** FP32 bytes of every weight the layer reads. */
    weightBytes: number;
    /** Present when the layer's main weight can be quantized. */
    quantizable?: { weightElements: number; channels: number };
  }[];
  /** Activation tensors: FP32 bytes/elements at this shape, producer position (0 = input), last reader (L + 1 = output). */
  tensors: { name: string; elements: number; bytes: number; producer: number; lastUse: number }[];
  /** cutSets[c] = names of the tensors crossing cut c (core/onnx/cutSets). */
  cutSets: string[][];
  inputBytes: number;
  resultBytes: number;
  modelWeightBytes: number;
}

/** Predicted degradation of a layer at a weight width, or of the cut set at an activation width (fractions of top-1). */
export interface DegradationSource {
  name: string;
  weight(layer: string, bits: number): number;
  /** Undefined: this estimator has not measured activations on the link; only lossless widths are offered. */
  activation?(cut: number, bits: number): number | undefined;
}

export interface BuildOptions {
  objective: Objective;
  constraints: Constraints;
  /** Weight widths offered to quantizable layers (32 always included). */
  weightBits?: number[];
  /** Activation widths offered on the link. 16 (FP16, relative error 2^-11) is treated as lossless. */
  activationBits?: number[];
  /** A predictor fitted on this device's measured layers; otherwise the throughput model is used. */
  predictor?: LatencyPredictor;
}

const SCALE_BYTES = 4;

/** Device time of a layer at a precision: the fitted predictor's FP32 time scaled by the class speed-up, or the throughput model. */
export function deviceTimeMs(d: DeviceProfile, layer: ModelFacts['layers'][number], bits: number, predictor?: LatencyPredictor): number {
  const cls = precisionClass(bits, d);
  if (predictor) {
    const fp32 = predictLatencyMs(predictor, { opType: layer.family ?? layer.opType, macs: layer.macs, bytes: layer.bytes });
    return layer.macs > 0 ? fp32 * (d.macsPerSecond.fp32 / d.macsPerSecond[cls]) : fp32;
  }
  const work = layer.macs > 0 ? layer.macs / d.macsPerSecond[cls] : layer.outElements / d.elementsPerSecond;
  return d.layerOverheadMs + work * 1000;
}

export function serverTimeMs(s: ServerProfile, layer: ModelFacts['layers'][number]): number {
  const work = layer.macs > 0 ? layer.macs / s.macsPerSecond : layer.outElements / s.elementsPerSecond;
  return s.layerOverheadMs + work * 1000;
}

/** Packed bytes of a layer's weights at a width: codes + one FP32 scale per output channel; other weights stay FP32. */
export function layerWeightBytes(layer: ModelFacts['layers'][number], bits: number): number {
  const q = layer.quantizable;
  if (!q || bits === 32) return layer.weightBytes;
  const rest = layer.weightBytes - q.weightElements * 4;
  const main = bits === 16 ? q.weightElements * 2 : Math.ceil((q.weightElements * bits) / 8) + q.channels * SCALE_BYTES;
  return main + rest;
}

/** Peak live activation bytes on the device while it runs layers 1..c, for every c (index c). */
export function peakActivationBytes(facts: ModelFacts): number[] {
  const L = facts.layers.length;
  const live = new Array<number>(L + 1).fill(0);
  for (const t of facts.tensors) {
    // A tensor occupies memory from its producer's step until its last reader's step (inclusive).
    for (let p = t.producer; p <= Math.min(t.lastUse, L); p++) live[p] += t.bytes;
  }
  const peak = new Array<number>(L + 1).fill(0);
  let run = 0;
  for (let c = 0; c <= L; c++) {
    run = Math.max(run, live[c]);
    peak[c] = run;
  }
  return peak;
}

export function buildProblem(facts: ModelFacts, device: DeviceProfile, link: LinkProfile, server: ServerProfile, est: DegradationSource, o: BuildOptions): PlanningProblem {
  const wBits = [...new Set([32, ...(o.weightBits ?? [16, 8, 6, 5, 4, 3, 2])])].sort((a, b) => b - a);
  const aBits = [...new Set([32, ...(o.activationBits ?? [16, 8])])].sort((a, b) => b - a);
  const goodput = 1 - link.loss;
  // The fixed cost of an inference is carried by the first layer on the device (it runs whenever the device runs
  // anything, c >= 1) and by the last layer on the server (it runs whenever the server does, c < L): exact for
  // every cut without a term of its own in the cost model.
  const L = facts.layers.length;
  const layers: PlanLayer[] = facts.layers.map((l, i) => ({
    name: l.name,
    position: l.position,
    opType: l.opType,
    macs: l.macs,
    serverTimeMs: serverTimeMs(server, l) + (i === L - 1 ? (server.inferenceOverheadMs ?? 0) : 0),
    options: (l.quantizable ? wBits : [32]).map((bits) => {
      const t = deviceTimeMs(device, l, bits, o.predictor) + (i === 0 ? (device.inferenceOverheadMs ?? 0) : 0);
      return {
        bits: bits as PlanLayer['options'][number]['bits'],
        deviceTimeMs: t,
        deviceEnergyJ: (device.power.computeW * t) / 1000,
        weightBytes: layerWeightBytes(l, bits),
        degradation: bits >= 16 ? 0 : est.weight(l.name, bits),
      };
    }),
  }));
  const byName = new Map(facts.tensors.map((t) => [t.name, t]));
  const peaks = peakActivationBytes(facts);
  const cuts: Cut[] = facts.cutSets.map((names, c) => {
    const elements = names.reduce((a, n) => a + (byName.get(n)?.elements ?? 0), 0);
    const options = aBits
      .map((bits) => {
        const degradation = bits >= 16 ? 0 : est.activation?.(c, bits);
        if (degradation === undefined) return undefined;
        // Below 16 bits each tensor also carries its scale and zero point.
        const bytes = (elements * bits) / 8 + (bits < 16 ? 8 * names.length : 0);
        return { bits: bits as Cut['options'][number]['bits'], bytes, degradation };
      })
      .filter((x): x is NonNullable<typeof x> => x !== undefined);
    return { position: c, tensors: names, elements, peakActivationBytes: peaks[c], options };
  });
  return {
    version: 1,
    model: { name: facts.name, sha256: facts.sha256 },
    layers,
    cuts,
    inputBytes: facts.inputBytes,
    resultBytes: facts.resultBytes,
    modelWeightBytes: facts.modelWeightBytes,
    device: { name: device.name, powerComputeW: device.power.computeW, powerIdleW: device.power.idleW, powerTxW: device.power.txW, powerRxW: device.power.rxW, memoryBytes: device.memoryBytes },
    // Loss shrinks the goodput of both directions (retransmissions), which is all this model can say about it.
    link: { name: link.name, uplinkBps: link.uplinkBps * goodput, downlinkBps: link.downlinkBps * goodput, rttMs: link.rttMs },
    server: { name: server.name, pricePerSecondUsd: server.pricePerSecondUsd },
    objective: o.objective,
    constraints: o.constraints,
  };
}
