import { openCacheDatabase } from "../../src/jobs/local-storage";
import { JobRegistry } from "../../src/jobs/registry";

const job = { unit: "unit1", experiment: "exp", jobSource: "user", pid: process.pid, leader: "leader", isLongRunning: false };

/** Published settings and reads interleaved as a job's life does; returns what the reads saw. */
function life(registry: JobRegistry): unknown[] {
  const seen: unknown[] = [];
  const od = registry.register({ ...job, jobName: "od_reading" });
  registry.upsertSetting(od, "interval", 5);
  registry.upsertSetting(od, "$state", "init");
  registry.upsertSetting(od, "$state", "ready");
  registry.upsertSetting(od, "ods", { timestamp: "2026-01-01T00:00:00.000Z", ods: { "2": 0.1 } });
  registry.upsertSetting(od, "first_od_obs_time", true);
  seen.push(registry.settingOfRunningJob("od_reading", "interval"), registry.settingsOfRunningJob("od_reading"));
  registry.upsertSetting(od, "interval", 10);
  registry.upsertSetting(od, "ods", null);
  seen.push(registry.settings(od).map((s) => [s.setting, s.value]));
  const stirring = registry.register({ ...job, jobName: "stirring" });
  registry.upsertSetting(stirring, "target_rpm", 500);
  for (const name of ["interval", "$state", "first_od_obs_time"]) registry.upsertSetting(od, name, null);
  registry.setNotRunning(od);
  seen.push(registry.runningJobs().map((j) => j.job_name), registry.settings(od), registry.settingsOfRunningJob("stirring"));
  return seen;
}

describe("JobRegistry with deferred setting writes", () => {
  it("answers every read as the registry that writes each setting at once", () => {
    const immediateDb = openCacheDatabase(":memory:");
    const deferredDb = openCacheDatabase(":memory:");
    const immediate = life(new JobRegistry(immediateDb, () => true));
    const deferred = life(new JobRegistry(deferredDb, () => true, { deferSettingWrites: true }));
    expect(deferred).toEqual(immediate);
    expect(immediate[0]).toBe(5);
    expect(immediate[1]).toEqual({ interval: 5, $state: "ready", ods: '{"timestamp":"2026-01-01T00:00:00.000Z","ods":{"2":0.1}}', first_od_obs_time: 1 });
    expect(immediate.at(-1)).toEqual({ target_rpm: 500 });
    immediateDb.close();
    deferredDb.close();
  });

  it("writes nothing until something reads, then only the latest value of each setting", () => {
    const db = openCacheDatabase(":memory:");
    const registry = new JobRegistry(db, () => true, { deferSettingWrites: true });
    const id = registry.register({ ...job, jobName: "growth_rate_calculating" });
    for (let i = 0; i < 100; i++) registry.upsertSetting(id, "growth_rate", i / 100);
    const count = () => (db.prepare("SELECT COUNT(*) AS n FROM pio_job_published_settings").get() as { n: number }).n;
    expect(count()).toBe(0);
    expect(registry.settingOfRunningJob("growth_rate_calculating", "growth_rate")).toBe(0.99);
    expect(count()).toBe(1);
    db.close();
  });
});
