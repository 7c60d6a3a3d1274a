/**
 * Stirring RPM from the hall sensor: one falling edge per revolution. Over an observation window
 * the RPM is 60 / (mean period between edges), rounded to 0.1, and 0 when fewer than two edges arrive.
 */
import type { GpioEdgeSource } from "../hardware/ports";
import type { Clock } from "../util/clock";

export interface RpmCalculator {
  /** Watches the sensor for `seconds` and returns the RPM seen. */
  estimate(seconds: number): Promise<number>;
  close(): Promise<void>;
}

export class RpmFromEdges implements RpmCalculator {
  constructor(
    private readonly sensor: GpioEdgeSource,
    private readonly clock: Clock,
  ) {}

  async estimate(seconds: number): Promise<number> {
    let previous: number | undefined;
    let count = 0;
    let sum = 0;
    const stop = this.sensor.onEdge((t) => {
      if (previous !== undefined) {
        count++;
        sum += t - previous;
      }
      previous = t;
    });
    try {
      await this.clock.sleep(seconds * 1000);
    } finally {
      stop();
    }
    if (count === 0 || sum <= 0) return 0;
    return Math.round((count * 60_000) / sum * 10) / 10;
  }

  close(): Promise<void> {
    return this.sensor.close();
  }
}
