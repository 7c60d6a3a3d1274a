/**
 * The one clock every timer in the project goes through (job intervals, automation loops,
 * the profile scheduler, the simulator). Injecting it is what makes dry-runs and simulations
 * instant and tests deterministic: `RealClock` in production, `VirtualClock` in rehearsals.
 */

export interface TimerHandle {
  cancel(): void;
}

export interface TimerOptions {
  /**
   * The timer only keeps this process's own books (statistics, a batched database write) and
   * never acts on a unit. Real clocks ignore it; a simulation running its units in other threads
   * lets them run on past such a timer instead of stopping them there (see `VirtualClock.nextDue`).
   */
  housekeeping?: boolean;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number, options?: TimerOptions): TimerHandle;
  /** Repeats every `ms` (first call after `ms`); the period does not drift with callback time. */
  setInterval(fn: () => void, ms: number, options?: TimerOptions): TimerHandle;
  sleep(ms: number): Promise<void>;
}

export class RealClock implements Clock {
  now(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(t) };
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    // Schedules against absolute due times so a slow callback does not push later ticks back.
    let due = Date.now() + ms;
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const tick = () => {
      if (cancelled) return;
      fn();
      due += ms;
      const now = Date.now();
      if (due < now) due = now + ms - ((now - due) % ms);
      handle = setTimeout(tick, due - now);
    };
    handle = setTimeout(tick, ms);
    return {
      cancel: () => {
        cancelled = true;
        if (handle) clearTimeout(handle);
      },
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  }
}

/** A timer on a VirtualClock, and its own cancel handle (one object per timer: a simulation makes millions). */
class VirtualTimer implements TimerHandle {
  seq = 0;
  cancelled = false;

  constructor(
    public due: number,
    readonly fn: () => void,
    readonly period: number | undefined,
    /** See `TimerOptions.housekeeping`. */
    readonly housekeeping: boolean,
  ) {}

  cancel(): void {
    this.cancelled = true;
  }
}

/** Lets pending promise callbacks and I/O callbacks run before the next virtual timer fires. */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * A clock that only moves when told to, jumping straight to the next due timer.
 * Timers due at the same instant fire in the order they were created.
 */
export class VirtualClock implements Clock {
  private current: number;
  private seq = 0;
  private heap: VirtualTimer[] = [];
  /** Timers fired so far (benchmarks report it). */
  fired = 0;
  /** Whether `advanceTo` fires the timers itself (here) or waits for a driver to (SimulationClock). */
  readonly advancesItself: boolean = true;

  constructor(startMs: number = Date.UTC(2026, 0, 1)) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number, options?: TimerOptions): TimerHandle {
    return this.add(fn, Math.max(0, ms), undefined, options?.housekeeping);
  }

  setInterval(fn: () => void, ms: number, options?: TimerOptions): TimerHandle {
    if (!(ms > 0)) throw new RangeError(`setInterval needs a positive period, got ${ms}`);
    return this.add(fn, ms, ms, options?.housekeeping);
  }

  sleep(ms: number): Promise<void> {
    // No cancel handle: nothing can cancel a sleep, and a simulated OD reading sleeps between
    // every ADC sample.
    return new Promise((resolve) => this.push(new VirtualTimer(this.current + Math.max(0, ms), resolve, undefined, false)));
  }

  /** Number of timers still waiting. */
  pending(): number {
    return this.heap.filter((t) => !t.cancelled).length;
  }

  /**
   * Due time of the next live timer, or undefined when none is scheduled. With
   * `skipHousekeeping`, of the next one that may act on a unit; that looks at every timer, so it
   * is for clocks with a handful (a sharded simulation's coordinator), not a unit's thousands.
   */
  nextDue(options?: { skipHousekeeping?: boolean }): number | undefined {
    this.dropCancelledHead();
    if (!options?.skipHousekeeping) return this.heap[0]?.due;
    let due: number | undefined;
    for (const t of this.heap) if (!t.cancelled && !t.housekeeping && (due === undefined || t.due < due)) due = t.due;
    return due;
  }

  /**
   * How many live timers are due at or before `limitMs`, counting no further than `max`. Walks
   * only the heap's branches that start before the limit, so it costs about what it counts.
   */
  countDue(limitMs: number, max: number): number {
    const h = this.heap;
    let count = 0;
    const stack: number[] = h.length > 0 && h[0].due <= limitMs ? [0] : [];
    while (stack.length > 0 && count < max) {
      const i = stack.pop()!;
      if (!h[i].cancelled) count++;
      const left = 2 * i + 1;
      if (left < h.length && h[left].due <= limitMs) stack.push(left);
      if (left + 1 < h.length && h[left + 1].due <= limitMs) stack.push(left + 1);
    }
    return Math.min(count, max);
  }

  /**
   * Fires every timer due up to `target` in order, letting promise chains started by each
   * callback settle before the next one fires, then leaves the clock at `target`.
   */
  async advanceTo(target: number, settleRounds = 3): Promise<void> {
    await settle(settleRounds);
    while (this.fireNext(target)) await settle(settleRounds);
    this.jumpTo(target);
  }

  advance(ms: number, settleRounds = 3): Promise<void> {
    return this.advanceTo(this.current + ms, settleRounds);
  }

  /**
   * Runs timers until none is left or the clock passes `untilMs`.
   * Returns the number of timers fired (useful as a runaway guard in tests).
   */
  async runAll(untilMs = Number.POSITIVE_INFINITY, settleRounds = 3): Promise<number> {
    let fired = 0;
    await settle(settleRounds);
    while (this.fireNext(untilMs)) {
      fired++;
      await settle(settleRounds);
    }
    if (Number.isFinite(untilMs)) this.jumpTo(untilMs);
    return fired;
  }

  /**
   * Fires the earliest timer, moving time to it; false when none is waiting or it is due after
   * `limitMs`. Drivers that need their own pacing between timers (a simulated cluster gives each
   * timer one event-loop turn) call this directly.
   */
  fireNext(limitMs = Number.POSITIVE_INFINITY): boolean {
    const due = this.nextDue();
    if (due === undefined || due > limitMs) return false;
    const t = this.heap[0];
    this.current = Math.max(this.current, t.due);
    if (t.period !== undefined) {
      // Re-queued in place: one sift instead of a pop and a push.
      t.due += t.period;
      t.seq = this.seq++;
      this.siftDown(0);
    } else {
      this.pop();
    }
    this.fired++;
    t.fn();
    return true;
  }

  /** Moves time forward without firing anything (never backwards). */
  jumpTo(ms: number): void {
    this.current = Math.max(this.current, ms);
  }

  private add(fn: () => void, delay: number, period: number | undefined, housekeeping: boolean | undefined): TimerHandle {
    const timer = new VirtualTimer(this.current + delay, fn, period, housekeeping === true);
    this.push(timer);
    return timer;
  }

  private dropCancelledHead(): void {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop();
  }

  private push(t: VirtualTimer): void {
    // Numbered as queued, so timers due at the same instant fire in the order they were created.
    t.seq = this.seq++;
    const h = this.heap;
    // Sifts a hole up from the end and drops `t` into it (fewer writes than swapping).
    let i = h.length;
    h.push(t);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p];
      if (!before(t, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = t;
  }

  private pop(): VirtualTimer | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /** Moves the timer at `i` down to its place. */
  private siftDown(i: number): void {
    const h = this.heap;
    const t = h[i];
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(h[r], h[l]) ? r : l;
      if (!before(h[child], t)) break;
      h[i] = h[child];
      i = child;
    }
    h[i] = t;
  }
}

/** Earlier due time first; for the same instant, the timer queued first. */
function before(a: VirtualTimer, b: VirtualTimer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}
