/**
 * The profile's time line: a priority queue of tasks by absolute due time, and a driver that waits
 * for the next one on the injected Clock.
 *
 * Order at equal due times is insertion order, never action type: the original's `sched` reads the
 * clock at every `enter()`, so its priority table is effectively never consulted (spec §6.1).
 *
 * Waiting: on a RealClock we sleep until the next due time or until woken (a task was added, a
 * unit queue went idle, a stop was asked). On a VirtualClock nobody else moves time, so the driver
 * jumps the clock straight to the earliest of our next task and any other timer (a slow fake
 * unit's latency, a task-poll sleep), letting promise chains settle in between: a 30-day profile
 * rehearses in well under a second, in the same order a real run would take.
 */
import { type Clock, settle, VirtualClock } from "../util/clock";

export interface QueuedTask<T> {
  dueMs: number;
  seq: number;
  payload: T;
  cancelled: boolean;
}

/** Min-heap on (dueMs, seq). Cancelled tasks are dropped lazily. */
export class TaskQueue<T> {
  private heap: QueuedTask<T>[] = [];
  private nextSeq = 0;
  private live = 0;

  push(dueMs: number, payload: T): QueuedTask<T> {
    const task: QueuedTask<T> = { dueMs, seq: this.nextSeq++, payload, cancelled: false };
    const h = this.heap;
    h.push(task);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
    this.live++;
    return task;
  }

  cancel(task: QueuedTask<T>): void {
    if (task.cancelled) return;
    task.cancelled = true;
    this.live--;
  }

  peek(): QueuedTask<T> | undefined {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.popRaw();
    return this.heap[0];
  }

  pop(): QueuedTask<T> | undefined {
    const top = this.peek();
    if (top) {
      this.popRaw();
      this.live--;
    }
    return top;
  }

  /** Live tasks due at or before `limitMs`, in no particular order; visits only the heap's top that can hold them. */
  dueBy(limitMs: number): QueuedTask<T>[] {
    const out: QueuedTask<T>[] = [];
    const h = this.heap;
    const stack = h.length > 0 ? [0] : [];
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (h[i].dueMs > limitMs) continue; // children are due no earlier than their parent
      if (!h[i].cancelled) out.push(h[i]);
      for (const c of [2 * i + 1, 2 * i + 2]) if (c < h.length) stack.push(c);
    }
    return out;
  }

  get size(): number {
    return this.live;
  }

  /** Live tasks in due order (for plans, progress and the early-stop count). */
  snapshot(): QueuedTask<T>[] {
    return this.heap.filter((t) => !t.cancelled).sort((a, b) => (before(a, b) ? -1 : 1));
  }

  private popRaw(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l], h[m])) m = l;
      if (r < h.length && before(h[r], h[m])) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}

function before<T>(a: QueuedTask<T>, b: QueuedTask<T>): boolean {
  return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq);
}

/** A level-triggered wake-up: `wait()` resolves at the next `fire()` (or at once if one is pending). */
export class WakeSignal {
  private pending = false;
  private resolvers: Array<() => void> = [];

  fire(): void {
    this.pending = true;
    const rs = this.resolvers;
    this.resolvers = [];
    for (const r of rs) r();
  }

  wait(): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.resolvers.push(resolve));
  }

  /** True while someone waits for the next `fire()` (and none has come yet). */
  get awaited(): boolean {
    return this.resolvers.length > 0;
  }

  /** Forget a wake that arrived while we were not waiting but has been accounted for. */
  clear(): void {
    this.pending = false;
  }

  /** True (once) if a wake arrived since the last wait/clear. */
  consume(): boolean {
    const was = this.pending;
    this.pending = false;
    return was;
  }
}

/**
 * Waits until `dueMs` (or forever when undefined) unless woken first. `busy` says whether work
 * handed out earlier is still running: on a VirtualClock we must not move time while that work can
 * still progress without it (it may schedule something earlier than the next timer).
 */
export async function waitForDueOrWake(
  clock: Clock,
  dueMs: number | undefined,
  wake: WakeSignal,
  busy: () => boolean = () => false,
): Promise<void> {
  if (clock instanceof VirtualClock) {
    wake.clear();
    // Pure promise work finishes within a few turns; work still busy after that waits on a timer (or real I/O).
    for (let i = 0; i < 50 && busy(); i++) {
      await settle(1);
      if (wake.consume()) return;
    }
    await settle(1);
    if (wake.consume()) return;
    // A clock moved by a driver of its own (a simulation) fires the timers: sleep to our own due
    // time only (below), so the driver knows when the profile acts next.
    if (!clock.advancesItself) return waitOnDrivenClock(clock, dueMs, wake);
    const timer = clock.nextDue();
    const target = Math.min(dueMs ?? Number.POSITIVE_INFINITY, timer ?? Number.POSITIVE_INFINITY);
    if (Number.isFinite(target)) {
      await clock.advanceTo(Math.max(target, clock.now()), 2);
      return;
    }
    // Only real I/O (a real socket in a test) can make progress now: wait for it.
    await wake.wait();
    return;
  }
  return waitOnDrivenClock(clock, dueMs, wake);
}

/** Sleeps until `dueMs` on a clock something else moves, unless woken first (work that finished meanwhile). */
async function waitOnDrivenClock(clock: Clock, dueMs: number | undefined, wake: WakeSignal): Promise<void> {
  if (dueMs === undefined) {
    await wake.wait();
    return;
  }
  let handle: { cancel(): void } | undefined;
  await Promise.race([
    new Promise<void>((resolve) => {
      handle = clock.setTimeout(resolve, dueMs - clock.now());
    }),
    wake.wait(),
  ]);
  handle?.cancel();
}

/** `clock.sleep` that also works when nobody else drives a VirtualClock. */
export async function sleepOn(clock: Clock, ms: number): Promise<void> {
  if (clock instanceof VirtualClock) {
    await clock.advanceTo(clock.now() + ms, 2);
    return;
  }
  await clock.sleep(ms);
}
