/** Inventory queries on the leader database: workers, units, assignments. */
import type { Knex } from "knex";
import type { ConfigReader } from "../../config/types";
import { UNIVERSAL_EXPERIMENT } from "../../pubsub/topics";

export interface WorkerRow {
  pioreactor_unit: string;
  added_at: string;
  is_active: number;
  model_name: string | null;
  model_version: string | null;
}

export function leaderHostnameOf(config: ConfigReader): string | undefined {
  return config.get("cluster.topology", "leader_hostname") ?? undefined;
}

export async function allWorkers(db: Knex): Promise<string[]> {
  const rows = await db("workers").select("pioreactor_unit").orderBy("pioreactor_unit");
  return rows.map((r: { pioreactor_unit: string }) => r.pioreactor_unit);
}

/** The leader (from config) and every worker, without duplicates, leader first. */
export async function allUnits(db: Knex, config: ConfigReader): Promise<string[]> {
  const leader = leaderHostnameOf(config);
  const workers = await allWorkers(db);
  return [...new Set([...(leader ? [leader] : []), ...workers])];
}

/** Workers assigned to `experiment`; `$experiment` means every worker. */
export async function workersInExperiment(db: Knex, experiment: string): Promise<string[]> {
  if (experiment === UNIVERSAL_EXPERIMENT) return allWorkers(db);
  const rows = await db("experiment_worker_assignments as a")
    .join("workers as w", "w.pioreactor_unit", "a.pioreactor_unit")
    .where("a.experiment", experiment)
    .select("a.pioreactor_unit")
    .orderBy("a.pioreactor_unit");
  return rows.map((r: { pioreactor_unit: string }) => r.pioreactor_unit);
}

export async function isRegisteredWorker(db: Knex, unit: string): Promise<boolean> {
  return (await db("workers").where("pioreactor_unit", unit).first("pioreactor_unit")) !== undefined;
}

/** `YYYY-MM-DDTHH:MM:SS.mmmZ`, the original's `current_utc_timestamp()`. */
export function isoMillis(ms: number): string {
  return new Date(ms).toISOString();
}
