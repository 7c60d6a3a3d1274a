import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Command } from "commander";
import { registerDbCommands } from "../../../src/cli/db-cmd";
import type { ConfigReader } from "../../../src/config/types";
import { backupDatabase, LATEST_BACKUP_KEY } from "../../../src/leader/db/backup";
import { scheduleDatabaseBackups } from "../../../src/leader/db/backup-schedule";
import { migrateToLatest } from "../../../src/leader/db/migrate";
import { databaseTargetFromConfig, openDatabase } from "../../../src/leader/db/open";
import { VirtualClock } from "../../../src/util/clock";
import { tempDir } from "../helpers";

function configWith(values: Record<string, string>): ConfigReader {
  const get = (section: string, key: string) => values[`${section}.${key}`];
  return { get, has: (s: string, k: string) => get(s, k) !== undefined } as unknown as ConfigReader;
}

describe("backupDatabase", () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  beforeEach(async () => {
    tmp = tempDir();
    file = join(tmp.dir, "pioreactor.sqlite");
    const db = openDatabase({ client: "sqlite", filename: file });
    await migrateToLatest(db);
    await db("experiments").insert({ experiment: "e", created_at: "2026-01-01T00:00:00.000Z" });
    await db.destroy();
  });
  afterEach(() => tmp.cleanup());

  it("copies the database online to <db>.backup and records when", async () => {
    const clock = new VirtualClock(Date.UTC(2026, 0, 4));
    const cache = new Map<string, string>();
    const bookkeeping = { get: (k: string) => cache.get(k), set: (k: string, v: string) => void cache.set(k, v) };
    const result = await backupDatabase({ databasePath: file }, { clock, bookkeeping, recentInsertCount: () => 0 });
    expect(result).toEqual({ status: "completed", outputPath: `${file}.backup`, timestamp: "2026-01-04T00:00:00.000Z" });
    expect(cache.get(LATEST_BACKUP_KEY)).toBe("2026-01-04T00:00:00.000Z");
    const copy = new Database(`${file}.backup`, { readonly: true });
    expect(copy.prepare("SELECT experiment FROM experiments").all()).toEqual([{ experiment: "e" }]);
    copy.close();
    expect(existsSync(`${file}.backup.tmp`)).toBe(false);

    const recent = await backupDatabase({ databasePath: file, minIntervalMs: 86_400_000 }, { clock, bookkeeping });
    expect(recent).toMatchObject({ status: "skipped", reason: "recent" });
  });

  it("skips while data streams in unless forced, and when the disk is full", async () => {
    const clock = new VirtualClock();
    const busy = await backupDatabase({ databasePath: file }, { clock, recentInsertCount: () => 10 });
    expect(busy).toMatchObject({ status: "skipped", reason: "busy" });
    expect((await backupDatabase({ databasePath: file, force: true }, { clock, recentInsertCount: () => 10 })).status).toBe("completed");
    const full = await backupDatabase({ databasePath: file, force: true }, { clock, availableBytes: () => 0 });
    expect(full).toMatchObject({ status: "skipped", reason: "no-space" });
  });

  it("schedules with cron and rejects a bad expression", async () => {
    const handle = scheduleDatabaseBackups(async () => undefined);
    await handle.stop();
    expect(() => scheduleDatabaseBackups(async () => undefined, { cronExpression: "nope" })).toThrow(/invalid cron/);
  });

  it("pio db migrate / status / backup / shell", async () => {
    const lines: string[] = [];
    const calls: Array<[string, string[]]> = [];
    const program = new Command().exitOverride();
    registerDbCommands(program, {
      loadConfig: () => configWith({ "storage.database": file }),
      clock: new VirtualClock(),
      print: (l) => lines.push(l),
      runInteractive: async (cmd, args) => {
        calls.push([cmd, args]);
        return 0;
      },
    });
    await program.parseAsync(["node", "pio", "db", "migrate"]);
    await program.parseAsync(["node", "pio", "db", "status"]);
    await program.parseAsync(["node", "pio", "db", "backup", "--output", join(tmp.dir, "b.sqlite")]);
    await program.parseAsync(["node", "pio", "db"]);
    expect(lines).toEqual([
      "Database is up to date.",
      "applied  20260804000000_leader_tables_26_7_2",
      "applied  20260804000001_leader_views_and_triggers_26_7_2",
      `Backed up database to ${join(tmp.dir, "b.sqlite")}.`,
    ]);
    expect(calls).toEqual([["sqlite3", [file, "-column", "-header"]]]);
  });

  it("reads [storage] database_url for PostgreSQL and explains a bad one", async () => {
    expect(databaseTargetFromConfig(configWith({ "storage.database_url": "postgres://h/db" }))).toEqual({ client: "pg", connection: "postgres://h/db" });
    expect(() => databaseTargetFromConfig(configWith({ "storage.database_url": "mysql://h" }))).toThrow(/must start with postgres/);
    expect(() => databaseTargetFromConfig(configWith({}))).toThrow(/\[storage\] database is not set/);
  });
});
