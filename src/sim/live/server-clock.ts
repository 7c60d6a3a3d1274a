/**
 * The leader web server's clock while it serves a simulated cluster: it tells the simulation's time
 * (so rows, time-series windows and new experiments share one time line with the units' readings,
 * even at `--speed` 100) but waits in real time, so HTTP timeouts and task polling keep the
 * intervals a browser and a loopback request need.
 */
import type { Clock, TimerHandle } from "../../util/clock";

export class SimulatedTimeServerClock implements Clock {
  constructor(
    /** Whose `now()` is told. */
    private readonly simulated: Pick<Clock, "now">,
    /** Whose timers run. */
    private readonly real: Clock,
  ) {}

  now(): number {
    return this.simulated.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.real.setTimeout(fn, ms);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.real.setInterval(fn, ms);
  }

  sleep(ms: number): Promise<void> {
    return this.real.sleep(ms);
  }
}
