/** Config editing (validation, history, exact text kept) and experiment profiles (validation with positions, safe names). */
import fs from "node:fs";
import path from "node:path";
import { BASE_CONFIG, type Harness, startHarness } from "./harness";

const VALID_PROFILE = `version: "1.0"
experiment_profile_name: demo
metadata:
  author: tests
common:
  jobs:
    stirring:
      actions:
        - type: start
          hours_elapsed: 0.0
`;

const INVALID_PROFILE = `experiment_profile_name: broken
common:
  jobs:
    stirring:
      actions:
        - type: strat
          hours_elapsed: 0
        - type: stop
`;

describe("config files", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  test("GET shared config is the file's text, cached 10 s", async () => {
    const r = await h.request("GET", "/api/config/shared");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/plain");
    expect(r.headers.get("cache-control")).toBe("public, max-age=10");
    expect(r.text).toContain("leader_hostname=leader");
  });

  test("PATCH writes the exact text (comments kept), records history", async () => {
    const current = fs.readFileSync(path.join(h.dot, "config.ini"), "utf8");
    const code = `# my comment – kept\n${current}\n[extra]\nkey = 1 ; not a comment\n`;
    const r = await h.request("PATCH", "/api/config/shared", { code });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: "success" });
    const written = fs.readFileSync(path.join(h.dot, "config.ini"), "utf8");
    expect(written).toBe(code.replace("–", "-"));
    const history = await h.request("GET", "/api/config/shared/history");
    expect(history.json[0]).toEqual({ filename: "config.ini", timestamp: expect.any(String), data: written });
  });

  test.each([
    ["[a]\nx=1\n[a]\ny=2\n", "Duplicate section [a] was found. Please fix and try again."],
    ["[a]\nx=1\nx=2\n", "Duplicate option, `x`, was found in section [a]. Please fix and try again."],
    ["no section header\n", "Incorrect syntax. Please fix and try again."],
    ["[mqtt]\n", "Missing required field(s): [cluster.topology] leader_hostname, [cluster.topology] leader_address"],
    [BASE_CONFIG.replace("leader_address=127.0.0.1", "leader_address=http://x"), "Don't start addresses with http:// or https://"],
  ])("invalid shared config %#: 400 and nothing written", async (code, message) => {
    const before = fs.readFileSync(path.join(h.dot, "config.ini"), "utf8");
    const rows = (await h.db("config_files_histories").count({ n: "*" }).first())!.n;
    const r = await h.request("PATCH", "/api/config/shared", { code });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe(message);
    expect(fs.readFileSync(path.join(h.dot, "config.ini"), "utf8")).toBe(before);
    expect((await h.db("config_files_histories").count({ n: "*" }).first())!.n).toBe(rows);
  });

  test("leader's unit-specific config: read, write, history; $broadcast refused", async () => {
    expect((await h.request("GET", "/api/config/units/leader/specific")).text).toBe("");
    const r = await h.request("PATCH", "/api/config/units/leader/specific", { code: "[stirring.config]\ninitial_target_rpm=400\n" });
    expect(r.status).toBe(200);
    expect((await h.request("GET", "/api/config/units/leader/specific")).text).toContain("initial_target_rpm=400");
    expect((await h.request("GET", "/api/config/units/leader/specific/history")).json[0].filename).toBe("unit_config.ini::leader");
    expect((await h.request("GET", "/api/config/units/$broadcast/specific")).status).toBe(400);
    const merged = await h.request("GET", "/api/config/units/leader");
    expect(merged.json.configs.leader["stirring.config"].initial_target_rpm).toBe("400");
  });
});

describe("experiment profiles", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());
  const profileDir = () => path.join(h.dot, "experiment_profiles");

  test("upload, list with defaults filled, read, edit, delete", async () => {
    const r = await h.request("POST", "/api/experiment_profiles", { filename: "demo.yaml", body: VALID_PROFILE });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: "success" });
    const list = await h.request("GET", "/api/experiment_profiles");
    expect(list.json).toHaveLength(1);
    expect(list.json[0]).toMatchObject({ file: "demo.yaml", fullpath: path.join(profileDir(), "demo.yaml") });
    expect(list.json[0].experimentProfile.common.jobs.stirring.actions[0]).toMatchObject({ type: "start", hours_elapsed: 0, if: true });
    expect((await h.request("GET", "/api/experiment_profiles/demo.yaml")).text).toBe(VALID_PROFILE);
    expect((await h.request("POST", "/api/experiment_profiles", { filename: "demo.yaml", body: VALID_PROFILE })).status).toBe(400);
    expect((await h.request("PATCH", "/api/experiment_profiles/demo.yaml", { body: VALID_PROFILE.replace("demo", "demo2") })).status).toBe(200);
    expect((await h.request("DELETE", "/api/experiment_profiles/demo.yaml")).status).toBe(200);
    expect((await h.request("DELETE", "/api/experiment_profiles/demo.yaml")).status).toBe(404);
  });

  test("an invalid profile gives 400 with every diagnostic, with line and column, and writes nothing", async () => {
    const r = await h.request("POST", "/api/experiment_profiles", { filename: "broken.yaml", body: INVALID_PROFILE });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe("Validation error.");
    expect(r.json.diagnostics.length).toBeGreaterThanOrEqual(2);
    for (const d of r.json.diagnostics) {
      expect(d).toEqual(expect.objectContaining({ severity: expect.any(String), code: expect.any(String), message: expect.any(String), path: expect.any(String) }));
      expect(typeof d.line).toBe("number");
      expect(typeof d.column).toBe("number");
    }
    expect(r.json.diagnostics.some((d: { line: number }) => d.line === 6)).toBe(true);
    expect(r.json.diagnostics.some((d: { line: number }) => d.line === 8)).toBe(true);
    expect(fs.existsSync(path.join(profileDir(), "broken.yaml"))).toBe(false);
  });

  test.each(["../../etc/passwd.yaml", "../escape.yaml", "a/b.yaml", "..", "x.txt"])("filename %j is refused and nothing is written", async (filename) => {
    const r = await h.request("POST", "/api/experiment_profiles", { filename, body: VALID_PROFILE });
    expect(r.status).toBe(400);
    expect(fs.existsSync(path.join(h.dir, "etc"))).toBe(false);
    expect(fs.existsSync(path.join(h.dot, "escape.yaml"))).toBe(false);
  });

  test("encoded traversal in the URL cannot read or delete outside the folder", async () => {
    fs.writeFileSync(path.join(h.dot, "secret.yaml"), "top: secret\n");
    expect((await h.request("GET", "/api/experiment_profiles/..%2Fsecret.yaml")).status).toBe(404);
    expect((await h.request("DELETE", "/api/experiment_profiles/..%2Fsecret.yaml")).status).toBe(404);
    expect((await h.request("PATCH", "/api/experiment_profiles/..%2Fsecret.yaml", { body: VALID_PROFILE })).status).toBe(400);
    expect(fs.readFileSync(path.join(h.dot, "secret.yaml"), "utf8")).toBe("top: secret\n");
  });

  test("a planted symlink out of $DOT_PIOREACTOR is refused", async () => {
    fs.mkdirSync(profileDir(), { recursive: true });
    fs.symlinkSync(h.dir, path.join(profileDir(), "out.yaml"));
    const r = await h.request("PATCH", "/api/experiment_profiles/out.yaml", { body: VALID_PROFILE });
    expect(r.status).toBe(403);
  });
});
