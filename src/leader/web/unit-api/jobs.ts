/**
 * `/unit_api/jobs…` on every unit: run a job as a `pio run` child (TaskAccepted; manual doses that
 * would overfill the vial are refused first), stop jobs
 * through the local registry, list running jobs and their published settings.
 */
import { type Request, type Response, Router } from "express";
import type { KillFilter } from "../../../jobs/registry";
import { RUN_BODY, type RunBody } from "../api/jobs";
import { manualDoseIsUnsafe } from "../bioreactor";
import type { WebContext } from "../deps";
import { badRequest, HttpError, notFound } from "../http-errors";
import { param } from "../http-util";
import { scrubJobEnv } from "../job-launcher";
import { decodeBody } from "../request-body";

/** The same job name twice within this window is refused (double clicks, retried requests). */
const DEBOUNCE_MS = 1000;

function configOverrides(raw: unknown[][] | undefined): Array<[string, string, string | null]> {
  return (raw ?? []).map((o) => {
    if (o.length !== 3 || typeof o[0] !== "string" || typeof o[1] !== "string" || (typeof o[2] !== "string" && o[2] !== null)) {
      throw badRequest("Invalid request body.", {
        cause: "Each config override must be [section, key, value].",
        remediation: "Send config_overrides as a list of [section, key, value] string triples.",
      });
    }
    return [o[0], o[1], o[2] as string | null];
  });
}

export function unitJobRoutes(ctx: WebContext): Router {
  const r = Router();
  const lastRun = new Map<string, number>();

  const run = async (req: Request, res: Response) => {
    const job = param(req.params.job);
    const body = decodeBody<RunBody>(req, RUN_BODY);
    const overrides = configOverrides(body.config_overrides);
    const now = ctx.clock.now();
    const previous = lastRun.get(job);
    if (previous !== undefined && now - previous < DEBOUNCE_MS) {
      throw new HttpError(429, "Too many requests, please wait a moment.", {
        cause: `Job ${job} was started less than a second ago.`,
        remediation: "Wait a second and retry.",
      });
    }
    lastRun.set(job, now);
    const args = body.args ?? [];
    const options = body.options ?? {};
    const env = body.env ?? {};
    if (await manualDoseIsUnsafe(ctx, job, options, env)) {
      throw badRequest("Requested dose would meet or exceed the reactor safety threshold.", {
        remediation: "Reduce the requested volume or remove waste before dosing again.",
      });
    }
    if (job === "experiment_profile" && ctx.profileRunner && args[0] === "execute" && args.length >= 3) {
      const runner = ctx.profileRunner;
      const request = { profilePath: args[1], experiment: args[2], dryRun: "dry-run" in options || "dry_run" in options, env: scrubJobEnv({}, env) };
      return void res.status(202).json(
        ctx.tasks.submit(async () => {
          await runner.start(request);
          return { ok: true };
        }),
      );
    }
    res.status(202).json(ctx.tasks.submit(() => ctx.jobLauncher.launch({ jobName: job, args, options, configOverrides: overrides, env })));
  };
  r.post("/jobs/run/job_name/:job", run);
  r.patch("/jobs/run/job_name/:job", run);

  const stop = async (req: Request, res: Response) => {
    const body = decodeBody<KillFilter>(req, {
      fields: {
        job_name: { type: "str", nullable: true },
        experiment: { type: "str", nullable: true },
        job_source: { type: "str", nullable: true },
        job_id: { type: "int", nullable: true },
      },
      forbidUnknown: true,
    });
    const filter: KillFilter = {};
    for (const key of ["job_name", "experiment", "job_source", "job_id"] as const) {
      if (body[key] !== undefined && body[key] !== null) (filter as Record<string, unknown>)[key] = body[key];
    }
    if (Object.keys(filter).length === 0) {
      throw badRequest("Provide at least one of job_name, experiment, job_source or job_id.", {
        remediation: 'Send e.g. {"experiment": "exp1"}.',
      });
    }
    res.status(202).json(
      ctx.tasks.submit(async () => {
        await ctx.jobStopper.stop(filter);
        return true;
      }),
    );
  };
  r.post("/jobs/stop", stop);
  r.patch("/jobs/stop", stop);

  const stopAll = (_req: Request, res: Response) => {
    res.status(202).json(
      ctx.tasks.submit(async () => {
        await ctx.jobStopper.stopAll();
        return true;
      }),
    );
  };
  r.post("/jobs/stop/all", stopAll);
  r.patch("/jobs/stop/all", stopAll);

  r.get("/jobs", (_req, res) => {
    res.json(
      ctx.registry.history().map((j) => ({
        job_id: j.job_id,
        job_name: j.job_name,
        experiment: j.experiment,
        job_source: j.job_source,
        unit: j.unit,
        started_at: j.started_at,
        ended_at: j.ended_at,
      })),
    );
  });

  r.get("/jobs/running", (_req, res) => {
    res.json(ctx.registry.runningJobs());
  });
  r.get("/jobs/running/experiments/:experiment", (req, res) => {
    res.json(ctx.registry.runningJobs().filter((j) => j.experiment === param(req.params.experiment)));
  });
  r.get("/jobs/running/:job", (req, res) => {
    res.json(ctx.registry.runningJobs().filter((j) => j.job_name === param(req.params.job)));
  });
  r.get("/long_running_jobs/running", (_req, res) => {
    res.json(ctx.registry.runningJobs().filter((j) => j.is_long_running_job === 1));
  });

  r.get("/jobs/settings/job_name/:job", (req, res) => {
    const job = param(req.params.job);
    if (ctx.registry.runningJobId(job) === undefined) throw notFound(`No running job named ${job}.`);
    res.json({ settings: ctx.registry.settingsOfRunningJob(job) });
  });
  r.get("/jobs/settings/job_name/:job/setting/:setting", (req, res) => {
    const job = param(req.params.job);
    const setting = param(req.params.setting);
    const settings = ctx.registry.settingsOfRunningJob(job);
    if (!(setting in settings)) throw notFound(`Setting ${setting} of job ${job} not found.`);
    res.json({ [setting]: settings[setting] });
  });
  r.patch("/jobs/settings/job_name/:job", () => {
    throw new HttpError(503, "Not implemented: change settings over MQTT instead.", {
      remediation: "Use PATCH /api/workers/<unit>/jobs/update/job_name/<job>/experiments/<experiment> on the leader.",
    });
  });

  return r;
}
