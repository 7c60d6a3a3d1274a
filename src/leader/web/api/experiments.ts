/**
 * `/api/experiments…`: list, create, read, patch, delete, latest, unit labels. Experiment rows are
 * assembled from `experiments`, assignment counts and tags with portable queries, in the
 * original's key order `{experiment, created_at, description, delta_hours, worker_count, tags}`.
 */
import { type Request, type Response, Router } from "express";
import type { Knex } from "knex";
import { allUnits, isoMillis } from "../cluster";
import type { WebContext } from "../deps";
import { badRequest, conflict, notFound } from "../http-errors";
import { cacheFor, param } from "../http-util";
import { decodeBody } from "../request-body";

export interface Experiment {
  experiment: string;
  created_at: string;
  description: string;
  delta_hours: number;
  worker_count: number;
  tags: string[];
}

const DISALLOWED_NAME_CHARACTERS = ["#", "$", "%", "+", "/", "\\"];

export function validateExperimentName(name: unknown): string {
  if (typeof name !== "string" || name === "") {
    throw badRequest("Experiment name is required", {
      cause: "Request JSON missing 'experiment'.",
      remediation: "Provide an experiment name in the 'experiment' field.",
    });
  }
  if (name.length >= 200) {
    throw badRequest("Experiment name is too long", {
      cause: "Experiment name exceeds 199 characters.",
      remediation: "Shorten the experiment name to under 200 characters.",
    });
  }
  if (name.toLowerCase() === "current") {
    throw badRequest("Experiment name cannot be 'current'", {
      cause: "'current' is a reserved experiment identifier.",
      remediation: "Choose a different experiment name.",
    });
  }
  if (name.startsWith("_testing")) {
    throw badRequest("Experiment name cannot start with '_testing'", {
      cause: "Experiment names starting with '_testing' are reserved.",
      remediation: "Choose a name that does not start with '_testing'.",
    });
  }
  if (DISALLOWED_NAME_CHARACTERS.some((c) => name.includes(c))) {
    throw badRequest("Experiment name cannot contain special characters (#, $, %, +, /, \\)", {
      cause: "Experiment name contains disallowed characters.",
      remediation: "Use letters, digits, spaces, dots, dashes, or underscores.",
    });
  }
  return name;
}

/** Trimmed, empties dropped, duplicates (ignoring case) dropped keeping the first spelling. */
export function normalizeTags(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    throw badRequest("Invalid tags payload", {
      cause: "Expected 'tags' to be a JSON array of strings.",
      remediation: "Submit tags as a JSON array, for example ['project-a', 'screening'].",
    });
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (const t of raw) {
    if (typeof t !== "string") {
      throw badRequest("Invalid tag value", { cause: "Each tag must be a string.", remediation: "Remove non-string tag values and retry." });
    }
    const tag = t.trim();
    const folded = tag.toLocaleLowerCase();
    if (tag === "" || seen.has(folded)) continue;
    seen.add(folded);
    out.push(tag);
  }
  return out;
}

/** Whole hours since creation, truncated like the original's integer SQL arithmetic. */
function deltaHours(createdAt: string, now: number): number {
  const created = Date.parse(createdAt);
  return Number.isFinite(created) ? Math.trunc((now - created) / 3_600_000) : 0;
}

interface ExperimentRow {
  experiment: string;
  created_at: string;
  description: string | null;
}

async function describeExperiments(db: Knex, rows: ExperimentRow[], now: number): Promise<Experiment[]> {
  if (rows.length === 0) return [];
  const names = rows.map((r) => r.experiment);
  const counts = await db("experiment_worker_assignments as a")
    .join("workers as w", "a.pioreactor_unit", "w.pioreactor_unit")
    .whereIn("a.experiment", names)
    .groupBy("a.experiment")
    .select("a.experiment")
    .count({ n: "a.pioreactor_unit" });
  const countOf = new Map((counts as Array<{ experiment: string; n: number | string }>).map((c) => [String(c.experiment), Number(c.n)]));
  const tagRows: Array<{ experiment: string; tag: string }> = await db("experiment_tags")
    .whereIn("experiment", names)
    .orderBy([{ column: "experiment" }, { column: "created_at" }])
    .select("experiment", "tag");
  const tagsOf = new Map<string, string[]>();
  for (const t of tagRows) tagsOf.set(t.experiment, [...(tagsOf.get(t.experiment) ?? []), t.tag]);
  return rows.map((r) => ({
    experiment: r.experiment,
    created_at: r.created_at,
    description: r.description ?? "",
    delta_hours: deltaHours(r.created_at, now),
    worker_count: countOf.get(r.experiment) ?? 0,
    tags: tagsOf.get(r.experiment) ?? [],
  }));
}

export async function experimentByName(db: Knex, name: string, now: number): Promise<Experiment | undefined> {
  const row = await db("experiments").where("experiment", name).first("experiment", "created_at", "description");
  return row ? (await describeExperiments(db, [row], now))[0] : undefined;
}

/** The last inserted experiment (the `latest_experiment` view: by rowid, not by created_at). */
export async function latestExperimentName(db: Knex): Promise<string | undefined> {
  const row = await db("latest_experiment").first("experiment");
  return row?.experiment;
}

const EXPERIMENT_NOT_FOUND = (name: string) =>
  notFound(`Experiment ${name} not found`, {
    cause: "Experiment name not found in database.",
    remediation: "List experiments and choose a valid experiment name.",
  });

export function experimentRoutes(ctx: WebContext): Router {
  const r = Router();
  const now = () => ctx.clock.now();

  r.get("/experiments", async (_req, res) => {
    const db = ctx.leaderDb();
    const rows = await db("experiments").orderBy("created_at", "desc").select("experiment", "created_at", "description");
    cacheFor(res, 5).json(await describeExperiments(db, rows, now()));
  });

  r.post("/experiments", async (req, res) => {
    const body = decodeBody<{ experiment: string; description?: string | null; tags?: unknown }>(req, {
      fields: {
        experiment: { type: "str", required: true },
        description: { type: "str", nullable: true },
        tags: { type: "array", nullable: true },
        created_at: { type: "any" },
        delta_hours: { type: "any" },
        worker_count: { type: "any" },
      },
      forbidUnknown: true,
    });
    const name = validateExperimentName(body.experiment);
    const tags = normalizeTags(body.tags);
    const db = ctx.leaderDb();
    try {
      await db.transaction(async (trx) => {
        await trx("experiments").insert({ created_at: isoMillis(now()), experiment: name, description: body.description ?? "" });
        for (const tag of tags) await trx("experiment_tags").insert({ experiment: name, tag, created_at: isoMillis(now()) });
      });
    } catch (e) {
      if (/unique|constraint/i.test((e as Error).message)) {
        throw conflict("Experiment already exists", {
          cause: "Experiment name conflicts with an existing experiment.",
          remediation: "Choose a different experiment name and retry.",
        });
      }
      throw e;
    }
    ctx.serverLog.info(`New experiment created: ${name}`);
    res.status(201).json(await experimentByName(db, name, now()));
  });

  r.get("/experiments/latest", async (_req, res) => {
    const db = ctx.leaderDb();
    const name = await latestExperimentName(db);
    cacheFor(res, 2).json(name === undefined ? null : ((await experimentByName(db, name, now())) ?? null));
  });

  r.get("/experiments/assignment_count", async (_req, res) => {
    const rows = await ctx
      .leaderDb()("experiment_worker_assignments as a")
      .join("workers as w", "a.pioreactor_unit", "w.pioreactor_unit")
      .groupBy("a.experiment")
      .select("a.experiment")
      .count({ worker_count: "a.pioreactor_unit" });
    cacheFor(res, 3).json((rows as Array<{ experiment: string; worker_count: number | string }>).map((x) => ({ experiment: x.experiment, worker_count: Number(x.worker_count) })).filter((x) => x.worker_count > 0));
  });

  r.get("/experiments/:experiment", async (req, res) => {
    const exp = await experimentByName(ctx.leaderDb(), param(req.params.experiment), now());
    if (!exp) throw EXPERIMENT_NOT_FOUND(param(req.params.experiment));
    res.json(exp);
  });

  r.patch("/experiments/:experiment", async (req, res) => {
    const name = param(req.params.experiment);
    const body = decodeBody<{ description?: string | null; tags?: unknown }>(req, {
      fields: { description: { type: "str", nullable: true }, tags: { type: "array", nullable: true } },
      forbidUnknown: true,
    });
    if (body.description === undefined && body.tags === undefined) {
      throw badRequest("Nothing to update", {
        cause: "Request body has neither 'description' nor 'tags'.",
        remediation: "Send 'description' and/or 'tags'.",
      });
    }
    const tags = body.tags === undefined ? undefined : normalizeTags(body.tags);
    const db = ctx.leaderDb();
    if (!(await db("experiments").where("experiment", name).first("experiment"))) throw EXPERIMENT_NOT_FOUND(name);
    await db.transaction(async (trx) => {
      if (body.description !== undefined) await trx("experiments").where("experiment", name).update({ description: body.description ?? "" });
      if (tags !== undefined) {
        await trx("experiment_tags").where("experiment", name).delete();
        for (const tag of tags) await trx("experiment_tags").insert({ experiment: name, tag, created_at: isoMillis(now()) });
      }
    });
    res.json(await experimentByName(db, name, now()));
  });

  r.delete("/experiments/:experiment", async (req, res) => {
    const name = param(req.params.experiment);
    const db = ctx.leaderDb();
    if (!(await db("experiments").where("experiment", name).first("experiment"))) throw EXPERIMENT_NOT_FOUND(name);
    void stopExperimentEverywhere(ctx, name);
    res.status(202).json(
      ctx.tasks.submit(async () => {
        await db("experiments").where("experiment", name).delete();
        return { result: true, experiment: name, database_space: await databaseSpace(db), msg: `Deleted experiment ${name}.` };
      }),
    );
  });

  r.get("/experiments/:experiment/unit_labels", async (req, res) => {
    const db = ctx.leaderDb();
    let name = param(req.params.experiment);
    if (name === "current") name = (await latestExperimentName(db)) ?? name;
    const rows: Array<{ pioreactor_unit: string; label: string }> = await db("pioreactor_unit_labels")
      .where("experiment", name)
      .select("pioreactor_unit", "label");
    cacheFor(res, 10).json(Object.fromEntries(rows.map((x) => [x.pioreactor_unit, x.label])));
  });

  const upsertLabel = async (req: Request, res: Response) => {
    const name = param(req.params.experiment);
    const body = decodeBody<{ unit: string; label: string }>(req, {
      fields: { unit: { type: "str", required: true }, label: { type: "str", required: true } },
      forbidUnknown: true,
    });
    const db = ctx.leaderDb();
    try {
      if (body.label === "") {
        await db("pioreactor_unit_labels").where({ experiment: name, pioreactor_unit: body.unit }).delete();
      } else {
        await db("pioreactor_unit_labels")
          .insert({ experiment: name, pioreactor_unit: body.unit, label: body.label, created_at: isoMillis(now()) })
          .onConflict(["pioreactor_unit", "experiment"])
          .merge(["label", "created_at"]);
      }
    } catch (e) {
      throw badRequest((e as Error).message, { cause: "The label could not be saved (is it already used in this experiment?)." });
    }
    res.status(201).json({ status: "success" });
  };
  r.put("/experiments/:experiment/unit_labels", upsertLabel);
  r.patch("/experiments/:experiment/unit_labels", upsertLabel);

  return r;
}

/** Fire-and-forget `POST /unit_api/jobs/stop {experiment}` to every unit (its task id is discarded, as in the original). */
async function stopExperimentEverywhere(ctx: WebContext, experiment: string): Promise<void> {
  const units = await allUnits(ctx.leaderDb(), ctx.config());
  await ctx.fanout.multicast("POST", "/unit_api/jobs/stop", units, { experiment }).catch(() => {});
}

async function databaseSpace(db: Knex): Promise<Record<string, number> | null> {
  if (db.client.config.client !== "better-sqlite3") return null;
  const one = async (pragma: string) => {
    const rows = (await db.raw(`PRAGMA ${pragma}`)) as Array<Record<string, number>>;
    return Number(Object.values(rows[0] ?? {})[0] ?? 0);
  };
  const page_size = await one("page_size");
  const page_count = await one("page_count");
  const freelist_count = await one("freelist_count");
  const allocated = page_size * page_count;
  const reclaimable = page_size * freelist_count;
  return {
    page_size,
    page_count,
    freelist_count,
    allocated_bytes: allocated,
    reclaimable_bytes: reclaimable,
    reclaimable_fraction: allocated > 0 ? reclaimable / allocated : 0,
  };
}
