/**
 * growth_rate_calculating: its wire behaviour against capture 04_growth_rate_calculating.txt,
 * the config ranges, the normalisation cache, the dilution handling, and its accuracy against the
 * simulator's true growth rate while od_reading runs on a virtual clock for hours.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { IniDocument } from "../../src/config/ini";
import { LayeredConfig } from "../../src/config/layered";
import { createSimulatedUnit } from "../../src/hardware/sim";
import type { JobDeps } from "../../src/jobs/background-job";
import {
  GrowthRateCalculator,
  GrowthRateEstimator,
  type GrowthRateSettings,
  growthRateSettingsFromConfig,
} from "../../src/jobs/growth-rate-calculating";
import { KeyValueCache, openCacheDatabase } from "../../src/jobs/local-storage";
import { JobLogger, type LogRecord, type LogSink } from "../../src/jobs/logger";
import { OdReader } from "../../src/jobs/od-reading";
import { wireReadings } from "../../src/jobs/od-reading-calibration";
import { JobRegistry } from "../../src/jobs/registry";
import { connectMqtt } from "../../src/pubsub/client";
import { encodeMsgspecJson } from "../../src/pubsub/codec";
import { decodeGrowthRate, decodeODFiltered, decodeODReadings, type ODReadings } from "../../src/pubsub/structs";
import type { PubSubClient } from "../../src/pubsub/types";
import { VirtualClock } from "../../src/util/clock";
import { formatPayloadTimestamp } from "../../src/util/python-format";
import { uniqueSuffix, withBrokers } from "../helpers/broker";

class Logs implements LogSink {
  readonly records: LogRecord[] = [];
  write(r: LogRecord): void {
    this.records.push(r);
  }
  messages(level?: string): string[] {
    return this.records.filter((r) => !level || r.level === level).map((r) => r.message);
  }
}

function config(overrides: Array<[string, string, string]> = []): LayeredConfig {
  const file = path.join(__dirname, "..", "..", "config", "config.example.ini");
  return LayeredConfig.fromDocuments(IniDocument.parse(fs.readFileSync(file, "utf8"), { file })).withOverrides(overrides);
}

interface Published {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

function setup(brokerUrl: string, clock: VirtualClock, overrides: Array<[string, string, string]> = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-gr-"));
  const db = openCacheDatabase(path.join(dir, "intermittent.sqlite"));
  const pdb = openCacheDatabase(path.join(dir, "persistent.sqlite"));
  const published: Published[] = [];
  const logs = new Logs();
  const deps: JobDeps = {
    unit: `unit-${uniqueSuffix()}`,
    experiment: "exp1",
    clock,
    config: config(overrides),
    registry: new JobRegistry(db),
    connect: async (req) => {
      const client = await connectMqtt({ url: brokerUrl, clientIdBase: req.clientIdBase, lastWill: req.lastWill, clean: req.clean });
      const publish = client.publish.bind(client);
      (client as PubSubClient).publish = (topic, payload, o) => {
        published.push({ topic, payload: payload.toString(), qos: o?.qos ?? 0, retain: o?.retain ?? false });
        return publish(topic, payload, o);
      };
      return client;
    },
    logSinks: [logs],
    leader: "leader",
    jobSource: "user",
    pid: process.pid,
    isActive: true,
  };
  return {
    deps,
    published,
    logs,
    persistent: (name: string) => new KeyValueCache(pdb, name),
    intermittent: (name: string) => new KeyValueCache(db, name),
    close: () => {
      db.close();
      pdb.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function odPayload(od: number, ms: number): string {
  const timestamp = formatPayloadTimestamp(ms);
  return encodeMsgspecJson(
    wireReadings({ timestamp, ods: { "2": { calibrated: 0, timestamp, angle: "90", od, channel: "2", ir_led_intensity: 80 } } }),
  );
}

function decoded(payload: string): ODReadings {
  const d = decodeODReadings(payload);
  if (!d.ok) throw new Error(d.error);
  return d.value;
}

const SETTINGS: GrowthRateSettings = { samplesPerSecond: 0.2, samplesForOdStatistics: 10, outlierStdThreshold: 5 };

/** A JobLogger whose lines are kept in memory. */
class RecordingLogger extends JobLogger {
  readonly sink: Logs;
  constructor(sink = new Logs()) {
    super({ task: "growth_rate_calculating", source: "app", unit: "u", experiment: "exp1" }, new VirtualClock(), [sink]);
    this.sink = sink;
  }
  messages(level?: string): string[] {
    return this.sink.messages(level);
  }
}

function quietLogger(): RecordingLogger {
  return new RecordingLogger();
}

describe("growth-rate estimator", () => {
  function cache(): KeyValueCache {
    return new KeyValueCache(openCacheDatabase(":memory:"), "od_normalization_mean");
  }

  test("config keys are checked and the message names the allowed range", () => {
    expect(() => growthRateSettingsFromConfig(config([["growth_rate_calculating.config", "samples_for_od_statistics", "0"]]))).toThrow(
      "Invalid [growth_rate_calculating.config] samples_for_od_statistics=0. Expected a value >= 1.",
    );
    expect(() => growthRateSettingsFromConfig(config([["growth_rate_calculating.config", "ekf_outlier_std_threshold", "1.5"]]))).toThrow(
      "Invalid [growth_rate_calculating.config] ekf_outlier_std_threshold=1.5. Expected a value > 2.",
    );
    expect(() => growthRateSettingsFromConfig(config([["od_reading.config", "samples_per_second", "0"]]))).toThrow(
      "Invalid [od_reading.config] samples_per_second=0.0. Expected a value > 0.",
    );
  });

  test("skips 5 readings, warms up on 10, caches the median and then follows exponential growth", () => {
    const logger = quietLogger();
    const c = cache();
    const est = new GrowthRateEstimator(SETTINGS, c, "exp1", logger);
    const start = Date.UTC(2026, 0, 1);
    let last: ReturnType<GrowthRateEstimator["onOdReadings"]>;
    const rate = 0.3; // h⁻¹
    let outputs = 0;
    for (let i = 0; i < 2000; i++) {
      const ms = start + i * 5000;
      const od = 0.05 * Math.exp((rate * i * 5) / 3600) * (1 + 0.002 * Math.sin(i * 1.7));
      if (!est.countOdMessage()) continue;
      last = est.onOdReadings(decoded(odPayload(od, ms)));
      if (last) outputs += 1;
    }
    expect(outputs).toBe(2000 - 5 - 10);
    expect(last!.growthRate).toBeCloseTo(rate, 2);
    expect(JSON.parse(c.getString("exp1")!)).toEqual({ "2": expect.any(Number) });
    expect(logger.messages()).toContain("Collected 10 warmup OD observations.");
    // A second run on the same experiment reuses the cached normalisation.
    const again = new GrowthRateEstimator(SETTINGS, c, "exp1", quietLogger());
    for (let i = 0; i < 20; i++) if (again.countOdMessage()) again.onOdReadings(decoded(odPayload(0.05, start + i * 5000)));
    expect(again.normalizationFactors.get("2")).toBe(JSON.parse(c.getString("exp1")!)["2"]);
  });

  test("after a dosing event the filtered OD follows the dilution at once and the growth rate holds", () => {
    const run = (withEvent: boolean) => {
      const est = new GrowthRateEstimator(SETTINGS, cache(), "exp1", quietLogger());
      const start = Date.UTC(2026, 0, 1);
      let od = 0.5;
      let out: { growthRate: number; odFiltered: number } | undefined;
      let normalised = 0;
      for (let i = 0; i <= 603; i++) {
        od *= Math.exp((0.2 * 5) / 3600);
        if (i === 600) {
          od *= 0.7;
          if (withEvent) est.onDosingEvent();
        }
        if (!est.countOdMessage()) continue;
        out = est.onOdReadings(decoded(odPayload(od, start + i * 5000))) ?? out;
        normalised = od / est.normalizationFactors.get("2")!;
      }
      return { ...out!, normalised };
    };
    const dosed = run(true);
    const undosed = run(false);
    expect(Math.abs(dosed.odFiltered - dosed.normalised) / dosed.normalised).toBeLessThan(0.05);
    // Without the event the step looks like an outlier and the filter is slow to follow it.
    expect(Math.abs(undosed.odFiltered - undosed.normalised)).toBeGreaterThan(Math.abs(dosed.odFiltered - dosed.normalised));
    expect(Math.abs(dosed.growthRate - 0.2)).toBeLessThan(0.15);
  });

  test("a dosing event during warm-up restarts the collection", () => {
    const logger = quietLogger();
    const est = new GrowthRateEstimator(SETTINGS, cache(), "exp1", logger);
    for (let i = 0; i < 12; i++) if (est.countOdMessage()) est.onOdReadings(decoded(odPayload(0.1, Date.UTC(2026, 0, 1) + i * 5000)));
    est.onDosingEvent();
    expect(logger.messages("INFO")).toContain("Dosing event observed during warmup. Restarting OD observation collection.");
    for (let i = 0; i < 9; i++) est.onOdReadings(decoded(odPayload(0.1, Date.UTC(2026, 0, 1) + i * 5000)));
    expect(est.initialised).toBe(false);
    est.onOdReadings(decoded(odPayload(0.1, Date.UTC(2026, 0, 1) + 10 * 5000)));
    expect(est.initialised).toBe(true);
  });
});

for (const broker of withBrokers()) {
  describe(`growth_rate_calculating on ${broker.name}`, () => {
    jest.setTimeout(120_000);

    test("publishes the capture's topics, flags and shapes; growth_rate before od_filtered", async () => {
      const clock = new VirtualClock(Date.UTC(2026, 10, 21, 5, 44, 25));
      const s = setup(broker.url, clock);
      const client = await connectMqtt({ url: broker.url, clientIdBase: "od-feeder" });
      const base = `pioreactor/${s.deps.unit}/exp1`;
      // A retained reading from before the start is ignored (it would make a third output otherwise).
      // (QoS 1: a retained QoS 2 message delivered on subscribe currently stalls the job's own QoS 2
      // publishes on the embedded broker; reported separately.)
      await client.publish(`${base}/od_reading/ods`, odPayload(0.0119, clock.now()), { qos: 1, retain: true });
      const job = await new GrowthRateCalculator(s.deps, s.persistent("od_normalization_mean")).start();
      for (let i = 0; i < 17; i++) {
        await client.publish(`${base}/od_reading/ods`, odPayload(0.0119 * (1 + 0.001 * Math.sin(i)), clock.now() + i * 5000), { qos: 2 });
      }
      const deadline = Date.now() + 10_000;
      while (s.published.filter((p) => p.topic.endsWith("/od_filtered") && p.payload).length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      await job.stop();
      const prefix = `${base}/growth_rate_calculating/`;
      const seq = s.published
        .filter((p) => p.topic.startsWith(prefix))
        .map((p) => `${p.topic.slice(prefix.length)} r=${p.retain ? 1 : 0} q=${p.qos} ${p.payload.replace(/-?\d[\d.e-]*(?=,)/g, "N").replace(/"\d{4}-[^"]+Z"/g, "T")}`.trimEnd());
      expect(seq).toEqual([
        "$state r=1 q=2 init",
        "growth_rate r=1 q=2",
        "od_filtered r=1 q=2",
        "$state r=1 q=2 ready",
        'growth_rate r=1 q=2 {"growth_rate":N,"timestamp":T}',
        'od_filtered r=1 q=2 {"od_filtered":N,"timestamp":T}',
        'growth_rate r=1 q=2 {"growth_rate":N,"timestamp":T}',
        'od_filtered r=1 q=2 {"od_filtered":N,"timestamp":T}',
        "$state r=1 q=2 disconnected",
        "growth_rate r=1 q=2",
        "od_filtered r=1 q=2",
      ]);
      for (const p of s.published.filter((x) => x.payload && x.topic.endsWith("/growth_rate"))) expect(decodeGrowthRate(p.payload).ok).toBe(true);
      for (const p of s.published.filter((x) => x.payload && x.topic.endsWith("/od_filtered"))) expect(decodeODFiltered(p.payload).ok).toBe(true);
      // The first output carries the timestamp of the OD reading it came from (the 16th sent).
      const first = JSON.parse(s.published.find((p) => p.topic.endsWith("/growth_rate") && p.payload)!.payload);
      expect(first.timestamp).toBe(formatPayloadTimestamp(clock.now() + 15 * 5000));
      const logs = s.logs.messages();
      // In capture 04's order.
      const expectedLogs = [
        "Ready.",
        "Collecting warmup OD observations for growth-rate initialization.",
        "Collected 10 warmup OD observations.",
        "OD normalization factors not found in cache. Computing them now.",
        "Completed OD normalization metrics.",
        "Cached OD normalization factors computed from warmup observations.",
        "Replaying warmup OD observations into the live stream.",
        "Initializing growth-rate filter from warmup observations.",
        "self.ekf_outlier_std_threshold=5.0",
      ];
      expect(logs.filter((l) => expectedLogs.includes(l))).toEqual(expectedLogs);
      await client.end();
      s.close();
    });

    test("tracks the simulator's true growth rate within 10 % over simulated hours of od_reading", async () => {
      const clock = new VirtualClock(Date.UTC(2026, 0, 1));
      const sim = createSimulatedUnit({
        seed: 11,
        clock,
        // A linear 90° sensor (no media scatter, no saturation), so the signal's growth is the culture's.
        params: { optics: { angles: { "90": { blankOd: 0, saturationOd: 1e9 } } } },
        initial: { od: 0.05 },
      });
      const s = setup(broker.url, clock, [["od_reading.config", "samples_per_second", "0.05"]]);
      const estimator = new GrowthRateEstimator(
        growthRateSettingsFromConfig(s.deps.config),
        s.persistent("od_normalization_mean"),
        "exp1",
        quietLogger(),
      );
      const comparisons: Array<{ hours: number; truth: number; estimate: number }> = [];
      const job = new OdReader(
        s.deps,
        { backend: sim.backend },
        {
          leds: s.intermittent("leds"),
          ledLocks: s.intermittent("led_locks"),
          odBlank: s.persistent("od_blank"),
          irLedReferenceNormalization: s.persistent("ir_led_reference_normalization"),
          activeCalibrations: s.persistent("active_calibrations"),
          calibrationsDir: path.join(os.tmpdir(), "none"),
        },
        { skipLedSettleWait: true },
      );
      const t0 = clock.now();
      // Each reading goes through its wire form and the strict decoder, as it would over MQTT.
      job.addPostReadCallback((readings) => {
        if (!readings || !estimator.countOdMessage()) return;
        const estimate = estimator.onOdReadings(decoded(encodeMsgspecJson(wireReadings(readings))));
        if (estimate) comparisons.push({ hours: (clock.now() - t0) / 3.6e6, truth: sim.bioreactor.readout().growthRatePerHour, estimate: estimate.growthRate });
      });
      let ready = false;
      const started = job.start().then(() => (ready = true));
      while (!ready) {
        // A real millisecond per virtual step lets the broker connection keep up during start-up.
        await new Promise((r) => setTimeout(r, 1));
        const due = clock.nextDue();
        if (due !== undefined) await clock.advanceTo(due);
      }
      await started;
      const end = t0 + 3.5 * 3.6e6;
      while (clock.now() < end) {
        const due = clock.nextDue();
        if (due === undefined) break;
        await clock.advanceTo(due, 1);
      }
      const stopping = job.stop();
      while (job.state !== "disconnected") await clock.advance(100);
      await stopping;

      // After the lag phase and the filter's warm-up: the last 1.5 hours.
      const late = comparisons.filter((c) => c.hours >= 2);
      expect(late.length).toBeGreaterThan(200);
      const worst = Math.max(...late.map((c) => Math.abs(c.estimate - c.truth) / c.truth));
      expect(worst).toBeLessThan(0.1);
      s.close();
    });
  });
}
