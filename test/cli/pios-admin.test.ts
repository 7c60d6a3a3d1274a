/**
 * `pios cp|rm|update|plugins` against real servers on loopback: the leader (web harness) on
 * 127.0.0.1, workers w1 and w2 (the real unit API, commands recorded by their SystemPort) on
 * 127.0.0.2 and 127.0.0.3 at the same port, and w3 registered with no server (down).
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { runPios } from "../../src/cli/pios";
import type { PiosDeps } from "../../src/cli/pios-commands";
import { NO_PROGRESS } from "../../src/cli/pios-progress";
import { IniDocument } from "../../src/config/ini";
import { LayeredConfig } from "../../src/config/layered";
import { KeyValueCache, openCacheDatabase } from "../../src/jobs/local-storage";
import { JobRegistry } from "../../src/jobs/registry";
import { createApp } from "../../src/leader/web/app";
import { type RunningServer, startServer } from "../../src/leader/web/server";
import { RealClock } from "../../src/util/clock";
import { type Harness, startHarness } from "../leader/web/harness";
import { type RecordingSystem, recordingSystem } from "../leader/web/recording-system";

interface Worker {
  name: string;
  dot: string;
  server: RunningServer;
  system: RecordingSystem;
}

async function startWorker(name: string, host: string, port: number, root: string): Promise<Worker> {
  const dot = path.join(root, name);
  fs.mkdirSync(dot, { recursive: true });
  fs.writeFileSync(path.join(dot, "config.ini"), "[old]\nx=1\n");
  const system = recordingSystem(true);
  const cacheDb = openCacheDatabase(":memory:");
  const { app } = createApp({
    unitName: name,
    isLeader: false,
    dotPioreactor: dot,
    config: () => LayeredConfig.fromDocuments(IniDocument.parse(fs.readFileSync(path.join(dot, "config.ini"), "utf8"))),
    clock: new RealClock(),
    mqtt: { publish: async () => {} },
    registry: new JobRegistry(new Database(":memory:")),
    persistentCache: (n) => new KeyValueCache(cacheDb, n),
    jobLauncher: { launch: async () => ({ ok: true }) },
    jobStopper: { stop: async () => 0, stopAll: async () => 0 },
    fetch,
    system,
    reportError: () => {},
  });
  return { name, dot, system, server: await startServer(app, { port, host }) };
}

describe("pios cp, rm, update, plugins", () => {
  let h: Harness;
  let workers: Worker[];
  let config: LayeredConfig;
  let out: string[];
  let err: string[];
  let rsynced: Array<[string, string, string, string]>;

  beforeAll(async () => {
    h = await startHarness({ system: recordingSystem(false) });
    const port = h.server.port;
    workers = [await startWorker("w1", "127.0.0.2", port, h.dir), await startWorker("w2", "127.0.0.3", port, h.dir)];
    const text = fs.readFileSync(path.join(h.dot, "config.ini"), "utf8").replace("port=80", `port=${port}`);
    h.writeConfig(`${text}\n[cluster.addresses]\nw1=127.0.0.2\nw2=127.0.0.3\nw3=127.0.0.4\nleader=127.0.0.1\n`);
    config = LayeredConfig.fromDocuments(IniDocument.parse(fs.readFileSync(path.join(h.dot, "config.ini"), "utf8")));
    for (const w of ["w1", "w2", "w3"]) expect((await h.request("PUT", "/api/workers", { pioreactor_unit: w })).status).toBe(201);
  });

  afterAll(async () => {
    for (const w of workers) await w.server.close();
    await h.close();
  });

  beforeEach(() => {
    out = [];
    err = [];
    rsynced = [];
    for (const w of workers) {
      w.system.commands.length = 0;
      for (const marker of ["DISALLOW_UI_UPLOADS", "DISALLOW_UI_INSTALLS"]) fs.rmSync(path.join(w.dot, marker), { force: true });
    }
  });

  function pios(...argv: string[]): Promise<number> {
    const overrides: Partial<PiosDeps> = {
      config: () => config,
      dotPioreactor: h.dot,
      print: (l) => out.push(l),
      warn: (l) => err.push(l),
      prompt: { interactive: false, ask: async () => "" },
      progress: () => NO_PROGRESS,
      now: () => new Date(),
      copyFileToUnit: async (unit, address, local, remote) => {
        rsynced.push([unit, address, local, remote]);
        if (unit === "w3") throw new Error(`rsync failed: ssh: connect to host ${address} port 22: Connection refused`);
      },
    };
    return runPios(argv, { env: { DOT_PIOREACTOR: h.dot }, cwd: h.dir, overrides, isLeader: () => true } as never);
  }

  it("cp: a file inside $DOT_PIOREACTOR lands at the same place in each worker's own folder, over the unit API", async () => {
    const src = path.join(h.dot, "plugins", "relay.js");
    fs.mkdirSync(path.dirname(src), { recursive: true });
    const bytes = Buffer.from([0, 1, 2, 255, 10, 13, 0x50, 0x4b]);
    fs.writeFileSync(src, bytes);
    expect(await pios("cp", src, "--units", "w1", "--units", "w2", "-y")).toBe(0);
    for (const w of workers) expect(fs.readFileSync(path.join(w.dot, "plugins", "relay.js"))).toEqual(bytes);
    expect(rsynced).toEqual([]);
  });

  it("cp: a target outside $DOT_PIOREACTOR goes through rsync; a down worker fails the command", async () => {
    const src = path.join(h.dot, "config.ini");
    expect(await pios("cp", src, "/tmp/x.ini", "-y")).toBe(1);
    expect(rsynced.map((r) => r[0]).sort()).toEqual(["w1", "w2", "w3"]);
    expect(rsynced[0].slice(2)).toEqual([src, "/tmp/x.ini"]);
    expect(err).toEqual(["Error occurred copying to w3: rsync failed: ssh: connect to host 127.0.0.4 port 22: Connection refused"]);
  });

  it("cp: the down worker is reported, the others still get the file; missing sources are usage errors", async () => {
    fs.writeFileSync(path.join(h.dot, "note.txt"), "hello\n");
    expect(await pios("cp", path.join(h.dot, "note.txt"), "-y")).toBe(1);
    expect(err.filter((l) => l.startsWith("Error occurred copying to w3: "))).toHaveLength(1);
    for (const w of workers) expect(fs.readFileSync(path.join(w.dot, "note.txt"), "utf8")).toBe("hello\n");
    expect(await pios("cp", "missing.txt", "-y")).toBe(2);
  });

  it("cp: a worker with DISALLOW_UI_UPLOADS refuses and says why", async () => {
    fs.writeFileSync(path.join(workers[0].dot, "DISALLOW_UI_UPLOADS"), "");
    fs.writeFileSync(path.join(h.dot, "other.txt"), "x");
    expect(await pios("cp", path.join(h.dot, "other.txt"), "--units", "w1", "--units", "w2", "-y")).toBe(1);
    expect(err).toEqual(["Error occurred copying to w1: HTTP 403. DISALLOW_UI_UPLOADS is present. Cause: File uploads are disabled on this unit. Remediation: Remove DISALLOW_UI_UPLOADS or copy the file over SSH."]);
    expect(fs.existsSync(path.join(workers[0].dot, "other.txt"))).toBe(false);
    expect(fs.existsSync(path.join(workers[1].dot, "other.txt"))).toBe(true);
  });

  it("rm: removes the file on each worker; a worker without it fails", async () => {
    for (const w of workers) fs.writeFileSync(path.join(w.dot, "gone.txt"), "x");
    // Workers share the leader's $DOT_PIOREACTOR path on a real cluster; here each has its own, so remove by each path.
    expect(await pios("rm", path.join(workers[0].dot, "gone.txt"), "--units", "w1", "-y")).toBe(0);
    expect(fs.existsSync(path.join(workers[0].dot, "gone.txt"))).toBe(false);
    expect(await pios("rm", path.join(workers[0].dot, "gone.txt"), "--units", "w1", "-y")).toBe(1);
    expect(err.at(-1)).toBe("Unable to remove file on w1 at 127.0.0.2 due to server error: the unit reported that it did not succeed (see its logs).");
    expect(await pios("rm", "/etc/passwd", "--units", "w2", "-y")).toBe(1);
    expect(err.at(-1)).toMatch(/^Unable to remove file on w2 at 127\.0\.0\.3 due to server error: HTTP 403\. Access to this path is not allowed/);
  });

  it("update app: options reach each unit's update route; bad refs are usage errors; --json lines", async () => {
    expect(await pios("update", "app", "-b", "develop", "--no-deps", "-r", "Pioreactor/pioreactor", "--units", "w1", "-y", "--json")).toBe(0);
    const cmd = workers[0].system.commands[0];
    expect(cmd.slice(0, 2)).toEqual(["sudo", "systemd-run"]);
    expect(cmd.slice(-8)).toEqual(["pio", "update", "app", "--branch", "develop", "--no-deps", "--repo", "Pioreactor/pioreactor"]);
    const line = JSON.parse(out.at(-1) ?? "{}");
    expect(line).toMatchObject({ unit: "w1", status: "success", result: true });
    expect(await pios("update", "app", "-b", "bad..ref", "--units", "w1", "-y")).toBe(2);
    expect(await pios("update", "app", "--sha", "xyz", "--units", "w1", "-y")).toBe(2);
    expect(workers[0].system.commands).toHaveLength(1);
  });

  it("plugins install|uninstall: npm on each unit through its unit API; a refusing unit fails the command", async () => {
    expect(await pios("plugins", "install", "pioreactor-plugin-relay", "--units", "w1", "-y", "--json")).toBe(0);
    expect(workers[0].system.commands).toEqual([
      ["npm", "install", "--prefix", path.join(workers[0].dot, "plugins"), "--no-audit", "--no-fund", "--no-update-notifier", "pioreactor-plugin-relay"],
    ]);
    expect(JSON.parse(out.at(-1) ?? "{}")).toMatchObject({ unit: "w1", status: "success", result: true });

    fs.writeFileSync(path.join(workers[1].dot, "DISALLOW_UI_INSTALLS"), "");
    expect(await pios("plugins", "uninstall", "pioreactor-plugin-relay", "--units", "w1", "--units", "w2", "-y")).toBe(1);
    expect(workers[0].system.commands.at(-1)?.[1]).toBe("uninstall");
    expect(workers[1].system.commands).toEqual([]);
    expect(err).toEqual([
      "Unable to uninstall plugin on w2 at 127.0.0.3 due to server error: HTTP 403. DISALLOW_UI_INSTALLS is present. Cause: Plugin installs are disabled on this unit. Remediation: Remove DISALLOW_UI_INSTALLS or install via SSH.",
    ]);

    workers[0].system.exitCode = 1;
    expect(await pios("plugins", "install", "nope-plugin", "--units", "w1", "-y")).toBe(1);
    workers[0].system.exitCode = 0;
    expect(err.at(-1)).toBe("Unable to install plugin on w1 at 127.0.0.2 due to server error: the unit reported that it did not succeed (see its logs).");
  });
});
