/**
 * `npm run bench [-- SECTION…]`: the speed and accuracy figures the issues ask for, measured side by side in one
 * run (medians after warm-up). Sections: foundation, plan, quant, partition. With no argument every section runs.
 */
import { benchImportProfile, benchLatencyRatio, benchZooTop1 } from './foundation.js';
import { benchCalibrationMemory, benchLatency, benchZooPrecision } from './quant.js';
import { benchPlansVsBaselines, benchPredictor, benchSolverSpeed } from './plan.js';
import { benchFlexiq } from './flexiq.js';
import { benchPartitions } from './partition.js';

const SECTIONS: Record<string, () => Promise<void>> = {
  foundation: async () => {
    await benchImportProfile();
    await benchLatencyRatio();
    await benchZooTop1();
  },
  plan: async () => {
    await benchSolverSpeed();
    await benchPredictor();
    await benchPlansVsBaselines();
  },
  partition: () => benchPartitions(),
  quant: async () => {
    await benchLatency();
    await benchCalibrationMemory();
    await benchZooPrecision();
    await benchFlexiq();
  },
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of wanted.length ? wanted : Object.keys(SECTIONS)) {
  const run = SECTIONS[name];
  if (!run) {
    console.error(`Unknown bench section '${name}'. Sections: ${Object.keys(SECTIONS).join(', ')}.`);
    process.exit(2);
  }
  console.log(`\n=== ${name} ===`);
  await run();
}
