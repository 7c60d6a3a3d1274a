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
  override readonly advancesItself = false;

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

export const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Most timers fired in one pass of the event loop (see `fireBatch`). */
const TIMERS_PER_PASS = 32;
/** Immediates a pass queues beyond the timers already due in its span (see `fireBatch`). */
const SPARE_PER_PASS = 4;
/** A pass stops at timers due this far (simulated ms) after its first: bounds how far time runs on while other code waits for a turn. */
const PASS_SPAN_MS = 100;

/**
 * Fires up to TIMERS_PER_PASS timers, each in its own `setImmediate` callback, all queued at once.
 * Node runs every microtask (and nextTick) between two immediates of one pass, so each timer's
 * promise chains settle before the next fires, exactly as with one event-loop turn per timer,
 * without a trip through the event loop's poll phase per timer. Immediates queued by other code
 * meanwhile run in the next pass, which is why a pass spans at most PASS_SPAN_MS of simulated time.
 * Resolves with the number fired; 0 when nothing was due (or `isDone()`).
 */
export function fireBatch(clock: SimulationClock, limitMs: number, isDone: () => boolean): Promise<number> {
  return new Promise((resolve) => {
    const passLimit = Math.min(limitMs, (clock.nextDue() ?? Number.POSITIVE_INFINITY) + PASS_SPAN_MS);
    // As many immediates as timers are due in the pass's span, and a few for timers those set
    // for the same span: most passes need far fewer than TIMERS_PER_PASS.
    const queued = Math.min(TIMERS_PER_PASS, clock.countDue(passLimit, TIMERS_PER_PASS) + SPARE_PER_PASS);
    let fired = 0;
    let left = queued;
    let stopped = false;
    const step = () => {
      if (!stopped) {
        if (isDone() || !clock.fireNext(passLimit)) stopped = true;
        else fired++;
      }
      if (--left === 0) resolve(fired);
    };
    for (let i = 0; i < queued; i++) setImmediate(step);
  });
}

/** True once `work` has settled, either way (checked between timers by the drivers). */
export function settledFlag(work: Promise<unknown>): () => boolean {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  work.then(mark, mark);
  return () => settled;
}

/**
 * Runs `work` to completion on a SimulationClock: one event-loop turn, then the next timer, until
 * `work` settles. Fails (naming `what`) if simulated time passes `maxVirtualMs` first, or if
 * nothing is left to fire while `work` still waits (it waits on something that will never come).
 * On any other clock it just awaits `work`.
 */
export async function runUntil<T>(clock: Clock, work: Promise<T>, what: string, maxVirtualMs = Number.POSITIVE_INFINITY): Promise<T> {
  if (!(clock instanceof SimulationClock)) return work;
  const done = settledFlag(work);
  const limit = clock.now() + maxVirtualMs;
  let idleTurns = 0;
  for (;;) {
    await turn();
    if (done()) break;
    if ((await fireBatch(clock, limit, done)) > 0) {
      idleTurns = 0;
      continue;
    }
    if (done()) break;
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
