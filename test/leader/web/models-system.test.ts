/** Routes every UI page calls at start-up: `/api/models`, worker model, local access point, `/unit_api` disk space, app version, USB status. */
import fs from "node:fs";
import path from "node:path";
import { SOFTWARE_VERSION } from "../../../src/cli/version";
import { type Harness, startHarness } from "./harness";

describe("models and side-nav system routes", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await h.request("PUT", "/api/workers", { pioreactor_unit: "unit1", model_name: "pioreactor_40ml", model_version: "1.5" });
  });
  afterAll(() => h.close());

  test("GET /api/models: the original's built-ins in its order and shape, contributed YAML models appended", async () => {
    const r = await h.request("GET", "/api/models");
    expect(r.status).toBe(200);
    expect(r.json.models.map((m: { model_name: string; model_version: string }) => `${m.model_name} ${m.model_version}`)).toEqual([
      "pioreactor_40ml 1.5",
      "pioreactor_40ml 1.0",
      "pioreactor_20ml 1.1",
      "pioreactor_20ml 1.0",
      "pioreactor_20ml 1.5",
      "pioreactor_40ml_XR 1.5",
      "pioreactor_20ml_XR 1.5",
    ]);
    expect(r.json.models[0]).toEqual({
      model_name: "pioreactor_40ml",
      model_version: "1.5",
      display_name: "Pioreactor 40ml, v1.5",
      reactor_capacity_ml: 40,
      reactor_diameter_mm: 27,
      reactor_max_fill_volume_ml: 36,
      max_temp_to_reduce_heating: 78,
      max_temp_to_disable_heating: 80,
      max_temp_to_shutdown: 85,
      is_legacy: false,
      is_contrib: false,
    });
    expect(r.json.models[3]).toMatchObject({ display_name: "Pioreactor 20ml, v1.0", max_temp_to_shutdown: 66, is_legacy: true });
    expect(r.json.models[5].display_name).toBe("Pioreactor 40ml XR, v1.5");

    fs.mkdirSync(path.join(h.dot, "models"), { recursive: true });
    fs.writeFileSync(
      path.join(h.dot, "models", "big.yaml"),
      "model_name: big\nmodel_version: '2.0'\ndisplay_name: Big one\nreactor_capacity_ml: 250.0\nreactor_diameter_mm: 60.0\nreactor_max_fill_volume_ml: 200.0\nmax_temp_to_reduce_heating: 60.0\nmax_temp_to_disable_heating: 62.0\nmax_temp_to_shutdown: 65.0\n",
    );
    fs.writeFileSync(path.join(h.dot, "models", "broken.yaml"), "model_name: broken\n");
    const after = await h.request("GET", "/api/models");
    expect(after.json.models).toHaveLength(8);
    expect(after.json.models[7]).toMatchObject({ model_name: "big", model_version: "2.0", reactor_capacity_ml: 250, is_contrib: true, is_legacy: false });
  });

  test("GET|PUT /api/workers/<u>/model", async () => {
    const got = await h.request("GET", "/api/workers/unit1/model");
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ pioreactor_unit: "unit1", model_name: "pioreactor_40ml", model_version: "1.5", display_name: "Pioreactor 40ml, v1.5" });
    expect(Object.keys(got.json)[0]).toBe("pioreactor_unit");

    const put = await h.request("PUT", "/api/workers/unit1/model", { model_name: "pioreactor_20ml", model_version: "1.1" });
    expect(put.status).toBe(200);
    expect((await h.request("GET", "/api/workers/unit1/model")).json.display_name).toBe("Pioreactor 20ml, v1.1");
    const logged = await h.waitForMessages(/^pioreactor\/leader\/\$experiment\/logs\/ui\/info$/);
    expect(logged.map((m) => JSON.parse(m.payload.toString()).message)).toContain("Set unit1 to pioreactor_20ml, 1.1.");

    expect((await h.request("PUT", "/api/workers/unit1/model", { model_name: "nope", model_version: "1.0" })).status).toBe(400);
    expect((await h.request("PUT", "/api/workers/ghost/model", { model_name: "pioreactor_20ml", model_version: "1.1" })).status).toBe(400);
    expect((await h.request("GET", "/api/workers/ghost/model")).status).toBe(404);
    await h.request("PUT", "/api/workers", { pioreactor_unit: "unit2" });
    expect((await h.request("GET", "/api/workers/unit2/model")).status).toBe(404);
  });

  test("GET /api/local_access_point, /unit_api/system/disk_space, /unit_api/versions/app, /unit_api/usb", async () => {
    const ap = await h.request("GET", "/api/local_access_point");
    expect(ap.status).toBe(200);
    expect(typeof ap.json.active).toBe("boolean");
    expect(ap.headers.get("cache-control")).toBe("public, max-age=10000");

    const disk = await h.request("GET", "/unit_api/system/disk_space");
    expect(disk.status).toBe(200);
    expect(disk.json.total_bytes).toBeGreaterThan(0);
    expect(disk.json.available_bytes).toBeGreaterThanOrEqual(0);
    expect(disk.json.available_bytes).toBeLessThanOrEqual(disk.json.total_bytes);

    const version = await h.request("GET", "/unit_api/versions/app");
    expect(version.json).toEqual({ version: SOFTWARE_VERSION });
    expect(version.headers.get("cache-control")).toBe("public, max-age=30");

    expect((await h.request("GET", "/unit_api/usb")).json).toEqual({ status: "absent", partitions: [], active_mount: null });
  });
});
