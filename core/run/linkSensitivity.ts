import { klDivergence } from '../accuracy/fidelity.js';
import { cutSets } from '../onnx/cutSets.js';
import { encodeModel } from '../onnx/modelCodec.js';
import { calibrateRanges } from './calibrate.js';
import { runLogits } from './logitsRunner.js';
import { writePlanReference } from './partitionBuilder.js';
import { dropScorer, type ModelUnderTest, type Progress, type Slice } from './sensitivityRunner.js';
import { probeShapes } from './shapeProbe.js';

/**
 * What quantizing the link costs: for every cut c in 0..L-1 and link width b, the top-1 lost when the tensors
 * crossing cut c are sent as b-bit codes (the partition builder's exact link encoding: per-tensor affine codes with
 * min/max ranges calibrated on the slice) and everything else stays FP32. The model measured is the plan
 * reference of core/run/partitionBuilder.ts, i.e. what head + tail compute for that plan.
 */
export interface LinkSensitivity {
  bits: number[];
  /** drop[c][j]: cut c (0 = the input itself) at bits[j], as a fraction of top-1 (or of changed decisions, unlabelled). */
  drop: number[][];
  kl: number[][];
}

export async function measureLinkSensitivity(m: ModelUnderTest, s: Slice, bits: number[], p: Progress = {}): Promise<LinkSensitivity> {
  const base = await runLogits(encodeModel(m.proto), m.name, s.data, { offset: s.offset, count: s.count, sampleDims: s.sampleDims, signal: p.signal });
  const score = dropScorer(s, base);
  const L = m.graph.layers.length;
  const sets = cutSets(m.graph);
  const tensors = [...new Set(sets.slice(0, L).flat())];
  const shapes = await probeShapes(m.proto, m.graph, m.name, { [m.graph.inputs[0]]: [1, ...s.sampleDims] });
  const ranges = await calibrateRanges(m.proto, m.graph, m.name, tensors, s.data, s.sampleDims, { method: 'minmax', bits: 8, offset: s.offset, samples: s.count, signal: p.signal });
  const drop: number[][] = [];
  const kl: number[][] = [];
  let done = 0;
  for (let c = 0; c < L; c++) {
    const rowDrop: number[] = [];
    const rowKl: number[] = [];
    for (const b of bits) {
      const ref = writePlanReference(m.proto, m.graph, { cut: c, bits: new Array(c).fill(32), activationBits: b }, { ranges }, shapes);
      const q = await runLogits(encodeModel(ref), m.name, s.data, { offset: s.offset, count: s.count, sampleDims: s.sampleDims, signal: p.signal });
      rowDrop.push(score.drop(q));
      rowKl.push(klDivergence(base.logits, q.logits, base.lastDim));
      p.onProgress?.(++done, L * bits.length);
    }
    drop.push(rowDrop);
    kl.push(rowKl);
  }
  return { bits, drop, kl };
}
