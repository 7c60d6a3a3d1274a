import { RepeatedTimer } from "../../src/jobs/repeated-timer";
import { VirtualClock } from "../../src/util/clock";

describe("RepeatedTimer", () => {
  it("runs a microtask after each tick on a fixed grid, skipping ticks while a run is busy or paused", async () => {
    const clock = new VirtualClock(0);
    const runs: number[] = [];
    let release: (() => void) | undefined;
    const timer = new RepeatedTimer(
      clock,
      () => {
        runs.push(clock.now());
        if (runs.length === 2) return new Promise<void>((resolve) => (release = resolve));
      },
      { intervalMs: 10, runAfterMs: 5, runImmediately: true },
    ).start();
    clock.fireNext();
    expect(runs).toEqual([]); // not in the timer's own turn
    await Promise.resolve();
    expect(runs).toEqual([5]);
    await clock.advanceTo(40);
    expect(runs).toEqual([5, 15]); // 25 and 35 skipped: the run from 15 is still busy
    release?.();
    await clock.advanceTo(45);
    expect(runs).toEqual([5, 15, 45]);
    timer.pause();
    await clock.advanceTo(65);
    timer.unpause();
    await clock.advanceTo(75);
    expect(runs).toEqual([5, 15, 45, 75]);
    timer.cancel();
    await clock.advanceTo(200);
    expect(runs).toHaveLength(4);
  });

  it("reports a throwing or rejecting run and keeps going", async () => {
    const clock = new VirtualClock(0);
    const errors: string[] = [];
    let n = 0;
    new RepeatedTimer(
      clock,
      () => {
        n++;
        if (n === 1) throw new Error("sync");
        if (n === 2) return Promise.reject(new Error("async"));
      },
      { intervalMs: 10 },
      (e) => errors.push((e as Error).message),
    ).start();
    await clock.advanceTo(30);
    expect(errors).toEqual(["sync", "async"]);
    expect(n).toBe(3);
  });
});
