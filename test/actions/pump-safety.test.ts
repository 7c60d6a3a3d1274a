/** Pump actions: the volume interlock, early stops (request and broker loss), event bookkeeping, CLI ranges. */
import { type PumpEnvironment, runPump, VolumeInterlockError } from "../../src/actions/pump";
import { parseNonNegative, parsePumpSteps } from "../../src/actions/pumps";
import { decodeDosingEvent } from "../../src/pubsub/structs";
import { Rig } from "../automations/helpers/rig";

function dosingEvents(rig: Rig) {
  return rig.bus.log.filter((p) => p.topic.endsWith("/dosing_events")).map((p) => JSON.parse(p.payload) as { volume_change: number; event: string });
}

test("the volume interlock refuses a dose that would overflow the vessel, and nothing moves", async () => {
  const rig = new Rig();
  try {
    const before = rig.sim.bioreactor.readout().volumeMl;
    await expect(runPump("media_pump", rig.pumpEnvironment(), { ml: 30 })).rejects.toThrow(VolumeInterlockError);
    await expect(runPump("media_pump", rig.pumpEnvironment(), { ml: 30 })).rejects.toThrow(/at most 40 mL .*at most 25\.00 mL now/);
    expect(rig.sim.bioreactor.readout().volumeMl).toBe(before);
    expect(dosingEvents(rig)).toEqual([]);
    // The action still reported its lifecycle, ending disconnected.
    expect(rig.bus.retainedValue("pioreactor/leader/exp1/add_media/$state")).toBe("disconnected");
    // Waste is never refused, and a dose that fits goes through.
    const ok = runPump("media_pump", rig.pumpEnvironment(), { ml: 1 });
    await rig.run(2_000, 100);
    await expect(ok).resolves.toBeCloseTo(1);
  } finally {
    rig.close();
  }
});

test("dosing events are announced in 0.5 s chunks and add up to what was returned", async () => {
  const rig = new Rig({ pumpMlPerSecondAtFullDuty: 1 });
  try {
    const moved = runPump("waste_pump", rig.pumpEnvironment(), { duration: 1.7, sourceOfEvent: "test" });
    await rig.run(5_000, 100);
    expect(await moved).toBeCloseTo(1.7);
    const events = dosingEvents(rig);
    expect(events.map((e) => e.volume_change)).toEqual([0.5, 0.5, 0.5, expect.closeTo(0.2, 9)]);
    for (const p of rig.bus.log.filter((m) => m.topic.endsWith("/dosing_events"))) {
      expect(decodeDosingEvent(p.payload).ok).toBe(true);
      expect([p.qos, p.retain]).toEqual([2, false]);
    }
  } finally {
    rig.close();
  }
});

test("a $state/set disconnected stops the pump early with a correcting event", async () => {
  const rig = new Rig({ pumpMlPerSecondAtFullDuty: 1 });
  try {
    const moved = runPump("media_pump", rig.pumpEnvironment(), { ml: 5 });
    await rig.run(1_200, 100);
    const commander = rig.bus.connect({ clientIdBase: "ui" });
    await commander.publish("pioreactor/$broadcast/$experiment/add_media/$state/set", "disconnected", { qos: 1 });
    await rig.run(1_000, 100);
    const total = await moved;
    expect(total).toBeGreaterThan(1.1);
    expect(total).toBeLessThan(1.5);
    expect(dosingEvents(rig).reduce((a, e) => a + e.volume_change, 0)).toBeCloseTo(total, 9);
    expect(rig.sim.bioreactor.readout().dutyCycles).toEqual({});
  } finally {
    rig.close();
  }
});

test("losing the broker stops a running pump", async () => {
  const rig = new Rig({ pumpMlPerSecondAtFullDuty: 1 });
  try {
    const clients: Array<ReturnType<typeof rig.bus.connect>> = [];
    const env: PumpEnvironment = {
      ...rig.pumpEnvironment(),
      connect: async (req) => {
        const c = rig.bus.connect(req);
        clients.push(c);
        return c;
      },
    };
    const moved = runPump("waste_pump", env, { continuously: true });
    await rig.run(3_000, 100);
    clients[0].simulateConnectionLoss();
    await rig.run(1_000, 100);
    const total = await moved;
    expect(total).toBeCloseTo(3, 0);
    expect(rig.sim.bioreactor.readout().dutyCycles).toEqual({});
    expect(rig.bus.retainedValue("pioreactor/leader/exp1/remove_waste/$state")).toBe("lost");
  } finally {
    rig.close();
  }
});

test("CLI values out of range are refused with the allowed range", () => {
  expect(() => parseNonNegative("--ml")("-1")).toThrow("Invalid value for '--ml': -1 is not in the range x>=0.");
  expect(() => parseNonNegative("--duration")("abc")).toThrow("'abc' is not a valid float");
  expect(parsePumpSteps(["--media", "1", "--sleep", "2", "--waste_", "3"])).toEqual([
    { kind: "media", ml: 1 },
    { kind: "sleep", seconds: 2 },
    { kind: "waste", ml: 3 },
  ]);
  expect(() => parsePumpSteps(["--salt", "1"])).toThrow(/use --media, --alt_media, --waste/);
});
