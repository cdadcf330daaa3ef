import { CoreError } from '../api/errors.js';
import { GraphBuilder } from '../onnx/graphBuilder.js';
import type { ModelGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { tensorToFloat32 } from '../onnx/modelCodec.js';
import { weightTensor } from '../onnx/modelEdit.js';
import { attrInt, floatTensor, uint8Tensor } from '../onnx/tensorBuilders.js';
import { stableJson } from '../util/hash.js';
import { packCodes } from './packing.js';
import { weightBitsOf, type QuantConfig } from './quantConfig.js';
import { blockSizeFor, quantizableLayers, type QuantizableLayer } from './quantizableLayers.js';
import { checkConfig } from './simulationWriter.js';
import { quantizeWeights, type QuantizedWeights, type WeightBits } from './weightQuant.js';

/** Bit widths ONNX Runtime's MatMulNBits kernel implements. */
export const MATMUL_NBITS = [2, 4, 8] as const;

/**
 * Quantizes a Gemm/MatMul weight into MatMulNBits' layout: B as [N, K/bs, bs*bits/8] bytes (codes of one output
 * column contiguous along K, first code in the low bits), scales [N * K/bs], packed zero points per row.
 * Asymmetric codes carry their zero points; symmetric codes are stored offset-binary with the kernel's default
 * zero point 2^(bits-1).
 */
export function matMulNBitsWeights(layer: QuantizableLayer, values: Float32Array, bits: WeightBits, cfg: QuantConfig, blockSize?: number) {
  const [rows, cols] = layer.weightDims;
  // Bring the weight to [N, K] (output channel major), the layout MatMulNBits stores.
  const nk = layer.channelAxis === 0 ? values : transpose(values, rows, cols);
  const [n, k] = layer.channelAxis === 0 ? [rows, cols] : [cols, rows];
  const bs = blockSizeFor(k, blockSize ?? cfg.weights.blockSize);
  const q = quantizeWeights(nk, [n, k], { bits, symmetric: cfg.weights.symmetric, granularity: 'block', blockAxis: 1, blockSize: bs, clipping: cfg.weights.clipping });
  const offset = q.spec.symmetric ? 2 ** (bits - 1) : 0;
  const blocks = k / bs;
  const blobBytes = (bs * bits) / 8;
  const packed = new Uint8Array(n * blocks * blobBytes);
  const codes = new Uint8Array(k);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < k; i++) codes[i] = q.codes[r * k + i] + offset;
    packed.set(packCodes(codes, bits), r * blocks * blobBytes);
  }
  const zpRowBytes = Math.ceil((blocks * bits) / 8);
  const zeroPoints = new Uint8Array(n * zpRowBytes);
  if (!q.spec.symmetric) {
    for (let r = 0; r < n; r++) zeroPoints.set(packCodes(q.zeroPoints.subarray(r * blocks, (r + 1) * blocks), bits), r * zpRowBytes);
  }
  return { n, k, blockSize: bs, blocks, blobBytes, packed, scales: q.scales, zeroPoints: q.spec.symmetric ? null : zeroPoints, quantized: q as QuantizedWeights };
}

function transpose(v: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = v[r * cols + c];
  return out;
}

/**
 * The deployable 2/4/8-bit MatMul writer: every Gemm (transA = 0, alpha = beta = 1) and MatMul with a constant 2-D
 * weight configured to 2, 4 or 8 bits becomes com.microsoft MatMulNBits (bias added after it). Activations stay
 * float: the kernel quantizes them internally per its accuracy level.
 */
export function writeMatMulNBitsModel(model: onnx.IModelProto, graph: ModelGraph, cfg: QuantConfig): onnx.IModelProto {
  const layers = quantizableLayers(model, graph).filter((l) => l.opType === 'Gemm' || l.opType === 'MatMul');
  if (layers.length === 0) throw new CoreError('quant-no-layers', 'This model has no Gemm or MatMul layer with a constant weight, so there is nothing for MatMulNBits to run.');
  checkConfig({ ...cfg, activations: { ...cfg.activations, default: 32, layers: {} } }, quantizableLayers(model, graph), graph);
  const b = new GraphBuilder(model);
  const nodes = model.graph!.node ?? [];
  for (const l of layers) {
    const bits = weightBitsOf(cfg, l.name);
    if (bits === 32) continue;
    if (!(MATMUL_NBITS as readonly number[]).includes(bits)) {
      throw new CoreError('quant-not-deployable', `Layer '${l.name}' asks for ${bits}-bit weights; MatMulNBits runs 2, 4 or 8 bit. Use the simulation writer for ${bits} bit.`);
    }
    const at = graph.layers[l.position - 1].nodeIndex;
    const node = nodes[at];
    if (l.opType === 'Gemm') {
      const f = (name: string) => node.attribute?.find((a) => a.name === name)?.f;
      if ((f('alpha') ?? 1) !== 1 || (f('beta') ?? 1) !== 1) {
        throw new CoreError('quant-not-deployable', `Gemm '${l.name}' scales by alpha/beta; MatMulNBits cannot. Keep it at FP32 or 8 bit (QDQ).`);
      }
    }
    const w = matMulNBitsWeights(l, tensorToFloat32(weightTensor(model, l.weight)), bits as WeightBits, cfg);
    const p = b.fresh(`${l.weight}_nbits${bits}`);
    const inputs = [l.activation, b.addInitializer(uint8Tensor(`${p}_B`, [w.n, w.blocks, w.blobBytes], w.packed)), b.addInitializer(floatTensor(`${p}_scales`, [w.n * w.blocks], w.scales))];
    if (w.zeroPoints) inputs.push(b.addInitializer(uint8Tensor(`${p}_zp`, [w.zeroPoints.length], w.zeroPoints)));
    const y = node.output![0];
    const mm = l.bias ? b.fresh(`${y}_mm`) : y;
    const replacement: onnx.INodeProto[] = [
      {
        opType: 'MatMulNBits',
        domain: 'com.microsoft',
        name: `${p}_MatMulNBits`,
        input: inputs,
        output: [mm],
        attribute: [attrInt('K', w.k), attrInt('N', w.n), attrInt('bits', bits), attrInt('block_size', w.blockSize), attrInt('accuracy_level', 4)],
      },
    ];
    if (l.bias) replacement.push({ opType: 'Add', name: `${p}_bias`, input: [mm, l.bias], output: [y] });
    b.insertBefore(at, ...replacement);
    b.remove(at);
  }
  b.setMetadata('partita.quant', stableJson({ format: 'matmul-nbits', ...cfg }));
  b.useDomain('com.microsoft', 1);
  return b.build();
}
