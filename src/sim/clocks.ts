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
import type { Clock, TimerHandle } from "../util/clock";

interface Timer {
  due: number;
  seq: number;
  fn: () => void;
  period?: number;
  cancelled: boolean;
}

export class SimulationClock implements Clock {
  private current: number;
  private seq = 0;
  private readonly heap: Timer[] = [];
  /** Timers fired so far (the benchmark reports it). */
  fired = 0;

  constructor(startMs: number) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, Math.max(0, ms));
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    if (!(ms > 0)) throw new RangeError(`setInterval needs a positive period, got ${ms}`);
    return this.add(fn, ms, ms);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  nextDue(): number | undefined {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop();
    return this.heap[0]?.due;
  }

  /** Fires the earliest timer (moving time to it); false when none is waiting or it is due after `limitMs`. */
  fireNext(limitMs = Number.POSITIVE_INFINITY): boolean {
    const due = this.nextDue();
    if (due === undefined || due > limitMs) return false;
    const t = this.pop()!;
    if (t.due > this.current) this.current = t.due;
    if (t.period !== undefined) {
      t.due += t.period;
      this.push(t);
    }
    this.fired++;
    t.fn();
    return true;
  }

  /** Moves time forward with no timer firing (e.g. to the end of a horizon). */
  jumpTo(ms: number): void {
    if (ms > this.current) this.current = ms;
  }

  private add(fn: () => void, delay: number, period?: number): TimerHandle {
    const timer: Timer = { due: this.current + delay, seq: 0, fn, period, cancelled: false };
    this.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  private less(a: Timer, b: Timer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(t: Timer): void {
    // Timers due at the same instant fire in the order they were (re)scheduled.
    t.seq = this.seq++;
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
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
