/**
 * led_intensity: the `leds` cache, the retained `leds/intensity` map (QoS 0), LEDChangeEvents,
 * software locks, range refusal and the CLI pseudo-job registration.
 */
import { formatThreeSignificant, cliCallRegistrar, LedController } from "../../src/actions/led-intensity";
import { createSimulatedUnit } from "../../src/hardware/sim";
import { KeyValueCache, openCacheDatabase } from "../../src/jobs/local-storage";
import { JobLogger, type LogRecord, type LogSink } from "../../src/jobs/logger";
import { JobRegistry } from "../../src/jobs/registry";
import { encodeMsgspecJson } from "../../src/pubsub/codec";
import { decodeLEDChangeEvent } from "../../src/pubsub/structs";
import { parseFloatRange } from "../../src/jobs/job-command";
import { VirtualClock } from "../../src/util/clock";

class Logs implements LogSink {
  readonly records: LogRecord[] = [];
  write(r: LogRecord): void {
    this.records.push(r);
  }
}

/** Which LED driver the controller gets: the simulator's (with `setIntensitySync`), or one offering only the async call. */
type DriverMode = "sync" | "async-only";

function rig(mode: DriverMode = "sync") {
  const clock = new VirtualClock(Date.UTC(2026, 10, 21, 5, 43, 57, 120));
  const db = openCacheDatabase(":memory:");
  const sim = createSimulatedUnit({ seed: 1, clock });
  const published: Array<{ topic: string; payload: string; qos: number; retain: boolean }> = [];
  const logs = new Logs();
  const registry = new JobRegistry(db);
  const controller = new LedController({
    unit: "unit1",
    experiment: "exp1",
    clock,
    driver: mode === "sync" ? sim.backend.ledDriver : { setIntensity: (c, p) => sim.backend.ledDriver.setIntensity(c, p) },
    leds: new KeyValueCache(db, "leds"),
    locks: new KeyValueCache(db, "led_locks"),
    publish: (topic, payload, opts) => {
      published.push({ topic, payload, ...opts });
    },
    logger: new JobLogger({ task: "led_intensity", source: "app", unit: "unit1", experiment: "exp1" }, clock, [logs]),
    registerCliCall: cliCallRegistrar(registry, { unit: "unit1", experiment: "exp1", leader: "leader", jobSource: "user", pid: 4242 }),
  });
  return { clock, db, sim, published, logs, registry, controller, leds: new KeyValueCache(db, "leds"), locks: new KeyValueCache(db, "led_locks") };
}

test("sets channels, merges the cache and publishes the full map retained at QoS 0, then one event per channel", async () => {
  const r = rig();
  expect(await r.controller.setIntensities({ B: 50, D: 12.345 }, { sourceOfEvent: "CLI" })).toBe(true);
  expect(r.sim.bioreactor.readout().leds).toMatchObject({ A: 0, B: 50, C: 0, D: 12.345 });
  expect(r.published).toEqual([
    { topic: "pioreactor/unit1/exp1/leds/intensity", payload: '{"A":0.0,"B":50.0,"C":0.0,"D":12.345}', qos: 0, retain: true },
    {
      topic: "pioreactor/unit1/exp1/led_change_events",
      payload: '{"channel":"B","intensity":50.0,"source_of_event":"CLI","timestamp":"2026-11-21T05:43:57.120000Z"}',
      qos: 0,
      retain: false,
    },
    {
      topic: "pioreactor/unit1/exp1/led_change_events",
      payload: '{"channel":"D","intensity":12.345,"source_of_event":"CLI","timestamp":"2026-11-21T05:43:57.120000Z"}',
      qos: 0,
      retain: false,
    },
  ]);
  for (const p of r.published.slice(1)) expect(decodeLEDChangeEvent(p.payload).ok).toBe(true);
  expect(r.logs.records.map((x) => x.message)).toEqual(["Updated LED B from 0% to 50%.", "Updated LED D from 0% to 12.3%."]);
  // Left on from the CLI: registered as a pseudo-job so `pio kill` can turn it off.
  expect(r.registry.runningJobs().map((j) => [j.job_name, j.pid])).toEqual([["led_intensity", 4242]]);

  await r.controller.setIntensities({ B: 0, D: 0 }, { verbose: false });
  expect(r.published.at(-1)!.payload).toBe('{"A":0.0,"B":0.0,"C":0.0,"D":0.0}');
  expect(r.registry.runningJobs()).toHaveLength(1);
});

test("locked channels are skipped and the call reports failure; out-of-range intensities are refused naming the range", async () => {
  const r = rig();
  await r.controller.withLockedChannels(["B"], async () => {
    expect(await r.controller.setIntensities({ A: 10, B: 10 }, { verbose: false })).toBe(false);
  }, "od");
  expect(r.leds.get("A")).toBe(10);
  expect(r.leds.get("B")).toBeUndefined();
  expect(r.locks.get("B")).toBeUndefined();
  expect(await r.controller.setIntensities({ C: 101 })).toBe(false);
  expect(r.logs.records.map((x) => x.message)).toContain("Channel C intensity should be between 0 and 100, inclusive");
  expect(() => parseFloatRange("--C", 0, 100)("101")).toThrow("Invalid value for '--C': 101 is not in the range 0<=x<=100.");
});

test("temporary intensities are restored even when the body throws", async () => {
  const r = rig();
  await r.controller.setIntensities({ A: 30 }, { verbose: false });
  await expect(r.controller.withTemporaryIntensities({ A: 80, B: 0 }, async () => {
    expect(r.controller.currentState()).toMatchObject({ A: 80, B: 0 });
    throw new Error("boom");
  })).rejects.toThrow("boom");
  expect(r.controller.currentState()).toEqual({ A: 30, B: 0, C: 0, D: 0 });
});

test("every leds/intensity payload is the encoding of the state just set, also when states repeat", async () => {
  const r = rig();
  const requests = [{ A: 80, B: 0, C: 0, D: 0 }, { A: 0 }, { A: 80 }, { A: 0 }, { C: 5 }, { A: 80 }, { C: 0 }, { A: -0 }, { A: 0 }, { A: 0.1 + 0.2 }];
  for (const request of requests) {
    await r.controller.setIntensities(request, { verbose: false });
    expect(r.published.at(-1)!.payload).toBe(encodeMsgspecJson(r.controller.currentState()));
  }
  expect(r.published.map((p) => p.payload).slice(0, 4)).toEqual([
    '{"A":80.0,"B":0.0,"C":0.0,"D":0.0}',
    '{"A":0.0,"B":0.0,"C":0.0,"D":0.0}',
    '{"A":80.0,"B":0.0,"C":0.0,"D":0.0}',
    '{"A":0.0,"B":0.0,"C":0.0,"D":0.0}',
  ]);
});

test("intensities print like Python's 0.3g", () => {
  expect([0, 50, 100, 12.345, 0.5, 99.99].map(formatThreeSignificant)).toEqual(["0", "50", "100", "12.3", "0.5", "100"]);
});

describe("drivers that set synchronously and bus drivers that are awaited behave the same", () => {
  async function script(mode: DriverMode) {
    const r = rig(mode);
    const results: unknown[] = [];
    results.push(await r.controller.setIntensities({ B: 50, D: 12.345 }, { sourceOfEvent: "CLI" }));
    results.push(
      await r.controller.withTemporaryIntensities(
        { A: 80, B: 0, C: 0, D: 0 },
        () =>
          r.controller.withLockedChannels(
            ["B", "C", "D"],
            async () => {
              results.push(await r.controller.setIntensities({ B: 10, A: 70 }, { verbose: false }));
              return r.controller.currentState();
            },
            "od",
          ),
        { verbose: false },
      ),
    );
    results.push(await r.controller.setIntensities({ C: 101 }));
    results.push(await r.controller.setIntensities({ A: -0 }, { verbose: false }));
    return { results, published: r.published, logs: r.logs.records.map((x) => x.message), leds: r.sim.bioreactor.readout().leds };
  }

  test("same results, publishes, log lines and LED state", async () => {
    const viaSync = await script("sync");
    const viaAsync = await script("async-only");
    expect(viaSync).toEqual(viaAsync);
    expect(viaSync.results).toEqual([true, false, { A: 70, B: 0, C: 0, D: 0 }, false, true]);
    expect(viaSync.leds).toMatchObject({ A: 0, B: 50, C: 0, D: 12.345 });
  });

  test("a driver failure is reported the same way on both paths", async () => {
    for (const mode of ["sync", "async-only"] as const) {
      const r = rig(mode);
      const failing =
        mode === "sync"
          ? {
              setIntensity: async () => {},
              setIntensitySync: () => {
                throw new Error("i2c gone");
              },
            }
          : {
              setIntensity: async () => {
                throw new Error("i2c gone");
              },
            };
      const controller = new LedController({
        unit: "unit1",
        experiment: "exp1",
        clock: r.clock,
        driver: failing,
        leds: r.leds,
        locks: r.locks,
        publish: () => {},
        logger: new JobLogger({ task: "led_intensity", source: "app", unit: "unit1", experiment: "exp1" }, r.clock, [r.logs]),
      });
      expect(await controller.setIntensities({ A: 10 }, { verbose: false })).toBe(false);
      expect(r.logs.records.map((x) => x.message)).toEqual([
        "i2c gone",
        "Unable to find i2c for LED driver. Is the Pioreactor HAT attached to the Raspberry Pi? Is the firmware loaded?",
      ]);
      expect(r.leds.get("A")).toBeUndefined();
    }
  });
});

test("a silent change on a connection whose publish is a promise registers the CLI call only once it has gone out", async () => {
  const r = rig();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const order: string[] = [];
  const controller = new LedController({
    unit: "unit1",
    experiment: "exp1",
    clock: r.clock,
    driver: r.sim.backend.ledDriver,
    leds: r.leds,
    locks: r.locks,
    publish: (topic) => {
      order.push(`publish ${topic}`);
      return gate.then(() => {
        order.push("published");
      });
    },
    logger: new JobLogger({ task: "led_intensity", source: "app", unit: "unit1", experiment: "exp1" }, r.clock, [r.logs]),
    registerCliCall: () => order.push("registered"),
  });
  const done = controller.setIntensities({ A: 20 }, { verbose: false });
  await new Promise((resolve) => setImmediate(resolve));
  expect(order).toEqual(["publish pioreactor/unit1/exp1/leds/intensity"]);
  expect(r.sim.bioreactor.readout().leds.A).toBe(20);
  release();
  expect(await done).toBe(true);
  expect(order).toEqual(["publish pioreactor/unit1/exp1/leds/intensity", "published", "registered"]);
});

describe("withTemporaryIntensitiesAndLocks is withTemporaryIntensities around withLockedChannels", () => {
  type Controller = ReturnType<typeof rig>["controller"];
  const nested = (c: Controller, request: Record<string, number>, fn: () => Promise<unknown>) =>
    c.withTemporaryIntensities(request, () => c.withLockedChannels(["B", "C", "D"], fn, "od"), { verbose: false });
  const combined = (c: Controller, request: Record<string, number>, fn: () => Promise<unknown>) =>
    c.withTemporaryIntensitiesAndLocks(request, ["B", "C", "D"], fn, "od", { verbose: false });

  async function script(run: typeof nested) {
    const r = rig();
    const seen: unknown[] = [];
    await r.controller.setIntensities({ A: 30, C: 5 }, { verbose: false });
    // A foreign lock on D survives; B and C are locked for the body and released after.
    r.locks.set("D", "someone-else");
    seen.push(
      await run(r.controller, { A: 80, B: 0, C: 0 }, async () => {
        seen.push(r.controller.currentState(), ["B", "C", "D"].map((c) => r.locks.getString(c)));
        seen.push(await r.controller.setIntensities({ B: 40 }, { verbose: false }));
        return "body";
      }),
    );
    seen.push(r.controller.currentState(), ["B", "C", "D"].map((c) => r.locks.getString(c)));
    seen.push(
      await run(r.controller, { A: 90 }, async () => {
        throw new Error("boom");
      }).catch((e: Error) => e.message),
    );
    seen.push(r.controller.currentState(), ["B", "C", "D"].map((c) => r.locks.getString(c)));
    // D is locked by someone else, so the temporary state cannot be set: nothing runs, A is restored.
    seen.push(
      await run(r.controller, { A: 70, D: 1 }, async () => {
        seen.push("ran");
      }).catch((e: Error) => e.message),
    );
    seen.push(r.controller.currentState());
    return { seen, published: r.published.map((p) => p.payload), logs: r.logs.records.map((x) => x.message) };
  }

  test("same states, locks, results, publishes and log lines", async () => {
    const a = await script(nested);
    const b = await script(combined);
    expect(b).toEqual(a);
    expect(a.seen[0]).toEqual({ A: 80, B: 0, C: 0, D: 0 });
    expect((a.seen[1] as string[]).slice(0, 2).every((id) => id?.startsWith("od:"))).toBe(true);
    expect(a.seen[2]).toBe(false);
    expect(a.seen[3]).toBe("body");
    expect(a.seen[5]).toEqual([undefined, undefined, "someone-else"]);
    expect(a.seen[6]).toBe("boom");
    expect(a.seen[9]).toBe("Unable to update LED.");
    expect(a.seen[10]).toEqual({ A: 30, B: 0, C: 5, D: 0 });
    expect(a.seen).not.toContain("ran");
  });
});
