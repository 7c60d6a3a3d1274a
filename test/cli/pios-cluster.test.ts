/**
 * `pios` against real servers on loopback: the leader (web harness: API + DB + broker) on
 * 127.0.0.1, workers w1 and w2 (createApp, unit API only) on 127.0.0.2 and 127.0.0.3, all on the
 * same port as `[ui] port` requires, and w3 registered but with no server (a unit that is down).
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import express from "express";
import { runPios } from "../../src/cli/pios";
import type { PiosDeps } from "../../src/cli/pios-commands";
import { NO_PROGRESS } from "../../src/cli/pios-progress";
import { IniDocument } from "../../src/config/ini";
import { LayeredConfig } from "../../src/config/layered";
import { JobRegistry } from "../../src/jobs/registry";
import { clusterUnitRoutes } from "../../src/leader/cluster/unit-api-routes";
import { createApp } from "../../src/leader/web/app";
import type { JobLaunchRequest } from "../../src/leader/web/job-launcher";
import { type RunningServer, startServer } from "../../src/leader/web/server";
import { RealClock } from "../../src/util/clock";
import { type Harness, startHarness } from "../leader/web/harness";
import { recordingSystem } from "../leader/web/recording-system";

interface FakeUnit {
  name: string;
  dot: string;
  server: RunningServer;
  registry: JobRegistry;
  launched: JobLaunchRequest[];
  stopped: unknown[];
  power: string[];
}

async function startUnit(name: string, host: string, port: number, root: string): Promise<FakeUnit> {
  const dot = path.join(root, name);
  fs.mkdirSync(dot, { recursive: true });
  fs.writeFileSync(path.join(dot, "config.ini"), "[old]\nx=1\n");
  fs.writeFileSync(path.join(dot, "unit_config.ini"), `[stirring.config]\n# ${name}\n`);
  const registry = new JobRegistry(new Database(":memory:"));
  const unit: FakeUnit = { name, dot, registry, launched: [], stopped: [], power: [], server: undefined as unknown as RunningServer };
  const { app } = createApp({
    unitName: name,
    isLeader: false,
    dotPioreactor: dot,
    config: () => LayeredConfig.fromDocuments(IniDocument.parse(fs.readFileSync(path.join(dot, "config.ini"), "utf8"))),
    clock: new RealClock(),
    mqtt: { publish: async () => {} },
    registry,
    jobLauncher: {
      launch: async (r) => {
        unit.launched.push(r);
        return { ok: true };
      },
    },
    jobStopper: {
      stop: async (f) => {
        unit.stopped.push(f);
        return 1;
      },
      stopAll: async () => {
        unit.stopped.push("all");
        return 1;
      },
    },
    fetch,
    reportError: () => {},
  });
  const outer = express();
  outer.use(
    "/unit_api",
    clusterUnitRoutes({
      dotPioreactor: dot,
      isLeader: false,
      power: { reboot: () => void unit.power.push("reboot"), shutdown: () => void unit.power.push("shutdown") },
    }),
  );
  outer.use(app);
  unit.server = await startServer(outer, { port, host });
  return unit;
}

describe("pios on a two-worker cluster with one worker down", () => {
  let h: Harness;
  let units: FakeUnit[];
  let config: LayeredConfig;
  let out: string[];
  let err: string[];
  let answers: string[];
  let interactive: boolean;

  beforeAll(async () => {
    // The leader's own power route must never touch this machine: it answers as a non-Pi would.
    h = await startHarness({ system: recordingSystem(false) });
    const port = h.server.port;
    units = [await startUnit("w1", "127.0.0.2", port, h.dir), await startUnit("w2", "127.0.0.3", port, h.dir)];
    const brokerPort = new URL(h.brokerUrl).port;
    const text = fs
      .readFileSync(path.join(h.dot, "config.ini"), "utf8")
      .replace("port=80", `port=${port}`)
      .replace("broker_address=127.0.0.1", `broker_address=127.0.0.1\nbroker_port=${brokerPort}`);
    h.writeConfig(`${text}\n[cluster.addresses]\nw1=127.0.0.2\nw2=127.0.0.3\nw3=127.0.0.4\nleader=127.0.0.1\n`);
    config = LayeredConfig.fromDocuments(IniDocument.parse(fs.readFileSync(path.join(h.dot, "config.ini"), "utf8")));
    await h.request("POST", "/api/experiments", { experiment: "exp1" });
    for (const w of ["w1", "w2", "w3"]) expect((await h.request("PUT", "/api/workers", { pioreactor_unit: w })).status).toBe(201);
    for (const w of ["w1", "w2"]) expect((await h.request("PUT", "/api/experiments/exp1/workers", { pioreactor_unit: w })).status).toBeLessThan(300);
  });

  afterAll(async () => {
    for (const u of units) await u.server.close();
    await h.close();
  });

  beforeEach(() => {
    out = [];
    err = [];
    answers = [];
    interactive = false;
    for (const u of units) {
      u.launched.length = 0;
      u.stopped.length = 0;
      u.power.length = 0;
    }
  });

  function pios(...argv: string[]): Promise<number> {
    const overrides: Partial<PiosDeps> = {
      config: () => config,
      dotPioreactor: h.dot,
      print: (l) => out.push(l),
      warn: (l) => err.push(l),
      prompt: { interactive, ask: async (q) => {
          out.push(q);
          return answers.shift() ?? "";
        },
      },
      progress: () => NO_PROGRESS,
      now: () => new Date("2026-03-04T05:06:07.890Z"),
    };
    return runPios(argv, { env: { DOT_PIOREACTOR: h.dot }, cwd: h.dir, overrides, isLeader: () => true } as never);
  }

  it("run: sends the job to every active worker, reports the unreachable one, exits 1", async () => {
    const code = await pios("run", "--config-override", "stirring.config", "pwm_hz", "150", "stirring", "pos", "--target-rpm", "300", "--flag", "-y", "--json");
    expect(code).toBe(1);
    for (const u of units) {
      expect(u.launched).toEqual([{ jobName: "stirring", args: ["pos"], options: { "target-rpm": "300", flag: null }, configOverrides: [["stirring.config", "pwm_hz", "150"]], env: {} }]);
    }
    const lines = out.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.unit, l.status])).toEqual([
      ["w1", "success"],
      ["w2", "success"],
      ["w3", "error"],
    ]);
    expect(lines[0].task_id).toBeDefined();
    expect(out.some((l) => /^Unable to execute run command on w3 at 127\.0\.0\.4 due to server error: /.test(l))).toBe(true);
  });

  it("run --units limits the targets; all reachable → exit 0", async () => {
    expect(await pios("run", "od_reading", "--units", "w2", "-y")).toBe(0);
    expect(units[0].launched).toHaveLength(0);
    expect(units[1].launched).toHaveLength(1);
  });

  it("refuses without -y when there is no terminal, rather than hanging", async () => {
    expect(await pios("run", "stirring", "--units", "w1")).toBe(1);
    expect(units[0].launched).toHaveLength(0);
  });

  it("asks Y/n on a terminal: Y proceeds, anything else aborts", async () => {
    interactive = true;
    answers = ["n"];
    expect(await pios("kill", "--all-jobs", "--units", "w1")).toBe(1);
    expect(out[0]).toBe("Confirm killing jobs on ('w1',)? Y/n: ");
    expect(units[0].stopped).toEqual([]);
    answers = ["y"];
    expect(await pios("kill", "--all-jobs", "--units", "w1")).toBe(0);
  });

  it("kill: filters go to /unit_api/jobs/stop, --all-jobs to /stop/all", async () => {
    expect(await pios("kill", "--job-name", "stirring", "--experiment", "exp1", "--units", "w1", "--units", "w2", "-y")).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(units[0].stopped).toEqual([{ job_name: "stirring", experiment: "exp1" }]);
    expect(await pios("kill", "--all-jobs", "-y", "--json")).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(units[1].stopped).toContain("all");
    expect(out.filter((l) => l.includes('"status":"error"'))).toEqual(['{"unit":"w3","status":"error"}']);
  });

  it("selection errors are usage errors (exit 2)", async () => {
    expect(await pios("run", "stirring", "--units", "nope", "-y")).toBe(2);
    expect(await pios("run", "stirring", "--units", "w1", "--experiments", "exp1", "-y")).toBe(2);
    expect(await pios("run", "stirring", "--experiments", "empty", "-y")).toBe(2);
  });

  it("--experiments targets the experiment's active workers", async () => {
    // A different job: units refuse the same job twice within a second.
    expect(await pios("run", "temperature_automation", "--experiments", "exp1", "-y")).toBe(0);
    expect(units.map((u) => u.launched.length)).toEqual([1, 1]);
  });

  it("jobs list: per-unit history, failures reported and exit 1", async () => {
    const id = units[0].registry.register({ unit: "w1", experiment: "exp1", jobName: "stirring", jobSource: "user", pid: 1, leader: "leader", isLongRunning: false } as never);
    expect(id).toBeGreaterThan(0);
    expect(await pios("jobs", "list")).toBe(1);
    expect(out[0]).toBe("w1");
    expect(out[1]).toMatch(/^ {2}\[job_id=\d+\] stirring experiment=exp1, source=user, started_at=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d, ended_at=still running$/);
    expect(err.some((l) => l.startsWith("Unable to list jobs on w3 at 127.0.0.4:"))).toBe(true);
    expect(await pios("jobs", "list", "running", "--units", "w2")).toBe(0);
    expect(out.at(-1)).toBe("No jobs recorded.");
  });

  it("jobs set: publishes to each unit's assigned experiment over MQTT", async () => {
    expect(await pios("jobs", "set", "stirring", "target-rpm", "400", "--units", "w1", "--units", "w2", "-y")).toBe(0);
    const msgs = await h.waitForMessages(/\/stirring\/target_rpm\/set$/, 2);
    expect(msgs.map((m) => [m.topic, m.payload.toString()]).sort()).toEqual([
      ["pioreactor/w1/exp1/stirring/target_rpm/set", "400"],
      ["pioreactor/w2/exp1/stirring/target_rpm/set", "400"],
    ]);
    expect(await pios("jobs", "set", "stirring", "target_rpm", "1", "-y")).toBe(1); // w3 is unassigned
  });

  it("sync-configs: pushes config.ini over HTTP, snapshots unit_config.ini, records history; w3 fails", async () => {
    expect(await pios("sync-configs", "-y")).toBe(1);
    const leaderConfig = fs.readFileSync(path.join(h.dot, "config.ini"), "utf8");
    for (const u of units) expect(fs.readFileSync(path.join(u.dot, "config.ini"), "utf8")).toBe(leaderConfig);
    const rows = await h.db("config_files_histories").select("filename", "timestamp", "data").orderBy("filename");
    expect(rows.map((r: { filename: string }) => r.filename)).toEqual(["config.ini", "unit_config.ini::leader", "unit_config.ini::w1", "unit_config.ini::w2"]);
    expect(rows[0].timestamp).toBe("2026-03-04T05:06:07.890Z");
    expect(rows[2].data).toContain("# w1");
    expect(err.some((l) => l.startsWith("Encountered error syncing configs to w3:"))).toBe(true);
  });

  it("sync-configs --specific --skip-save only refreshes, stores nothing", async () => {
    await h.db("config_files_histories").delete();
    expect(await pios("sync-configs", "--specific", "--skip-save", "--units", "w1", "-y")).toBe(0);
    expect(await h.db("config_files_histories").count({ n: "*" })).toEqual([{ n: 0 }]);
  });

  it("reboot and shutdown: workers only unless the leader is named; unreachable worker → exit 1", async () => {
    expect(await pios("reboot", "--units", "w1", "-y")).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(units[0].power).toEqual(["reboot"]);
    expect(await pios("shutdown", "-y")).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(units.map((u) => u.power.at(-1))).toEqual(["shutdown", "shutdown"]);
    expect(out.some((l) => l.startsWith("Unable to shut down w3 at 127.0.0.4."))).toBe(true);
    // The leader here is not a Raspberry Pi and refuses to reboot: naming it reports that clearly, after the workers.
    expect(await pios("reboot", "--units", "w2", "--units", "leader", "-y")).toBe(1);
    expect(units[1].power.at(-1)).toBe("reboot");
  });

  it("refuses to run on a worker", async () => {
    const code = await runPios(["run", "stirring", "-y"], { env: {}, cwd: h.dir, overrides: { config: () => config, warn: () => {} }, isLeader: () => false } as never);
    expect(code).toBe(1);
  });
});
