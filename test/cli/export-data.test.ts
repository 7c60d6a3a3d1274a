import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Command } from "commander";
import type { Knex } from "knex";
import { registerExportCommand } from "../../src/cli/export-cmd";
import { runProgram } from "../../src/cli/main";
import { IniDocument } from "../../src/config/ini";
import { LayeredConfig } from "../../src/config/layered";
import { migrateToLatest } from "../../src/leader/db/migrate";
import { openDatabase } from "../../src/leader/db/open";
import { readZip, type ZipEntry } from "../../src/leader/export/zip-reader";

const hasUnzip = spawnSync("unzip", ["-v"]).status === 0;

describe("pio export / pio run export_experiment_data", () => {
  let dir: string;
  let dbPath: string;
  let db: Knex;
  let logs: string[];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "export-"));
    dbPath = path.join(dir, "pioreactor.sqlite");
    db = openDatabase({ client: "sqlite", filename: dbPath });
    await migrateToLatest(db);
    await db("experiments").insert([
      { experiment: "exp1", created_at: "2026-01-01T00:00:00.000Z", description: "first" },
      { experiment: "exp2", created_at: "2026-01-02T00:00:00.000Z", description: "second" },
    ]);
    const od = [];
    for (let i = 0; i < 3; i++) {
      const ts = `2026-01-01T0${i + 1}:00:00.000Z`;
      for (const unit of ["w1", "w2"]) for (const channel of [1, 2]) od.push({ experiment: "exp1", pioreactor_unit: unit, timestamp: ts, od_reading: 0.1 * (i + 1) + channel / 1000, angle: 90, channel });
    }
    od.push({ experiment: "exp2", pioreactor_unit: "w1", timestamp: "2026-01-02T01:00:00.000Z", od_reading: 9, angle: 90, channel: 1 });
    await db("od_readings").insert(od);
    await db("logs").insert({ experiment: "exp1", pioreactor_unit: "w1", timestamp: "2026-01-01T01:00:00.000Z", message: 'has "quotes", commas\nand a newline', source: "app", level: "INFO", task: "x" });
    logs = [];
  });

  afterEach(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function run(args: string[], name = "export"): Promise<number> {
    const program = new Command("pio");
    const deps = {
      loadConfig: () => LayeredConfig.fromDocuments(IniDocument.parse(`[storage]\ndatabase=${dbPath}\n`)),
      dotPioreactor: () => path.join(dir, ".pioreactor"),
      cwd: dir,
      now: () => new Date(2026, 1, 3, 4, 5, 6),
      softwareVersion: "26.7.2",
      warn: (l: string) => logs.push(l),
    };
    const parent = name === "export" ? program : program.command("run");
    registerExportCommand(parent, name === "export" ? "export" : "export_experiment_data", deps);
    return runProgram(program, ["node", "pio", ...(name === "export" ? ["export"] : ["run", "export_experiment_data"]), ...args]);
  }

  function entries(file = "output.zip"): Map<string, ZipEntry> {
    return new Map(readZip(fs.readFileSync(path.join(dir, file))).map((e) => [e.name, e]));
  }

  it("writes the original's layout: folder, schema.json, one CSV per partition, manifest.json", async () => {
    expect(await run(["--experiment", "exp1", "--dataset-name", "od_readings", "--dataset-name", "logs"], "run")).toBe(0);
    const zip = entries();
    const csvName = "od_readings/od_readings-all_experiments-all_units-20260203040506.csv";
    expect([...zip.keys()]).toEqual([
      "od_readings/",
      "od_readings/schema.json",
      csvName,
      "logs/",
      "logs/schema.json",
      "logs/logs-all_experiments-all_units-20260203040506.csv",
      "manifest.json",
    ]);
    const lines = zip.get(csvName)!.data.toString().split("\r\n");
    expect(lines[0]).toBe("experiment,pioreactor_unit,timestamp,od_reading,angle,channel,timestamp_localtime,hours_since_experiment_created");
    expect(lines).toHaveLength(14); // header + 12 rows + trailing empty
    expect(lines[1]).toMatch(/^exp1,w1,2026-01-01T01:00:00.000Z,0.101,90,1,[^,]+,1.0$/);
    const logCsv = zip.get("logs/logs-all_experiments-all_units-20260203040506.csv")!.data.toString();
    expect(logCsv).toContain('"has ""quotes"", commas\nand a newline"');
    const manifest = JSON.parse(zip.get("manifest.json")!.data.toString());
    expect(manifest.selected_datasets).toEqual(["od_readings", "logs"]);
    expect(manifest.datasets[0]).toMatchObject({ dataset_name: "od_readings", row_count: 12, csv_paths: [csvName] });
    expect(manifest.filters).toEqual({ end_time: null, experiment: "exp1", partition_by_experiment: false, partition_by_unit: false, start_time: null });
    const schema = JSON.parse(zip.get("od_readings/schema.json")!.data.toString());
    expect(schema.generated_columns).toEqual(["timestamp_localtime", "hours_since_experiment_created"]);
    expect(logs.some((l) => l.includes("Starting export of datasets: od_readings, logs"))).toBe(true);
    expect(fs.existsSync(path.join(dir, ".output.zip.tmp"))).toBe(false);
  });

  it("partitions by unit and experiment, and filters by time window", async () => {
    const code = await run([
      "--experiment", "exp1", "--dataset-name", "od_readings", "--partition-by-unit", "--partition-by-experiment",
      "--start-time", "2026-01-01T02:00:00+00:00", "--end-time", "2026-01-01T04:00:00+01:00", "--output", "sub/p.zip",
    ]);
    expect(code).toBe(0);
    const zip = entries("sub/p.zip");
    const w1 = zip.get("od_readings/od_readings-exp1-w1-20260203040506.csv")!.data.toString().trim().split("\r\n");
    expect(w1).toHaveLength(1 + 4); // 02:00 and 03:00, two channels
    expect(zip.has("od_readings/od_readings-exp1-w2-20260203040506.csv")).toBe(true);
  });

  it("--format wide gives one column per unit and channel per timestamp", async () => {
    expect(await run(["--experiment", "exp1", "--dataset-name", "od_readings", "--dataset-name", "logs", "--format", "wide"])).toBe(0);
    const zip = entries();
    const lines = zip.get("od_readings/od_readings-all_experiments-all_units-20260203040506.csv")!.data.toString().trim().split("\r\n");
    expect(lines[0]).toBe("experiment,timestamp,timestamp_localtime,hours_since_experiment_created,w1_ch1,w1_ch2,w2_ch1,w2_ch2");
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/^exp1,2026-01-01T03:00:00.000Z,[^,]+,3.0,0.301,0.302,0.301,0.302$/);
    // Datasets without a wide layout stay long.
    expect(zip.get("logs/schema.json")!.data.toString()).not.toContain('"format"');
    expect(JSON.parse(zip.get("manifest.json")!.data.toString()).datasets[0].format).toBe("wide");
  });

  (hasUnzip ? it : it.skip)("passes `unzip -t`", async () => {
    expect(await run(["--experiment", "exp1", "--dataset-name", "od_readings", "--format", "wide"])).toBe(0);
    expect(execFileSync("unzip", ["-t", path.join(dir, "output.zip")]).toString()).toMatch(/No errors detected/);
  });

  it("uses a dataset YAML file from $DOT_PIOREACTOR/exportable_datasets and skips unknown names", async () => {
    fs.mkdirSync(path.join(dir, ".pioreactor", "exportable_datasets"), { recursive: true });
    fs.writeFileSync(
      path.join(dir, ".pioreactor", "exportable_datasets", "90_mine.yaml"),
      "dataset_name: mine\ndisplay_name: Mine\ndescription: x\nhas_experiment: true\nhas_unit: true\ndefault_order_by: timestamp\ntimestamp_columns: [timestamp]\nquery: SELECT * FROM od_readings WHERE channel = 2\n",
    );
    expect(await run(["--experiment", "exp1", "--dataset-name", "mine", "--dataset-name", "nope"])).toBe(0);
    const csv = entries().get("mine/mine-all_experiments-all_units-20260203040506.csv")!.data.toString().trim().split("\r\n");
    expect(csv).toHaveLength(7);
    expect(logs.some((l) => l.includes("WARNING Dataset `nope` is not found"))).toBe(true);
  });

  it("refuses bad arguments with a message and exit 1, and a bad --format with exit 2", async () => {
    expect(await run(["--experiment", "exp1", "--dataset-name", "od_readings", "--output", "x.tar"])).toBe(1);
    expect(await run(["--experiment", "exp1"])).toBe(1);
    expect(await run(["--experiment", "exp1", "--dataset-name", "od_readings", "--start-time", "2026-01-01T00:00:00"])).toBe(1);
    expect(await run(["--experiment", "exp1", "--dataset-name", "od_readings", "--format", "tall"])).toBe(2);
    expect(await run(["--dataset-name", "od_readings"])).toBe(2);
    expect(fs.existsSync(path.join(dir, "output.zip"))).toBe(false);
  });
});
