/**
 * `pio serve --simulate` end to end, in process: the embedded broker it starts (TCP and the UI's
 * WebSocket), the leader database, two simulated workers, jobs started and stopped through the
 * same `/api` routes the UI calls, `/set` over MQTT, readings in the time-series route.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Command } from "commander";
import { runProgram } from "../../src/cli/main";
import { migrateToLatest } from "../../src/leader/db/migrate";
import { openDatabase } from "../../src/leader/db/open";
import { registerServeCommand } from "../../src/cli/serve-cmd";
import { type ServeHandle, serve } from "../../src/leader/web/serve";
import { connectMqtt, type MqttPubSubClient } from "../../src/pubsub/client";
import type { MqttMessage } from "../../src/pubsub/types";
import { RealClock } from "../../src/util/clock";
import { freePort } from "../helpers/ports";

jest.setTimeout(60_000);


async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// biome-ignore lint/suspicious/noExplicitAny: tests index into response JSON freely
async function http(method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** Submits through a route answering 202 + `result_url_path`, and returns the finished task's outcome. */
// biome-ignore lint/suspicious/noExplicitAny: tests index into response JSON freely
async function runTask(base: string, method: string, route: string, body?: unknown): Promise<any> {
  const accepted = await http(method, `${base}${route}`, body);
  expect(accepted.status).toBe(202);
  return waitFor(`task of ${route}`, async () => {
    const poll = await http("GET", `${base}${accepted.json.result_url_path}`);
    return poll.json.status === "pending" || poll.json.status === "running" ? undefined : poll.json;
  });
}

describe("pio serve --simulate", () => {
  let dir: string;
  let handle: ServeHandle;
  let ui: MqttPubSubClient;
  const seen: MqttMessage[] = [];
  let wsPort: number;
  const logged: string[] = [];

  const lastPayload = (topic: string) => {
    for (let i = seen.length - 1; i >= 0; i--) if (seen[i].topic === topic) return seen[i].payload.toString();
    return undefined;
  };
  const waitForPayload = (topic: string, wanted: (p: string) => boolean) =>
    waitFor(`${topic} to match`, () => {
      const p = lastPayload(topic);
      return p !== undefined && wanted(p) ? p : undefined;
    });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-serve-sim-"));
    const brokerPort = await freePort();
    wsPort = await freePort();
    fs.writeFileSync(
      path.join(dir, "config.ini"),
      [
        "[cluster.topology]",
        "leader_hostname=leader",
        "leader_address=127.0.0.1",
        "[mqtt]",
        "username=pioreactor",
        "password=raspberry",
        "broker_address=127.0.0.1",
        `broker_port=${brokerPort}`,
        `broker_ws_port=${wsPort}`,
        "[ui]",
        "port=80",
        "proto=http",
        "[storage]",
        `database=${path.join(dir, "db.sqlite")}`,
        `temporary_cache=${path.join(dir, "cache.sqlite")}`,
        `persistent_cache=${path.join(dir, "persistent.sqlite")}`,
        "[stirring.config]",
        "initial_target_rpm=321",
        // A literal percent sign must survive being handed to the job as an override.
        "note=stirred 100%%",
        "",
      ].join("\n"),
    );
    // A unit an earlier `--simulate` run had, and this one has not: it must leave the inventory.
    const db = openDatabase({ client: "sqlite", filename: path.join(dir, "db.sqlite") });
    await migrateToLatest(db);
    await db("workers").insert({ pioreactor_unit: "sim-old", added_at: "2026-01-01T00:00:00.000Z", is_active: 1 });
    await db("experiments").insert({ experiment: "earlier", created_at: "2026-01-01T00:00:00.000Z", description: "" });
    await db("experiment_worker_assignments").insert({ pioreactor_unit: "sim-old", experiment: "earlier", assigned_at: "2026-01-01T00:00:00.000Z" });
    await db.destroy();
    fs.mkdirSync(path.join(dir, "simulated", "sim-old"), { recursive: true });
    // --speed 20: od_reading's 5 s interval and stirring's start-up take a quarter second.
    handle = await serve({
      env: { DOT_PIOREACTOR: dir, PIO_EXECUTABLE: "/bin/false" },
      cwd: dir,
      clock: new RealClock(),
      port: 0,
      host: "127.0.0.1",
      simulate: { units: ["sim-a", "sim-b"], speed: 20, seed: 3 },
      log: (line) => logged.push(line),
    });
    // The UI's path: MQTT over WebSocket on [mqtt] broker_ws_port.
    ui = await connectMqtt({ url: `ws://127.0.0.1:${wsPort}/mqtt`, username: "pioreactor", password: "raspberry", clientIdBase: "ui-test" });
    await ui.subscribe("pioreactor/#", (m) => seen.push(m), { qos: 1 });
  });

  afterAll(async () => {
    await handle?.close();
    await ui?.end();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the simulated workers are registered, active and assigned to the current experiment", async () => {
    expect(handle.isLeader).toBe(true);
    expect(handle.unit).toBe("leader");
    const workers = await http("GET", `${handle.server.url}/api/workers`);
    expect(workers.status).toBe(200);
    expect(workers.json.map((w: { pioreactor_unit: string; is_active: number }) => [w.pioreactor_unit, w.is_active])).toEqual([
      ["sim-a", 1],
      ["sim-b", 1],
    ]);
    expect(logged).toContain("Removed the earlier simulated worker(s) sim-old from the inventory.");
    const latest = await http("GET", `${handle.server.url}/api/experiments/latest`);
    expect(latest.json.experiment).toBe(handle.simulated?.experiment);
    const assigned = await http("GET", `${handle.server.url}/api/experiments/${latest.json.experiment}/workers`);
    expect(assigned.json.map((w: { pioreactor_unit: string }) => w.pioreactor_unit).sort()).toEqual(["sim-a", "sim-b"]);
    // Each unit's own /unit_api answers as that unit.
    const health = await http("GET", `${handle.simulated?.unitBaseUrl("sim-b")}/unit_api/health`);
    expect(health.json.pioreactor_unit).toBe("sim-b");
    // The monitor runs from boot, as on a Pi.
    await waitForPayload("pioreactor/sim-a/$experiment/monitor/$state", (p) => p === "ready");
  });

  test("stirring and od_reading start, take /set, fill the database and stop through the UI's routes", async () => {
    const base = handle.server.url;
    const exp = handle.simulated?.experiment as string;

    const started = await runTask(base, "POST", `/api/workers/sim-a/jobs/run/job_name/stirring/experiments/${exp}`, { options: { target_rpm: 400 } });
    expect(started.status).toBe("succeeded");
    expect(started.result["sim-a"].ok).toBe(true);
    await waitForPayload(`pioreactor/sim-a/${exp}/stirring/$state`, (p) => p === "ready");
    expect(Number(lastPayload(`pioreactor/sim-a/${exp}/stirring/target_rpm`))).toBe(400);

    // A /set from any MQTT client (here the UI's WebSocket connection) reaches the simulated job.
    await ui.publish(`pioreactor/sim-a/${exp}/stirring/target_rpm/set`, "650", { qos: 1 });
    await waitForPayload(`pioreactor/sim-a/${exp}/stirring/target_rpm`, (p) => Number(p) === 650);
    // And the UI's own update route (which publishes that /set).
    const updated = await http("PATCH", `${base}/api/workers/sim-a/jobs/update/job_name/stirring/experiments/${exp}`, { settings: { target_rpm: 520.0 } });
    expect(updated.status).toBe(202);
    await waitForPayload(`pioreactor/sim-a/${exp}/stirring/target_rpm`, (p) => Number(p) === 520);

    const od = await runTask(base, "POST", `/api/workers/sim-a/jobs/run/job_name/od_reading/experiments/${exp}`, {});
    expect(od.result["sim-a"].ok).toBe(true);
    await waitForPayload(`pioreactor/sim-a/${exp}/od_reading/$state`, (p) => p === "ready");

    // The leader's fan-out reaches the simulated unit's /unit_api.
    const running = await runTask(base, "GET", "/api/workers/sim-a/jobs/running");
    const names = (running.result["sim-a"].value as Array<{ job_name: string }>).map((j) => j.job_name).sort();
    expect(names).toEqual(expect.arrayContaining(["monitor", "od_reading", "stirring"]));

    // Readings land in the leader database through the streaming job, and the chart route serves them.
    const series = await waitFor("od readings in the time-series route", async () => {
      const r = await http("GET", `${base}/api/workers/sim-a/experiments/${exp}/time_series/od_readings`);
      return r.json.data?.[0]?.length >= 2 ? r.json : undefined;
    });
    expect(series.series[0]).toMatch(/^sim-a-\d$/);
    expect(series.data[0][0].y).toBeGreaterThan(0);

    const stopped = await http("POST", `${base}/api/workers/sim-a/jobs/stop/job_name/stirring/experiments/${exp}`);
    expect(stopped.status).toBe(202);
    await waitForPayload(`pioreactor/sim-a/${exp}/stirring/$state`, (p) => p === "disconnected");

    // A job the simulator does not have fails the task with its reason, as a failed `pio run` does.
    const unknown = await runTask(base, "POST", `/api/workers/sim-b/jobs/run/job_name/no_such_job/experiments/${exp}`, {});
    expect(unknown.result["sim-b"].ok).toBe(false);
    expect(unknown.result["sim-b"].error.message).toMatch(/no_such_job/);
  });

  test("a simulated unit's jobs read its config.ini and unit_config.ini at every start, as `pio run` does", async () => {
    const base = handle.server.url;
    const exp = handle.simulated?.experiment as string;
    const topic = `pioreactor/sim-b/${exp}/stirring/target_rpm`;
    const first = await runTask(base, "POST", `/api/workers/sim-b/jobs/run/job_name/stirring/experiments/${exp}`, {});
    expect(first.result["sim-b"].ok).toBe(true);
    await waitForPayload(topic, (p) => Number(p) === 321);

    const saved = await http("POST", `${handle.simulated?.unitBaseUrl("sim-b")}/unit_api/config/specific`, { code: "[stirring.config]\ninitial_target_rpm=234\n" });
    expect(saved.status).toBe(200);
    await http("POST", `${base}/api/workers/sim-b/jobs/stop/job_name/stirring/experiments/${exp}`);
    await waitForPayload(`pioreactor/sim-b/${exp}/stirring/$state`, (p) => p === "disconnected");
    const second = await runTask(base, "POST", `/api/workers/sim-b/jobs/run/job_name/stirring/experiments/${exp}`, {});
    expect(second.result["sim-b"].ok).toBe(true);
    await waitForPayload(topic, (p) => Number(p) === 234);
    // The leader's own unit_config.ini is not the simulated unit's.
    expect(fs.existsSync(path.join(dir, "unit_config.ini"))).toBe(false);

    // A config.ini saved in the UI is copied to every simulated unit, as to a worker.
    const shared = fs.readFileSync(path.join(dir, "config.ini"), "utf8").replace("initial_target_rpm=321", "initial_target_rpm=345");
    const synced = await http("PATCH", `${base}/api/config/shared`, { code: shared });
    expect(synced.status).toBe(200);
    for (const unit of ["sim-a", "sim-b"]) expect(fs.readFileSync(path.join(dir, "simulated", unit, "config.ini"), "utf8")).toContain("initial_target_rpm=345");

    // The UI's "stop all" for a unit goes to the unit's /unit_api/jobs/stop, which stops the job objects.
    const stopAll = await http("POST", `${base}/api/workers/sim-b/jobs/stop/experiments/${exp}`);
    expect(stopAll.status).toBe(202);
    await waitForPayload(`pioreactor/sim-b/${exp}/stirring/$state`, (p) => p === "disconnected");
    const running = await http("GET", `${handle.simulated?.unitBaseUrl("sim-b")}/unit_api/jobs/running`);
    expect(running.json.map((j: { job_name: string }) => j.job_name)).toEqual(["monitor"]);
  });

  test("a profile started as the UI starts it runs on simulated time against the simulated units", async () => {
    const exp = handle.simulated?.experiment as string;
    const file = path.join(dir, "experiment_profiles", "quick.yaml");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(
      file,
      [
        'version: "1.0"',
        "experiment_profile_name: quick",
        "metadata:",
        "  author: test",
        "pioreactors:",
        "  sim-b:",
        "    jobs:",
        "      stirring:",
        "        actions:",
        "          - {type: start, t: 0s, options: {target_rpm: 275.0}}",
        "          - {type: stop, t: 60s}",
        "",
      ].join("\n"),
    );
    const t0 = Date.now();
    const run = await runTask(handle.server.url, "PATCH", "/unit_api/jobs/run/job_name/experiment_profile", { args: ["execute", file, exp], options: {} });
    expect(run.status).toBe("succeeded");
    await waitForPayload(`pioreactor/sim-b/${exp}/stirring/target_rpm`, (p) => Number(p) === 275);
    await waitForPayload(`pioreactor/sim-b/${exp}/stirring/$state`, (p) => p === "disconnected");
    // One simulated minute at --speed 20: three seconds, not sixty.
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  test("closing stops every simulated job cleanly: retained $state disconnected", async () => {
    const exp = handle.simulated?.experiment as string;
    await waitForPayload(`pioreactor/sim-a/${exp}/od_reading/$state`, (p) => p === "ready");
    await handle.close();
    await waitForPayload(`pioreactor/sim-a/${exp}/od_reading/$state`, (p) => p === "disconnected");
    await waitForPayload("pioreactor/sim-a/$experiment/monitor/$state", (p) => p === "disconnected");
    await waitForPayload(`pioreactor/sim-b/${exp}/stirring/$state`, (p) => p === "disconnected");
    handle = undefined as unknown as ServeHandle;
  });
});

describe("pio serve --simulate flags", () => {
  async function exitCodeOf(args: string[]): Promise<{ code: number; stderr: string }> {
    const program = new Command("pio");
    registerServeCommand(program, {
      env: {},
      cwd: os.tmpdir(),
      clock: new RealClock(),
      print: () => {},
      serve: () => Promise.reject(new Error("must not start")),
    });
    const write = process.stderr.write;
    let stderr = "";
    process.stderr.write = ((chunk: string) => {
      stderr += chunk;
      return true;
    }) as typeof process.stderr.write;
    try {
      return { code: await runProgram(program, ["node", "pio", "serve", ...args]), stderr };
    } finally {
      process.stderr.write = write;
    }
  }

  test("without a config.ini, --simulate writes the development config to $DOT_PIOREACTOR and serves from it", async () => {
    const dot = fs.mkdtempSync(path.join(os.tmpdir(), "pio-serve-sim-dev-"));
    let seenEnv: NodeJS.ProcessEnv | undefined;
    const lines: string[] = [];
    const program = new Command("pio");
    registerServeCommand(program, {
      env: { DOT_PIOREACTOR: dot },
      cwd: os.tmpdir(),
      clock: new RealClock(),
      print: (l) => lines.push(l),
      // Records what the real composition would be given, then stops before binding ports 1883 and 4999.
      serve: (opts) => {
        seenEnv = opts.env;
        return Promise.reject(new Error("stopped before serving"));
      },
    });
    try {
      expect(await runProgram(program, ["node", "pio", "serve", "--simulate"])).toBe(1);
      const config = fs.readFileSync(path.join(dot, "config.ini"), "utf8");
      expect(config).toMatch(/^port=4999$/m);
      expect(config).toContain(`database=${path.join(dot, "storage", "pioreactor.sqlite")}`);
      expect(seenEnv?.DOT_PIOREACTOR).toBe(dot);
      expect(lines).toContain(`No config.ini at ${path.join(dot, "config.ini")}: using the development config in ${dot}.`);
    } finally {
      fs.rmSync(dot, { recursive: true, force: true });
    }
  });

  test("a --units name that is the leader's is a usage error found once the config is read", async () => {
    const dot = fs.mkdtempSync(path.join(os.tmpdir(), "pio-serve-sim-leader-"));
    fs.writeFileSync(
      path.join(dot, "config.ini"),
      `[cluster.topology]\nleader_hostname=tank\n\n[storage]\ndatabase=${path.join(dot, "db.sqlite")}\n`,
    );
    const program = new Command("pio");
    registerServeCommand(program, { env: { DOT_PIOREACTOR: dot }, cwd: dot, clock: new RealClock(), print: () => {} });
    const write = process.stderr.write;
    let stderr = "";
    process.stderr.write = ((chunk: string) => {
      stderr += chunk;
      return true;
    }) as typeof process.stderr.write;
    try {
      expect(await runProgram(program, ["node", "pio", "serve", "--simulate", "--units", "tank,tank2", "--port", "0"])).toBe(2);
      expect(stderr).toContain("Invalid value for '--units': 'tank' is the leader's name ([cluster.topology] leader_hostname); pick another.");
    } finally {
      process.stderr.write = write;
      fs.rmSync(dot, { recursive: true, force: true });
    }
  });

  test.each([
    [["--simulate", "--speed", "0"], /'--speed': '0' is not a positive number/],
    [["--simulate", "--speed", "fast"], /'--speed': 'fast'/],
    [["--simulate", "--units", "0"], /'--units': 0 is not between 1 and 64/],
    [["--simulate", "--units", "a,,b"], /'--units': 'a,,b' has an empty name/],
    [["--simulate", "--units", "a,a"], /'--units': 'a' is given twice/],
    [["--simulate", "--units", "bad/name"], /'bad\/name' is not a valid unit name/],
    [["--simulate", "--seed", "1.5"], /'--seed': '1.5' is not an integer/],
    [["--speed", "2"], /'--speed' only applies with '--simulate'/],
  ])("serve %j is a usage error (exit 2)", async (args, message) => {
    const { code, stderr } = await exitCodeOf(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
