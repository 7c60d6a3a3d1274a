/**
 * Clocks for simulated runs.
 *
 * - `SimulationClock` + `runUntil`: simulated time that jumps from timer to timer as fast as the
 *   work allows (`--fast`). Unlike `VirtualClock` driven by the profile scheduler (which lets
 *   promise chains settle for several event-loop turns around every timer, right for rehearsals
 *   with a handful of timers), a simulated cluster fires tens of timers per simulated second —
 *   every ADC sample of every OD reading is one — so the driver gives each timer exactly one
 *   event-loop turn: one `setImmediate` runs only after every microtask queued so far, which is all
 *   the in-process jobs need (the bus delivers by microtask; the DB writer batches per turn).
 *   The profile executor sees an ordinary Clock and simply waits on its timers.
 * - `ScaledClock`: real time sped up N× (`--speed N`).
 */
import { type Clock, type TimerHandle, VirtualClock } from "../util/clock";

/**
 * The virtual clock a simulated cluster runs on: `VirtualClock`'s timers, driven by `runUntil`
 * (one event-loop turn per timer) instead of `advanceTo`/`runAll` (several turns per timer).
 */
export class SimulationClock extends VirtualClock {
  /**
   * Waits for `runUntil` to bring the clock to `target`. Code written for a bare VirtualClock (the
   * profile scheduler advances one itself when nothing else does) would otherwise drive this clock
   * too, two settle rounds per timer, alongside `runUntil`: most of a simulation's timers fired
   * that way, at three times the event-loop turns.
   */
  override async advanceTo(target: number): Promise<void> {
    const now = this.now();
    if (target > now) await this.sleep(target - now);
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs `work` to completion on a SimulationClock: one event-loop turn, then the next timer, until
 * `work` settles. Fails (naming `what`) if simulated time passes `maxVirtualMs` first, or if
 * nothing is left to fire while `work` still waits (it waits on something that will never come).
 * On any other clock it just awaits `work`.
 */
export async function runUntil<T>(clock: Clock, work: Promise<T>, what: string, maxVirtualMs = Number.POSITIVE_INFINITY): Promise<T> {
  if (!(clock instanceof SimulationClock)) return work;
  let done = false;
  work.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  const limit = clock.now() + maxVirtualMs;
  let idleTurns = 0;
  for (;;) {
    await turn();
    if (done) break;
    if (clock.fireNext(limit)) {
      idleTurns = 0;
      continue;
    }
    // Nothing due: give real I/O (a database write finishing) a few turns before giving up.
    if (++idleTurns > 20) {
      const next = clock.nextDue();
      throw new Error(
        next === undefined
          ? `${what} is waiting for something that will never happen (no timer left).`
          : `${what} did not finish within ${Math.round(maxVirtualMs / 1000)} simulated seconds.`,
      );
    }
  }
  return work;
}

export class ScaledClock implements Clock {
  private readonly wallStart = Date.now();

  constructor(
    private readonly startMs: number,
    readonly speed: number,
  ) {
    if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`speed must be a positive number, got ${speed}`);
  }

  now(): number {
    return this.startMs + (Date.now() - this.wallStart) * this.speed;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = setTimeout(fn, Math.max(0, ms) / this.speed);
    return { cancel: () => clearTimeout(t) };
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    // Absolute due times in simulated ms, so slow callbacks do not make the period drift.
    let due = this.now() + ms;
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const tick = () => {
      if (cancelled) return;
      fn();
      due += ms;
      const now = this.now();
      if (due < now) due = now + ms - ((now - due) % ms);
      handle = setTimeout(tick, (due - now) / this.speed);
    };
    handle = setTimeout(tick, ms / this.speed);
    return {
      cancel: () => {
        cancelled = true;
        if (handle) clearTimeout(handle);
      },
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }
}
