// Progress reporting: bytes done out of bytes total, throttled, as JSON lines a pod can emit.

/** A progress sample. */
export interface Progress {
  readonly phase: 'backup' | 'restore';
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

/** Receives progress samples. */
export type ProgressSink = (p: Progress) => void;

/** Counts bytes and calls the sink at most every intervalMs (and always on finish). */
export class ProgressMeter {
  private done = 0;
  private last = 0;
  private readonly phase: Progress['phase'];
  private readonly total: number;
  private readonly sink: ProgressSink | undefined;
  private readonly intervalMs: number;

  constructor(phase: Progress['phase'], total: number, sink?: ProgressSink, intervalMs = 1000) {
    this.phase = phase;
    this.total = total;
    this.sink = sink;
    this.intervalMs = intervalMs;
  }

  /** Adds bytes processed. */
  add(bytes: number): void {
    this.done += bytes;
    const now = Date.now();
    if (this.sink && now - this.last >= this.intervalMs) {
      this.last = now;
      this.sink({ phase: this.phase, bytesDone: this.done, bytesTotal: this.total });
    }
  }

  /** Reports the final sample. */
  finish(): void {
    this.sink?.({ phase: this.phase, bytesDone: this.done, bytesTotal: this.total });
  }
}

/** A sink writing one JSON line per sample to a stream (stderr by default, so --json output stays clean). */
export function jsonLines(out: NodeJS.WritableStream = process.stderr): ProgressSink {
  return (p) => {
    out.write(`${JSON.stringify({ event: 'progress', ...p })}\n`);
  };
}
