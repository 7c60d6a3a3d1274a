import { VirtualClock } from "../../src/util/clock";

test("virtual clock fires timers in due order, same-instant timers in creation order", async () => {
  const clock = new VirtualClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push("b@20"), 20);
  clock.setTimeout(() => fired.push("a@10"), 10);
  clock.setTimeout(() => fired.push("c@20"), 20);
  await clock.advance(15);
  expect(fired).toEqual(["a@10"]);
  expect(clock.now()).toBe(15);
  await clock.runAll();
  expect(fired).toEqual(["a@10", "b@20", "c@20"]);
  expect(clock.now()).toBe(20);
});

test("intervals repeat and can be cancelled; sleep resolves on virtual time", async () => {
  const clock = new VirtualClock(1000);
  let ticks = 0;
  const h = clock.setInterval(() => ticks++, 5);
  await clock.advance(26);
  expect(ticks).toBe(5);
  h.cancel();
  await clock.advance(100);
  expect(ticks).toBe(5);

  const order: number[] = [];
  const run = async () => {
    await clock.sleep(3_600_000);
    order.push(clock.now());
  };
  void run();
  await clock.runAll();
  expect(order).toEqual([1126 + 3_600_000]);
});

test("a timer set from inside an async callback chain is honoured", async () => {
  const clock = new VirtualClock(0);
  const seen: number[] = [];
  const loop = async () => {
    for (let i = 0; i < 3; i++) {
      await clock.sleep(10);
      await Promise.resolve();
      seen.push(clock.now());
    }
  };
  void loop();
  await clock.runAll();
  expect(seen).toEqual([10, 20, 30]);
});

test("nextDue can skip housekeeping timers (a sharded simulation's units run on past them)", async () => {
  const clock = new VirtualClock(0);
  const fired: string[] = [];
  const stats = clock.setInterval(() => fired.push("stats"), 60_000, { housekeeping: true });
  clock.setTimeout(() => fired.push("flush"), 30_000, { housekeeping: true });
  const action = clock.setTimeout(() => fired.push("action"), 150_000);
  expect(clock.nextDue()).toBe(30_000);
  expect(clock.nextDue({ skipHousekeeping: true })).toBe(150_000);
  action.cancel();
  expect(clock.nextDue({ skipHousekeeping: true })).toBeUndefined();
  // Housekeeping timers fire like any other.
  await clock.advanceTo(120_000);
  expect(fired).toEqual(["flush", "stats", "stats"]);
  stats.cancel();
  expect(clock.nextDue()).toBeUndefined();
});

test("countDue counts live timers due by a limit, up to a maximum", () => {
  const clock = new VirtualClock(0);
  const handles = [50, 10, 30, 70, 20, 90, 40].map((ms) => clock.setTimeout(() => undefined, ms));
  expect(clock.countDue(40, 32)).toBe(4);
  handles[2].cancel(); // the one at 30
  expect(clock.countDue(40, 32)).toBe(3);
  expect(clock.countDue(100, 32)).toBe(6);
  expect(clock.countDue(100, 2)).toBe(2);
  expect(clock.countDue(5, 32)).toBe(0);
});
