/**
 * Unit API routes `pios` needs that the original serves differently or not at all:
 *   POST|PATCH /config/shared    receive the leader's config.ini (ours: the original copies it
 *                                with rsync over SSH; this lets `sync-configs` use HTTP only)
 *   POST|PATCH /system/reboot    acknowledge, then reboot (as the original)
 *   POST|PATCH /system/shutdown  acknowledge, then power off (as the original)
 * Mount under `/unit_api` on every unit. Power actions are injected: tests pass recorders.
 */
import express, { type Request, type Response, Router } from "express";
import { writeFileAtomicSync } from "../../config/atomic-write";
import { IniDocument } from "../../config/ini";

export interface PowerControl {
  reboot(): Promise<void> | void;
  shutdown(): Promise<void> | void;
}

export interface ClusterUnitRoutesDeps {
  /** `$DOT_PIOREACTOR` of this unit: config.ini is written there. */
  dotPioreactor: string;
  /** The leader itself must never receive its own config.ini (the original's wiped-config bug). */
  isLeader: boolean;
  configChanged?: () => void;
  power: PowerControl;
  /** Reported if a power action fails after the reply went out. */
  reportError?: (e: unknown) => void;
}

function errorReply(res: Response, status: number, error: string, cause: string, remediation: string): void {
  res.status(status).json({ error, status, cause, remediation, diagnostics: [] });
}

export function clusterUnitRoutes(deps: ClusterUnitRoutesDeps): Router {
  const r = Router();
  const body = express.text({ type: () => true, limit: "1mb" });

  const receiveShared = (req: Request, res: Response) => {
    if (deps.isLeader) return errorReply(res, 409, "The leader owns config.ini.", "config.ini was sent to the leader.", "Sync to workers only.");
    let code: unknown;
    try {
      code = (JSON.parse(typeof req.body === "string" ? req.body : "") as { code?: unknown }).code;
    } catch {
      code = undefined;
    }
    if (typeof code !== "string") return errorReply(res, 400, "Invalid request body.", "Expected JSON {code: <config.ini text>}.", 'Send {"code": "..."}.');
    try {
      IniDocument.parse(code);
    } catch (e) {
      return errorReply(res, 400, (e as Error).message, "config.ini does not parse.", "Fix the file on the leader and sync again.");
    }
    writeFileAtomicSync(`${deps.dotPioreactor}/config.ini`, code);
    deps.configChanged?.();
    res.json({ status: "success" });
  };
  r.post("/config/shared", body, receiveShared);
  r.patch("/config/shared", body, receiveShared);

  const power = (action: keyof PowerControl) => (_req: Request, res: Response) => {
    res.status(202).json({ status: "accepted" });
    // Act only once the reply has left, or the caller sees a dropped connection instead of 202.
    res.on("finish", () => {
      Promise.resolve()
        .then(() => deps.power[action]())
        .catch((e) => deps.reportError?.(e));
    });
  };
  for (const action of ["reboot", "shutdown"] as const) {
    r.post(`/system/${action}`, power(action));
    r.patch(`/system/${action}`, power(action));
  }
  return r;
}
