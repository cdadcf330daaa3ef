/**
 * Fidelity of a quantized model's outputs to the FP32 model's outputs, for unlabelled data: no ground truth is
 * needed, the FP32 output is the reference. All inputs are row-major [rows, classes] logits (or any scores);
 * rows = length / classes.
 */
import { CoreError } from '../api/errors.js';

function rowsOf(a: ArrayLike<number>, b: ArrayLike<number>, classes: number): number {
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`classes must be a positive integer, got ${classes}.`);
  if (a.length !== b.length) {
    throw new CoreError(
      'fidelity-shape-mismatch',
      `The two outputs have ${a.length} and ${b.length} values. Compare outputs of the same tensor from the same samples.`,
    );
  }
  if (a.length % classes !== 0) {
    throw new CoreError(
      'fidelity-shape-mismatch',
      `${a.length} output values do not split into rows of ${classes} classes. Check the class count of the output tensor.`,
    );
  }
  const rows = a.length / classes;
  if (rows === 0) throw new CoreError('fidelity-empty', 'There are no output rows to compare. Run at least one sample through both models.');
  return rows;
}

/** Index of the largest value in row r (first one on ties, like numpy's argmax). */
function argmaxRow(x: ArrayLike<number>, r: number, classes: number): number {
  const base = r * classes;
  let best = 0;
  let bestV = x[base];
  for (let c = 1; c < classes; c++) {
    if (x[base + c] > bestV) {
      bestV = x[base + c];
      best = c;
    }
  }
  return best;
}

/** Fraction of rows (0..1) whose top-1 class is the same in `a` and `b`. */
export function top1Agreement(a: ArrayLike<number>, b: ArrayLike<number>, classes: number): number {
  const rows = rowsOf(a, b, classes);
  let same = 0;
  for (let r = 0; r < rows; r++) if (argmaxRow(a, r, classes) === argmaxRow(b, r, classes)) same++;
  return same / rows;
}

/** log(sum(exp(x))) over row r, shifted by the row maximum so that large logits cannot overflow. */
function logSumExpRow(x: ArrayLike<number>, r: number, classes: number): number {
  const base = r * classes;
  let m = -Infinity;
  for (let c = 0; c < classes; c++) if (x[base + c] > m) m = x[base + c];
  if (m === -Infinity || m === Infinity) return m;
  let s = 0;
  for (let c = 0; c < classes; c++) s += Math.exp(x[base + c] - m);
  return m + Math.log(s);
}

/**
 * Mean over rows of KL(softmax(p) || softmax(q)) in nats: how much information is lost when the quantized model's
 * distribution q stands in for the reference p. 0 for identical logits; +Infinity if q gives zero probability
 * (a -Infinity logit) where p does not. Each row's value is clamped at 0 against rounding.
 */
export function klDivergence(pLogits: ArrayLike<number>, qLogits: ArrayLike<number>, classes: number): number {
  const rows = rowsOf(pLogits, qLogits, classes);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const lp = logSumExpRow(pLogits, r, classes);
    const lq = logSumExpRow(qLogits, r, classes);
    const base = r * classes;
    let kl = 0;
    for (let c = 0; c < classes; c++) {
      const logP = pLogits[base + c] - lp;
      if (logP === -Infinity) continue; // p_c = 0 contributes 0 * log(0 / q) = 0
      const logQ = qLogits[base + c] - lq;
      kl += Math.exp(logP) * (logP - logQ);
    }
    total += Math.max(0, kl);
  }
  return total / rows;
}

/**
 * Signal-to-quantization-noise ratio in dB: 10 log10(sum ref^2 / sum (ref - test)^2). +Infinity when the arrays
 * are equal (no noise); every 6.02 dB is roughly one bit of precision.
 */
export function sqnrDb(reference: ArrayLike<number>, test: ArrayLike<number>): number {
  if (reference.length !== test.length) {
    throw new CoreError(
      'fidelity-shape-mismatch',
      `The reference has ${reference.length} values and the test output ${test.length}. Compare outputs of the same tensor from the same samples.`,
    );
  }
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < reference.length; i++) {
    const d = reference[i] - test[i];
    signal += reference[i] * reference[i];
    noise += d * d;
  }
  if (noise === 0) return Infinity;
  return 10 * Math.log10(signal / noise);
}
