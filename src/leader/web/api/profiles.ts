/**
 * Experiment profiles in `$DOT_PIOREACTOR/experiment_profiles/`: list (decoded, all defaults
 * filled), read, create, edit, delete, and the running/recent views. Uploads are validated before
 * anything is written; an invalid profile gives 400 with every diagnostic and its line/column.
 */
import fs from "node:fs";
import path from "node:path";
import { type Response, Router } from "express";
import { writeFileAtomicSync } from "../../../config/atomic-write";
import { type Diagnostic, firstErrorText, hasErrors, profileToJsonForm, validateProfileText } from "../../../profiles";
import { pythonJsonDumps } from "../../../util/python-format";
import { allUnits } from "../cluster";
import type { WebContext } from "../deps";
import { badRequest, type EnvelopeDiagnostic, notFound } from "../http-errors";
import { FileMemo } from "../file-memo";
import { cacheFor, param, sendText } from "../http-util";
import { decodeBody } from "../request-body";
import { isValidUnixFilename, requireFilename, resolveInside } from "../safe-files";

const PROFILE_SUFFIXES = [".yaml", ".yml"];

function sendPythonJson(res: Response, value: unknown, status = 200): void {
  res.status(status).type("application/json").send(pythonJsonDumps(value, { compact: true }));
}

function asEnvelopeDiagnostic(d: Diagnostic): EnvelopeDiagnostic {
  const out: EnvelopeDiagnostic = { severity: d.severity, code: d.code, message: d.message, path: d.path };
  if (d.hint) out.hint = d.hint;
  if (d.line !== undefined) out.line = d.line;
  if (d.column !== undefined) out.column = d.column;
  return out;
}

export function profileRoutes(ctx: WebContext): Router {
  const r = Router();
  const dir = () => resolveInside(ctx.dotPioreactor, "experiment_profiles");
  /** A profile file named in the URL: a plain `.yaml`/`.yml` name, else 404 as in the original. */
  const existingProfile = (name: string) => {
    if (!isValidUnixFilename(name) || !PROFILE_SUFFIXES.some((s) => name.endsWith(s))) throw notFound(`Profile ${name} not found.`);
    const file = resolveInside(dir(), name);
    if (!fs.existsSync(file)) throw notFound(`Profile ${name} not found.`);
    return file;
  };
  const validate = async (text: string) => {
    const knownUnits = await allUnits(ctx.leaderDb(), ctx.config()).catch(() => undefined);
    const result = validateProfileText(text, { knownUnits });
    if (!result.ok || hasErrors(result.diagnostics)) {
      throw badRequest("Validation error.", {
        cause: firstErrorText(result.diagnostics) ?? "The profile is not valid.",
        remediation: "Fix the listed problems and save again.",
        diagnostics: result.diagnostics.map(asEnvelopeDiagnostic),
      });
    }
  };

  // The list's JSON form of each file (null: unparseable), kept while the file is unchanged.
  const listed = new FileMemo<unknown>();
  r.get("/experiment_profiles", (_req, res) => {
    const folder = dir();
    const entries = fs.existsSync(folder)
      ? fs
          .readdirSync(folder)
          .filter((f) => /\.ya?ml$/.test(f))
          .map((f) => ({ f, full: path.join(folder, f), mtime: fs.statSync(path.join(folder, f)).mtimeMs }))
          .sort((a, b) => b.mtime - a.mtime)
      : [];
    const out: unknown[] = [];
    for (const { f, full } of entries) {
      const experimentProfile = listed.get(full, (text) => {
        if (text.trim() === "") return { version: "1.0", experiment_profile_name: `temporary name: ${path.parse(f).name}` };
        const result = validateProfileText(text);
        return result.profile ? profileToJsonForm(result.profile) : null;
      });
      if (experimentProfile === null) continue; // unparseable files are skipped, as in the original
      out.push({ experimentProfile, file: f, fullpath: full });
    }
    cacheFor(res, 5);
    sendPythonJson(res, out);
  });

  r.get("/experiment_profiles/:filename", (req, res) => {
    sendText(res, fs.readFileSync(existingProfile(param(req.params.filename)), "utf8"));
  });

  r.post("/experiment_profiles", async (req, res) => {
    const body = decodeBody<{ filename: string; body: string }>(req, {
      fields: { filename: { type: "str", required: true }, body: { type: "str", required: true } },
      forbidUnknown: true,
    });
    const name = requireFilename(body.filename, PROFILE_SUFFIXES);
    await validate(body.body);
    const file = resolveInside(dir(), name);
    if (fs.existsSync(file)) throw badRequest(`A profile named ${name} already exists.`, { remediation: "Choose another file name or edit the existing profile." });
    writeFileAtomicSync(file, body.body);
    res.json({ status: "success" });
  });

  r.patch("/experiment_profiles/:filename", async (req, res) => {
    const name = requireFilename(param(req.params.filename), PROFILE_SUFFIXES);
    const body = decodeBody<{ body: string }>(req, { fields: { body: { type: "str", required: true } }, forbidUnknown: true });
    await validate(body.body);
    writeFileAtomicSync(resolveInside(dir(), name), body.body);
    res.json({ status: "success" });
  });

  r.delete("/experiment_profiles/:filename", (req, res) => {
    fs.rmSync(existingProfile(param(req.params.filename)));
    res.json({ status: "success" });
  });

  r.get("/experiments/:experiment/experiment_profiles/running", (req, res) => {
    const experiment = param(req.params.experiment);
    const running = ctx.registry.runningJobs().filter((j) => j.job_name === "experiment_profile" && j.experiment === experiment);
    res.json(
      running.map((j) => ({
        job_name: j.job_name,
        experiment: j.experiment,
        job_id: j.job_id,
        settings: Object.fromEntries(ctx.registry.settings(j.job_id).map((s) => [s.setting, s.value])),
      })),
    );
  });

  r.get("/experiments/:experiment/experiment_profiles/recent", async (req, res) => {
    const rows = await ctx
      .leaderDb()("experiment_profile_runs")
      .where("experiment", param(req.params.experiment))
      .orderBy("started_at", "desc")
      .select("started_at", "experiment_profile_name", "experiment");
    res.json(rows);
  });

  return r;
}
