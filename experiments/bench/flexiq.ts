/**
 * FlexiQ benchmark (arXiv 2510.02822 on our CPU): fmnist-mlp at 0/25/50/75/100% 4-bit input channels, top-1 on the
 * 10k Fashion-MNIST test set, latency at batch 1 and 64 (1 thread, optimisation 'all', medians after warm-up), and
 * the run-time switching cost, next to FP32 / 8-bit-only / 4-bit-only references measured in the same run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addFashionMnist } from '../../core/host/datasets.js';
import { runFlexiq, type FlexiqOptions, type FlexiqRow } from '../../core/host/flexiq.js';
import { importModel } from '../../core/host/models.js';
import { zooDir } from '../../core/host/seed.js';
import { formatTable } from '../../core/host/table.js';
import { SqliteStore } from '../../core/store/sqliteStore.js';

export async function benchFlexiq(o: FlexiqOptions = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'partita-bench-'));
  const store = SqliteStore.open(join(dir, 'bench.db'));
  try {
    addFashionMnist(store);
    await importModel(store, join(zooDir(), 'fmnist-mlp.onnx'), { name: 'fmnist-mlp' });
    const r = await runFlexiq(store, 'fmnist-mlp', { latencyRuns: 100, warmup: 20, switches: 300, search: { steps: 16 }, ...o });
    const eightBit = r.references.find((x) => x.label.startsWith('8-bit'))!;
    const fourBit = r.references.find((x) => x.label.startsWith('4-bit'))!;
    const fp32 = r.references.find((x) => x.label === 'FP32')!;
    const sw = new Map(r.switching.perRatio.map((p) => [p.ratio, p]));
    const cells = (x: FlexiqRow) => [x.top1 * 100, (x.top1 - fp32.top1) * 100, x.latencyMsBatch1 * 1000, x.latencyMsBatch64, eightBit.latencyMsBatch64 / x.latencyMsBatch64];
    const rows = [
      ...r.rows.map((x) => {
        const s = sw.get(x.ratio!)!;
        return [x.label, x.ratio, x.effectiveRatio, ...cells(x), s.switchToResultMs * 1000, s.steadyMs * 1000, s.overheadMs * 1000];
      }),
      ...r.references.map((x) => [x.label, null, null, ...cells(x), null, null, null]),
    ];
    console.log(
      `\nFlexiQ on ${r.model}: top-1 on ${r.evaluation.dataset} (${r.evaluation.samples} samples), calibration = ${r.calibration.dataset}[${r.calibration.offset}:${r.calibration.offset + r.calibration.samples}]; ` +
        `latency median of ${r.settings.runs} runs after ${r.settings.warmup} warm-up, round-robin, 1 thread, optimisation 'all', MatMulNBits accuracy_level 4`,
    );
    console.log(
      formatTable(
        ['model', 'ratio %', 'effective % (MACs)', 'top-1 %', 'vs FP32 pp', 'b1 us', 'b64 ms', 'b64 speed-up vs 8-bit', 'switch->result us', 'steady us', 'switch overhead us'],
        rows,
      ),
    );
    console.log(
      `Switching (${r.switching.switches} random switches, batch 1): switch->first result ${(r.switching.switchToResultMs * 1000).toFixed(1)} us vs steady ${(r.switching.steadyMs * 1000).toFixed(1)} us ` +
        `(median overhead ${(r.switching.overheadMs * 1000).toFixed(1)} us); the switchTo call itself ${r.switching.selectUs.toFixed(2)} us.`,
    );
    const full = fourBit.latencyMsBatch64;
    const mid = r.rows.find((x) => x.ratio === 50);
    if (mid) {
      const share = (eightBit.latencyMsBatch64 - mid.latencyMsBatch64) / (eightBit.latencyMsBatch64 - full);
      console.log(`50% mixed at batch 64 realises ${(share * 100).toFixed(0)}% of the 4-bit-only speed-up over 8-bit-only (paper: 40%).`);
    }
    console.log(`Unused high bits per input channel on the 8-bit grid (s = 0..4): ${r.unusedBits.map((u) => `${u.layer} [${u.histogram.join(', ')}]`).join('; ')}`);
    if (r.search) {
      const s = r.search;
      console.log(
        `Ranking search: ${s.tried} candidates, ${s.accepted} kept; calibration KL ${s.calibScoreBefore.toExponential(3)} -> ${s.calibScoreAfter.toExponential(3)}; held-out top-1 ` +
          s.heldOut.map((h) => `${h.ratio}%: ${(h.top1Before * 100).toFixed(2)} -> ${(h.top1After * 100).toFixed(2)} (${h.channelsMoved} channels moved)`).join(', '),
      );
    }
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
