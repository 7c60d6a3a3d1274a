/**
 * The original's RepeatedTimer on an injected clock: waits `runAfter`, optionally runs at once,
 * then runs on a fixed grid of `interval`. Pausing skips runs without shifting the grid.
 */
import type { Clock, TimerHandle } from "../util/clock";

export interface RepeatedTimerOptions {
  intervalMs: number;
  runAfterMs?: number;
  runImmediately?: boolean;
}

export class RepeatedTimer {
  private paused = false;
  private startHandle: TimerHandle | undefined;
  private intervalHandle: TimerHandle | undefined;
  private running = false;

  constructor(
    private readonly clock: Clock,
    private readonly fn: () => void | Promise<void>,
    private readonly options: RepeatedTimerOptions,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  start(): this {
    const { intervalMs, runAfterMs = 0, runImmediately = false } = this.options;
    this.startHandle = this.clock.setTimeout(() => {
      this.startHandle = undefined;
      if (runImmediately) this.tick();
      this.intervalHandle = this.clock.setInterval(() => this.tick(), intervalMs);
    }, runAfterMs);
    return this;
  }

  pause(): void {
    this.paused = true;
  }

  unpause(): void {
    this.paused = false;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  cancel(): void {
    this.startHandle?.cancel();
    this.intervalHandle?.cancel();
  }

  /**
   * A run that is still busy when the next one is due is skipped, not stacked. The run starts a
   * microtask after the timer fired, as it always has; it costs no promise unless `fn` returns one
   * (this used to be a then/catch/finally chain, three promises per OD reading and automation run).
   */
  private tick(): void {
    if (this.paused || this.running) return;
    this.running = true;
    queueMicrotask(this.run);
  }

  private readonly run = (): void => {
    let result: void | Promise<void>;
    try {
      result = this.fn();
    } catch (e) {
      // Reported a microtask later, as the rejected chain reported it.
      result = Promise.reject(e);
    }
    if (result instanceof Promise) result.then(this.finished, this.failed);
    else this.running = false;
  };

  private readonly finished = (): void => {
    this.running = false;
  };

  private readonly failed = (e: unknown): void => {
    try {
      this.onError(e);
    } finally {
      this.running = false;
    }
  };
}
