/**
 * od_reading on the embedded broker with the simulated bioreactor and a virtual clock: the
 * publish sequence against wire capture 03_od_reading.txt, strict struct decoding, settings
 * refused out of range, calibrations (applied, and a missing file), blanks and the REF noise gate.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { IniDocument } from "../../src/config/ini";
import { LayeredConfig } from "../../src/config/layered";
import { createSimulatedUnit, type SimulatedUnit } from "../../src/hardware/sim";
import type { JobDeps } from "../../src/jobs/background-job";
import { KeyValueCache, openCacheDatabase } from "../../src/jobs/local-storage";
import type { LogRecord, LogSink } from "../../src/jobs/logger";
import { OdReader, type OdReadingOptions, type OdReadingStorage, parsePhotodiodeChannels } from "../../src/jobs/od-reading";
import { realPolynomialRoots } from "../../src/jobs/od-reading-calibration";
import { JobRegistry } from "../../src/jobs/registry";
import { connectMqtt } from "../../src/pubsub/client";
import { decodeODReading, decodeODReadings, decodeRelativeIntensityOfIrLed } from "../../src/pubsub/structs";
import type { PubSubClient } from "../../src/pubsub/types";
import { VirtualClock } from "../../src/util/clock";
import { uniqueSuffix, withBrokers } from "../helpers/broker";

interface Published {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

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

interface Rig {
  clock: VirtualClock;
  sim: SimulatedUnit;
  deps: JobDeps;
  storage: OdReadingStorage;
  published: Published[];
  logs: Logs;
  persistent(name: string): KeyValueCache;
  intermittent(name: string): KeyValueCache;
  dir: string;
  close(): void;
}

function rig(brokerUrl: string, opts: { overrides?: Array<[string, string, string]>; seed?: number } = {}): Rig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-od-"));
  const db = openCacheDatabase(path.join(dir, "intermittent.sqlite"));
  const pdb = openCacheDatabase(path.join(dir, "persistent.sqlite"));
  const clock = new VirtualClock(Date.UTC(2026, 10, 21, 5, 43, 57));
  const sim = createSimulatedUnit({ seed: opts.seed ?? 7, clock });
  const published: Published[] = [];
  const logs = new Logs();
  const unit = `unit-${uniqueSuffix()}`;
  const deps: JobDeps = {
    unit,
    experiment: "exp1",
    clock,
    config: config(opts.overrides),
    registry: new JobRegistry(db),
    // Publishes are recorded as the job issues them, with the exact QoS and retain flags.
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
  const persistent = (name: string) => new KeyValueCache(pdb, name);
  const intermittent = (name: string) => new KeyValueCache(db, name);
  const storage: OdReadingStorage = {
    leds: intermittent("leds"),
    ledLocks: intermittent("led_locks"),
    odBlank: persistent("od_blank"),
    irLedReferenceNormalization: persistent("ir_led_reference_normalization"),
    activeCalibrations: persistent("active_calibrations"),
    calibrationsDir: path.join(dir, "calibrations"),
  };
  return {
    clock,
    sim,
    deps,
    storage,
    published,
    logs,
    persistent,
    intermittent,
    dir,
    close: () => {
      db.close();
      pdb.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs the virtual clock until `p` settles, giving real I/O (the broker) a millisecond before
 * each virtual step so connection set-up is not outrun by virtual time.
 */
async function drive<T>(clock: VirtualClock, p: Promise<T>, maxVirtualMs = 600_000): Promise<T> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  const start = clock.now();
  while (!settled) {
    await new Promise((r) => setTimeout(r, 1));
    if (settled) break;
    const due = clock.nextDue();
    if (due !== undefined) await clock.advanceTo(due);
    if (clock.now() - start > maxVirtualMs) throw new Error("drive: virtual time budget exceeded");
  }
  return p;
}

/** Advances virtual time by `ms`, letting MQTT I/O and readings run. */
async function runFor(clock: VirtualClock, ms: number): Promise<void> {
  await drive(clock, new Promise<void>((resolve) => clock.setTimeout(resolve, ms)));
}

function newJob(r: Rig, options: OdReadingOptions = {}): OdReader {
  return new OdReader(r.deps, { backend: r.sim.backend }, r.storage, { skipLedSettleWait: true, random: () => 0.5, ...options });
}

/** `topic-suffix retain qos shape`, with payload values reduced to their shape. */
function shape(p: Published, prefix: string): string {
  let payload = p.payload;
  if (payload.startsWith("{")) {
    payload = payload.replace(/"\d{4}-[^"]+Z"/g, "T").replace(/"(od|ir_led_intensity)":-?[\d.e-]+/g, '"$1":N');
  }
  else if (/^\d+\.\d+$/.test(payload) && p.topic.endsWith("first_od_obs_time")) payload = "N";
  return `${p.topic.slice(prefix.length)} r=${p.retain ? 1 : 0} q=${p.qos} ${payload}`.trimEnd();
}

describe("parsePhotodiodeChannels", () => {
  test("splits REF from signal channels and names the allowed angles", () => {
    expect(parsePhotodiodeChannels({ "1": "REF", "2": "90", "3": "", "4": null }, ["pd1", "pd2"])).toEqual({
      refChannel: "1",
      angles: { "2": "90" },
    });
    expect(() => parsePhotodiodeChannels({ "1": "REF", "2": "95" }, ["pd1", "pd2"])).toThrow(/45, 90, 135, 180/);
    expect(() => parsePhotodiodeChannels({ "1": "REF", "2": "REF" }, ["pd1", "pd2"])).toThrow(/more than once/);
    expect(() => parsePhotodiodeChannels({ "1": "REF" }, ["pd1"])).toThrow(/Need to supply a signal channel/);
  });

  test("polynomial roots are found on every monotone stretch", () => {
    expect(realPolynomialRoots([1, 0, -4])).toEqual([-2, 2].map((x) => expect.closeTo(x, 9)));
    expect(realPolynomialRoots([1, -6, 11, -6]).map((x) => Number(x.toFixed(9)))).toEqual([1, 2, 3]);
    expect(realPolynomialRoots([1, 0, 1])).toEqual([]);
  });
});

for (const broker of withBrokers()) {
  describe(`od_reading on ${broker.name}`, () => {
    jest.setTimeout(60_000);

    test("publishes the capture's topics, flags and payload shapes in order", async () => {
      const r = rig(broker.url);
      const job = newJob(r);
      let readings = 0;
      job.addPostReadCallback(() => {
        readings += 1;
        if (readings === 3) void job.stop("test");
      });
      await drive(r.clock, job.start().then(() => job.disconnectedPromise));
      const prefix = `pioreactor/${r.deps.unit}/exp1/`;
      const seq = r.published.filter((p) => !p.topic.includes("/logs/")).map((p) => shape(p, prefix));
      // The first reading races `$state ready` in the original (it runs on a timer thread), so the
      // ready line is compared separately.
      const withoutReady = seq.filter((s) => !s.startsWith("od_reading/$state r=1 q=2 ready"));
      const leds0 = 'leds/intensity r=1 q=0 {"A":0.0,"B":0.0,"C":0.0,"D":0.0}';
      const ledsOn = 'leds/intensity r=1 q=0 {"A":80.0,"B":0.0,"C":0.0,"D":0.0}';
      const ods = 'od_reading/ods r=1 q=2 {"timestamp":T,"ods":{"2":{"calibrated":0,"timestamp":T,"angle":"90","od":N,"channel":"2","ir_led_intensity":N}}}';
      const od2 = 'od_reading/od2 r=1 q=2 {"calibrated":0,"timestamp":T,"angle":"90","od":N,"channel":"2","ir_led_intensity":N}';
      // From 03_od_reading.txt (leader/exp1), in publish order.
      expect(withoutReady).toEqual([
        "od_reading/$state r=1 q=2 init",
        "od_reading/first_od_obs_time r=1 q=2",
        "od_reading/ir_led_intensity r=1 q=2 80.0",
        leds0,
        ledsOn,
        leds0,
        leds0,
        "od_reading/interval r=1 q=2 5.0",
        "od_reading/first_od_obs_time r=1 q=2 N",
        ...[1, 2, 3].flatMap(() => [ledsOn, leds0, ods, od2]),
        // Shutdown: the IR LED goes off, `disconnected`, then every setting with a value is cleared.
        leds0,
        "od_reading/$state r=1 q=2 disconnected",
        "od_reading/first_od_obs_time r=1 q=2",
        "od_reading/ir_led_intensity r=1 q=2",
        "od_reading/interval r=1 q=2",
        "od_reading/ods r=1 q=2",
        "od_reading/od2 r=1 q=2",
      ]);
      expect(seq.filter((s) => s.includes("$state"))).toEqual([
        "od_reading/$state r=1 q=2 init",
        "od_reading/$state r=1 q=2 ready",
        "od_reading/$state r=1 q=2 disconnected",
      ]);
      // Every struct passes the strict decoders.
      for (const p of r.published.filter((x) => x.payload !== "")) {
        if (p.topic.endsWith("/ods")) expect(decodeODReadings(p.payload)).toMatchObject({ ok: true });
        if (/\/od\d$/.test(p.topic)) expect(decodeODReading(p.payload)).toMatchObject({ ok: true });
      }
      const logs = r.logs.messages();
      expect(logs).toContain("OD setup: calibrations=none; estimator=none.");
      expect(logs).toContain("Starting od_reading with PD channels {'2': '90'}, with IR LED intensity 80.0% from channel A every 5.0 seconds.");
      expect(logs.some((m) => m.startsWith("Set ir_led_reference_normalization cache to "))).toBe(true);
      // Unity normalisation: the first REF volts are kept per experiment.
      expect(Number(r.storage.irLedReferenceNormalization.getString("exp1"))).toBeGreaterThan(0);
      expect(r.sim.bioreactor.readout().leds.A).toBe(0);
      r.close();
    });

    test("relative_intensity_of_ir_led is a strict {relative_intensity_of_ir_led, timestamp} object", async () => {
      const r = rig(broker.url);
      const job = newJob(r, { random: () => 0.1 });
      await drive(r.clock, job.start());
      await runFor(r.clock, 5_500);
      await drive(r.clock, job.stop());
      const rel = r.published.find((p) => p.topic.endsWith("relative_intensity_of_ir_led") && p.payload !== "");
      expect(rel).toBeDefined();
      const decoded = decodeRelativeIntensityOfIrLed(rel!.payload);
      expect(decoded.ok).toBe(true);
      if (decoded.ok) expect(decoded.value.relative_intensity_of_ir_led).toBeCloseTo(1, 1);
      r.close();
    });

    test("/set interval and ir_led_intensity refuse values outside their range, naming it", async () => {
      const r = rig(broker.url);
      const job = newJob(r);
      await drive(r.clock, job.start());
      const client = await connectMqtt({ url: broker.url, clientIdBase: "setter" });
      const base = `pioreactor/${r.deps.unit}/exp1/od_reading`;
      await client.publish(`${base}/interval/set`, "0", { qos: 1 });
      await client.publish(`${base}/ir_led_intensity/set`, "150", { qos: 1 });
      await client.publish(`${base}/interval/set`, "10", { qos: 1 });
      const deadline = Date.now() + 5000;
      while (job.interval !== 10 && Date.now() < deadline) await runFor(r.clock, 10);
      expect(job.interval).toBe(10);
      expect(job.irLedIntensity).toBe(80);
      const errors = r.logs.messages("ERROR");
      expect(errors).toContain("interval must be a number of seconds > 0, got 0.0.");
      expect(errors).toContain("ir_led_intensity must be between 0 and 100 (%), got 150.0.");
      expect(r.logs.messages("INFO")).toContain("Updated interval from 5.0 s to 10.0 s.");
      await client.end();
      await drive(r.clock, job.stop());
      r.close();
    });

    test("a noisy REF pauses dosing with `sleeping` (QoS 1) on dosing_automation/$state/set", async () => {
      const r = rig(broker.url);
      const job = newJob(r);
      await drive(r.clock, job.start());
      await runFor(r.clock, 5_500);
      r.sim.faults.setRefNoise(2000);
      await runFor(r.clock, 20_000);
      await drive(r.clock, job.stop());
      const sleeping = r.published.filter((p) => p.topic.endsWith("/dosing_automation/$state/set"));
      expect(sleeping.length).toBeGreaterThan(0);
      expect(sleeping[0]).toMatchObject({ payload: "sleeping", qos: 1, retain: false });
      expect(r.logs.messages("WARNING").some((m) => m.startsWith("The reference PD is very noisy, std="))).toBe(true);
      r.close();
    });

    test("an active calibration whose file is missing is refused, naming the file and the pio command", async () => {
      const r = rig(broker.url);
      r.storage.activeCalibrations.set("od90", "my-cal");
      const job = newJob(r);
      await expect(drive(r.clock, job.start())).rejects.toThrow(
        new RegExp(`${path.join(r.storage.calibrationsDir, "od90", "my-cal.yaml").replace(/[.]/g, "\\.")}.*pio calibrations list --device od90`),
      );
      r.close();
    });

    test("an active poly calibration publishes od2 calibrated plus raw_od2 and calibrated_od2", async () => {
      const r = rig(broker.url);
      fs.mkdirSync(path.join(r.storage.calibrationsDir, "od90"), { recursive: true });
      fs.writeFileSync(
        path.join(r.storage.calibrationsDir, "od90", "lin.yaml"),
        [
          "calibration_type: od",
          "calibration_name: lin",
          "calibrated_on_pioreactor_unit: unit1",
          "created_at: 2026-01-01T00:00:00Z",
          "curve_data_: {type: poly, coefficients: [0.5, 0.0]}",
          "x: OD600",
          "y: Voltage",
          "recorded_data: {x: [0.0, 0.1, 1.0], y: [0.0, 0.05, 0.5]}",
          "ir_led_intensity: 80.0",
          "angle: '90'",
          "pd_channel: '2'",
        ].join("\n"),
      );
      r.storage.activeCalibrations.set("od90", "lin");
      const job = newJob(r);
      await drive(r.clock, job.start());
      await runFor(r.clock, 500);
      await drive(r.clock, job.stop());
      const byTopic = (suffix: string) => r.published.find((p) => p.topic.endsWith(suffix) && p.payload !== "")!;
      const od2 = JSON.parse(byTopic("/od2").payload);
      const raw = JSON.parse(byTopic("/raw_od2").payload);
      expect(Object.keys(od2)).toEqual(["calibrated", "timestamp", "angle", "od", "channel", "ir_led_intensity", "calibration_name"]);
      expect(od2).toMatchObject({ calibrated: 1, calibration_name: "lin" });
      expect(raw.calibrated).toBe(0);
      expect(od2.od).toBeCloseTo(raw.od / 0.5, 6);
      expect(byTopic("/calibrated_od2").payload).toBe(byTopic("/od2").payload);
      expect(decodeODReading(byTopic("/od2").payload).ok).toBe(true);
      expect(r.logs.messages()).toContain("OD setup: calibrations=lin (pd2@90); estimator=none.");
      r.close();
    });

    test("a blank for the experiment is subtracted", async () => {
      const r = rig(broker.url);
      r.storage.odBlank.set("exp1", JSON.stringify({ "2": 0.001 }));
      const job = newJob(r);
      await drive(r.clock, job.start());
      await runFor(r.clock, 500);
      await drive(r.clock, job.stop());
      expect(r.logs.messages()).toContain('Using per-experiment OD blank correction: {"2":0.001}');
      expect(r.published.some((p) => p.topic.endsWith("/od2") && p.payload !== "")).toBe(true);
      r.close();
    });
  });
}
