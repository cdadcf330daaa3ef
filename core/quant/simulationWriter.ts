import { CoreError } from '../api/errors.js';
import { GraphBuilder } from '../onnx/graphBuilder.js';
import type { ModelGraph } from '../onnx/graph.js';
import type { onnx } from '../onnx/generated/onnxProto.js';
import { tensorToFloat32 } from '../onnx/modelCodec.js';
import { weightTensor } from '../onnx/modelEdit.js';
import { attrFloat, floatTensor, scalarFloat } from '../onnx/tensorBuilders.js';
import { stableJson } from '../util/hash.js';
import { activationQParams } from './calibration.js';
import { activationBitsOf, weightBitsOf, type QuantConfig } from './quantConfig.js';
import { blockSizeFor, quantizableLayers, type QuantizableLayer } from './quantizableLayers.js';
import { dequantizeWeights, fp16Round, quantizeWeights } from './weightQuant.js';

/** 1.5 * 2^23: adding and subtracting it rounds a float32 to the nearest integer, ties to even (|x| < 2^22). */
export const ROUNDING_MAGIC = 12582912;

/**
 * The simulation writer: a float ONNX model that computes what the quantized model computes, at any bit width,
 * including widths no CPU kernel has (3, 5, 6 bit). Weights are replaced by their dequantized values (exact);
 * each quantized layer's activation input is fake-quantized, clip(round(x / s), -zp, qmax - zp) * s, which equals
 * ONNX's QuantizeLinear followed by DequantizeLinear. Rounding uses the float32 magic-number trick so the chain
 * needs only Div/Add/Sub/Clip/Mul and works at every opset the model may have (PP-OCR is opset 9, before Round).
 */
export function writeSimulationModel(model: onnx.IModelProto, graph: ModelGraph, cfg: QuantConfig): onnx.IModelProto {
  const layers = quantizableLayers(model, graph);
  checkConfig(cfg, layers, graph);
  const b = new GraphBuilder(model);
  const opset = graph.opsets[''] ?? 13;

  for (const l of layers) {
    const wBits = weightBitsOf(cfg, l.name);
    if (wBits !== 32) {
      const values = tensorToFloat32(weightTensor(model, l.weight));
      const deq = wBits === 16 ? fp16Round(values) : dequantizeWeights(quantizeWeights(values, l.weightDims, weightSpec(cfg, l, wBits)));
      const name = b.addInitializer(floatTensor(b.fresh(`${l.weight}_w${wBits}`), l.weightDims, deq));
      b.setInput(graph.layers[l.position - 1].nodeIndex, l.weightInput, name);
    }
    const aBits = activationBitsOf(cfg, l.name);
    if (aBits !== 32) {
      const range = cfg.activations.ranges[l.activation]!;
      const { scale, zeroPoint } = activationQParams(range, aBits, false);
      const qmax = 2 ** aBits - 1;
      const p = b.fresh(`${l.activation}_fq${aBits}`);
      const s = b.addInitializer(scalarFloat(`${p}_scale`, scale));
      const m = b.addInitializer(scalarFloat(`${p}_magic`, ROUNDING_MAGIC));
      const clipLo = -zeroPoint;
      const clipHi = qmax - zeroPoint;
      const clip: onnx.INodeProto =
        opset >= 11
          ? { opType: 'Clip', name: `${p}_clip`, input: [`${p}_r`, b.addInitializer(scalarFloat(`${p}_lo`, clipLo)), b.addInitializer(scalarFloat(`${p}_hi`, clipHi))], output: [`${p}_c`] }
          : { opType: 'Clip', name: `${p}_clip`, input: [`${p}_r`], output: [`${p}_c`], attribute: [attrFloat('min', clipLo), attrFloat('max', clipHi)] };
      b.insertBefore(
        graph.layers[l.position - 1].nodeIndex,
        { opType: 'Div', name: `${p}_div`, input: [l.activation, s], output: [`${p}_d`] },
        { opType: 'Add', name: `${p}_rnd_add`, input: [`${p}_d`, m], output: [`${p}_a`] },
        { opType: 'Sub', name: `${p}_rnd_sub`, input: [`${p}_a`, m], output: [`${p}_r`] },
        clip,
        { opType: 'Mul', name: `${p}_mul`, input: [`${p}_c`, s], output: [p] },
      );
      b.setInput(graph.layers[l.position - 1].nodeIndex, 0, p);
    }
  }
  b.setMetadata('partita.quant', stableJson({ format: 'simulation', ...cfg }));
  return b.build();
}

/**
 * A float model whose named layers use the given weight values instead of their own (same shapes): the primitive
 * behind noise injection, where the new weights are not the result of any quantizer.
 */
export function writeWithWeights(model: onnx.IModelProto, graph: ModelGraph, weights: ReadonlyMap<string, Float32Array>, tag: string): onnx.IModelProto {
  const layers = quantizableLayers(model, graph);
  const b = new GraphBuilder(model);
  for (const [layerName, values] of weights) {
    const l = layers.find((x) => x.name === layerName);
    if (!l) throw new Error(`no quantizable layer '${layerName}'`);
    const name = b.addInitializer(floatTensor(b.fresh(`${l.weight}_${tag}`), l.weightDims, values));
    b.setInput(graph.layers[l.position - 1].nodeIndex, l.weightInput, name);
  }
  return b.build();
}

/** The weight quantizer settings for one layer, with the layer's own channel and reduction axes. */
export function weightSpec(cfg: QuantConfig, l: QuantizableLayer, bits: Exclude<ReturnType<typeof weightBitsOf>, 32 | 16>) {
  return {
    bits,
    symmetric: cfg.weights.symmetric,
    granularity: cfg.weights.granularity,
    axis: l.channelAxis,
    blockAxis: l.reductionAxis,
    blockSize: cfg.weights.granularity === 'block' ? blockSizeFor(l.weightDims[l.reductionAxis], cfg.weights.blockSize) : undefined,
    clipping: cfg.weights.clipping,
  } as const;
}

/** Every configured layer must exist and every quantized activation needs a calibrated range. */
export function checkConfig(cfg: QuantConfig, layers: readonly QuantizableLayer[], graph: ModelGraph): void {
  if (layers.length === 0) {
    throw new CoreError('quant-no-layers', 'This model has no quantizable layer (Conv, ConvTranspose, Gemm or MatMul with a constant weight). Nothing to quantize.');
  }
  const names = new Set(layers.map((l) => l.name));
  for (const n of [...Object.keys(cfg.weights.layers), ...Object.keys(cfg.activations.layers)]) {
    if (!names.has(n)) {
      const known = graph.layers.some((l) => l.name === n);
      throw new CoreError(
        'quant-layer-unknown',
        known ? `Layer '${n}' has no quantizable weight. Quantize Conv, ConvTranspose, Gemm or MatMul layers.` : `No layer '${n}' in this model. Run \`partita profile\` to list the layer names.`,
      );
    }
  }
  for (const l of layers) {
    if (activationBitsOf(cfg, l.name) !== 32 && !cfg.activations.ranges[l.activation]) {
      throw new CoreError('quant-not-calibrated', `Activation '${l.activation}' of layer '${l.name}' has no calibrated range. Calibrate with --calib DATASET, or keep activations in float (--act-bits 32).`);
    }
  }
}
