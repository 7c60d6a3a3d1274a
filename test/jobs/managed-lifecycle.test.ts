/** managed_lifecycle on a real broker: $state bytes/flags, stop requests, last will, long-running key. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openCacheDatabase } from "../../src/jobs/local-storage";
import { ManagedLifecycle } from "../../src/jobs/managed-lifecycle";
import { JobRegistry } from "../../src/jobs/registry";
import { connectMqtt } from "../../src/pubsub/client";
import { uniqueSuffix, withBrokers } from "../helpers/broker";
import { TopicRecorder } from "../helpers/job-harness";

for (const broker of withBrokers()) {
  describe(`managed lifecycle on ${broker.name}`, () => {
    let dir: string;
    let registry: JobRegistry;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-ml-"));
      registry = new JobRegistry(openCacheDatabase(path.join(dir, "c.sqlite")));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const open = (unit: string, extra: Partial<Parameters<typeof ManagedLifecycle.open>[0]> = {}) =>
      ManagedLifecycle.open({
        unit,
        experiment: "exp1",
        name: "add_media",
        registry,
        jobSource: "user",
        pid: process.pid,
        leader: "leader",
        connect: (req) => connectMqtt({ url: broker.url, clientIdBase: req.clientIdBase, lastWill: req.lastWill, keepaliveSeconds: req.keepalive, clean: req.clean }),
        ...extra,
      });

    test("init → ready → disconnected, retained QoS 2, stopped by a $broadcast/$experiment request", async () => {
      const unit = `u${uniqueSuffix()}`;
      const rec = await TopicRecorder.start(broker.url, `pioreactor/${unit}/#`, 2);
      const lc = await open(unit);
      lc.markReady();
      lc.publishSetting("work", 1.5, "float");
      const cmd = await connectMqtt({ url: broker.url, clientIdBase: "cmd" });
      await cmd.publish(`pioreactor/$broadcast/$experiment/add_media/$state/set`, "disconnected", { qos: 1 });
      await lc.untilStopRequested();
      await lc.close();
      await rec.waitFor((m) => m.payload === "disconnected");
      expect(rec.messages.map((m) => [m.topic.split("/").slice(3).join("/"), m.payload, m.qos])).toEqual([
        ["add_media/$state", "init", 2],
        ["add_media/$state", "ready", 2],
        ["add_media/work", "1.5", 2],
        ["add_media/$state", "disconnected", 2],
      ]);
      expect(registry.job(lc.jobId)).toMatchObject({ is_running: 0 });
      await cmd.end();
      await rec.end();
    });

    test("long-running variant publishes under <name>/<job_id>", async () => {
      const unit = `u${uniqueSuffix()}`;
      const rec = await TopicRecorder.start(broker.url, `pioreactor/${unit}/#`);
      const lc = await open(unit, { name: "experiment_profile", longRunning: true });
      lc.markReady();
      await lc.close();
      await rec.waitFor((m) => m.payload === "disconnected");
      expect(rec.messages[0].topic).toBe(`pioreactor/${unit}/exp1/experiment_profile/${lc.jobId}/$state`);
      expect(registry.job(lc.jobId)).toMatchObject({ is_long_running_job: 1 });
      await rec.end();
    });
  });
}
