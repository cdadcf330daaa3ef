import { CoreError } from '../api/errors.js';

/**
 * Device, link and server models for the planner (shared/SCIENCE.md, "The model of a request").
 *
 * A device runs a layer in time overhead + MACs / throughput(precision class) + elements / elementRate, unless a
 * per-op-type predictor fitted on measured layers is attached (see latencyPredictor.ts). Energy is power x time.
 */

/** Precision classes a device's kernels distinguish. 16-bit weights run as FP32 on CPUs (no FP16 math there). */
export type PrecisionClass = 'fp32' | 'int8' | 'int4';

export interface Throughput {
  /** Effective multiply-accumulates per second on dense linear layers (Conv, Gemm, MatMul). */
  fp32: number;
  int8: number;
  /** Where a device has no 4-bit kernels, this equals int8. */
  int4: number;
}

export interface DevicePower {
  computeW: number;
  idleW: number;
  txW: number;
  rxW: number;
}

export interface DeviceProfile {
  name: string;
  kind: 'preset' | 'measured' | 'custom';
  /** Where the figures come from (citation, or how they were measured). */
  source: string;
  threads: number;
  macsPerSecond: Throughput;
  /** Elements per second for element-wise, pooling and data-movement layers (memory bound). */
  elementsPerSecond: number;
  /** Fixed cost of launching one layer. */
  layerOverheadMs: number;
  /**
   * Fixed cost of one inference besides its layers (the runtime call, handing tensors in and out); absent = 0.
   * Measured by the device benchmark, refitted from stored runs (`partita devices refit`).
   */
  inferenceOverheadMs?: number;
  memoryBytes: number;
  power: DevicePower;
}

export interface LinkProfile {
  name: string;
  kind: 'preset' | 'measured' | 'custom';
  source: string;
  uplinkBps: number;
  downlinkBps: number;
  rttMs: number;
  /** Packet loss fraction (0..1); a lossy link's effective goodput is bandwidth * (1 - loss). */
  loss: number;
}

export interface ServerProfile {
  name: string;
  kind: 'preset' | 'measured' | 'custom';
  source: string;
  macsPerSecond: number;
  elementsPerSecond: number;
  layerOverheadMs: number;
  /** Fixed cost of one tail inference besides its layers (receiving, decoding, the runtime call); absent = 0. */
  inferenceOverheadMs?: number;
  pricePerSecondUsd: number;
}

export function precisionClass(bits: number, d: Pick<DeviceProfile, 'macsPerSecond'>): PrecisionClass {
  if (bits >= 16) return 'fp32';
  if (bits <= 4 && d.macsPerSecond.int4 > d.macsPerSecond.int8) return 'int4';
  return 'int8';
}

const G = 1e9;
const M = 1e6;
const GiB = 2 ** 30;

/**
 * Presets. Figures are approximate effective rates for batch-1 CNN inference with a CPU runtime, derived from
 * vendor specifications and commonly reported measurements; they are starting points, marked 'preset', to be
 * replaced by `partita devices bench` on the real device.
 */
export const DEVICE_PRESETS: readonly DeviceProfile[] = [
  {
    name: 'raspberry-pi-4b',
    kind: 'preset',
    // Cortex-A72 x4 at 1.5 GHz (Raspberry Pi 4 Model B product brief): NEON gives 8 FP32 FLOP/cycle/core peak,
    // 48 GFLOPS in all; runtimes reach roughly 10-15% of peak on small convolutions. No int8 dot-product
    // instructions (ARMv8.0), so int8 gains ~1.5x. Power: ~2.7 W idle, ~6.4 W under full CPU load as widely
    // measured (e.g. Raspberry Pi forum and press power tests).
    source: 'approximate: Raspberry Pi 4B product brief (4x Cortex-A72 @1.5 GHz); reported idle/load power 2.7/6.4 W',
    threads: 4,
    macsPerSecond: { fp32: 3 * G, int8: 4.5 * G, int4: 4.5 * G },
    elementsPerSecond: 0.5 * G,
    layerOverheadMs: 0.02,
    memoryBytes: 1 * GiB,
    power: { computeW: 6.4, idleW: 2.7, txW: 0.8, rxW: 0.6 },
  },
  {
    name: 'raspberry-pi-5',
    kind: 'preset',
    // Cortex-A76 x4 at 2.4 GHz (Raspberry Pi 5 product brief) with ARMv8.2 dot-product (sdot): int8 ~3x FP32.
    source: 'approximate: Raspberry Pi 5 product brief (4x Cortex-A76 @2.4 GHz, ARMv8.2 dot product); reported power ~2.7 W idle, ~8 W load',
    threads: 4,
    macsPerSecond: { fp32: 8 * G, int8: 24 * G, int4: 24 * G },
    elementsPerSecond: 1.5 * G,
    layerOverheadMs: 0.01,
    memoryBytes: 2 * GiB,
    power: { computeW: 8, idleW: 2.7, txW: 0.8, rxW: 0.6 },
  },
  {
    name: 'jetson-orin-nano',
    kind: 'preset',
    // NVIDIA Jetson Orin Nano 8 GB data sheet: 1024-core Ampere GPU, 20 dense INT8 TOPS (40 sparse), 7-15 W
    // modes. Batch-1 small models reach a few percent of peak because of launch overheads.
    source: 'approximate: NVIDIA Jetson Orin Nano data sheet (20 dense INT8 TOPS, 7-15 W power modes)',
    threads: 6,
    macsPerSecond: { fp32: 60 * G, int8: 200 * G, int4: 200 * G },
    elementsPerSecond: 10 * G,
    layerOverheadMs: 0.05,
    memoryBytes: 4 * GiB,
    power: { computeW: 15, idleW: 5, txW: 1.0, rxW: 0.7 },
  },
  {
    name: 'phone-soc',
    kind: 'preset',
    // A 2023 flagship phone SoC's big CPU cores (Arm Cortex-X3 class with int8 dot product); radio figures from
    // Huang et al., "A Close Examination of Performance and Power Characteristics of 4G LTE Networks",
    // MobiSys 2012 (uplink power of order 1-2.5 W, downlink ~1 W above idle).
    source: 'approximate: flagship phone CPU (Cortex-X3 class); LTE radio power after Huang et al., MobiSys 2012',
    threads: 2,
    macsPerSecond: { fp32: 20 * G, int8: 60 * G, int4: 60 * G },
    elementsPerSecond: 3 * G,
    layerOverheadMs: 0.01,
    memoryBytes: 1 * GiB,
    power: { computeW: 3.5, idleW: 0.3, txW: 1.6, rxW: 1.0 },
  },
];

export const SERVER_PRESETS: readonly ServerProfile[] = [
  {
    name: 'a100',
    kind: 'preset',
    // NVIDIA A100 data sheet: 19.5 TFLOPS FP32 (9.75 TMAC/s); batch-1 inference of small CNNs reaches a small
    // fraction of that. Price: one of the eight A100s of an AWS p4d.24xlarge at $32.77/h on-demand ($4.10/h).
    source: 'approximate: NVIDIA A100 data sheet (19.5 TFLOPS FP32); AWS p4d.24xlarge on-demand price / 8 GPUs',
    macsPerSecond: 1000 * G,
    elementsPerSecond: 100 * G,
    layerOverheadMs: 0.01,
    pricePerSecondUsd: 32.77 / 8 / 3600,
  },
  {
    name: 'cpu-server',
    kind: 'preset',
    source: 'approximate: a 16-core x86 server CPU with AVX-512 at a cloud price of about $0.68/h',
    macsPerSecond: 200 * G,
    elementsPerSecond: 20 * G,
    layerOverheadMs: 0.005,
    pricePerSecondUsd: 0.68 / 3600,
  },
];

export const LINK_PRESETS: readonly LinkProfile[] = [
  // Typical rates, not peaks: an 802.11ac home Wi-Fi link, median LTE and 5G as reported by crowd-sourced
  // measurement firms (e.g. Opensignal's mobile network experience reports), and gigabit Ethernet.
  { name: 'wifi', kind: 'preset', source: 'approximate: typical 802.11ac home Wi-Fi', uplinkBps: 50 * M, downlinkBps: 100 * M, rttMs: 5, loss: 0 },
  { name: 'lte', kind: 'preset', source: 'approximate: median LTE as reported by crowd-sourced measurements', uplinkBps: 10 * M, downlinkBps: 30 * M, rttMs: 50, loss: 0 },
  { name: '5g', kind: 'preset', source: 'approximate: median 5G (sub-6 GHz) as reported by crowd-sourced measurements', uplinkBps: 50 * M, downlinkBps: 200 * M, rttMs: 20, loss: 0 },
  { name: 'ethernet', kind: 'preset', source: 'gigabit Ethernet on one LAN', uplinkBps: 1000 * M, downlinkBps: 1000 * M, rttMs: 0.5, loss: 0 },
];

/**
 * A measured machine used as the server (e.g. this workbench host running the tails in a local run): its FP32 rate,
 * element rate and per-layer overhead, at no price (a machine one owns bills nothing per second).
 */
export function serverFromDevice(d: DeviceProfile): ServerProfile {
  return {
    name: d.name,
    kind: d.kind,
    source: `device profile '${d.name}' used as the server (${d.source})`,
    macsPerSecond: d.macsPerSecond.fp32,
    elementsPerSecond: d.elementsPerSecond,
    layerOverheadMs: d.layerOverheadMs,
    inferenceOverheadMs: d.inferenceOverheadMs,
    pricePerSecondUsd: 0,
  };
}

/** Checks a user-supplied profile's numbers, naming the first bad field. */
export function checkDevice(d: DeviceProfile): DeviceProfile {
  const bad = (field: string, v: unknown) =>
    new CoreError('device-invalid', `Device '${d.name}': ${field} = ${String(v)} is not valid. Give a positive number.`);
  for (const [k, v] of Object.entries(d.macsPerSecond)) if (!(v > 0)) throw bad(`macsPerSecond.${k}`, v);
  if (!(d.elementsPerSecond > 0)) throw bad('elementsPerSecond', d.elementsPerSecond);
  if (!(d.layerOverheadMs >= 0)) throw bad('layerOverheadMs', d.layerOverheadMs);
  if (d.inferenceOverheadMs !== undefined && !(d.inferenceOverheadMs >= 0)) throw bad('inferenceOverheadMs', d.inferenceOverheadMs);
  if (!(d.memoryBytes > 0)) throw bad('memoryBytes', d.memoryBytes);
  for (const [k, v] of Object.entries(d.power)) if (!(v >= 0)) throw bad(`power.${k}`, v);
  return d;
}

export function checkLink(l: LinkProfile): LinkProfile {
  for (const [k, v] of [['uplinkBps', l.uplinkBps], ['downlinkBps', l.downlinkBps]] as const) {
    if (!(v > 0)) throw new CoreError('link-invalid', `Link '${l.name}': ${k} = ${v} must be a positive bandwidth in bits per second.`);
  }
  if (!(l.rttMs >= 0)) throw new CoreError('link-invalid', `Link '${l.name}': rttMs = ${l.rttMs} must be 0 or more.`);
  if (!(l.loss >= 0 && l.loss < 1)) throw new CoreError('link-invalid', `Link '${l.name}': loss = ${l.loss} must be in [0, 1).`);
  return l;
}
