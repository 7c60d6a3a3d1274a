/**
 * Leader-side job control for the UI and profiles: run (fan-out to each target unit's
 * `/unit_api/jobs/run`), update settings and stop (MQTT `/set`, QoS 1), stop-all, bioreactor
 * values, running jobs. `/api/units/<u>/…` is an alias of `/api/workers/<u>/…` for these.
 */
import { type Request, type Response, Router } from "express";
import type { Knex } from "knex";
import { setCommandTopic, UNIVERSAL_EXPERIMENT, UNIVERSAL_IDENTIFIER } from "../../../pubsub/topics";
import { formatPyFloat } from "../../../util/python-format";
import { topLevelFieldText } from "../../streaming/python-json";
import { allUnits, workersInExperiment } from "../cluster";
import type { WebContext } from "../deps";
import { badRequest, HttpError, notFound } from "../http-errors";
import { param } from "../http-util";
import { decodeBody, type StructSpec } from "../request-body";
import { withinSeconds } from "./workers";

export const RUN_BODY: StructSpec = {
  fields: {
    options: { type: "object", values: "any", valuesNullable: true },
    env: { type: "object", values: "str" },
    args: { type: "array", items: "str" },
    config_overrides: { type: "array", items: "array" },
  },
  // ArgsOptionsEnvs[ConfigOverrides] ignores unknown keys.
  forbidUnknown: false,
};

export interface RunBody {
  options?: Record<string, unknown>;
  env?: Record<string, string>;
  args?: string[];
  config_overrides?: unknown[][];
}

interface TargetWorker {
  pioreactor_unit: string;
  is_active: number;
  model_name: string | null;
  model_version: string | null;
}

async function runTargets(db: Knex, unit: string, experiment: string): Promise<TargetWorker[]> {
  const q =
    experiment === UNIVERSAL_EXPERIMENT
      ? db("workers as w").where("w.is_active", 1)
      : db("experiment_worker_assignments as a")
          .join("workers as w", "w.pioreactor_unit", "a.pioreactor_unit")
          .where("a.experiment", experiment)
          .andWhere("w.is_active", 1);
  if (unit !== UNIVERSAL_IDENTIFIER) q.andWhere("w.pioreactor_unit", unit);
  return q.orderBy("w.pioreactor_unit").select("w.pioreactor_unit", "w.is_active", "w.model_name", "w.model_version");
}

/** paho's payload for a Python value: str as-is, numbers and bools via `str()`. */
export function setPayload(setting: string, value: unknown, numberSource?: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "True" : "False";
  // Python's str() of what msgspec decoded: `600.0` stays a float ("600.0", as capture 07), `333` an int.
  if (typeof value === "number") return numberSource !== undefined && /[.eE]/.test(numberSource) ? formatPyFloat(value) : String(value);
  if (value === null) return "";
  throw badRequest(`Setting ${setting} must be a string, number or boolean, not ${Array.isArray(value) ? "a list" : "an object"}.`);
}

export function jobRoutes(ctx: WebContext): Router {
  const r = Router();
  const db = () => ctx.leaderDb();

  const run = async (req: Request, res: Response) => {
    const unit = param(req.params.unit);
    const job = param(req.params.job);
    const experiment = param(req.params.experiment);
    const body = decodeBody<RunBody>(req, RUN_BODY);
    const targets = await runTargets(db(), unit, experiment);
    if (targets.length === 0) {
      throw notFound(
        experiment === UNIVERSAL_EXPERIMENT
          ? `Worker(s) ${unit} not found or not active.`
          : `Worker(s) ${unit} not found, not active, or not assigned to experiment ${experiment}.`,
      );
    }
    const byUnit = new Map(targets.map((t) => [t.pioreactor_unit, t]));
    const bodyFor = (u: string) => {
      const t = byUnit.get(u)!;
      const env: Record<string, string> = {
        ...(body.env ?? {}),
        EXPERIMENT: experiment,
        HOSTNAME: u,
        ACTIVE: String(Number(t.is_active)),
        TESTING: ctx.testing ? "1" : "0",
      };
      if (t.model_name !== null && t.model_version !== null) {
        env.MODEL_NAME = t.model_name;
        env.MODEL_VERSION = t.model_version;
      }
      return { args: body.args ?? [], options: body.options ?? {}, config_overrides: body.config_overrides ?? [], env };
    };
    res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast("POST", `/unit_api/jobs/run/job_name/${encodeURIComponent(job)}`, [...byUnit.keys()], bodyFor)));
  };

  const update = async (req: Request, res: Response) => {
    const unit = param(req.params.unit);
    const job = param(req.params.job);
    const experiment = param(req.params.experiment);
    const body = decodeBody<{ settings: Record<string, unknown> }>(req, {
      fields: { settings: { type: "object", required: true } },
      forbidUnknown: true,
    });
    // Check everything before publishing anything: a bad entry must not leave half the settings sent.
    const settingsText = Buffer.isBuffer(req.body) ? topLevelFieldText(req.body.toString("utf8"), "settings") : undefined;
    const messages = Object.entries(body.settings).map(([setting, value]) => {
      try {
        const source = typeof value === "number" && settingsText ? topLevelFieldText(settingsText, setting) : undefined;
        return { topic: setCommandTopic(unit, experiment, job, setting), payload: setPayload(setting, value, source) };
      } catch (e) {
        if (e instanceof HttpError) throw e;
        throw badRequest((e as Error).message);
      }
    });
    try {
      for (const m of messages) await withinSeconds(2, ctx.mqtt.publish(m.topic, m.payload, { qos: 1 }));
    } catch (e) {
      ctx.serverLog.error(`update_job_on_unit: ${(e as Error).message}`);
      throw badRequest((e as Error).message);
    }
    res.status(202).json({ status: "accepted" });
  };

  const stopJob = async (req: Request, res: Response) => {
    const unit = param(req.params.unit);
    const job = param(req.params.job);
    const experiment = param(req.params.experiment);
    let topic: string;
    try {
      topic = setCommandTopic(unit, experiment, job, "$state");
    } catch (e) {
      throw badRequest((e as Error).message);
    }
    try {
      await withinSeconds(2, ctx.mqtt.publish(topic, "disconnected", { qos: 1 }));
      res.status(202).json({ status: "accepted" });
    } catch (e) {
      // The broker is unreachable: ask the unit's API instead of reporting a false failure.
      ctx.serverLog.error(`stop_specific_job_on_unit: ${(e as Error).message}`);
      const units = unit === UNIVERSAL_IDENTIFIER ? await allUnits(db(), ctx.config()) : [unit];
      res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast("POST", "/unit_api/jobs/stop", units, { job_name: job, experiment })));
    }
  };

  const stopAll = async (req: Request, res: Response) => {
    const unit = param(req.params.unit);
    const experiment = param(req.params.experiment);
    const units = unit === UNIVERSAL_IDENTIFIER ? await allUnits(db(), ctx.config()) : [unit];
    ctx.fanout.multicast("POST", "/unit_api/jobs/stop", units, { experiment }).catch(() => {});
    res.status(202).json({ status: "success" });
  };

  const running = async (req: Request, res: Response) => {
    const unit = param(req.params.unit);
    const units = unit === UNIVERSAL_IDENTIFIER ? await allUnits(db(), ctx.config()) : [unit];
    res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast("GET", "/unit_api/jobs/running", units)));
  };

  for (const kind of ["workers", "units"]) {
    r.post(`/${kind}/:unit/jobs/run/job_name/:job/experiments/:experiment`, run);
    r.patch(`/${kind}/:unit/jobs/run/job_name/:job/experiments/:experiment`, run);
    r.patch(`/${kind}/:unit/jobs/update/job_name/:job/experiments/:experiment`, update);
    r.post(`/${kind}/:unit/jobs/stop/job_name/:job/experiments/:experiment`, stopJob);
    r.patch(`/${kind}/:unit/jobs/stop/job_name/:job/experiments/:experiment`, stopJob);
    r.post(`/${kind}/:unit/jobs/stop/experiments/:experiment`, stopAll);
    r.patch(`/${kind}/:unit/jobs/stop/experiments/:experiment`, stopAll);
    r.get(`/${kind}/:unit/jobs/running`, running);
  }

  r.patch("/workers/:unit/bioreactor/update/experiments/:experiment", async (req, res) => {
    const unit = param(req.params.unit);
    const experiment = param(req.params.experiment);
    const body = decodeBody<{ values: Record<string, number> }>(req, {
      fields: { values: { type: "object", required: true, values: ["float"] } },
      forbidUnknown: true,
    });
    if (Object.keys(body.values).length === 0) {
      throw badRequest("Missing bioreactor values.", {
        cause: "Expected a JSON object under `values` with one or more bioreactor settings.",
        remediation: 'Submit a payload like {"values": {"current_volume_ml": 12.5}}.',
      });
    }
    const units = unit === UNIVERSAL_IDENTIFIER ? await workersInExperiment(db(), experiment) : [unit];
    res
      .status(202)
      .json(ctx.tasks.submit(() => ctx.fanout.multicast("PATCH", `/unit_api/bioreactor/experiments/${encodeURIComponent(experiment)}`, units, { values: body.values })));
  });

  return r;
}
