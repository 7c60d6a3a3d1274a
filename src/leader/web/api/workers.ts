/**
 * Inventory and assignments: `/api/units`, `/api/workers…`, `/api/experiments/<exp>/workers…`.
 * Assigning or unassigning publishes the retained `pioreactor/<unit>/$experiment/assignment`
 * record units watch, and stops the unit's jobs in the experiment it left.
 */
import { isIP } from "node:net";
import { Router } from "express";
import type { Knex } from "knex";
import { assignmentTopic, UNIVERSAL_EXPERIMENT, UNIVERSAL_IDENTIFIER } from "../../../pubsub/topics";
import { allUnits, allWorkers, isoMillis, isRegisteredWorker, leaderHostnameOf } from "../cluster";
import type { WebContext } from "../deps";
import { badRequest, HttpError, notFound } from "../http-errors";
import { cacheFor, param } from "../http-util";
import { decodeBody } from "../request-body";

const UNIT_NAME = /^[A-Za-z0-9_-]+$/;

export function unitNameCanBePersisted(name: string): boolean {
  return name !== UNIVERSAL_IDENTIFIER && UNIT_NAME.test(name) && name.toLowerCase() !== "localhost" && isIP(name) === 0;
}

export async function requireRegisteredWorker(db: Knex, unit: string): Promise<string> {
  if (await isRegisteredWorker(db, unit)) return unit;
  throw badRequest(`Unknown Pioreactor worker: ${unit}`, {
    cause: "The requested worker is not registered in this cluster.",
    remediation: "Choose $broadcast or a worker from inventory.",
  });
}

/**
 * Publishes the retained assignment record (experiment null = unassigned). Never fails the request.
 * QoS 0 as the original (capture 00): a Python worker subscribing at QoS 0 sees exactly what it saw there.
 */
export async function publishAssignment(ctx: WebContext, unit: string, experiment: string | null, assignedAt: string | null): Promise<void> {
  const payload = JSON.stringify({ pioreactor_unit: unit, experiment, assigned_at: assignedAt, updated_at: isoMillis(ctx.clock.now()) });
  try {
    await ctx.mqtt.publish(assignmentTopic(unit), payload, { qos: 0, retain: true });
  } catch (e) {
    ctx.serverLog.error(`Unable to publish retained experiment assignment for ${unit}: ${(e as Error).message}`);
  }
}

/** Fan-outs whose task id the original discards: started, not awaited by the request. */
function fireAndForget(work: Promise<unknown>): void {
  work.catch(() => {});
}

export function workerRoutes(ctx: WebContext): Router {
  const r = Router();

  r.get("/units", async (_req, res) => {
    const units = await allUnits(ctx.leaderDb(), ctx.config());
    cacheFor(res).json(units.map((u) => ({ pioreactor_unit: u })));
  });

  r.get("/workers", async (_req, res) => {
    const config = ctx.config();
    const rows: Array<Record<string, unknown>> = await ctx
      .leaderDb()("workers")
      .orderBy("pioreactor_unit")
      .select("pioreactor_unit", "added_at", "is_active", "model_name", "model_version");
    cacheFor(res).json(
      rows.map((w) => {
        const address = config.get("cluster.addresses", String(w.pioreactor_unit));
        return { ...w, ipv4_address: address && isIP(address) === 4 ? address : null };
      }),
    );
  });

  r.put("/workers", async (req, res) => {
    const body = decodeBody<{ pioreactor_unit: string; model_name?: string | null; model_version?: string | null }>(req, {
      fields: {
        pioreactor_unit: { type: "str", required: true },
        model_name: { type: "str", nullable: true },
        model_version: { type: "str", nullable: true },
      },
      forbidUnknown: true,
    });
    if (!unitNameCanBePersisted(body.pioreactor_unit)) {
      throw badRequest(`Invalid Pioreactor unit name: ${body.pioreactor_unit}`, {
        cause: "Unit names may only contain letters, digits, '-' and '_', and cannot be $broadcast, localhost or an IP address.",
        remediation: "Choose a different name.",
      });
    }
    const db = ctx.leaderDb();
    await db.transaction(async (trx) => {
      await trx("workers").where("pioreactor_unit", body.pioreactor_unit).delete();
      await trx("workers").insert({
        pioreactor_unit: body.pioreactor_unit,
        added_at: isoMillis(ctx.clock.now()),
        is_active: 1,
        model_name: body.model_name ?? null,
        model_version: body.model_version ?? null,
      });
    });
    res.status(201).json({ status: "success" });
  });

  r.get("/workers/assignments", async (_req, res) => {
    const rows = await ctx
      .leaderDb()("workers as w")
      .leftJoin("experiment_worker_assignments as a", "w.pioreactor_unit", "a.pioreactor_unit")
      .orderBy("w.pioreactor_unit")
      .select("w.pioreactor_unit", "a.experiment", "w.is_active");
    cacheFor(res, 2).json(rows.map((x) => ({ pioreactor_unit: x.pioreactor_unit, experiment: x.experiment ?? null, is_active: x.is_active })));
  });

  r.delete("/workers/assignments", async (_req, res) => {
    const db = ctx.leaderDb();
    const assigned: Array<{ pioreactor_unit: string }> = await db("experiment_worker_assignments").select("pioreactor_unit");
    await db("experiment_worker_assignments").delete();
    for (const a of assigned) await publishAssignment(ctx, a.pioreactor_unit, null, null);
    const workers = await allWorkers(db);
    res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast("POST", "/unit_api/jobs/stop/all", workers)));
  });

  r.get("/workers/:unit", async (req, res) => {
    const unit = param(req.params.unit);
    const row = await ctx
      .leaderDb()("workers")
      .where("pioreactor_unit", unit)
      .first("pioreactor_unit", "added_at", "is_active", "model_name", "model_version");
    if (!row) {
      throw notFound("Worker not found", {
        cause: `Worker '${unit}' not in leader database.`,
        remediation: "Check the unit name or add the worker to the inventory.",
      });
    }
    res.json(row);
  });

  r.delete("/workers/:unit", async (req, res) => {
    const unit = param(req.params.unit);
    const db = ctx.leaderDb();
    const deleted = await db("workers").where("pioreactor_unit", unit).delete();
    if (deleted === 0) {
      throw notFound("Worker not found", {
        cause: `Worker '${unit}' not in leader database.`,
        remediation: "Check the unit name or add the worker to the inventory.",
      });
    }
    fireAndForget(ctx.fanout.multicast("POST", "/unit_api/jobs/stop/all", [unit]));
    if (unit !== leaderHostnameOf(ctx.config())) {
      await db("config_files_histories").whereIn("filename", [`unit_config.ini::${unit}`, `config_${unit}.ini`]).delete();
      fireAndForget(ctx.fanout.multicast("POST", "/unit_api/system/remove_file", [unit], { filepath: "$DOT_PIOREACTOR/config.ini" }));
    }
    ctx.serverLog.info(`Removed ${unit} from inventory.`);
    res.status(202).json({ status: "success" });
  });

  r.put("/workers/:unit/is_active", async (req, res) => {
    const unit = param(req.params.unit);
    const body = decodeBody<{ is_active: number }>(req, { fields: { is_active: { type: "int", required: true } }, forbidUnknown: true });
    if (body.is_active !== 0 && body.is_active !== 1) throw badRequest("is_active must be 0 or 1.");
    const db = ctx.leaderDb();
    await requireRegisteredWorker(db, unit);
    await db("workers").where("pioreactor_unit", unit).update({ is_active: body.is_active });
    if (body.is_active === 0) fireAndForget(ctx.fanout.multicast("POST", "/unit_api/jobs/stop/all", [unit]));
    res.status(200).json({ status: "success" });
  });

  r.get("/workers/:unit/experiment", async (req, res) => {
    const unit = param(req.params.unit);
    const row = await ctx
      .leaderDb()("workers as w")
      .leftJoin("experiment_worker_assignments as a", "w.pioreactor_unit", "a.pioreactor_unit")
      .where("w.pioreactor_unit", unit)
      .first("w.pioreactor_unit", "w.is_active", "a.experiment", "w.model_name", "w.model_version");
    if (!row) {
      throw notFound(`Worker ${unit} not found.`, {
        cause: `Worker '${unit}' not in leader database.`,
        remediation: "Check the unit name or add the worker to the inventory.",
      });
    }
    if (row.experiment === null || row.experiment === undefined) {
      throw notFound(`Worker \`${unit}\` is not assigned to any experiment.`, {
        cause: `No experiment assignment for worker '${unit}'.`,
        remediation: "Assign the worker to an experiment before querying its assignment.",
      });
    }
    cacheFor(res, 0).json(row);
  });

  r.post("/workers/:unit/blink", async (req, res) => {
    const unit = param(req.params.unit);
    await withinSeconds(2, ctx.mqtt.publish(`pioreactor/${unit}/${UNIVERSAL_EXPERIMENT}/monitor/flicker_led_response_okay`, "1", { qos: 1 }));
    res.status(202).json({ status: "accepted" });
  });

  r.get("/experiments/:experiment/workers", async (req, res) => {
    const rows = await ctx
      .leaderDb()("experiment_worker_assignments as a")
      .join("workers as w", "w.pioreactor_unit", "a.pioreactor_unit")
      .where("a.experiment", param(req.params.experiment))
      .orderBy("w.pioreactor_unit")
      .select("w.pioreactor_unit", "w.is_active", "w.model_name", "w.model_version");
    cacheFor(res, 2).json(rows);
  });

  r.get("/experiments/:experiment/historical_worker_assignments", async (req, res) => {
    const rows: Array<{ pioreactor_unit: string; experiment: string; current: number }> = await ctx
      .leaderDb()("experiment_worker_assignments_history")
      .where("experiment", param(req.params.experiment))
      .groupBy("pioreactor_unit", "experiment")
      .orderBy("pioreactor_unit")
      .select("pioreactor_unit", "experiment")
      .select(ctx.leaderDb().raw("MAX(CASE WHEN unassigned_at IS NULL THEN 1 ELSE 0 END) AS current"));
    res.json(
      rows.map((x) => ({ pioreactor_unit: x.pioreactor_unit, experiment: x.experiment, is_currently_assigned_to_experiment: Number(x.current) })),
    );
  });

  r.put("/experiments/:experiment/workers", async (req, res) => {
    const experiment = param(req.params.experiment);
    const body = decodeBody<{ pioreactor_unit: string }>(req, { fields: { pioreactor_unit: { type: "str", required: true } }, forbidUnknown: true });
    const db = ctx.leaderDb();
    const unit = await requireRegisteredWorker(db, body.pioreactor_unit);
    if (!(await db("experiments").where("experiment", experiment).first("experiment"))) {
      throw notFound(`Experiment ${experiment} not found`, {
        cause: "Experiment name not found in database.",
        remediation: "Create the experiment first.",
      });
    }
    const previous = (await db("experiment_worker_assignments").where("pioreactor_unit", unit).first("experiment"))?.experiment as
      | string
      | undefined;
    const assignedAt = isoMillis(ctx.clock.now());
    // Delete + insert (what SQLite's INSERT OR REPLACE does) so the history triggers close the old
    // assignment and open the new one, on SQLite and PostgreSQL alike.
    await db.transaction(async (trx) => {
      await trx("experiment_worker_assignments").where("pioreactor_unit", unit).delete();
      await trx("experiment_worker_assignments").insert({ pioreactor_unit: unit, experiment, assigned_at: assignedAt });
    });
    await publishAssignment(ctx, unit, experiment, assignedAt);
    if (previous && previous !== experiment) {
      fireAndForget(ctx.fanout.multicast("POST", "/unit_api/jobs/stop", [unit], { experiment: previous }));
    }
    ctx.serverLog.info(`Assigned pioreactor ${unit} to experiment ${experiment}.`);
    res.status(200).json({ status: "success" });
  });

  r.delete("/experiments/:experiment/workers/:unit", async (req, res) => {
    const experiment = param(req.params.experiment);
    const db = ctx.leaderDb();
    const unit = await requireRegisteredWorker(db, param(req.params.unit));
    const deleted = await db("experiment_worker_assignments").where({ pioreactor_unit: unit, experiment }).delete();
    if (deleted === 0) {
      throw notFound(`Worker ${unit} is not assigned to experiment ${experiment}.`, {
        cause: "No matching assignment.",
        remediation: "List the experiment's workers and retry.",
      });
    }
    await publishAssignment(ctx, unit, null, null);
    fireAndForget(ctx.fanout.multicast("POST", "/unit_api/jobs/stop", [unit], { experiment }));
    ctx.serverLog.info(`Removed pioreactor ${unit} from experiment ${experiment}.`);
    res.status(200).json({ status: "success" });
  });

  r.delete("/experiments/:experiment/workers", async (req, res) => {
    const experiment = param(req.params.experiment);
    const db = ctx.leaderDb();
    const assigned: Array<{ pioreactor_unit: string }> = await db("experiment_worker_assignments").where("experiment", experiment).select("pioreactor_unit");
    await db("experiment_worker_assignments").where("experiment", experiment).delete();
    for (const a of assigned) await publishAssignment(ctx, a.pioreactor_unit, null, null);
    const units = assigned.map((a) => a.pioreactor_unit);
    res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast("POST", "/unit_api/jobs/stop", units, { experiment })));
  });

  return r;
}

/** Waits for a broker hand-off at most `seconds` (paho's `wait_for_publish(timeout=2)`). */
export async function withinSeconds(seconds: number, work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HttpError(502, "The MQTT broker did not acknowledge in time.")), seconds * 1000);
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
