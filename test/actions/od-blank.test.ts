/**
 * od_blank: trimmed means of n readings taken on `_testing_<exp>`, stored as Python's json.dumps
 * text in the persistent `od_blank` cache and published retained (QoS 1) on `od_blank/means`;
 * `delete` clears both. od_reading then subtracts the blank.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { deleteOdBlank, odBlank, trimmedMean } from "../../src/actions/od-blank";
import { IniDocument } from "../../src/config/ini";
import { LayeredConfig } from "../../src/config/layered";
import { createSimulatedUnit } from "../../src/hardware/sim";
import type { JobDeps } from "../../src/jobs/background-job";
import { KeyValueCache, openCacheDatabase } from "../../src/jobs/local-storage";
import { JobLogger, type LogRecord, type LogSink } from "../../src/jobs/logger";
import { JobRegistry } from "../../src/jobs/registry";
import { connectMqtt } from "../../src/pubsub/client";
import type { PubSubClient } from "../../src/pubsub/types";
import { VirtualClock } from "../../src/util/clock";
import { uniqueSuffix, withBrokers } from "../helpers/broker";

class Logs implements LogSink {
  readonly records: LogRecord[] = [];
  write(r: LogRecord): void {
    this.records.push(r);
  }
}

test("trimmed mean drops the two lowest and highest", () => {
  expect(trimmedMean([100, 1, 2, 3, 4, 5, -50, 1000])).toBe(3.5);
  expect(() => trimmedMean([1, 2, 3, 4])).toThrow(/Need more than 4 samples/);
});

for (const broker of withBrokers()) {
  test(`od_blank on ${broker.name}: stores, publishes and deletes the blank`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-blank-"));
    const db = openCacheDatabase(path.join(dir, "i.sqlite"));
    const pdb = openCacheDatabase(path.join(dir, "p.sqlite"));
    const clock = new VirtualClock(Date.UTC(2026, 10, 21));
    const sim = createSimulatedUnit({ seed: 3, clock });
    const file = path.join(__dirname, "..", "..", "config", "config.example.ini");
    const config = LayeredConfig.fromDocuments(IniDocument.parse(fs.readFileSync(file, "utf8"), { file }));
    const unit = `unit-${uniqueSuffix()}`;
    const logs = new Logs();
    const odDeps: JobDeps = {
      unit,
      experiment: "_testing_exp1",
      clock,
      config,
      registry: new JobRegistry(db),
      connect: (req) => connectMqtt({ url: broker.url, clientIdBase: req.clientIdBase, lastWill: req.lastWill, clean: req.clean }),
      logSinks: [logs],
      leader: "leader",
      jobSource: "user",
      pid: process.pid,
      isActive: true,
    };
    const published: Array<{ topic: string; payload: string; qos?: number; retain?: boolean }> = [];
    const client = await connectMqtt({ url: broker.url, clientIdBase: "od_blank" });
    const publish = client.publish.bind(client);
    (client as PubSubClient).publish = (topic, payload, o) => {
      published.push({ topic, payload: payload.toString(), qos: o?.qos, retain: o?.retain });
      return publish(topic, payload, o);
    };
    const blanks = new KeyValueCache(pdb, "od_blank");
    const storage = {
      leds: new KeyValueCache(db, "leds"),
      ledLocks: new KeyValueCache(db, "led_locks"),
      odBlank: blanks,
      irLedReferenceNormalization: new KeyValueCache(pdb, "ir_led_reference_normalization"),
      activeCalibrations: new KeyValueCache(pdb, "active_calibrations"),
      calibrationsDir: path.join(dir, "calibrations"),
    };
    let done = false;
    const running = odBlank(
      {
        odDeps,
        hardware: { backend: sim.backend },
        storage,
        blanks,
        client,
        logger: new JobLogger({ task: "od_blank", source: "app", unit, experiment: "exp1" }, clock, [logs]),
        unit,
        experiment: "exp1",
        interval: 2,
        odReadingRunning: false,
      },
      10,
    ).finally(() => (done = true));
    while (!done) {
      await new Promise((r) => setTimeout(r, 1));
      const due = clock.nextDue();
      if (due !== undefined) await clock.advanceTo(due);
    }
    const means = await running;
    expect([...means.keys()]).toEqual(["2"]);
    expect(means.get("2")).toBeGreaterThan(0);
    const cached = blanks.getString("exp1")!;
    expect(cached).toMatch(/^\{"2": \d/);
    expect(JSON.parse(cached)["2"]).toBe(means.get("2"));
    const pub = published.find((p) => p.topic.endsWith("/od_blank/means"))!;
    expect(pub).toMatchObject({ topic: `pioreactor/${unit}/exp1/od_blank/means`, qos: 1, retain: true });
    expect(JSON.parse(pub.payload)).toEqual({ "2": means.get("2") });
    // The scratch experiment's REF normalisation does not linger.
    expect(storage.irLedReferenceNormalization.has("_testing_exp1")).toBe(false);

    await expect(
      odBlank({ odDeps, hardware: { backend: sim.backend }, storage, blanks, client, logger: new JobLogger({ task: "od_blank", source: "app", unit, experiment: "exp1" }, clock, [logs]), unit, experiment: "exp1", odReadingRunning: true }, 10),
    ).rejects.toThrow(/OD Reading should be off/);

    expect(await deleteOdBlank(blanks, client, unit, "exp1")).toBe(true);
    expect(blanks.has("exp1")).toBe(false);
    expect(published.slice(-2).map((p) => [p.topic.split("/").slice(3).join("/"), p.payload])).toEqual([
      ["od_blank/means", ""],
      ["od_blank/mean/2", ""],
    ]);
    expect(await deleteOdBlank(blanks, client, unit, "exp1")).toBe(false);
    await client.end();
    db.close();
    pdb.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
}
