/**
 * The run as a managed job on a real (embedded) broker: the settings of capture 07 in order,
 * early stop through `$state/set disconnected`, and `when` driven by the shared lookup cache.
 */
import { connectTestClient, uniqueSuffix, withBrokers } from "../../helpers/broker";
import { runManagedProfile } from "../../../src/profiles/managed-run";
import { MqttLookupCache } from "../../../src/profiles/mqtt-lookups";
import { profileJobLastWill } from "../../../src/profiles/profile-job";
import { FakeCluster } from "../../../src/profiles/fake-cluster";
import { HttpClusterClient } from "../../../src/profiles/http-cluster-client";
import type { MqttMessage } from "../../../src/pubsub/types";
import { RealClock, VirtualClock, type Clock } from "../../../src/util/clock";
import { LogSpy, START_MS } from "./harness";

const SHORT = `
version: "1.0"
experiment_profile_name: pyref stirring demo
pioreactors:
  leader:
    jobs:
      stirring:
        actions:
          - {type: start, t: 0s, options: {target_rpm: 400.0}}
          - {type: log, t: 5s, options: {message: hello, level: info}}
          - {type: update, t: 10s, options: {target_rpm: 800.0}}
          - {type: pause, t: 15s}
          - {type: resume, t: 18s}
          - {type: stop, t: 25s}
`;

function cluster(clock: Clock, workers: Record<string, { experiment: string }>) {
  const fake = new FakeCluster({ workers, clock });
  return { fake, cluster: new HttpClusterClient({ leaderBaseUrl: fake.leaderBaseUrl(), unitBaseUrl: (u) => fake.unitBaseUrl(u), fetch: fake.fetch, clock }) };
}

for (const broker of withBrokers()) {
  describe(`managed profile job on ${broker.name}`, () => {
    test("publishes the settings of capture 07, in order", async () => {
      const exp = `exp-${uniqueSuffix()}`;
      const watcher = await connectTestClient(broker.url);
      const seen: string[] = [];
      await watcher.subscribe(`pioreactor/leader/${exp}/experiment_profile/#`, (m: MqttMessage) => {
        seen.push(`${m.topic.split("/").slice(3).join("/")} ${m.payload.toString()}`);
      });
      const id = { leader: "leader", experiment: exp, jobId: 1 };
      const pubsub = await connectTestClient(broker.url, { lastWill: profileJobLastWill(id) });
      const clock = new VirtualClock(START_MS);
      const { cluster: c } = cluster(clock, { leader: { experiment: exp } });
      const outcome = await runManagedProfile({
        text: SHORT,
        filename: "pyref_stirring.yaml",
        experiment: exp,
        leader: "leader",
        jobId: 1,
        pubsub,
        cluster: c,
        clock,
        logger: new LogSpy(clock),
      });
      expect(outcome.status).toBe("finished");
      await new Promise((r) => setTimeout(r, 200));
      expect(seen).toEqual([
        "experiment_profile/1/$state init",
        "experiment_profile/1/$state ready",
        "experiment_profile/1/experiment_profile_name pyref stirring demo",
        "experiment_profile/1/start_time_utc 2026-11-21T05:46:59.208Z",
        "experiment_profile/1/profile_filename pyref_stirring.yaml",
        ...[1, 2, 3, 4, 5, 6].map((n) => `experiment_profile/1/action_count ${n}`),
        "experiment_profile/1/experiment_profile_name ",
        "experiment_profile/1/start_time_utc ",
        "experiment_profile/1/$state disconnected",
      ]);
      await pubsub.end();
      await watcher.end();
    });

    test("`$state/set disconnected` stops the run early and stops the jobs it started", async () => {
      const exp = `exp-${uniqueSuffix()}`;
      const pubsub = await connectTestClient(broker.url);
      const clock = new RealClock();
      const { fake, cluster: c } = cluster(clock, { leader: { experiment: exp } });
      const log = new LogSpy(clock);
      const text = `
version: "1.0"
experiment_profile_name: long
pioreactors:
  leader:
    jobs:
      stirring:
        actions:
          - {type: start, t: 0s}
          - {type: stop, t: 1h}
`;
      const sender = await connectTestClient(broker.url);
      const running = runManagedProfile({ text, filename: "long.yaml", experiment: exp, leader: "leader", jobId: 7, pubsub, cluster: c, clock, logger: log });
      // Stop once the first action has gone out (a fixed sleep raced the run's start-up on a busy machine).
      for (let waited = 0; !fake.commands().some((c) => c.includes("/jobs/run/job_name/stirring")); waited += 10) {
        if (waited > 10_000) throw new Error("the start was never sent");
        await new Promise((r) => setTimeout(r, 10));
      }
      await sender.publish(`pioreactor/$broadcast/${exp}/experiment_profile/7/$state/set`, "disconnected", { qos: 1 });
      const outcome = await running;
      expect(outcome).toMatchObject({ status: "stopped", actionCount: 1, notStarted: 1 });
      expect(fake.commands().at(-1)).toBe(`PATCH leader/unit_api/jobs/stop {"experiment":"${exp}","job_source":"experiment_profile/7"}`);
      await pubsub.end();
      await sender.end();
    });

    test("a when fires on the MQTT change of the value it reads (shared subscription cache)", async () => {
      const exp = `exp-${uniqueSuffix()}`;
      const pubsub = await connectTestClient(broker.url);
      const publisher = await connectTestClient(broker.url);
      await publisher.publish(`pioreactor/leader/${exp}/od_reading/od1`, "0.1", { qos: 1, retain: true });
      const clock = new RealClock();
      const { fake, cluster: c } = cluster(clock, { leader: { experiment: exp } });
      const lookups = new MqttLookupCache({ pubsub, experimentOf: async () => exp, firstMessageWaitMs: 500 });
      const text = `
version: "1.0"
experiment_profile_name: w
pioreactors:
  leader:
    jobs:
      stirring:
        actions:
          - type: when
            t: 0s
            wait_until: "leader:od_reading:od1 > 0.5"
            actions:
              - {type: log, t: 0s, options: {message: "od=\${{ leader:od_reading:od1 }}"}}
`;
      const running = runManagedProfile({ text, filename: "w.yaml", experiment: exp, leader: "leader", jobId: 2, pubsub, cluster: c, clock, logger: new LogSpy(clock), lookups, pollWhens: false });
      await new Promise((r) => setTimeout(r, 800));
      await publisher.publish(`pioreactor/leader/${exp}/od_reading/od1`, "0.75", { qos: 1, retain: true });
      await running;
      // With polling off, only the change event can have fired it.
      expect(JSON.parse(fake.requests.find((r) => r.method === "POST")?.body ?? "{}").message).toBe("od=0.75");
      await publisher.publish(`pioreactor/leader/${exp}/od_reading/od1`, "", { qos: 1, retain: true });
      await lookups.close();
      await pubsub.end();
      await publisher.end();
    });
  });
}
