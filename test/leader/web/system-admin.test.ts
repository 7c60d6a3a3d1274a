/** Power, clock, update and status routes on `/unit_api`, and their leader fan-outs on `/api`. */
import { type FakeUnit, startFakeUnit } from "./fake-unit";
import { type Harness, startHarness, taskResult } from "./harness";
import { type RecordingSystem, recordingSystem } from "./recording-system";

describe("unit system routes on a worker that is a Raspberry Pi", () => {
  let h: Harness;
  let sys: RecordingSystem;
  beforeAll(async () => {
    sys = recordingSystem(true);
    h = await startHarness({ unitName: "worker1", isLeader: false, system: sys });
  });
  afterAll(() => h.close());
  beforeEach(() => {
    sys.commands.length = 0;
  });

  test("reboot runs `sudo reboot` as a task; a second power action within 15 s fails as rate-limited", async () => {
    const r = await h.request("POST", "/unit_api/system/reboot");
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ unit: "worker1", status: "accepted" });
    expect((await taskResult(h, r.json.result_url_path)).result).toBe(true);
    expect(sys.commands).toEqual([["sudo", "reboot"]]);

    const again = await h.request("POST", "/unit_api/system/reboot");
    const failed = await taskResult(h, again.json.result_url_path);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatch(/Rate limit exceeded/);
    expect(sys.commands).toHaveLength(1);
  });

  test("shutdown runs `sudo shutdown -h now`; a failing command gives false", async () => {
    sys.exitCode = 1;
    const r = await h.request("PATCH", "/unit_api/system/shutdown");
    expect((await taskResult(h, r.json.result_url_path)).result).toBe(false);
    sys.exitCode = 0;
    expect(sys.commands).toEqual([["sudo", "shutdown", "-h", "now"]]);
  });

  test("a worker's clock re-syncs through chrony; GET reads this unit's clock", async () => {
    const r = await h.request("POST", "/unit_api/system/utc_clock");
    expect((await taskResult(h, r.json.result_url_path)).result).toBe(true);
    expect(sys.commands).toEqual([
      ["sudo", "systemctl", "stop", "chrony"],
      ["sudo", "chronyd", "-q"],
      ["sudo", "systemctl", "start", "chrony"],
    ]);
    const got = await h.request("GET", "/unit_api/system/utc_clock");
    expect(got.json.status).toBe("success");
    expect(Math.abs(Date.parse(got.json.clock_time) - Date.now())).toBeLessThan(5000);
    expect(got.json.clock_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  test("update: validated options become `pio update app` flags inside systemd-run; bad refs and targets are refused before anything runs", async () => {
    const bad = await h.request("POST", "/unit_api/system/update/app", { options: { branch: "../x y" } });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: "Invalid branch name: ../x y", status: 400 });
    expect((await h.request("POST", "/unit_api/system/update/app", { options: { sha: "zz" } })).status).toBe(400);
    expect((await h.request("POST", "/unit_api/system/update/app", { options: { branch: null } })).json.error).toBe("Option 'branch' requires a value.");
    const target = await h.request("POST", "/unit_api/system/update/firmware", {});
    expect(target.status).toBe(404);
    expect(target.json.error).toBe("Invalid target");
    expect(sys.commands).toEqual([]);

    const ok = await h.request("POST", "/unit_api/system/update/app", { args: [], options: { branch: "develop", repo: "Pioreactor/pioreactor", no_deps: null } });
    expect(ok.status).toBe(202);
    expect((await taskResult(h, ok.json.result_url_path)).result).toBe(true);
    const [cmd] = sys.commands;
    expect(cmd.slice(0, 2)).toEqual(["sudo", "systemd-run"]);
    expect(cmd[2]).toMatch(/^--unit=pio-update-worker1-[0-9a-f]{32}$/);
    expect(cmd.slice(-8)).toEqual(["pio", "update", "app", "--branch", "develop", "--repo", "Pioreactor/pioreactor", "--no-deps"]);
  });

  test("while an update runs, another answers 202 `running` with the lock and no task id", async () => {
    sys.hold();
    const first = await h.request("POST", "/unit_api/system/update", {});
    expect(first.status).toBe(202);
    const second = await h.request("POST", "/unit_api/system/update", {});
    expect(second.status).toBe(202);
    expect(second.json).toEqual({ status: "running", lock: "update-lock", retry_after_s: 1, remediation: "Wait for the running operation to finish, then retry." });
    sys.release();
    expect((await taskResult(h, first.json.result_url_path)).result).toBe(true);
    expect(sys.commands).toHaveLength(1);
  });

  test("memory and ipv4; web_server/status is leader only", async () => {
    const mem = await h.request("GET", "/unit_api/system/memory");
    expect(mem.json.total_bytes).toBeGreaterThan(0);
    expect(mem.json.available_bytes).toBeGreaterThan(0);
    expect(mem.json.available_bytes).toBeLessThanOrEqual(mem.json.total_bytes);
    expect(mem.headers.get("cache-control")).toBe("public, max-age=10");
    const ip = await h.request("GET", "/unit_api/system/ipv4");
    expect(Object.keys(ip.json)).toEqual(["ipv4_address"]);
    const status = await h.request("GET", "/unit_api/system/web_server/status");
    expect(status.status).toBe(403);
    expect(status.json.error).toBe("This endpoint is only available on the leader.");
  });
});

describe("off a Raspberry Pi, power, clock and update are refused and nothing runs", () => {
  let h: Harness;
  let sys: RecordingSystem;
  beforeAll(async () => {
    sys = recordingSystem(false);
    h = await startHarness({ system: sys });
  });
  afterAll(() => h.close());

  test.each([
    ["/unit_api/system/reboot", undefined, /reboot/],
    ["/unit_api/system/shutdown", undefined, /shut down/],
    ["/unit_api/system/utc_clock", { utc_clock_time: "2026-01-01T00:00:00Z" }, /set the clock/],
    ["/unit_api/system/update/app", {}, /update the software/],
  ])("POST %s → 403", async (route, body, what) => {
    const r = await h.request("POST", route, body);
    expect(r.status).toBe(403);
    expect(r.json.error).toMatch(what);
    expect(r.json.cause).toBe("Power, clock and update commands act only on a Pioreactor's Raspberry Pi.");
    expect(sys.commands).toEqual([]);
  });

  test("web_server/status on the leader", async () => {
    const r = await h.request("GET", "/unit_api/system/web_server/status");
    expect(r.json).toEqual({ service: "pio serve", state: "ready", raw_status: "pio serve=active" });
  });
});

describe("leader fan-outs: /api/units/<u>/system/*, POST /api/system/utc_clock", () => {
  let h: Harness;
  let worker: FakeUnit;
  let sys: RecordingSystem;
  let leaderUrl = "";
  beforeAll(async () => {
    sys = recordingSystem(true);
    worker = await startFakeUnit("unit1");
    h = await startHarness({ system: sys, unitBaseUrl: (u) => (u === "unit1" ? worker.url : leaderUrl) });
    leaderUrl = h.url;
    await h.request("PUT", "/api/workers", { pioreactor_unit: "unit1" });
  });
  afterAll(async () => {
    await h.close();
    await worker.close();
  });

  test("POST /api/system/utc_clock sets the leader's clock, then asks every worker to re-sync", async () => {
    const bad = await h.request("POST", "/api/system/utc_clock", { utc_clock_time: "yesterday" });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe("Invalid utc_clock_time format. Use ISO 8601.");
    expect((await h.request("POST", "/api/system/utc_clock", {})).status).toBe(400);
    expect(sys.commands).toEqual([]);

    const r = await h.request("POST", "/api/system/utc_clock", { utc_clock_time: "2026-08-04T12:34:56Z" });
    expect(r.status).toBe(202);
    expect(sys.commands).toEqual([["sudo", "date", "-s", "2026-08-04T12:34:56Z"]]);
    const result = await taskResult(h, r.json.result_url_path);
    expect(result.result).toEqual({ unit1: { ok: true, unit: "unit1", value: {} } });
    const calls = await worker.waitFor(/^\/unit_api\/system\/utc_clock$/);
    expect(calls[0]).toMatchObject({ method: "POST", body: undefined });
  });

  test("GET /api/units/$broadcast/system/utc_clock gathers every unit's clock; unknown units are 400", async () => {
    const r = await h.request("GET", "/api/units/$broadcast/system/utc_clock");
    const result = (await taskResult(h, r.json.result_url_path)).result;
    expect(Object.keys(result)).toEqual(["leader", "unit1"]);
    expect(result.leader.ok).toBe(true);
    expect(result.leader.value.clock_time).toMatch(/Z$/);
    const unknown = await h.request("GET", "/api/units/ghost/system/utc_clock");
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({ error: "Unknown Pioreactor unit: ghost", status: 400 });
  });

  test("POST /api/units/<u>/system/reboot and shutdown reach only that unit", async () => {
    const r = await h.request("POST", "/api/units/unit1/system/shutdown");
    expect(r.status).toBe(202);
    await taskResult(h, r.json.result_url_path);
    expect((await worker.waitFor(/^\/unit_api\/system\/shutdown$/)).map((c) => c.method)).toEqual(["POST"]);
    expect(sys.commands.filter((c) => c[1] === "shutdown")).toEqual([]);
    expect((await h.request("POST", "/api/units/ghost/system/reboot")).status).toBe(400);
  });

  test("GET /api/units/<u>/usb proxies one unit's USB status; $broadcast is refused", async () => {
    const r = await h.request("GET", "/api/units/leader/usb");
    expect((await taskResult(h, r.json.result_url_path)).result.leader).toEqual({ ok: true, unit: "leader", value: { status: "absent", partitions: [], active_mount: null } });
    const all = await h.request("GET", "/api/units/$broadcast/usb");
    expect(all.status).toBe(400);
    expect(all.json.error).toBe("USB operations target one Pioreactor at a time.");
  });

  test("GET /api/units/<u>/versions/app", async () => {
    const r = await h.request("GET", "/api/units/leader/versions/app");
    const result = (await taskResult(h, r.json.result_url_path)).result;
    expect(result.leader).toMatchObject({ ok: true, value: { version: expect.any(String) } });
  });
});

describe("web server restart and repair", () => {
  let h: Harness;
  let sys: RecordingSystem;
  beforeAll(async () => {
    sys = recordingSystem(true);
    h = await startHarness({ system: sys });
  });
  afterAll(() => h.close());

  test("POST /unit_api/system/web_server/restart restarts the web target on the leader, at most once per 15 s", async () => {
    const r = await h.request("POST", "/unit_api/system/web_server/restart");
    expect(r.status).toBe(202);
    expect((await taskResult(h, r.json.result_url_path)).result).toBe(true);
    expect(sys.commands).toEqual([["sudo", "systemctl", "restart", "pioreactor-web.target"]]);
    const again = await h.request("PATCH", "/unit_api/system/web_server/restart");
    expect((await taskResult(h, again.json.result_url_path)).status).toBe("failed");
    expect(sys.commands).toHaveLength(1);
  });

  test("repair is not implemented: 501 on the unit, a per-unit failure in the leader's FanoutMap", async () => {
    const unit = await h.request("POST", "/unit_api/system/repair");
    expect(unit.status).toBe(501);
    expect(unit.json.error).toBe("Repair is not implemented on this unit.");
    const r = await h.request("POST", "/api/units/leader/system/repair");
    const result = (await taskResult(h, r.json.result_url_path)).result;
    expect(result.leader).toMatchObject({ ok: false, status_code: 501, error: { kind: "http_error", message: "Repair is not implemented on this unit." } });
  });
});
