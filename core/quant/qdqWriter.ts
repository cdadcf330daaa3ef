import { CoreError } from '../api/errors.js';
import { GraphBuilder } from '../onnx/graphBuilder.js';
import { buildGraph, type ModelGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { tensorToFloat32 } from '../onnx/modelCodec.js';
import { weightTensor } from '../onnx/modelEdit.js';
import { upgradeOpset } from '../onnx/opsetUpgrade.js';
import { attrInt, floatTensor, int32Tensor, int8Tensor, scalarFloat, uint8Tensor } from '../onnx/tensorBuilders.js';
import { stableJson } from '../util/hash.js';
import { activationQParams } from './calibration.js';
import { weightBitsOf, type QuantConfig } from './quantConfig.js';
import { outputRangeTensor, quantizableLayers } from './quantizableLayers.js';
import { checkConfig, weightSpec } from './simulationWriter.js';
import { quantizeWeights, roundHalfToEven } from './weightQuant.js';

/**
 * The deployable INT8 writer: ONNX Runtime's "QDQ" form, which its graph optimiser (level 'extended' or 'all')
 * fuses into integer kernels (QLinearConv, QGemm, MatMulInteger). For each quantized layer:
 *   x → QuantizeLinear(uint8) → DequantizeLinear → layer(DequantizeLinear(int8 W, per-channel), DequantizeLinear(int32 bias))
 *     → QuantizeLinear(uint8) → DequantizeLinear → consumers
 * Weights are symmetric int8 (zero point 0), activations asymmetric uint8 from calibrated ranges, the bias int32 at
 * scale s_x * s_w (the accumulator's scale), which is what the fused kernels expect.
 * Models older than opset 13 are upgraded first: a per-channel DequantizeLinear needs the `axis` attribute.
 */
export function writeQdqModel(source: onnx.IModelProto, sourceGraph: ModelGraph, cfg: QuantConfig): onnx.IModelProto {
  const upgraded = (sourceGraph.opsets[''] ?? 0) < 13;
  const model = upgraded ? upgradeOpset(source, 13) : source;
  const graph = upgraded ? buildGraph(model) : sourceGraph;
  const layers = quantizableLayers(model, graph);
  checkConfig({ ...cfg, activations: { ...cfg.activations, default: 32, layers: {} } }, layers, graph);
  if (cfg.weights.granularity === 'block') {
    throw new CoreError('quant-not-deployable', 'Blocked weights have no INT8 QDQ kernel. Use per-channel or per-tensor granularity for INT8, or the 4-bit MatMul writer for blocks.');
  }
  const b = new GraphBuilder(model);
  const dq = new Map<string, { scale: number; zeroPoint: number; name: string }>();
  const range = (tensor: string, layer: string) => {
    const r = cfg.activations.ranges[tensor];
    if (!r) {
      throw new CoreError('quant-not-calibrated', `Tensor '${tensor}' around layer '${layer}' has no calibrated range. INT8 models need activation ranges: pass --calib DATASET.`);
    }
    return activationQParams(r, 8, false);
  };
  /** Q/DQ of a tensor right before node `at`, shared by every quantized consumer. */
  const quantizeInput = (tensor: string, at: number, layer: string) => {
    let q = dq.get(tensor);
    if (!q) {
      const { scale, zeroPoint } = range(tensor, layer);
      const p = b.fresh(`${tensor}_q8`);
      const s = b.addInitializer(scalarFloat(`${p}_scale`, scale));
      const z = b.addInitializer(uint8Tensor(`${p}_zp`, [], [zeroPoint]));
      b.insertBefore(
        at,
        { opType: 'QuantizeLinear', name: `${p}_Q`, input: [tensor, s, z], output: [`${p}_u8`] },
        { opType: 'DequantizeLinear', name: `${p}_DQ`, input: [`${p}_u8`, s, z], output: [p] },
      );
      q = { scale, zeroPoint, name: p };
      dq.set(tensor, q);
    }
    return q;
  };

  for (const l of layers) {
    const bits = weightBitsOf(cfg, l.name);
    if (bits === 32) continue;
    if (bits !== 8) {
      throw new CoreError(
        'quant-not-deployable',
        `Layer '${l.name}' asks for ${bits}-bit weights, which have no INT8 QDQ kernel. Use the simulation writer for ${bits}-bit accuracy, or 8 bit here.`,
      );
    }
    const at = graph.layers[l.position - 1].nodeIndex;
    const node = b.node(at);
    const x = quantizeInput(l.activation, at, l.name);
    b.setInput(at, 0, x.name);

    const q = quantizeWeights(tensorToFloat32(weightTensor(model, l.weight)), l.weightDims, { ...weightSpec(cfg, l, 8), symmetric: true, reduceRange: cfg.weights.reduceRange ?? true });
    const perChannel = cfg.weights.granularity === 'channel';
    const wName = b.fresh(`${l.weight}_i8`);
    b.addInitializer(int8Tensor(wName, l.weightDims, q.codes));
    const ws = b.addInitializer(perChannel ? floatTensor(`${wName}_scale`, [q.scales.length], q.scales) : scalarFloat(`${wName}_scale`, q.scales[0]));
    const wz = b.addInitializer(perChannel ? int8Tensor(`${wName}_zp`, [q.scales.length], new Int8Array(q.scales.length)) : int8Tensor(`${wName}_zp`, [], [0]));
    b.insertBefore(at, {
      opType: 'DequantizeLinear',
      name: `${wName}_DQ`,
      input: [wName, ws, wz],
      output: [`${wName}_dq`],
      attribute: perChannel ? [attrInt('axis', l.channelAxis)] : [],
    });
    b.setInput(at, 1, `${wName}_dq`);

    if (l.bias) {
      const bias = tensorToFloat32(weightTensor(model, l.bias));
      const accScale = Float32Array.from(bias, (_, c) => Math.fround(x.scale * q.scales[perChannel ? c : 0]));
      const codes = Int32Array.from(bias, (v, c) => roundHalfToEven(v / accScale[c]));
      const bName = b.fresh(`${l.bias}_i32`);
      b.addInitializer(int32Tensor(bName, [bias.length], codes));
      b.addInitializer(floatTensor(`${bName}_scale`, [bias.length], accScale));
      b.addInitializer(int32Tensor(`${bName}_zp`, [bias.length], new Int32Array(bias.length)));
      b.insertBefore(at, { opType: 'DequantizeLinear', name: `${bName}_DQ`, input: [bName, `${bName}_scale`, `${bName}_zp`], output: [`${bName}_dq`], attribute: [attrInt('axis', 0)] });
      b.setInput(at, 2, `${bName}_dq`);
    }

    // Output: the layer now writes a fresh tensor; Q/DQ restores the original name, so every consumer reads the
    // requantized value without being rewired. A graph output (the logits) stays float: requantizing it to 256
    // levels would cost accuracy and nothing downstream runs in integer.
    const y = node.output![0];
    if (graph.outputs.includes(y)) continue;
    const { scale, zeroPoint } = range(outputRangeTensor(graph, l), l.name);
    const raw = b.fresh(`${y}_f32`);
    node.output![0] = raw;
    const p = b.fresh(`${y}_q8`);
    const s = b.addInitializer(scalarFloat(`${p}_scale`, scale));
    const z = b.addInitializer(uint8Tensor(`${p}_zp`, [], [zeroPoint]));
    b.insertAfter(
      at,
      { opType: 'QuantizeLinear', name: `${p}_Q`, input: [raw, s, z], output: [`${p}_u8`] },
      { opType: 'DequantizeLinear', name: `${p}_DQ`, input: [`${p}_u8`, s, z], output: [y] },
    );
    dq.set(y, { scale, zeroPoint, name: y });
  }
  b.setMetadata('partita.quant', stableJson({ format: 'qdq-int8', ...cfg }));
  return b.build();
}
