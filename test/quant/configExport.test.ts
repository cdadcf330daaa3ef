import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../core/onnx/graph.js';
import { decodeModel, tensorToFloat32 } from '../../core/onnx/modelCodec.js';
import { weightTensor } from '../../core/onnx/modelEdit.js';
import { aimetEncodings, ortQuantOverrides } from '../../core/quant/configExport.js';
import { defaultQuantConfig } from '../../core/quant/quantConfig.js';
import { quantizableLayers } from '../../core/quant/quantizableLayers.js';
import { weightSpec } from '../../core/quant/simulationWriter.js';
import { dequantizeWeights, quantizeWeights } from '../../core/quant/weightQuant.js';
import { ZOO } from '../helpers.js';

describe('quantization config export', () => {
  const proto = decodeModel(readFileSync(ZOO[0].file), 'cnn');
  const graph = buildGraph(proto);
  const layers = quantizableLayers(proto, graph);
  const cfg = defaultQuantConfig(8);
  cfg.weights.layers = { [layers[0].name]: 4, [layers[1].name]: 32, [layers[2].name]: 5 };

  it('ONNX Runtime overrides: FP32 layers excluded, 4-bit as QInt4 per channel, 5-bit flagged as unsupported', () => {
    const o = ortQuantOverrides(proto, graph, cfg);
    expect(o.nodes_to_exclude).toEqual([layers[1].name]);
    expect(o.nodes_to_quantize).toEqual([layers[0].name, layers[2].name, layers[3].name, layers[4].name]);
    expect(o.extra_options.TensorQuantOverrides[layers[0].weight]).toEqual([{ quant_type: 'QInt4', symmetric: true, axis: 0 }]);
    expect(o.unsupported_by_ort).toEqual([{ node: layers[2].name, bits: 5 }]);
  });

  it('AIMET encodings reproduce the dequantized weights: value = scale * (unsigned code + offset)', () => {
    const enc = aimetEncodings(proto, graph, cfg);
    const l = layers[0];
    const per = enc.param_encodings[l.weight];
    expect(per.length).toBe(l.weightDims[0]);
    expect(per[0]).toMatchObject({ bitwidth: 4, is_symmetric: 'True', offset: -8 });
    const q = quantizeWeights(tensorToFloat32(weightTensor(proto, l.weight)), l.weightDims, weightSpec(cfg, l, 4));
    const deq = dequantizeWeights(q);
    const inner = q.codes.length / per.length;
    for (let i = 0; i < q.codes.length; i += 7) {
      const e = per[Math.floor(i / inner)];
      expect(Math.fround(e.scale * (q.codes[i] + 8 + e.offset))).toBeCloseTo(deq[i], 6);
    }
    expect(enc.param_encodings[layers[1].weight]).toBeUndefined();
  });
});
