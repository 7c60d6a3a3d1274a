import type { AdcInput } from "../../src/hardware/ports";
import { PhotodiodeSampler, trimExtrema, trimmedMeanWithPrior } from "../../src/jobs/od-reading-adc";
import { VirtualClock } from "../../src/util/clock";

/** The estimator as first written: mean of `trimExtrema`'s kept values, then the ridge prior. */
function reference(values: number[], prior: number | undefined, penalizer: number): number {
  const { kept } = trimExtrema(values);
  if (kept.length === 0) return 0;
  const m = kept.reduce((a, b) => a + b, 0) / kept.length;
  if (prior !== undefined && penalizer) return (kept.length * m + penalizer * prior) / (kept.length + penalizer);
  return m;
}

const logger = { debug() {}, info() {}, notice() {}, warning() {}, error() {}, critical() {}, log() {} };

/**
 * A gainless ADS1114-like input whose values come from `read`; it has `readRawSync` only when
 * `sync`, and `onRead` hears which of the two read methods was used.
 */
function fakeInput(name: string, read: () => number, sync: boolean, onRead: (path: "sync" | "async") => void = () => {}): AdcInput {
  const input: AdcInput = {
    name,
    driver: "ads1114",
    address: 0x48,
    channel: 0,
    gain: 1,
    hasGain: false,
    readRaw: async () => {
      onRead("async");
      return read();
    },
    rawToVolts: (raw) => raw / 1000,
    voltsToRaw: (v) => v * 1000,
    readVolts: async () => read() / 1000,
    setGain: async () => {},
    adjustGainFor: async () => false,
  };
  if (sync) {
    input.readRawSync = () => {
      onRead("sync");
      return read();
    };
  }
  return input;
}

describe("trimmedMeanWithPrior", () => {
  test("drops one minimum and one maximum (first occurrences)", () => {
    expect(trimmedMeanWithPrior([5, 1, 9, 1, 9, 3], undefined, 0)).toBe((5 + 1 + 9 + 3) / 4);
    expect(trimmedMeanWithPrior([2, 2, 2, 2], undefined, 0)).toBe(2);
    expect(trimmedMeanWithPrior([4, 8], undefined, 0)).toBe(6);
    expect(trimmedMeanWithPrior([], undefined, 0)).toBe(0);
    expect(trimmedMeanWithPrior([10, 0, 20, 30], 100, 2)).toBe((2 * 15 + 2 * 100) / 4);
  });

  test("is bit for bit the mean of the kept values, summed in order", () => {
    let s = 12345;
    const next = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 2 ** 32;
    };
    for (let trial = 0; trial < 500; trial++) {
      const n = trial % 45;
      const values = Array.from({ length: n }, () => (next() < 0.1 ? 7.25 : next() * 3000 - 5));
      const prior = trial % 3 === 0 ? undefined : next() * 3000;
      const penalizer = trial % 4 === 0 ? 0 : next() * 50;
      expect(Object.is(trimmedMeanWithPrior(values, prior, penalizer), reference(values, prior, penalizer))).toBe(true);
    }
  });
});

describe("PhotodiodeSampler over-voltage checks", () => {
  /** An ADS1114-like input (no mains fit) whose every sample is `volts`, in millivolt raw units. */
  function constantInput(name: string, volts: () => number): AdcInput {
    return {
      name,
      driver: "ads1114",
      address: 0x48,
      channel: 0,
      gain: 1,
      hasGain: false,
      readRaw: async () => volts() * 1000,
      rawToVolts: (raw) => raw / 1000,
      voltsToRaw: (v) => v * 1000,
      readVolts: async () => volts(),
      setGain: async () => {},
      adjustGainFor: async () => false,
    };
  }

  async function alarmsFor(volts: number): Promise<Array<[number, string]>> {
    const clock = new VirtualClock(0);
    const alarms: Array<[number, string]> = [];
    const sampler = new PhotodiodeSampler({
      channels: ["2"],
      inputs: { "2": constantInput("pd2", () => volts) },
      clock,
      logger,
      dynamicGain: false,
      penalizer: 0,
      oversamplingCount: 5,
      useDarkOffsets: false,
      onVoltageTooHigh: (v, severity) => {
        alarms.push([v, severity]);
      },
    });
    const reading = sampler.takeReading();
    await clock.runAll();
    expect((await reading).get("2")).toBeCloseTo(volts, 9);
    return alarms;
  }

  test("quiet up to 3.0 V, a warning above, a shutdown above 3.2 V", async () => {
    expect(await alarmsFor(2.9)).toEqual([]);
    expect(await alarmsFor(3.0)).toEqual([]);
    const warning = await alarmsFor(3.1);
    expect(warning.map(([, s]) => s)).toEqual(["warning"]);
    expect(warning[0][0]).toBeCloseTo(3.1, 9);
    expect((await alarmsFor(3.3)).map(([, s]) => s)).toEqual(["shutdown"]);
  });
});

describe("PhotodiodeSampler reads synchronously when every input can, and awaits readRaw otherwise", () => {

  /** A deterministic noisy input (its own LCG); counts which read method was used. */
  function noisyInput(name: string, seed: number, sync: boolean, counts: { sync: number; async: number }): AdcInput {
    let s = seed;
    const next = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return 1000 + (s / 2 ** 32) * 50;
    };
    return fakeInput(name, next, sync, (path) => counts[path]++);
  }

  async function readings(syncFlags: [boolean, boolean], n: number, overlap = false) {
    const clock = new VirtualClock(0);
    const counts = { sync: 0, async: 0 };
    const sampler = new PhotodiodeSampler({
      channels: ["2", "1"],
      inputs: { "2": noisyInput("pd2", 7, syncFlags[0], counts), "1": noisyInput("pd1", 11, syncFlags[1], counts) },
      clock,
      logger,
      dynamicGain: false,
      penalizer: 0.5,
      oversamplingCount: 8,
      useDarkOffsets: true,
      onVoltageTooHigh: () => {},
    });
    sampler.setDarkOffsets(new Map([["2", 0.01], ["1", 0.02]]));
    const out: Array<Map<string, number>> = [];
    for (let r = 0; r < n; r++) {
      const batch = overlap ? [sampler.takeReading(), sampler.takeReading()] : [sampler.takeReading()];
      await clock.runAll();
      for (const b of batch) out.push(await b);
    }
    return { out, counts };
  }

  test("the same numbers either way; the sync path never calls readRaw", async () => {
    const viaSync = await readings([true, true], 5);
    const viaAsync = await readings([false, false], 5);
    const mixed = await readings([true, false], 5);
    expect(viaSync.counts).toEqual({ sync: 5 * 8 * 2, async: 0 });
    expect(viaAsync.counts).toEqual({ sync: 0, async: 5 * 8 * 2 });
    // One input without the sync read: the sweep awaits both (the same order of reads).
    expect(mixed.counts).toEqual({ sync: 0, async: 5 * 8 * 2 });
    expect(viaSync.out).toEqual(viaAsync.out);
    expect(mixed.out).toEqual(viaAsync.out);
    for (const m of viaSync.out) expect([...m.keys()]).toEqual(["2", "1"]);
  });

  test("the returned map is the caller's: changing it does not touch the next reading's prior", async () => {
    const clock = new VirtualClock(0);
    const counts = { sync: 0, async: 0 };
    const make = () =>
      new PhotodiodeSampler({
        channels: ["2"],
        inputs: { "2": noisyInput("pd2", 3, true, counts) },
        clock,
        logger,
        dynamicGain: false,
        penalizer: 2,
        oversamplingCount: 6,
        useDarkOffsets: false,
        onVoltageTooHigh: () => {},
      });
    const a = make();
    const b = make();
    const ra = a.takeReading();
    const rb = b.takeReading();
    await clock.runAll();
    // Identical samplers on identical inputs: only `a`'s caller changes the map it got back.
    (await ra).set("2", 123);
    expect((await rb).get("2")).toBeLessThan(2);
    const ra2 = a.takeReading();
    const rb2 = b.takeReading();
    await clock.runAll();
    expect((await ra2).get("2")).toBeLessThan(2);
    expect(await ra2).toEqual(await rb2);
  });

  test("overlapping readings on one sampler each get their own samples", async () => {
    const sequential = await readings([true, true], 1);
    const overlapping = await readings([true, true], 1, true);
    // Both readings of a pair run their sweeps interleaved on the clock; each is a full reading.
    expect(overlapping.out).toHaveLength(2);
    expect(overlapping.counts.sync).toBe(2 * 8 * 2);
    for (const m of overlapping.out) {
      expect(m.get("2")).toBeGreaterThan(0.98);
      expect(m.get("2")).toBeLessThan(1.05);
    }
    expect(sequential.out[0].get("2")).toBeGreaterThan(0.98);
  });
});

/** An input with a gain that changes with the signal level; records every adjustment and how it came. */
function gainedInput(sync: boolean, calls: string[]): AdcInput {
  let gain = 1;
  let level = 0.5;
  const adjust = (volts: number) => {
    const wanted = volts < 1 ? 2 : 1;
    calls.push(`${sync ? "sync" : "async"}:${volts.toFixed(4)}`);
    if (wanted === gain) return false;
    gain = wanted;
    return true;
  };
  const input: AdcInput = {
    name: "pd2",
    driver: "ads1114",
    address: 0x48,
    channel: 0,
    get gain() {
      return gain;
    },
    hasGain: true,
    readRaw: async () => {
      level += 0.1;
      return level * 1000 * gain;
    },
    rawToVolts: (raw) => raw / 1000 / gain,
    voltsToRaw: (v) => v * 1000 * gain,
    readVolts: async () => level,
    setGain: async (g) => {
      gain = g;
    },
    adjustGainFor: async (volts) => adjust(volts),
  };
  if (sync) input.adjustGainForSync = (volts) => adjust(volts);
  return input;
}

describe("PhotodiodeSampler adjusts gains synchronously when the input can", () => {

  async function run(sync: boolean) {
    const clock = new VirtualClock(0);
    const calls: string[] = [];
    const sampler = new PhotodiodeSampler({
      channels: ["2"],
      inputs: { "2": gainedInput(sync, calls) },
      clock,
      logger,
      dynamicGain: true,
      penalizer: 0,
      oversamplingCount: 4,
      useDarkOffsets: false,
      onVoltageTooHigh: () => {},
    });
    const out: number[] = [];
    for (let r = 0; r < 4; r++) {
      const reading = sampler.takeReading();
      await clock.runAll();
      out.push((await reading).get("2")!);
    }
    return { out, calls };
  }

  test("the same adjustments and readings on both paths", async () => {
    const viaSync = await run(true);
    const viaAsync = await run(false);
    expect(viaSync.calls).toHaveLength(4);
    expect(viaSync.calls.every((c) => c.startsWith("sync:"))).toBe(true);
    expect(viaAsync.calls.every((c) => c.startsWith("async:"))).toBe(true);
    expect(viaSync.calls.map((c) => c.split(":")[1])).toEqual(viaAsync.calls.map((c) => c.split(":")[1]));
    expect(viaSync.out).toEqual(viaAsync.out);
  });
});

describe("a sweep on clock timers (inputs that answer at once) keeps the awaited sweep's timing", () => {

  function loggingInput(name: string, sync: boolean, clock: VirtualClock, log: string[], failAt?: { n: number }): AdcInput {
    let reads = 0;
    const read = () => {
      reads++;
      if (failAt && reads === failAt.n) throw new Error(`${name} read failed`);
      log.push(`${clock.now()} ${name}`);
      return 1000 + reads;
    };
    return fakeInput(name, read, sync);
  }

  async function run(sync: boolean, failAt?: { n: number }) {
    const clock = new VirtualClock(1_000);
    const log: string[] = [];
    const sampler = new PhotodiodeSampler({
      channels: ["2", "1"],
      inputs: { "2": loggingInput("pd2", sync, clock, log, failAt), "1": loggingInput("pd1", sync, clock, log) },
      clock,
      logger,
      dynamicGain: false,
      penalizer: 0,
      oversamplingCount: 12,
      useDarkOffsets: false,
      onVoltageTooHigh: () => {},
    });
    // Another job's timers, due between and at the same instants as the samples.
    const other = clock.setInterval(() => log.push(`${clock.now()} other`), 25);
    clock.setTimeout(() => log.push(`${clock.now()} once`), 0);
    const results: unknown[] = [];
    for (let r = 0; r < 2; r++) {
      const reading = sampler.takeReading().then(
        (m) => [...m.entries()],
        (e: Error) => e.message,
      );
      await clock.runAll(clock.now() + 2_000);
      results.push(await reading);
    }
    other.cancel();
    return { log, results };
  }

  test("reads at the same instants, interleaved with other timers in the same order", async () => {
    const viaTimers = await run(true);
    const viaAwaits = await run(false);
    expect(viaTimers).toEqual(viaAwaits);
    expect(viaTimers.log.filter((l) => l.endsWith("pd2"))).toHaveLength(24);
    expect(viaTimers.log.some((l) => l.endsWith("other"))).toBe(true);
  });

  test("a failed read rejects the reading, and the next reading has its arrays back", async () => {
    const viaTimers = await run(true, { n: 5 });
    const viaAwaits = await run(false, { n: 5 });
    expect(viaTimers.results[0]).toBe("pd2 read failed");
    expect(viaTimers.results[1]).toEqual(viaAwaits.results[1]);
    expect(viaTimers).toEqual(viaAwaits);
  });
});
