/** The simulation clock's driver: timer order, settling between timers, waiting executors, stalls. */
import { runUntil, SimulationClock } from "../../src/sim/clocks";

const START = Date.UTC(2026, 0, 1);

test("each timer's promise chains settle before the next timer fires, in due order", async () => {
  const clock = new SimulationClock(START);
  const seen: string[] = [];
  for (const at of [30, 10, 20]) {
    clock.setTimeout(() => {
      seen.push(`start ${at}`);
      void (async () => {
        for (let i = 0; i < 5; i++) await Promise.resolve();
        seen.push(`end ${at}`);
      })();
    }, at);
  }
  await runUntil(clock, clock.sleep(100), "the test");
  expect(seen).toEqual(["start 10", "end 10", "start 20", "end 20", "start 30", "end 30"]);
  expect(clock.now()).toBe(START + 100);
});

test("advanceTo waits for the driver and wakes exactly at its target while other timers fire", async () => {
  const clock = new SimulationClock(START);
  let ticks = 0;
  const ticker = clock.setInterval(() => ticks++, 7);
  const woke = runUntil(
    clock,
    (async () => {
      await clock.advanceTo(START + 1_000);
      return clock.now();
    })(),
    "the waiter",
  );
  expect(await woke).toBe(START + 1_000);
  expect(ticks).toBe(142);
  ticker.cancel();
});

test("code waiting for a real event-loop turn sees at most 100 simulated ms go by", async () => {
  const clock = new SimulationClock(START);
  const ticker = clock.setInterval(() => undefined, 1);
  const seenAt: number[] = [];
  clock.setTimeout(() => setImmediate(() => seenAt.push(clock.now() - START)), 5);
  await runUntil(clock, clock.sleep(1_000), "the test");
  ticker.cancel();
  expect(seenAt).toHaveLength(1);
  expect(seenAt[0]).toBeGreaterThanOrEqual(5);
  expect(seenAt[0]).toBeLessThanOrEqual(105);
});

test("a run waiting on nothing that can happen fails with a clear message", async () => {
  const clock = new SimulationClock(START);
  await expect(runUntil(clock, new Promise<void>(() => undefined), "the stuck job")).rejects.toThrow(
    "the stuck job is waiting for something that will never happen (no timer left).",
  );
});
