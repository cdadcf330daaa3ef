import { performance } from 'node:perf_hooks';
import { CoreError } from '../api/errors.js';

/**
 * A network link emulated in user space (this kernel has no netem): a transfer of N bytes is delivered after
 * RTT/2 + N*8/bandwidth (SCIENCE.md: T_up = RTT/2 + bytes / B_up), waited for with real timers and measured with
 * the monotonic clock. The bytes themselves travel: the receiver gets a copy of exactly what was sent.
 */
export interface LinkSpec {
  bandwidthBps: number;
  rttMs: number;
}

/** Both directions of a link, as core/api's LinkParams describes them. */
export interface DuplexLinkSpec {
  uplinkBps: number;
  downlinkBps: number;
  rttMs: number;
}

export interface TransferResult {
  /** Measured time from the call until delivery. */
  ms: number;
  /** Bytes transferred. */
  bytes: number;
  /** What the model says the transfer takes (without waiting behind other transfers). */
  theoreticalMs: number;
  /** Time spent waiting for earlier transfers on the same channel to finish serialising. */
  queuedMs: number;
  /** The delivered bytes (a copy). */
  data: Uint8Array;
}

export function checkLink(link: LinkSpec, what = 'link'): void {
  if (!(Number.isFinite(link.bandwidthBps) && link.bandwidthBps > 0) || !(Number.isFinite(link.rttMs) && link.rttMs >= 0)) {
    throw new CoreError('link-invalid', `The ${what} needs a positive finite bandwidth (bit/s) and a finite RTT >= 0 ms; got ${link.bandwidthBps} bit/s, ${link.rttMs} ms.`);
  }
}

/** RTT/2 + bytes * 8 / bandwidth, in milliseconds. */
export function transferTimeMs(bytes: number, link: LinkSpec): number {
  return link.rttMs / 2 + ((bytes * 8) / link.bandwidthBps) * 1000;
}

/**
 * Resolves at or after `deadline` (performance.now() time), and close to it. Node's timers have millisecond
 * granularity, often fire up to a millisecond late and can fire a fraction early against performance.now(), so
 * the wait sleeps on a timer until about 2 ms are left, then yields to the event loop (setImmediate) until the
 * deadline has passed: never early, typically a few tens of microseconds late, at the price of at most ~2 ms of
 * polling per transfer.
 */
export async function sleepUntil(deadline: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    if (signal?.aborted) throw new CoreError('cancelled', 'The transfer was cancelled.');
    const left = deadline - performance.now();
    if (left <= 0) return;
    if (left > 2) await new Promise<void>((resolve) => setTimeout(resolve, Math.floor(left - 1.5)));
    else await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** One transfer on an idle link. */
export async function transfer(bytes: Uint8Array, link: LinkSpec, signal?: AbortSignal): Promise<TransferResult> {
  return new EmulatedChannel(link).transfer(bytes, signal);
}

/**
 * One direction of a link shared by many transfers: they serialise one after another on the wire (each occupies
 * it for bytes*8/bandwidth), while the propagation delay RTT/2 overlaps, as on a real pipe. A lone transfer takes
 * exactly transferTimeMs.
 */
export class EmulatedChannel {
  private busyUntil = 0;

  constructor(readonly link: LinkSpec) {
    checkLink(link);
  }

  async transfer(bytes: Uint8Array, signal?: AbortSignal): Promise<TransferResult> {
    const data = bytes.slice();
    const t0 = performance.now();
    const start = Math.max(t0, this.busyUntil);
    this.busyUntil = start + ((bytes.length * 8) / this.link.bandwidthBps) * 1000;
    await sleepUntil(this.busyUntil + this.link.rttMs / 2, signal);
    return { ms: performance.now() - t0, bytes: bytes.length, theoreticalMs: transferTimeMs(bytes.length, this.link), queuedMs: start - t0, data };
  }
}

/** A full-duplex link: the uplink and the downlink are independent channels with the same RTT. */
export class EmulatedLink {
  readonly up: EmulatedChannel;
  readonly down: EmulatedChannel;

  constructor(readonly spec: DuplexLinkSpec) {
    checkLink({ bandwidthBps: spec.uplinkBps, rttMs: spec.rttMs }, 'uplink');
    checkLink({ bandwidthBps: spec.downlinkBps, rttMs: spec.rttMs }, 'downlink');
    this.up = new EmulatedChannel({ bandwidthBps: spec.uplinkBps, rttMs: spec.rttMs });
    this.down = new EmulatedChannel({ bandwidthBps: spec.downlinkBps, rttMs: spec.rttMs });
  }
}
