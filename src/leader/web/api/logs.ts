/**
 * Log reads (`logs` table, newest first) and `POST …/logs`, which only publishes: the row is
 * written by the leader's mqtt_to_db_streaming job, never by the web server.
 */
import { type Request, type Response, Router } from "express";
import type { Knex } from "knex";
import { logTopic, UNIVERSAL_EXPERIMENT, UNIVERSAL_IDENTIFIER } from "../../../pubsub/topics";
import { isoMillis, workersInExperiment } from "../cluster";
import type { WebContext } from "../deps";
import { param } from "../http-util";
import { decodeBody } from "../request-body";

const LEVEL_ORDER = ["ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"] as const;
const PAGE_SIZE = 100;
const RECENT_LIMIT = 50;
const DAY_MS = 24 * 3600 * 1000;

/** `min_level` (any case; unknown → INFO) → the levels at or above it. */
export function levelsAtOrAbove(minLevel: unknown): string[] {
  const wanted = typeof minLevel === "string" ? minLevel.toUpperCase() : "INFO";
  const index = LEVEL_ORDER.indexOf(wanted as (typeof LEVEL_ORDER)[number]);
  return LEVEL_ORDER.slice(0, (index < 0 ? LEVEL_ORDER.indexOf("INFO") : index) + 1);
}

function skipOf(req: Request): number {
  const n = Number.parseInt(String(req.query.skip ?? "0"), 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

function logRows(db: Knex, req: Request): Knex.QueryBuilder {
  return db("logs")
    .whereIn("level", levelsAtOrAbove(req.query.min_level))
    .orderBy("timestamp", "desc")
    .select("timestamp", "level", "pioreactor_unit", "message", "task", "experiment");
}

/** Recent logs start at the later of 24 h ago and the experiment's creation. */
async function recentSince(db: Knex, experiment: string, now: number): Promise<string> {
  const dayAgo = isoMillis(now - DAY_MS);
  const created = (await db("experiments").where("experiment", experiment).first("created_at"))?.created_at as string | undefined;
  return created && created > dayAgo ? created : dayAgo;
}

export function logRoutes(ctx: WebContext): Router {
  const r = Router();
  const db = () => ctx.leaderDb();
  const send = (res: Response, rows: unknown) => {
    res.json(rows);
  };

  r.get("/experiments/:experiment/recent_logs", async (req, res) => {
    const exp = param(req.params.experiment);
    const since = await recentSince(db(), exp, ctx.clock.now());
    send(res, await logRows(db(), req).where("experiment", exp).andWhere("timestamp", ">", since).limit(RECENT_LIMIT));
  });

  r.get("/logs", async (req, res) => {
    send(res, await logRows(db(), req).limit(PAGE_SIZE).offset(skipOf(req)));
  });

  r.get("/experiments/:experiment/logs", async (req, res) => {
    send(res, await logRows(db(), req).where("experiment", param(req.params.experiment)).limit(PAGE_SIZE).offset(skipOf(req)));
  });

  r.get("/workers/:unit/experiments/:experiment/logs", async (req, res) => {
    const unit = param(req.params.unit);
    const exp = param(req.params.experiment);
    const periods: Array<{ assigned_at: string; unassigned_at: string | null }> = await db()("experiment_worker_assignments_history")
      .where({ pioreactor_unit: unit, experiment: exp })
      .select("assigned_at", "unassigned_at");
    if (periods.length === 0) return send(res, []);
    const now = ctx.clock.now();
    // Only what the unit logged while it was in the experiment, with 5 s of slack for late lines.
    const query = logRows(db(), req)
      .where("experiment", exp)
      .whereIn("pioreactor_unit", [unit, UNIVERSAL_IDENTIFIER])
      .where((w) => {
        for (const p of periods) {
          const end = isoMillis((p.unassigned_at ? Date.parse(p.unassigned_at) : now) + 5000);
          w.orWhereBetween("timestamp", [p.assigned_at, end]);
        }
      });
    send(res, await query.limit(PAGE_SIZE).offset(skipOf(req)));
  });

  r.get("/workers/:unit/experiments/:experiment/recent_logs", async (req, res) => {
    const unit = param(req.params.unit);
    const exp = param(req.params.experiment);
    const since = await recentSince(db(), exp, ctx.clock.now());
    send(
      res,
      await logRows(db(), req)
        .whereIn("experiment", [exp, UNIVERSAL_EXPERIMENT])
        .whereIn("pioreactor_unit", [unit, UNIVERSAL_IDENTIFIER])
        .andWhere("timestamp", ">", since)
        .limit(RECENT_LIMIT),
    );
  });

  r.get("/units/:unit/system_logs", async (req, res) => {
    const unit = param(req.params.unit);
    send(
      res,
      await logRows(db(), req)
        .where("experiment", UNIVERSAL_EXPERIMENT)
        .whereIn("pioreactor_unit", [unit, UNIVERSAL_IDENTIFIER])
        .limit(PAGE_SIZE)
        .offset(skipOf(req)),
    );
  });

  r.get("/units/:unit/logs", async (req, res) => {
    const unit = param(req.params.unit);
    send(res, await logRows(db(), req).whereIn("pioreactor_unit", [unit, UNIVERSAL_IDENTIFIER]).limit(PAGE_SIZE).offset(skipOf(req)));
  });

  const postLog = async (req: Request, res: Response) => {
    const unit = param(req.params.unit);
    const exp = param(req.params.experiment);
    const body = decodeBody<{ message: string; source: string; level: string; timestamp: string; task?: string | null; source_?: string }>(req, {
      fields: {
        message: { type: "str", required: true },
        source: { type: "str", required: true },
        level: { type: "str", required: true },
        timestamp: { type: "str", required: true },
        task: { type: "str", nullable: true },
        source_: { type: "str" },
      },
      forbidUnknown: true,
    });
    const payload = JSON.stringify({
      message: body.message.trim(),
      task: body.task ?? "",
      source: body.source,
      level: body.level.toUpperCase(),
      timestamp: body.timestamp,
    });
    const units = unit === UNIVERSAL_IDENTIFIER ? await workersInExperiment(db(), exp) : [unit];
    for (const u of units) await ctx.mqtt.publish(logTopic(u, exp, body.source_ ?? "ui", body.level), payload, { qos: 2 });
    res.status(202).json({ status: "accepted" });
  };
  r.post("/workers/:unit/experiments/:experiment/logs", postLog);
  r.post("/units/:unit/experiments/:experiment/logs", postLog);

  return r;
}
