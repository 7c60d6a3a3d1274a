/**
 * `/api/workers/<u>/…calibrations…` and `…estimators…`: the same `/unit_api` route on one
 * registered worker, or every worker for `$broadcast`, as a task whose result is a FanoutMap.
 * Uploads and path components are checked here too, so a bad request never leaves the leader.
 */
import { type Request, type Response, Router } from "express";
import type { WebContext } from "../deps";
import { HttpError } from "../http-errors";
import { param } from "../http-util";
import type { HttpMethod } from "../fanout";
import { mergeUnitArchives } from "../calibration-zip";
import { decodeCalibrationUpload, requireStorageComponent } from "../unit-api/calibrations";
import { targetWorkers } from "./targets";

const enc = encodeURIComponent;
/** The original waits up to 60 s for the workers' archives. */
const ZIP_TIMEOUT_MS = 60_000;

export function calibrationRoutes(ctx: WebContext): Router {
  const r = Router();

  const forward = (method: HttpMethod, endpoint: (req: Request) => string, body?: (req: Request) => unknown) => async (req: Request, res: Response) => {
    const path = endpoint(req);
    const payload = body?.(req);
    const workers = await targetWorkers(ctx, param(req.params.unit));
    res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast(method, path, workers, payload)));
  };
  const device = (req: Request) => enc(requireStorageComponent(param(req.params.device), "device"));
  const named = (req: Request, field: string) => enc(requireStorageComponent(param(req.params.name), field));

  const sessionsNotImplemented = () => {
    throw new HttpError(501, "Calibration sessions are not implemented in this cluster.", {
      cause: "Guided calibration protocols run in the original's Python helpers.",
      remediation: "Upload a calibration YAML with POST /api/workers/<unit>/calibrations/<device>.",
    });
  };
  r.post("/workers/:unit/calibrations/sessions", sessionsNotImplemented);
  r.get("/workers/:unit/calibrations/sessions/:id", sessionsNotImplemented);
  r.post("/workers/:unit/calibrations/sessions/:id/inputs", sessionsNotImplemented);
  r.post("/workers/:unit/calibrations/sessions/:id/abort", sessionsNotImplemented);

  for (const listing of ["calibrations", "active_calibrations", "calibration_protocols", "estimators", "active_estimators"]) {
    r.get(`/workers/:unit/${listing}`, forward("GET", () => `/unit_api/${listing}`));
  }

  for (const [folder, nameField] of [
    ["calibrations", "calibration_name"],
    ["estimators", "estimator_name"],
  ] as const) {
    r.get(`/workers/:unit/${folder}/:device`, forward("GET", (req) => `/unit_api/${folder}/${device(req)}`));
    r.get(`/workers/:unit/${folder}/:device/:name`, forward("GET", (req) => `/unit_api/${folder}/${device(req)}/${named(req, nameField)}`));
    r.delete(`/workers/:unit/${folder}/:device/:name`, forward("DELETE", (req) => `/unit_api/${folder}/${device(req)}/${named(req, nameField)}`));
    r.patch(`/workers/:unit/active_${folder}/:device/:name`, forward("PATCH", (req) => `/unit_api/active_${folder}/${device(req)}/${named(req, nameField)}`));
    r.delete(`/workers/:unit/active_${folder}/:device`, forward("DELETE", (req) => `/unit_api/active_${folder}/${device(req)}`));
  }

  /** Every targeted worker's calibrations in one ZIP (`<worker>/<device>/<name>.yaml`); units that do not answer are left out. */
  r.get("/workers/:unit/zipped_calibrations", async (req, res) => {
    const workers = await targetWorkers(ctx, param(req.params.unit));
    const key = ctx.config().get("ui_basic_auth", "api_key");
    const archives = await Promise.all(
      workers.map(async (unit) => {
        try {
          const response = await ctx.fetch(`${ctx.fanout.baseUrl(unit)}/unit_api/zipped_calibrations`, {
            headers: key ? { Authorization: `Basic ${key}` } : {},
            signal: AbortSignal.timeout(ZIP_TIMEOUT_MS),
          });
          return response.ok ? { unit, zip: Buffer.from(await response.arrayBuffer()) } : undefined;
        } catch {
          return undefined;
        }
      }),
    );
    let merged: Buffer;
    try {
      merged = await mergeUnitArchives(
        archives.filter((a) => a !== undefined),
        () => new Date(ctx.clock.now()),
      );
    } catch (e) {
      throw new HttpError(502, "A worker sent an unreadable calibration archive.", { cause: (e as Error).message, remediation: "Retry, or fetch each worker's archive on its own." });
    }
    res.type("application/zip").attachment("calibration_yamls.zip").send(merged);
  });

  r.post(
    "/workers/:unit/calibrations/:device",
    forward(
      "POST",
      (req) => `/unit_api/calibrations/${device(req)}`,
      (req) => {
        const upload = decodeCalibrationUpload(req);
        return { calibration_data: upload.calibration_data, set_as_active: upload.set_as_active ?? false };
      },
    ),
  );

  return r;
}
