import { InProcessBus } from "../../src/sim/in-process-bus";

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("InProcessBus delivery", () => {
  it("hands each publish to every matching subscriber in subscription order, before what their handlers publish", async () => {
    const bus = new InProcessBus();
    const a = bus.connect({ clientIdBase: "a" });
    const b = bus.connect({ clientIdBase: "b" });
    const seen: string[] = [];
    await a.subscribe("t/#", (m) => {
      seen.push(`a ${m.topic} ${m.payload.toString()}`);
      if (m.topic === "t/1") void a.publish("t/2", "from a");
    });
    await b.subscribe("t/+", (m) => seen.push(`b ${m.topic} ${m.payload.toString()} q${m.qos}`), { qos: 1 });
    void a.publish("t/1", "x", { qos: 2 });
    void a.publish("t/3", Buffer.from("y"));
    await flush();
    expect(seen).toEqual(["a t/1 x", "b t/1 x q1", "a t/3 y", "b t/3 y q0", "a t/2 from a", "b t/2 from a q0"]);
    expect(bus.stats().delivered).toBe(6);
  });

  it("keeps retained text, clears it with an empty payload, and delivers it as bytes", async () => {
    const bus = new InProcessBus();
    const c = bus.connect({ clientIdBase: "c" });
    await c.publish("s/state", "ready ✓", { retain: true, qos: 2 });
    expect(bus.retainedValue("s/state")).toBe("ready ✓");
    const got: Buffer[] = [];
    await c.subscribe("s/#", (m) => got.push(m.payload));
    await flush();
    expect(got.map((p) => [Buffer.isBuffer(p), p.toString("utf8")])).toEqual([[true, "ready ✓"]]);
    await c.publish("s/state", "", { retain: true });
    expect(bus.retainedValue("s/state")).toBeUndefined();
    await c.publish("s/bytes", Buffer.from([0xe2, 0x9c, 0x93]), { retain: true });
    expect(bus.retainedValue("s/bytes")).toBe("✓");
  });
});
