/** Calibration and estimator files on `/unit_api`, and the leader's `/api/workers/<u>/…` fan-outs. */
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { readZip } from "../../../src/leader/export/zip-reader";
import { type Harness, startHarness, taskResult } from "./harness";

const OD_CAL = `calibration_type: od
calibration_name: od90-2026
calibrated_on_pioreactor_unit: leader
created_at: 2026-08-04T12:00:00.000Z
curve_data_:
  type: poly
  coefficients: [0.5, 0.01]
x: OD
y: Voltage
recorded_data:
  x: [0.0, 1.0]
  y: [0.01, 0.51]
ir_led_intensity: 70.0
angle: "90"
pd_channel: "2"
`;

const PUMP_CAL = `calibration_type: simple_peristaltic_pump
calibration_name: media-1
calibrated_on_pioreactor_unit: leader
created_at: 2026-08-04T12:00:00+00:00
curve_data_: {type: poly, coefficients: [0.1, 0.0]}
recorded_data: {x: [1, 2], y: [0.1, 0.2]}
hz: 250
dc: 100
voltage: 12
`;

/** A request whose path is sent byte for byte (fetch would resolve dot segments first). */
function rawRequest(base: string, method: string, rawPath: string): Promise<{ status: number; json: { error?: string; cause?: string } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${rawPath}`, { method }, (res) => {
      let text = "";
      res.on("data", (c) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("calibrations and estimators", () => {
  let h: Harness;
  let calDir: string;
  beforeAll(async () => {
    h = await startHarness();
    calDir = path.join(h.dot, "storage", "calibrations");
    await h.request("PUT", "/api/workers", { pioreactor_unit: "unit1" });
  });
  afterAll(() => h.close());

  test("a unit without calibrations lists none", async () => {
    const r = await h.request("GET", "/unit_api/calibrations");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({});
    expect((await h.request("GET", "/unit_api/active_calibrations")).json).toEqual({});
    expect((await h.request("GET", "/unit_api/calibration_protocols")).json).toEqual([]);
  });

  test("upload, list, get, set active, unset and delete", async () => {
    const created = await h.request("POST", "/unit_api/calibrations/od90", { calibration_data: OD_CAL, set_as_active: true });
    expect(created.status).toBe(201);
    const file = path.join(calDir, "od90", "od90-2026.yaml");
    expect(created.json).toEqual({ msg: "Calibration created successfully.", path: file });
    expect(fs.readFileSync(file, "utf8")).toBe(OD_CAL);
    expect(h.persistentCache("active_calibrations").getString("od90")).toBe("od90-2026");
    expect((await h.request("POST", "/unit_api/calibrations/media_pump", { calibration_data: PUMP_CAL })).status).toBe(201);

    const all = await h.request("GET", "/unit_api/calibrations");
    expect(Object.keys(all.json)).toEqual(["media_pump", "od90"]);
    expect(all.json.od90[0]).toMatchObject({ calibration_type: "od", calibration_name: "od90-2026", pd_channel: "2", is_active: true, pioreactor_unit: "leader" });
    expect(all.json.media_pump[0]).toMatchObject({ calibration_name: "media-1", is_active: false });
    const activeNow = await h.request("GET", "/unit_api/active_calibrations");
    expect(Object.keys(activeNow.json)).toEqual(["od90"]);
    expect((await h.request("GET", "/unit_api/calibrations/od90")).json).toHaveLength(1);
    expect((await h.request("GET", "/unit_api/calibrations/od90/od90-2026")).json.recorded_data).toEqual({ x: [0, 1], y: [0.01, 0.51] });

    expect((await h.request("PATCH", "/unit_api/active_calibrations/media_pump/media-1")).json).toEqual({ status: "success" });
    expect(h.persistentCache("active_calibrations").getString("media_pump")).toBe("media-1");
    expect((await h.request("DELETE", "/unit_api/active_calibrations/media_pump")).json).toEqual({ status: "success" });
    expect(h.persistentCache("active_calibrations").getString("media_pump")).toBeUndefined();

    const deleted = await h.request("DELETE", "/unit_api/calibrations/od90/od90-2026");
    expect(deleted.json).toEqual({ msg: "Calibration 'od90-2026' for device 'od90' deleted successfully." });
    expect(fs.existsSync(file)).toBe(false);
    expect(h.persistentCache("active_calibrations").getString("od90")).toBeUndefined();
  });

  test("unknown devices and names are 404; path components that are not plain names are 400", async () => {
    expect((await h.request("GET", "/unit_api/calibrations/od135")).status).toBe(404);
    const missing = await h.request("GET", "/unit_api/calibrations/media_pump/nope");
    expect(missing.status).toBe(404);
    expect(missing.json.error).toBe("Calibration 'nope' not found for device 'media_pump'.");
    expect((await h.request("PATCH", "/unit_api/active_calibrations/media_pump/nope")).status).toBe(404);
    expect((await h.request("DELETE", "/unit_api/calibrations/media_pump/nope")).status).toBe(404);
    const traversal = await rawRequest(h.url, "GET", "/unit_api/calibrations/..%2F..%2Fetc/config");
    expect(traversal.status).toBe(400);
    expect(traversal.json).toMatchObject({ error: "Missing or invalid 'device'.", cause: "Device is missing or contains invalid characters." });
    expect((await h.request("DELETE", "/unit_api/calibrations/media_pump/..%2F..%2Fconfig.ini")).status).toBe(400);
    expect(fs.existsSync(path.join(h.dot, "config.ini"))).toBe(true);
  });

  test.each([
    ["calibration_type: od\ncalibration_name: [unclosed\n", /^calibration_data is not valid YAML: line \d+, column \d+: Flow sequence/],
    [OD_CAL.replace("calibration_type: od", "calibration_type: magic"), /`calibration_type` must be one of od, od600, simple_peristaltic_pump, simple_stirring/],
    [OD_CAL.replace('pd_channel: "2"\n', ""), /`pd_channel` must be one of 1, 2, 3, 4/],
    [OD_CAL.replace("y: [0.01, 0.51]", "y: [0.01]"), /`recorded_data` lists `x` and `y` should have the same lengths/],
    [OD_CAL.replace("2026-08-04T12:00:00.000Z", "2026-08-04T12:00:00"), /`created_at` must be an ISO 8601 timestamp with a timezone/],
    [PUMP_CAL.replace("hz: 250", "hz: -1"), /`hz` must be a number ≥ 0/],
  ])("upload %# is refused with 400 naming the problem, and nothing is written", async (yaml, cause) => {
    const before = fs.readdirSync(calDir, { recursive: true }).length;
    const r = await h.request("POST", "/unit_api/calibrations/od90", { calibration_data: yaml });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe("Invalid calibration data.");
    expect(r.json.cause).toMatch(cause);
    expect(fs.readdirSync(calDir, { recursive: true }).length).toBe(before);
  });

  test("a calibration_name that is not a file name is refused before writing", async () => {
    const r = await h.request("POST", "/unit_api/calibrations/od90", { calibration_data: OD_CAL.replace("calibration_name: od90-2026", "calibration_name: ../../evil") });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe("Missing or invalid 'calibration_name'.");
    expect(fs.existsSync(path.join(h.dot, "evil.yaml"))).toBe(false);
    expect((await h.request("POST", "/unit_api/calibrations/od90", { calibration_data: OD_CAL, extra: 1 })).json.cause).toBe("Object contains unknown field `extra`");
  });

  test("estimators: listed with their device, set active", async () => {
    expect((await h.request("GET", "/unit_api/estimators")).json).toEqual({});
    const dir = path.join(h.dot, "storage", "estimators", "od_fused");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "fused-1.yaml"), "estimator_type: od_fused_estimator\nestimator_name: fused-1\ncalibrated_on_pioreactor_unit: leader\ncreated_at: 2026-08-04T12:00:00Z\n");
    const list = await h.request("GET", "/unit_api/estimators");
    expect(list.json.od_fused[0]).toMatchObject({ estimator_name: "fused-1", is_active: false, pioreactor_unit: "leader", device: "od_fused" });
    expect((await h.request("PATCH", "/unit_api/active_estimators/od_fused/fused-1")).status).toBe(200);
    expect((await h.request("GET", "/unit_api/active_estimators")).json.od_fused).toMatchObject({ estimator_name: "fused-1", is_active: true });
    expect((await h.request("GET", "/unit_api/estimators/od_fused/fused-1")).json.is_active).toBe(true);
    expect((await h.request("GET", "/unit_api/estimators/od_other")).json).toEqual([]);
    expect((await h.request("DELETE", "/unit_api/estimators/od_fused/fused-1")).status).toBe(200);
    expect((await h.request("GET", "/unit_api/estimators/od_fused/fused-1")).status).toBe(404);
  });

  test("leader: /api/workers/<u>/calibrations… fan out to workers and answer FanoutMaps", async () => {
    const upload = await h.request("POST", "/api/workers/unit1/calibrations/od90", { calibration_data: OD_CAL, set_as_active: true });
    expect(upload.status).toBe(202);
    const uploaded = (await taskResult(h, upload.json.result_url_path)).result;
    expect(uploaded.unit1).toMatchObject({ ok: true, value: { msg: "Calibration created successfully." } });

    const list = await h.request("GET", "/api/workers/$broadcast/calibrations");
    const listed = (await taskResult(h, list.json.result_url_path)).result;
    expect(listed.unit1.value.od90[0]).toMatchObject({ calibration_name: "od90-2026", is_active: true });

    const active = await h.request("GET", "/api/workers/unit1/active_calibrations");
    expect(Object.keys((await taskResult(h, active.json.result_url_path)).result.unit1.value)).toContain("od90");

    const missing = await h.request("DELETE", "/api/workers/unit1/calibrations/od90/nope");
    expect((await taskResult(h, missing.json.result_url_path)).result.unit1).toMatchObject({ ok: false, status_code: 404, error: { kind: "http_error" } });

    const unset = await h.request("DELETE", "/api/workers/unit1/active_calibrations/od90");
    expect((await taskResult(h, unset.json.result_url_path)).result.unit1).toEqual({ ok: true, unit: "unit1", value: {} });
    expect(h.persistentCache("active_calibrations").getString("od90")).toBeUndefined();
  });

  test("leader: bad uploads, bad names and unknown workers are refused before any fan-out", async () => {
    const bad = await h.request("POST", "/api/workers/$broadcast/calibrations/od90", { calibration_data: "calibration_type: nope\n" });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe("Invalid calibration data.");
    expect((await h.request("GET", "/api/workers/ghost/calibrations")).status).toBe(400);
    expect((await rawRequest(h.url, "GET", "/api/workers/unit1/calibrations/..%2Fx/y")).status).toBe(400);
    const sessions = await h.request("POST", "/api/workers/unit1/calibrations/sessions", { target_device: "od90", protocol_name: "standards" });
    expect(sessions.status).toBe(501);
    expect(sessions.json.error).toBe("Calibration sessions are not implemented in this cluster.");
  });

  test("zipped calibrations: the unit's YAML files, and the leader's merge under <worker>/", async () => {
    const unit = await fetch(`${h.url}/unit_api/zipped_calibrations`);
    expect(unit.status).toBe(200);
    expect(unit.headers.get("content-type")).toBe("application/zip");
    expect(unit.headers.get("content-disposition")).toContain("leader_calibrations.zip");
    const entries = readZip(Buffer.from(await unit.arrayBuffer()));
    expect(entries.map((e) => e.name)).toEqual(["media_pump/media-1.yaml", "od90/od90-2026.yaml"]);
    expect(entries[1].data.toString("utf8")).toBe(OD_CAL);

    const merged = await fetch(`${h.url}/api/workers/$broadcast/zipped_calibrations`);
    expect(merged.headers.get("content-disposition")).toContain("calibration_yamls.zip");
    expect(readZip(Buffer.from(await merged.arrayBuffer())).map((e) => e.name)).toEqual(["unit1/media_pump/media-1.yaml", "unit1/od90/od90-2026.yaml"]);
    expect((await fetch(`${h.url}/api/workers/ghost/zipped_calibrations`)).status).toBe(400);
  });
});
