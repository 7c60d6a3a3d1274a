/** Bioreactor variables over `/unit_api`, the manual-dosing guard, remove_file, and the bioreactor settings descriptors. */
import fs from "node:fs";
import path from "node:path";
import { type Harness, retainedMessage, startHarness, taskResult } from "./harness";

describe("bioreactor variables, dosing guard, remove_file", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  test("PATCH stores in cache_bioreactor, publishes retained QoS 2, logs under the experiment", async () => {
    const r = await h.request("PATCH", "/unit_api/bioreactor/experiments/exp1", { values: { current_volume_ml: 20, efflux_tube_volume_ml: 18.5 } });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: "success" });
    expect(h.persistentCache("bioreactor").get(["exp1", "current_volume_ml"])).toBe(20);
    const retained = await retainedMessage(h, "pioreactor/leader/exp1/bioreactor/current_volume_ml");
    expect(retained?.payload.toString()).toBe("20.0");
    expect(retained?.qos).toBe(2);
    const logs = await h.waitForMessages(/^pioreactor\/leader\/exp1\/logs\/ui\/info$/, 2);
    const first = JSON.parse(logs[0].payload.toString());
    expect(first).toMatchObject({ task: "bioreactor", source: "ui", message: "Updated current_volume_ml from 14.0 mL to 20.0 mL.", level: "INFO" });
    const got = await h.request("GET", "/unit_api/bioreactor/experiments/exp1");
    expect(got.json.values).toMatchObject({ current_volume_ml: 20, efflux_tube_volume_ml: 18.5, alt_media_fraction: 0 });
  });

  test("bad input gets 400 and changes nothing, even when an earlier value was fine", async () => {
    const before = h.messages.length;
    for (const values of [{}, { current_volume_ml: 12, nope: 1 }, { current_volume_ml: 12, alt_media_fraction: 2 }, { current_volume_ml: "x" }, { current_volume_ml: 41 }]) {
      const r = await h.request("PATCH", "/unit_api/bioreactor/experiments/exp1", { values });
      expect(r.status).toBe(400);
      expect(typeof r.json.error).toBe("string");
    }
    expect((await h.request("PATCH", "/unit_api/bioreactor/experiments/exp1", { values: { current_volume_ml: 1 }, extra: 1 })).status).toBe(400);
    expect(h.persistentCache("bioreactor").get(["exp1", "current_volume_ml"])).toBe(20);
    await new Promise((r) => setTimeout(r, 50));
    expect(h.messages.slice(before).filter((m) => m.topic.includes("/bioreactor/"))).toEqual([]);
  });

  test("manual doses that would reach the fill limit are refused before anything starts", async () => {
    // 20 mL tracked in exp1; the 40 mL model's limit is 36 mL.
    const refuse = await h.request("POST", "/unit_api/jobs/run/job_name/add_media", { options: { ml: 16 }, env: { EXPERIMENT: "exp1" } });
    expect(refuse.status).toBe(400);
    expect(refuse.json.error).toBe("Requested dose would meet or exceed the reactor safety threshold.");
    expect(h.launched).toEqual([]);
    const unknown = await h.request("POST", "/unit_api/jobs/run/job_name/add_alt_media", {
      options: { ml: 1 },
      env: { EXPERIMENT: "exp1", MODEL_NAME: "bogus", MODEL_VERSION: "9" },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toBe("Unknown Pioreactor model.");
    await new Promise((r) => setTimeout(r, 1100)); // the per-job debounce
    const ok = await h.request("POST", "/unit_api/jobs/run/job_name/add_media", { options: { ml: 15.9 }, env: { EXPERIMENT: "exp1" } });
    expect(ok.status).toBe(202);
    // A 20 mL model has an 18 mL limit.
    const small = await h.request("POST", "/unit_api/jobs/run/job_name/add_alt_media", {
      options: { ml: 0.5 },
      env: { EXPERIMENT: "exp1", MODEL_NAME: "pioreactor_20ml", MODEL_VERSION: "1.5" },
    });
    expect(small.status).toBe(400);
    expect(h.launched.map((l) => l.jobName)).toEqual(["add_media"]);
  });

  test("settings descriptors: bioreactor defaults and bounds come from config and the registry", async () => {
    const r = await h.request("GET", "/unit_api/settings/descriptors");
    const bio = r.json.find((d: { key: string }) => d.key === "bioreactor");
    const volume = bio.published_settings.find((s: { key: string }) => s.key === "current_volume_ml");
    expect(volume).toMatchObject({ default: 14, min: 0, max: null });
    const fraction = bio.published_settings.find((s: { key: string }) => s.key === "alt_media_fraction");
    expect(fraction).toMatchObject({ default: 0, min: 0, max: 1 });
    h.writeConfig(`${fs.readFileSync(path.join(h.dot, "config.ini"), "utf8")}\n[bioreactor]\ninitial_volume_ml=17.5\n`);
    const again = await h.request("GET", "/api/settings/descriptors");
    const v2 = again.json.find((d: { key: string }) => d.key === "bioreactor").published_settings.find((s: { key: string }) => s.key === "current_volume_ml");
    expect(v2.default).toBe(17.5);
  });

  test("remove_file deletes inside $DOT_PIOREACTOR only", async () => {
    fs.mkdirSync(path.join(h.dot, "plugins"), { recursive: true });
    fs.writeFileSync(path.join(h.dot, "plugins", "x.py"), "pass\n");
    const r = await h.request("POST", "/unit_api/system/remove_file", { filepath: "plugins/x.py" });
    expect(r.status).toBe(202);
    expect((await taskResult(h, r.json.result_url_path)).result).toBe(true);
    expect(fs.existsSync(path.join(h.dot, "plugins", "x.py"))).toBe(false);
    const outside = path.join(h.dir, "outside.txt");
    fs.writeFileSync(outside, "keep");
    for (const filepath of [outside, "../outside.txt", ".", h.dot]) {
      const bad = await h.request("POST", "/unit_api/system/remove_file", { filepath });
      expect(bad.status).toBe(403);
      expect(bad.json.error).toBe("Access to this path is not allowed");
    }
    expect(fs.existsSync(outside)).toBe(true);
    expect((await h.request("POST", "/unit_api/system/remove_file", { path: "x" })).status).toBe(400);
    fs.writeFileSync(path.join(h.dot, "DISALLOW_UI_FILE_SYSTEM"), "");
    fs.writeFileSync(path.join(h.dot, "y.txt"), "");
    const blocked = await h.request("PATCH", "/unit_api/system/remove_file", { filepath: "y.txt" });
    expect(blocked.status).toBe(403);
    expect(blocked.json.error).toBe("DISALLOW_UI_FILE_SYSTEM is present");
    expect(fs.existsSync(path.join(h.dot, "y.txt"))).toBe(true);
  });
});
