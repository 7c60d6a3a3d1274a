/** `/api/datasets/exportable*`: the list, previews (with the BASE64 SQL function), exports to `/exports/<file>`. */
import fs from "node:fs";
import path from "node:path";
import { readZip } from "../../../src/leader/export/zip-reader";
import { type Harness, startHarness, taskResult } from "./harness";

describe("exportable datasets", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await h.request("POST", "/api/experiments", { experiment: "exp1" });
    const rows = [1, 2, 3].map((i) => ({
      experiment: "exp1",
      pioreactor_unit: "unit1",
      timestamp: `2026-08-04T12:00:0${i}.000Z`,
      od_reading: 0.1 * i,
      angle: 90,
      channel: "2",
    }));
    await h.db("od_readings").insert(rows);
    await h.db("dosing_automation_settings").insert({
      experiment: "exp1",
      pioreactor_unit: "unit1",
      started_at: "2026-08-04T12:00:00.000Z",
      ended_at: null,
      automation_name: "turbidostat",
      settings: Buffer.from(JSON.stringify({ target_od: 1.5 })).toString("base64"),
    });
  });
  afterAll(() => h.close());

  test("GET /api/datasets/exportable: built-ins and YAML files in the original's Dataset shape; broken files are skipped and logged", async () => {
    const dir = path.join(h.dot, "exportable_datasets");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, "50_unit1_only.yaml"),
      "dataset_name: unit1_od\ndisplay_name: Unit 1 OD\ndescription: only unit1\nhas_experiment: true\nhas_unit: true\ndefault_order_by: timestamp\nquery: SELECT * FROM od_readings WHERE pioreactor_unit = 'unit1'\ntimestamp_columns: [timestamp]\n",
    );
    fs.writeFileSync(path.join(dir, "51_broken.yaml"), "dataset_name: broken\n");
    const r = await h.request("GET", "/api/datasets/exportable");
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("public, max-age=60");
    const od = r.json.find((d: { dataset_name: string }) => d.dataset_name === "od_readings");
    expect(Object.keys(od)).toEqual([
      "dataset_name",
      "description",
      "display_name",
      "has_experiment",
      "has_unit",
      "default_order_by",
      "table",
      "query",
      "source",
      "timestamp_columns",
      "always_partition_by_unit",
      "column_descriptions",
      "column_units",
    ]);
    expect(od).toMatchObject({ table: "od_readings", query: null, has_unit: true, source: "app" });
    expect(r.json.map((d: { dataset_name: string }) => d.dataset_name)).toContain("unit1_od");
    expect(r.json.map((d: { dataset_name: string }) => d.dataset_name)).not.toContain("broken");
    const logged = await h.waitForMessages(/^pioreactor\/leader\/\$experiment\/logs\/ui\/error$/);
    expect(logged.map((m) => JSON.parse(m.payload.toString()).message)).toContain("Yaml error in 51_broken.yaml: missing required field display_name");
  });

  test("preview: the first n rows; automation settings decoded through BASE64()", async () => {
    const r = await h.request("GET", "/api/datasets/exportable/od_readings/preview?n_rows=2");
    expect(r.status).toBe(200);
    expect(r.json).toHaveLength(2);
    expect(r.json[0]).toMatchObject({ experiment: "exp1", pioreactor_unit: "unit1", od_reading: 0.1, angle: 90, channel: 2 });
    expect((await h.request("GET", "/api/datasets/exportable/unit1_od/preview")).json).toHaveLength(3);
    const settings = await h.request("GET", "/api/datasets/exportable/dosing_automation_settings/preview");
    expect(JSON.parse(settings.json[0].json_settings)).toEqual({ target_od: 1.5 });
  });

  test.each([
    ["0", "n_rows must be between 1 and 100."],
    ["101", "n_rows must be between 1 and 100."],
    ["2.5", "n_rows must be an integer."],
    ["abc", "n_rows must be an integer."],
  ])("preview n_rows=%s → 400", async (n, cause) => {
    const r = await h.request("GET", `/api/datasets/exportable/od_readings/preview?n_rows=${n}`);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: "Invalid n_rows", status: 400, cause, remediation: "Provide n_rows as an integer from 1 to 100." });
  });

  test("preview of an unknown dataset is 404", async () => {
    const r = await h.request("GET", "/api/datasets/exportable/nope/preview");
    expect(r.status).toBe(404);
    expect(r.json.error).toBe("nope not found");
  });

  test("export writes a ZIP the UI downloads from /exports/<filename>", async () => {
    const r = await h.request("POST", "/api/datasets/exportable/export", {
      datasets: ["od_readings", "dosing_automation_settings"],
      experiment: "exp1",
      partition_by_unit: false,
      partition_by_experiment: false,
      start_time: "2026-08-04T13:00:00+01:00",
      end_time: null,
    });
    expect(r.status).toBe(202);
    const done = await taskResult(h, r.json.result_url_path);
    expect(done.status).toBe("succeeded");
    expect(done.result).toEqual({ result: true, filename: expect.stringMatching(/^export_\d{14}\.zip$/), msg: "Finished" });
    const download = await fetch(`${h.url}/exports/${done.result.filename}`);
    expect(download.status).toBe(200);
    const entries = readZip(Buffer.from(await download.arrayBuffer()));
    const names = entries.map((e) => e.name);
    expect(names).toContain("manifest.json");
    const odCsv = entries.find((e) => e.name.startsWith("od_readings/") && e.name.endsWith(".csv"));
    // start_time 12:00:00Z keeps all three rows and the settings row (inclusive bound).
    expect(odCsv?.data.toString("utf8").trim().split("\n")).toHaveLength(4);
    const settingsCsv = entries.find((e) => e.name.startsWith("dosing_automation_settings/") && e.name.endsWith(".csv"));
    expect(settingsCsv?.data.toString("utf8")).toContain("json_settings");
  });

  test.each([
    [{ datasets: ["od_readings"], experiment: "exp1", partition_by_unit: false }, "Object missing required field `partition_by_experiment`"],
    [{ datasets: ["od_readings"], experiment: "exp1", partition_by_unit: false, partition_by_experiment: false, start_time: "2026-08-04T12:00:00" }, "start_time must include a timezone offset"],
    [{ datasets: ["od_readings"], experiment: "", partition_by_unit: false, partition_by_experiment: false }, "experiment must not be empty"],
    [{ datasets: "od_readings", experiment: "exp1", partition_by_unit: false, partition_by_experiment: false }, "Expected `array`, got `str` - at `$.datasets`"],
    [{ datasets: [], experiment: "exp1", partition_by_unit: false, partition_by_experiment: false, extra: 1 }, "Object contains unknown field `extra`"],
  ])("export with %j → 400 (%s), nothing written", async (body, cause) => {
    const before = fs.existsSync(path.join(h.dot, "exports")) ? fs.readdirSync(path.join(h.dot, "exports")).length : 0;
    const r = await h.request("POST", "/api/datasets/exportable/export", body);
    expect(r.status).toBe(400);
    expect(r.json.cause).toBe(cause);
    const after = fs.existsSync(path.join(h.dot, "exports")) ? fs.readdirSync(path.join(h.dot, "exports")).length : 0;
    expect(after).toBe(before);
  });

  test("/exports serves only files inside the exports folder", async () => {
    const r = await fetch(`${h.url}/exports/%2e%2e%2fconfig.ini`);
    expect(r.status).toBe(403);
    expect(await r.text()).not.toContain("leader_hostname");
    expect((await fetch(`${h.url}/exports/missing.zip`)).status).toBe(404);
  });
});
