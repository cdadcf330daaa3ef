import { describe, expect, it } from 'vitest';
import type { onnx } from '../../core/onnx/generated/onnxProto.js';
import { opCost } from '../../core/profile/opCosts.js';

const node = (opType: string, inputs: string[], attrs: onnx.IAttributeProto[] = []): onnx.INodeProto => ({ opType, input: inputs, output: ['y'], attribute: attrs });
const shapes = (m: Record<string, number[]>) => (n: string) => m[n];

describe('op cost formulas', () => {
  it('Conv: dense, grouped and depthwise', () => {
    // 3x3 conv, 16 -> 32 channels, 8x8 output, batch 2: 2*32*64 outputs x 16*9 MACs each.
    expect(opCost(node('Conv', ['x', 'w']), shapes({ x: [2, 16, 8, 8], w: [32, 16, 3, 3], y: [2, 32, 8, 8] })).macs).toBe(2 * 32 * 64 * 16 * 9);
    // group 4: weight [32, 4, 3, 3].
    expect(opCost(node('Conv', ['x', 'w'], [{ name: 'group', i: 4 }]), shapes({ x: [1, 16, 8, 8], w: [32, 4, 3, 3], y: [1, 32, 8, 8] })).macs).toBe(32 * 64 * 4 * 9);
    // depthwise 16 channels: weight [16, 1, 3, 3].
    const dw = opCost(node('Conv', ['x', 'w', 'b'], [{ name: 'group', i: 16 }]), shapes({ x: [1, 16, 8, 8], w: [16, 1, 3, 3], b: [16], y: [1, 16, 8, 8] }));
    expect(dw.macs).toBe(16 * 64 * 9);
    expect(dw.flops).toBe(2 * 16 * 64 * 9 + 16 * 64);
  });
  it('ConvTranspose scatters each input over the kernel', () => {
    const c = opCost(node('ConvTranspose', ['x', 'w']), shapes({ x: [1, 8, 4, 4], w: [8, 4, 2, 2], y: [1, 4, 8, 8] }));
    expect(c.macs).toBe(8 * 16 * 4 * 4);
  });
  it('Gemm and MatMul', () => {
    expect(opCost(node('Gemm', ['a', 'b', 'c'], [{ name: 'transB', i: 1 }]), shapes({ a: [4, 784], b: [1024, 784], c: [1024], y: [4, 1024] })).macs).toBe(4 * 1024 * 784);
    expect(opCost(node('Gemm', ['a', 'b'], [{ name: 'transA', i: 1 }]), shapes({ a: [784, 4], b: [784, 10], y: [4, 10] })).macs).toBe(4 * 10 * 784);
    expect(opCost(node('MatMul', ['a', 'b']), shapes({ a: [2, 8, 16, 64], b: [2, 8, 64, 16], y: [2, 8, 16, 16] })).macs).toBe(2 * 8 * 16 * 16 * 64);
  });
  it('pooling, normalisation, element-wise, resize, softmax', () => {
    expect(opCost(node('MaxPool', ['x'], [{ name: 'kernel_shape', ints: [2, 2] }]), shapes({ x: [1, 4, 8, 8], y: [1, 4, 4, 4] })).flops).toBe(64 * 4);
    expect(opCost(node('BatchNormalization', ['x']), shapes({ x: [1, 4, 8, 8], y: [1, 4, 8, 8] })).flops).toBe(2 * 256);
    expect(opCost(node('Add', ['a', 'b']), shapes({ y: [3, 5] })).flops).toBe(15);
    expect(opCost(node('Resize', ['x'], [{ name: 'mode', s: new TextEncoder().encode('linear') }]), shapes({ y: [1, 2, 4, 4] })).flops).toBe(2 * 4 * 32);
    expect(opCost(node('Softmax', ['x']), shapes({ y: [2, 10] })).model).toBe('softmax');
    expect(opCost(node('GlobalAveragePool', ['x']), shapes({ x: [1, 8, 7, 7], y: [1, 8, 1, 1] })).flops).toBe(392);
  });
  it('data movement is zero by formula; an unknown op is null, never a silent zero', () => {
    expect(opCost(node('Reshape', ['x', 's']), shapes({ y: [4] }))).toEqual({ macs: 0, flops: 0, model: 'data-movement' });
    expect(opCost(node('NonMaxSuppression', ['x']), shapes({ y: [4] }))).toEqual({ macs: null, flops: null, model: 'none' });
    expect(opCost(node('Conv', ['x', 'w']), shapes({}))).toEqual({ macs: null, flops: null, model: 'none' });
  });
});
