/**
 * Cluster-wide system actions on the leader: power (`/api/units/<u>/system/{reboot,shutdown}`),
 * clocks (`GET /api/units/<u>/system/utc_clock`, `POST /api/system/utc_clock`), app versions and USB status.
 * Each fans out to the units' `/unit_api` and answers TaskAccepted with a FanoutMap result.
 */
import { type Request, type Response, Router } from "express";
import { leaderHostnameOf } from "../cluster";
import type { WebContext } from "../deps";
import { UNIVERSAL_IDENTIFIER } from "../../../pubsub/topics";
import { badRequest, HttpError } from "../http-errors";
import { param } from "../http-util";
import { decodeBody } from "../request-body";
import { targetUnits, targetWorkers } from "./targets";

/** How long the leader waits for its own clock to be set before telling the workers to follow. */
const LEADER_CLOCK_WAIT_MS = 20_000;

export function systemRoutes(ctx: WebContext): Router {
  const r = Router();

  const postToUnits = (endpoint: string) => async (req: Request, res: Response) => {
    const units = await targetUnits(ctx, param(req.params.unit));
    res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast("POST", endpoint, units)));
  };
  r.post("/units/:unit/system/reboot", postToUnits("/unit_api/system/reboot"));
  r.post("/units/:unit/system/shutdown", postToUnits("/unit_api/system/shutdown"));
  r.post("/units/:unit/system/repair", postToUnits("/unit_api/system/repair"));

  const getFromUnits = (endpoint: string) => async (req: Request, res: Response) => {
    const units = await targetUnits(ctx, param(req.params.unit));
    res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast("GET", endpoint, units)));
  };
  r.get("/units/:unit/system/utc_clock", getFromUnits("/unit_api/system/utc_clock"));
  r.get("/units/:unit/versions/app", getFromUnits("/unit_api/versions/app"));

  /** USB state is local to one unit (the UI's UsbDriveCard for a worker). */
  r.get("/units/:unit/usb", async (req, res) => {
    if (param(req.params.unit) === UNIVERSAL_IDENTIFIER) {
      throw badRequest("USB operations target one Pioreactor at a time.", {
        cause: "USB state is local to the Pioreactor with the attached USB drive.",
        remediation: "Choose a specific Pioreactor unit.",
      });
    }
    const units = await targetUnits(ctx, param(req.params.unit));
    res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast("GET", "/unit_api/usb", units)));
  });

  /** The leader's clock first (waiting for it), then every worker re-syncs from the leader. */
  r.post("/system/utc_clock", async (req, res) => {
    const { utc_clock_time } = decodeBody<{ utc_clock_time: string }>(req, {
      fields: { utc_clock_time: { type: "str", required: true } },
      forbidUnknown: true,
    });
    const leader = leaderHostnameOf(ctx.config()) ?? ctx.unitName;
    const first = await ctx.fanout.callOne("POST", "/unit_api/system/utc_clock", leader, { utc_clock_time }, { taskTimeoutMs: LEADER_CLOCK_WAIT_MS });
    if (!first.ok) {
      throw new HttpError(first.status_code && first.status_code >= 400 ? first.status_code : 502, first.error.message, {
        cause: first.error.cause ?? `The leader could not set its clock (${first.error.kind}).`,
        remediation: first.error.remediation ?? "Check the leader's logs, then retry.",
      });
    }
    const workers = await targetWorkers(ctx, "$broadcast");
    res.status(202).json(ctx.tasks.submit(() => ctx.fanout.multicast("POST", "/unit_api/system/utc_clock", workers)));
  });

  return r;
}
