/**
 * FlexiQ run-time ratio switching: one ONNX Runtime session per ratio, all created up front, so switching the 4-bit
 * ratio is selecting another ready session (FlexiQ moves one boundary per layer over shared weights; here each
 * ratio's kernels are pre-built, which trades memory — one weight copy per ratio — for a switch that does no work).
 */
import { performance } from 'node:perf_hooks';
import { CoreError } from '../api/errors.js';
import { mulberry32 } from '../util/random.js';
import { median } from '../util/stats.js';
import { createSession, ort, type SessionSettings } from './ortSession.js';

export interface FlexiqVariant {
  /** Requested ratio, percent of 4-bit channels: the key switchTo takes. */
  ratio: number;
  bytes: Uint8Array;
}

export class FlexiqRuntime {
  private current: number;

  private constructor(
    private readonly sessions: Map<number, ort.InferenceSession>,
    private readonly inputName: string,
    private readonly outputName: string,
  ) {
    this.current = [...sessions.keys()][0];
  }

  /** Creates every session once (threads 1 and optimisation 'all' unless told otherwise); starts at the first ratio. */
  static async create(variants: readonly FlexiqVariant[], modelName: string, settings: SessionSettings = {}): Promise<FlexiqRuntime> {
    if (variants.length === 0) throw new Error('FlexiqRuntime needs at least one ratio.');
    const sessions = new Map<number, ort.InferenceSession>();
    try {
      for (const v of variants) {
        if (sessions.has(v.ratio)) throw new Error(`Ratio ${v.ratio} is given twice.`);
        sessions.set(v.ratio, await createSession(v.bytes, `${modelName} @ ${v.ratio}% 4-bit`, { optimization: 'all', threads: 1, ...settings }));
      }
    } catch (e) {
      for (const s of sessions.values()) await s.release();
      throw e;
    }
    const first = sessions.values().next().value!;
    return new FlexiqRuntime(sessions, first.inputNames[0], first.outputNames[0]);
  }

  get ratios(): number[] {
    return [...this.sessions.keys()];
  }

  get ratio(): number {
    return this.current;
  }

  /** Selects the pre-built session of `ratio`. O(1): no model is loaded or compiled here. */
  switchTo(ratio: number): void {
    if (!this.sessions.has(ratio)) {
      throw new CoreError('flexiq-ratio-unavailable', `Ratio ${String(ratio)}% was not built for this run. Switch to one of ${this.ratios.join(', ')}, or build it first.`);
    }
    this.current = ratio;
  }

  /** The session of a ratio (default: the current one). */
  session(ratio = this.current): ort.InferenceSession {
    const s = this.sessions.get(ratio);
    if (!s) throw new CoreError('flexiq-ratio-unavailable', `Ratio ${String(ratio)}% was not built for this run. Use one of ${this.ratios.join(', ')}.`);
    return s;
  }

  /** Runs the current ratio on a float input and returns its first output. */
  async run(input: ort.Tensor, ratio = this.current): Promise<Float32Array> {
    const out = await this.session(ratio).run({ [this.inputName]: input });
    return out[this.outputName].data as Float32Array;
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await s.release();
    this.sessions.clear();
  }
}

export interface SwitchTiming {
  switches: number;
  /** Median time from the switchTo request to the end of the first inference at the new ratio. */
  switchToResultMs: number;
  /** Median steady-state inference right after, at the same ratio (no switch). */
  steadyMs: number;
  /** Median over switches of (switch-to-result - the steady run that follows it): what switching itself costs. */
  overheadMs: number;
  /** Median time of the switchTo call alone, in microseconds. */
  selectUs: number;
  /** The same medians per target ratio. */
  perRatio: { ratio: number; switches: number; switchToResultMs: number; steadyMs: number; overheadMs: number }[];
}

/**
 * Measures switching: after `warmup` switches, `switches` times pick a different ratio at random (seeded), time the
 * switchTo call plus the first inference, then one more inference at that ratio as the steady-state reference.
 */
export async function measureSwitching(rt: FlexiqRuntime, input: ort.Tensor, o: { switches?: number; warmup?: number; seed?: number } = {}): Promise<SwitchTiming> {
  const ratios = rt.ratios;
  if (ratios.length < 2) throw new CoreError('flexiq-ratio-too-few', 'Switching needs at least two ratios. Ask for two or more.');
  const rand = mulberry32(o.seed ?? 7);
  const switches = o.switches ?? 200;
  const warmup = o.warmup ?? 20;
  const toResult: number[] = [];
  const steady: number[] = [];
  const overhead: number[] = [];
  const select: number[] = [];
  const target: number[] = [];
  for (let i = 0; i < warmup + switches; i++) {
    let next = rt.ratio;
    while (next === rt.ratio) next = ratios[Math.floor(rand() * ratios.length)];
    const t0 = performance.now();
    rt.switchTo(next);
    const t1 = performance.now();
    await rt.run(input);
    const t2 = performance.now();
    await rt.run(input);
    const t3 = performance.now();
    if (i < warmup) continue;
    toResult.push(t2 - t0);
    steady.push(t3 - t2);
    overhead.push(t2 - t0 - (t3 - t2));
    select.push((t1 - t0) * 1000);
    target.push(next);
  }
  const perRatio = ratios.map((ratio) => {
    const at = target.flatMap((t, i) => (t === ratio ? [i] : []));
    const pick = (v: number[]) => median(at.map((i) => v[i]));
    return { ratio, switches: at.length, switchToResultMs: pick(toResult), steadyMs: pick(steady), overheadMs: pick(overhead) };
  });
  return { switches, switchToResultMs: median(toResult), steadyMs: median(steady), overheadMs: median(overhead), selectUs: median(select), perRatio };
}

/**
 * Median latency of several runners measured side by side: after `warmup` rounds, `runs` rounds each run every
 * runner once (round-robin), so slow drift of the machine affects all of them alike.
 */
export async function measureLatencies(runners: readonly (() => Promise<unknown>)[], o: { runs?: number; warmup?: number } = {}): Promise<number[]> {
  const runs = o.runs ?? 50;
  const warmup = o.warmup ?? 10;
  const times = runners.map(() => [] as number[]);
  for (let i = 0; i < warmup + runs; i++) {
    for (let j = 0; j < runners.length; j++) {
      const t0 = performance.now();
      await runners[j]();
      const t = performance.now() - t0;
      if (i >= warmup) times[j].push(t);
    }
  }
  return times.map(median);
}
