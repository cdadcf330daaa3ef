import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, stage?: string): void;
  stop(): void;
}

/**
 * A progress bar on stderr (stdout stays clean for --json). On a non-terminal stderr it prints nothing, so logs
 * and CI output are not flooded with redraws.
 */
export function progressBar(label: string, enabled = Boolean(process.stderr.isTTY)): Progress {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} {stage} [{bar}] {percentage}% {value}/{total} eta {eta_formatted}`, stream: process.stderr, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, stage = '') {
      if (!started) {
        bar.start(total, done, { stage });
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, { stage });
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
