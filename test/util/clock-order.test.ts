import { VirtualClock } from "../../src/util/clock";
import { seededRandom as random } from "../../src/sim/seeded-random";

/**
 * The firing order a plain list gives (earliest due first, ties in queueing order, an interval
 * re-queued behind timers already waiting for its next instant), against the clock's heap, with
 * timeouts, intervals, sleeps and cancellations created as earlier timers fire.
 */
describe("VirtualClock firing order", () => {
  it("matches a sorted-list reference on a random schedule", async () => {
    const next = random(7);
    const clock = new VirtualClock(0);
    type Ref = { due: number; seq: number; id: string; period?: number; cancelled: boolean };
    const reference: Ref[] = [];
    let seq = 0;
    const fired: string[] = [];
    const expected: string[] = [];
    let made = 0;
    const schedule = () => {
      const id = `t${made++}`;
      const kind = next();
      const delay = Math.floor(next() * 50);
      if (kind < 0.45) {
        const h = clock.setTimeout(() => onFire(id), delay);
        const r: Ref = { due: clock.now() + delay, seq: seq++, id, cancelled: false };
        reference.push(r);
        if (next() < 0.1) {
          h.cancel();
          r.cancelled = true;
        }
      } else if (kind < 0.55 && made < 400) {
        const period = 1 + Math.floor(next() * 30);
        const h = clock.setInterval(() => onFire(id), period);
        const r: Ref = { due: clock.now() + period, seq: seq++, id, period, cancelled: false };
        reference.push(r);
        if (next() < 0.3) {
          h.cancel();
          r.cancelled = true;
        }
      } else {
        void clock.sleep(delay).then(() => undefined);
        reference.push({ due: clock.now() + delay, seq: seq++, id: `${id}-sleep`, cancelled: false });
      }
    };
    const onFire = (id: string) => {
      fired.push(id);
      if (made < 2000) for (let i = 0; i < 2; i++) schedule();
    };
    for (let i = 0; i < 20; i++) schedule();
    // Reference: repeatedly take the smallest (due, seq) live entry.
    const takeReference = (): Ref | undefined => {
      let best: Ref | undefined;
      for (const r of reference) if (!r.cancelled && (!best || r.due < best.due || (r.due === best.due && r.seq < best.seq))) best = r;
      return best;
    };
    let steps = 0;
    while (steps++ < 3000) {
      const r = takeReference();
      // The clock re-queues an interval before running its callback, so timers the callback
      // creates are numbered after it: the reference does the same before firing.
      if (r?.period !== undefined) {
        r.due += r.period;
        r.seq = seq++;
      } else if (r) {
        reference.splice(reference.indexOf(r), 1);
      }
      const before = fired.length;
      if (!clock.fireNext()) {
        expect(r).toBeUndefined();
        break;
      }
      expect(r).toBeDefined();
      expected.push(r!.id.endsWith("-sleep") ? "sleep" : r!.id);
      if (fired.length === before) fired.push("sleep");
    }
    expect(fired).toEqual(expected);
  });
});
