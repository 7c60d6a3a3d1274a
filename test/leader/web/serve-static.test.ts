/** `pio serve` end to end (migrations, port, config), the UI bundle's URL map, MQTT over WebSocket on the web port, descriptors, logs, time series. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Command } from "commander";
import { registerServeCommand } from "../../../src/cli/serve-cmd";
import { serve } from "../../../src/leader/web/serve";
import { JournalStore } from "../../../src/profiles/journal";
import { startEmbeddedBroker } from "../../../src/pubsub/broker";
import { connectMqtt } from "../../../src/pubsub/client";
import { RealClock } from "../../../src/util/clock";
import { BASE_CONFIG, type Harness, startHarness } from "./harness";

describe("pio serve", () => {
  test("migrates, serves /api and /unit_api, and the command wires its flags", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-serve-"));
    const broker = await startEmbeddedBroker({ port: 0 });
    try {
      const config = BASE_CONFIG.replace("DB_PATH", path.join(dir, "db.sqlite")).replace("[mqtt]", `[mqtt]\nbroker_port=${broker.port}`) +
        `temporary_cache=${path.join(dir, "cache.sqlite")}\n`;
      fs.writeFileSync(path.join(dir, "config.ini"), config);
      const env = { DOT_PIOREACTOR: dir, HOSTNAME: "leader", PIO_EXECUTABLE: "/bin/false" };
      let started: Awaited<ReturnType<typeof serve>> | undefined;
      const program = new Command("pio");
      registerServeCommand(program, {
        env,
        cwd: dir,
        clock: new RealClock(),
        print: () => {},
        serve: async (opts) => {
          started = await serve(opts);
          return started;
        },
        untilStopped: async () => {
          const base = started!.server.url;
          expect((await fetch(`${base}/unit_api/health`)).status).toBe(200);
          const created = await fetch(`${base}/api/experiments`, { method: "POST", body: JSON.stringify({ experiment: "e1" }) });
          expect(created.status).toBe(201);
          expect(((await (await fetch(`${base}/api/experiments/latest`)).json()) as { experiment: string }).experiment).toBe("e1");
        },
      });
      await program.parseAsync(["node", "pio", "serve", "--port", "0", "--host", "127.0.0.1"]);
      expect(started?.isLeader).toBe(true);
    } finally {
      await broker.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("pio serve start-up resumes interrupted profile runs", () => {
  test("a journaled run left open is resumed under [experiment_profile] resume_policy, and said so", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-serve-"));
    const broker = await startEmbeddedBroker({ port: 0 });
    try {
      const config =
        BASE_CONFIG.replace("DB_PATH", path.join(dir, "db.sqlite")).replace("[mqtt]", `[mqtt]\nbroker_port=${broker.port}`) +
        `temporary_cache=${path.join(dir, "cache.sqlite")}\npersistent_cache=${path.join(dir, "persistent.sqlite")}\n\n[experiment_profile]\nresume_policy=abort\n`;
      fs.writeFileSync(path.join(dir, "config.ini"), config);
      const journalFile = path.join(dir, "journal.sqlite");
      const before = new JournalStore(journalFile);
      const text = 'version: "1.0"\nexperiment_profile_name: left open\nmetadata:\n  author: t\npioreactors: {}\n';
      const { runId } = before.createRun({ profileText: text, profileFilename: "left.yaml", experiment: "e1", startMs: Date.now() - 60_000, dryRun: false, jobKey: "experiment_profile/7" });
      before.close();
      const lines: string[] = [];
      const handle = await serve({ env: { DOT_PIOREACTOR: dir, HOSTNAME: "leader", PIO_EXECUTABLE: "/bin/false", PROFILE_JOURNAL: journalFile }, cwd: dir, clock: new RealClock(), port: 0, host: "127.0.0.1", log: (l) => lines.push(l) });
      try {
        expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^Resuming profile run ${runId} \\(left\\.yaml, e1\\) as job \\d+ with policy abort\\.$`)));
        const after = new JournalStore(journalFile);
        for (let i = 0; i < 100 && after.run(runId)?.status === "running"; i++) await new Promise((r) => setTimeout(r, 20));
        // Nothing was pending in it, so the resumed run simply completes.
        expect(after.run(runId)?.status).toBe("finished");
        after.close();
      } finally {
        await handle.close();
      }
    } finally {
      await broker.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("static UI, WebSocket, descriptors, logs, time series", () => {
  let h: Harness;
  let uiDir: string;
  beforeAll(async () => {
    uiDir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-ui-"));
    fs.mkdirSync(path.join(uiDir, "static"), { recursive: true });
    fs.writeFileSync(path.join(uiDir, "index.html"), "<html>app</html>");
    fs.writeFileSync(path.join(uiDir, "static", "index-abc.js"), "console.log(1)");
    h = await startHarness({ uiDir });
  });
  afterAll(async () => {
    await h.close();
    fs.rmSync(uiDir, { recursive: true, force: true });
  });

  test("the original's URL map: /static/*, SPA fallback, API 404s stay JSON", async () => {
    const asset = await fetch(`${h.url}/static/static/index-abc.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=43200");
    const index = await fetch(`${h.url}/static/index.html`);
    expect(index.headers.get("cache-control")).toContain("no-cache");
    for (const route of ["/", "/overview", "/pioreactors/unit1", "/experiment-profiles/x.yaml/edit"]) {
      const page = await fetch(`${h.url}${route}`);
      expect(page.status).toBe(200);
      expect(await page.text()).toBe("<html>app</html>");
    }
    const api = await fetch(`${h.url}/api/does-not-exist`);
    expect(api.status).toBe(404);
    expect(((await api.json()) as { status: number }).status).toBe(404);
    const traversal = await fetch(`${h.url}/static/..%2F..%2Fetc%2Fpasswd`);
    expect(await traversal.text()).not.toContain("root:");
  });

  test("MQTT over WebSocket at /mqtt on the web port", async () => {
    const ws = await connectMqtt({ url: `${h.url.replace("http", "ws")}/mqtt`, clientIdBase: "ui" });
    let got = "";
    await ws.subscribe("pioreactor/+/$experiment/logs/ui/+", (m) => {
      got = m.payload.toString();
    });
    await h.request("POST", "/api/experiments", { experiment: "ws-exp" });
    for (let i = 0; i < 100 && !got; i++) await new Promise((r) => setTimeout(r, 10));
    expect(JSON.parse(got).message).toBe("New experiment created: ws-exp");
    await ws.end();
  });

  test("built-in descriptors, overridden by $DOT_PIOREACTOR/ui; bad files skipped", async () => {
    const jobs = await h.request("GET", "/api/jobs/descriptors");
    expect(jobs.json.map((j: { job_name: string }) => j.job_name)).toEqual(
      expect.arrayContaining(["stirring", "od_reading", "growth_rate_calculating", "temperature_automation", "dosing_automation", "led_automation"]),
    );
    expect(Object.keys(jobs.json[0])).toEqual(["display_name", "job_name", "display", "published_settings", "source", "description", "subtext", "is_testing"]);
    fs.mkdirSync(path.join(h.dot, "ui", "jobs"), { recursive: true });
    fs.writeFileSync(path.join(h.dot, "ui", "jobs", "00_stirring.yaml"), "display_name: Mixer\njob_name: stirring\ndisplay: true\npublished_settings: []\n");
    fs.writeFileSync(path.join(h.dot, "ui", "jobs", "99_bad.yaml"), "display_name: Bad\njob_name: bad\ndisplay: true\npublished_settings:\n  - {key: a, type: numeric, display: true}\n");
    const after = await h.request("GET", "/unit_api/jobs/descriptors");
    expect(after.json.find((j: { job_name: string }) => j.job_name === "stirring").display_name).toBe("Mixer");
    expect(after.json.find((j: { job_name: string }) => j.job_name === "bad")).toBeUndefined();
    expect((await h.request("GET", "/api/automations/descriptors/dosing")).json.map((a: { automation_name: string }) => a.automation_name)).toEqual(
      expect.arrayContaining(["chemostat", "turbidostat", "silent"]),
    );
    expect((await h.request("GET", "/api/automations/descriptors/nope")).status).toBe(400);
    const charts = await h.request("GET", "/api/charts/descriptors");
    expect(charts.json[0]).toMatchObject({ chart_key: "implied_growth_rate", down_sample: true, interpolation: "stepAfter", y_transformation: "(y) => y" });
  });

  test("logs by level and POST a UI log → MQTT QoS 2", async () => {
    await h.request("POST", "/api/experiments", { experiment: "logs-exp" });
    const now = Date.now();
    const row = (i: number, level: string) => ({
      experiment: "logs-exp",
      pioreactor_unit: "unit1",
      timestamp: new Date(now + 10_000 - i * 1000).toISOString(),
      message: `m${i}`,
      source: "app",
      level,
      task: "stirring",
    });
    await h.db("logs").insert([row(1, "INFO"), row(2, "DEBUG"), row(3, "ERROR")]);
    const info = await h.request("GET", "/api/experiments/logs-exp/logs?min_level=info");
    expect(info.json.map((r: { message: string }) => r.message)).toEqual(["m1", "m3"]);
    expect(Object.keys(info.json[0])).toEqual(["timestamp", "level", "pioreactor_unit", "message", "task", "experiment"]);
    expect((await h.request("GET", "/api/experiments/logs-exp/recent_logs?min_level=debug")).json).toHaveLength(3);
    const post = await h.request("POST", "/api/workers/unit1/experiments/logs-exp/logs", {
      message: " hello ",
      source: "UI",
      level: "INFO",
      timestamp: "2026-01-01T00:00:00.000Z",
    });
    expect(post.status).toBe(202);
    const [msg] = await h.waitForMessages(/^pioreactor\/unit1\/logs-exp\/logs\/ui\/info$/);
    expect(msg.qos).toBe(2);
    expect(JSON.parse(msg.payload.toString())).toEqual({ message: "hello", task: "", source: "UI", level: "INFO", timestamp: "2026-01-01T00:00:00.000Z" });
    expect(await h.db("logs").where("message", "hello").first()).toBeUndefined();
  });

  test("time series: all rows when few, evenly thinned in SQL when many; target_points must be positive", async () => {
    await h.request("POST", "/api/experiments", { experiment: "ts" });
    const now = Date.now();
    const rows = Array.from({ length: 500 }, (_, i) => ({
      experiment: "ts",
      pioreactor_unit: "unit1",
      timestamp: new Date(now - (500 - i) * 1000).toISOString(),
      rate: i / 1000 + 0.0000012,
    }));
    for (let i = 0; i < rows.length; i += 100) await h.db("growth_rates").insert(rows.slice(i, i + 100));
    const all = await h.request("GET", "/api/experiments/ts/time_series/growth_rates?lookback=1&target_points=1000");
    expect(all.json.series).toEqual(["unit1"]);
    expect(all.json.data[0]).toHaveLength(500);
    expect(all.json.data[0][1]).toEqual({ x: rows[1].timestamp, y: 0.001 });
    const thin = await h.request("GET", "/api/experiments/ts/time_series/growth_rates?lookback=1&target_points=50");
    const points = thin.json.data[0];
    expect(points.length).toBeLessThanOrEqual(50);
    expect(points.length).toBeGreaterThanOrEqual(45);
    expect(points[0].x).toBe(rows[0].timestamp);
    expect(points[points.length - 1].x).toBe(rows[499].timestamp);
    const xs = points.map((p: { x: string }) => p.x);
    expect([...xs].sort()).toEqual(xs);
    expect((await h.request("GET", "/api/experiments/ts/time_series/growth_rates?target_points=0")).status).toBe(400);
    expect((await h.request("GET", "/api/workers/unit2/experiments/ts/time_series/growth_rates")).json).toEqual({ series: [], data: [] });
  });
});
