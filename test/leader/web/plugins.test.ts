/** `/unit_api/plugins/*` and `/api/units/<u>/plugins/*`: listing, install/uninstall through the SystemPort, validation, the kill switch. */
import fs from "node:fs";
import path from "node:path";
import { type Harness, startHarness, taskResult } from "./harness";
import { type RecordingSystem, recordingSystem } from "./recording-system";

describe("plugins routes", () => {
  let h: Harness;
  let sys: RecordingSystem;
  let folder: string;
  beforeAll(async () => {
    sys = recordingSystem(true);
    h = await startHarness({ system: sys });
    folder = path.join(h.dot, "plugins");
    fs.mkdirSync(path.join(folder, "node_modules", "pioreactor-plugin-relay"), { recursive: true });
    fs.writeFileSync(
      path.join(folder, "hello_world.js"),
      'module.exports = { pluginName: "hello-world", version: "1.2.3", summary: "Says hello", author: "Ada", homepage: "https://example.org", register() {} };\n',
    );
    fs.writeFileSync(
      path.join(folder, "node_modules", "pioreactor-plugin-relay", "package.json"),
      JSON.stringify({ name: "pioreactor-plugin-relay", version: "0.4.0", description: "A relay job", pioreactor: true }),
    );
    fs.writeFileSync(path.join(folder, "node_modules", "pioreactor-plugin-relay", "index.js"), "module.exports = { register() {} };\n");
  });
  afterAll(() => h.close());
  beforeEach(() => {
    sys.commands.length = 0;
    fs.rmSync(path.join(h.dot, "DISALLOW_UI_INSTALLS"), { force: true });
  });

  test("GET /unit_api/plugins/installed lists packages and drop-in files in `pio plugins list --json`'s shape", async () => {
    const r = await h.request("GET", "/unit_api/plugins/installed");
    expect(r.status).toBe(200);
    const byName = Object.fromEntries(r.json.map((p: { name: string }) => [p.name, p]));
    expect(byName["hello-world"]).toEqual({
      name: "hello-world",
      version: "1.2.3",
      description: "Says hello",
      homepage: "https://example.org",
      source: "plugins/hello_world.js",
      author: "Ada",
    });
    expect(byName["pioreactor-plugin-relay"]).toMatchObject({ version: "0.4.0", description: "A relay job", source: "npm:pioreactor-plugin-relay" });
  });

  test("GET /api/units/$broadcast/plugins/installed is a FanoutMap over the cluster", async () => {
    const r = await h.request("GET", "/api/units/$broadcast/plugins/installed");
    expect(r.status).toBe(202);
    const result = (await taskResult(h, r.json.result_url_path)).result;
    expect(result.leader.ok).toBe(true);
    expect(result.leader.value.map((p: { name: string }) => p.name).sort()).toEqual(["hello-world", "pioreactor-plugin-relay"]);
    expect((await h.request("GET", "/api/units/ghost/plugins/installed")).status).toBe(400);
  });

  test("GET /unit_api/plugins/installed/<file> serves a drop-in's source; other names are 404", async () => {
    const r = await h.request("GET", "/unit_api/plugins/installed/hello_world.js");
    expect(r.status).toBe(200);
    expect(r.text).toContain("hello-world");
    expect((await h.request("GET", "/unit_api/plugins/installed/..%2Fconfig.ini")).status).toBe(404);
    expect((await h.request("GET", "/unit_api/plugins/installed/missing.js")).status).toBe(404);
  });

  test("install runs `npm install --prefix $DOT_PIOREACTOR/plugins <name|source>` as a task whose result is a bool", async () => {
    const r = await h.request("POST", "/unit_api/plugins/install", { args: ["pioreactor-plugin-relay"], options: {} });
    expect(r.status).toBe(202);
    expect((await taskResult(h, r.json.result_url_path)).result).toBe(true);
    expect(sys.commands).toEqual([["npm", "install", "--prefix", folder, "--no-audit", "--no-fund", "--no-update-notifier", "pioreactor-plugin-relay"]]);

    sys.commands.length = 0;
    sys.exitCode = 1;
    const withSource = await h.request("PATCH", "/unit_api/plugins/install", { args: ["x"], options: { source: "/tmp/x-1.0.0.tgz" } });
    expect((await taskResult(h, withSource.json.result_url_path)).result).toBe(false);
    sys.exitCode = 0;
    expect(sys.commands[0].at(-1)).toBe("/tmp/x-1.0.0.tgz");
    const logged = await h.waitForMessages(/^pioreactor\/leader\/\$experiment\/logs\/ui\/error$/);
    expect(logged.map((m) => JSON.parse(m.payload.toString()).message)).toContain("Could not install plugin x: it failed");
  });

  test.each([
    [{ args: [] }, "Plugin name is required"],
    [{ args: ["a", "b"] }, "Install one plugin at a time via the API"],
    [{ args: ["../../etc"] }, "Invalid plugin name: ../../etc"],
    [{ args: ["--global"] }, "Invalid plugin name: --global"],
    [{ args: ["ok"], options: { source: "--registry=http://evil" } }, "Invalid plugin source"],
    [{ args: "ok" }, "Invalid request body."],
  ])("install %j → 400 %s, nothing run", async (body, error) => {
    const r = await h.request("POST", "/unit_api/plugins/install", body);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error, status: 400 });
    expect(sys.commands).toEqual([]);
  });

  test("uninstall removes a drop-in file without npm, or npm-uninstalls a package; exactly one name", async () => {
    expect((await h.request("POST", "/unit_api/plugins/uninstall", { args: [] })).json.error).toBe("Uninstall one plugin at a time via the API");
    fs.writeFileSync(path.join(folder, "bye.js"), "module.exports = {};\n");
    const r = await h.request("POST", "/unit_api/plugins/uninstall", { args: ["bye"] });
    expect((await taskResult(h, r.json.result_url_path)).result).toBe(true);
    expect(fs.existsSync(path.join(folder, "bye.js"))).toBe(false);
    expect(sys.commands).toEqual([]);

    const pkg = await h.request("POST", "/api/units/leader/plugins/uninstall", { args: ["pioreactor-plugin-relay"] });
    const result = (await taskResult(h, pkg.json.result_url_path)).result;
    expect(result).toEqual({ leader: { ok: true, unit: "leader", value: true } });
    expect(sys.commands).toEqual([["npm", "uninstall", "--prefix", folder, "--no-audit", "--no-fund", "--no-update-notifier", "pioreactor-plugin-relay"]]);
  });

  test("DISALLOW_UI_INSTALLS refuses installs and uninstalls with 403 on /unit_api and /api", async () => {
    fs.writeFileSync(path.join(h.dot, "DISALLOW_UI_INSTALLS"), "");
    const unit = await h.request("POST", "/unit_api/plugins/install", { args: ["pioreactor-plugin-relay"] });
    expect(unit.status).toBe(403);
    expect(unit.json).toEqual({
      error: "DISALLOW_UI_INSTALLS is present",
      status: 403,
      cause: "Plugin installs are disabled on this unit.",
      remediation: "Remove DISALLOW_UI_INSTALLS or install via SSH.",
    });
    expect((await h.request("POST", "/unit_api/plugins/uninstall", { args: ["hello_world"] })).status).toBe(403);
    const api = await h.request("POST", "/api/units/$broadcast/plugins/install", { args: ["pioreactor-plugin-relay"] });
    expect(api.status).toBe(403);
    expect(api.json.error).toBe("Not UI installed allowed.");
    expect((await h.request("PATCH", "/api/units/leader/plugins/uninstall", { args: ["x"] })).json.error).toBe("No UI uninstall allowed");
    expect(sys.commands).toEqual([]);
    expect(fs.existsSync(path.join(folder, "hello_world.js"))).toBe(true);
  });
});
