/**
 * Dry-run of a 30-day profile with repeats on a VirtualClock against the pretend cluster: three
 * units, OD/stirring for 30 days, an update + log every 10 minutes, 12/12 light cycles, a
 * temperature step every 6 hours. Prints wall time, actions executed and requests recorded.
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/profile-dryrun.js
 */
import type { Logger } from "../src/jobs/logger";
import { ProfileExecutor } from "../src/profiles/executor";
import { FakeCluster } from "../src/profiles/fake-cluster";
import { HttpClusterClient } from "../src/profiles/http-cluster-client";
import { validateProfileText } from "../src/profiles/validate";
import { VirtualClock } from "../src/util/clock";

const PROFILE = `
version: "1.0"
experiment_profile_name: thirty days
common:
  jobs:
    stirring:
      actions:
        - {type: start, t: 0s, options: {target_rpm: 400.0}}
        - type: repeat
          t: 10m
          every: 10m
          max_time: 30d
          actions:
            - {type: update, t: 0s, options: {target_rpm: "\${{ 400 + (action_count / 1000) }}"}}
            - {type: log, t: 1m, options: {message: "tick \${{ hours_elapsed }}"}}
        - {type: stop, t: 30d}
    led_intensity:
      actions:
        - type: repeat
          t: 0s
          every: 24h
          max_time: 30d
          actions:
            - {type: update, t: 0s, options: {B: 40}}
            - {type: update, t: 12h, options: {B: 0}}
    temperature_automation:
      actions:
        - {type: start, t: 0s, options: {automation_name: thermostat, target_temperature: 30.0}}
        - type: repeat
          t: 6h
          every: 6h
          max_time: 30d
          actions:
            - {type: update, t: 0s, options: {target_temperature: "\${{ 30 + hours_elapsed / 100 }}"}}
        - {type: stop, t: 30d}
`;

const silent: Logger = { log() {}, debug() {}, info() {}, notice() {}, warning() {}, error() {}, critical() {} };

async function once(): Promise<{ ms: number; actions: number; requests: number; virtualDays: number }> {
  const v = validateProfileText(PROFILE);
  if (!v.profile) throw new Error(JSON.stringify(v.diagnostics));
  const clock = new VirtualClock(Date.UTC(2026, 0, 1));
  const start = clock.now();
  const workers = { unit1: { experiment: "e" }, unit2: { experiment: "e" }, unit3: { experiment: "e" } };
  const fake = new FakeCluster({ workers, clock, startStyle: "immediate" });
  const cluster = new HttpClusterClient({ leaderBaseUrl: fake.leaderBaseUrl(), unitBaseUrl: (u) => fake.unitBaseUrl(u), fetch: fake.fetch, clock });
  const t0 = process.hrtime.bigint();
  const outcome = await new ProfileExecutor({
    profile: v.profile,
    profileFilename: "thirty-days.yaml",
    experiment: "e",
    jobKey: "experiment_profile/1",
    cluster,
    clock,
    logger: silent,
    dryRun: true,
    random: () => 0.5,
  }).run();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, actions: outcome.actionCount, requests: fake.requests.length, virtualDays: (clock.now() - start) / 86_400_000 };
}

async function main() {
  for (let i = 0; i < 3; i++) {
    const r = await once();
    console.log(
      `run ${i + 1}: ${r.ms.toFixed(0)} ms wall for ${r.virtualDays.toFixed(1)} virtual days, ${r.actions} actions, ${r.requests} requests recorded`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
