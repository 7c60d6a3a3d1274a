/** `/unit_api/health`, `/unit_api/task_results/<id>`, this unit's own config files, removing a file. */
import fs from "node:fs";
import path from "node:path";
import { Router } from "express";
import { SOFTWARE_VERSION } from "../../../cli/version";
import { writeFileAtomicSync } from "../../../config/atomic-write";
import { IniDocument } from "../../../config/ini";
import { LayeredConfig } from "../../../config/layered";
import { readTextOrEmpty, renderMergedConfig } from "../api/config";
import { isoMillis } from "../cluster";
import type { WebContext } from "../deps";
import { badRequest, forbidden, HttpError } from "../http-errors";
import { cacheFor, param, sendText } from "../http-util";
import { normalizeIniText, validateIniText, validateSharedConfigText } from "../ini-validation";
import { decodeBody } from "../request-body";
import { resolveInside } from "../safe-files";
import { resultUrlPath } from "../task-store";

export function unitSystemRoutes(ctx: WebContext): Router {
  const r = Router();

  r.get("/health", (_req, res) => {
    cacheFor(res, 0).json({ status: "ok", pioreactor_unit: ctx.unitName, utc_time: isoMillis(ctx.clock.now()) });
  });

  r.get("/task_results/:id", (req, res) => {
    const id = param(req.params.id);
    const outcome = ctx.tasks.outcome(id);
    const head = { task_id: id, result_url_path: resultUrlPath(id) };
    res.status(outcome.status === "pending" || outcome.status === "running" ? 202 : 200).json({ ...head, ...outcome });
  });

  r.get("/config/merged", (_req, res) => {
    res.json(renderMergedConfig(ctx.dotPioreactor));
  });

  r.get("/config/specific", (_req, res) => {
    cacheFor(res, 0);
    sendText(res, readTextOrEmpty(resolveInside(ctx.dotPioreactor, "unit_config.ini")));
  });

  const saveSpecific = (req: import("express").Request, res: import("express").Response) => {
    const body = decodeBody<{ code: string }>(req, { fields: { code: { type: "str", required: true } }, forbidUnknown: true });
    const code = normalizeIniText(body.code);
    const specific = validateIniText(code);
    const shared = resolveInside(ctx.dotPioreactor, "config.ini");
    try {
      LayeredConfig.fromDocuments(IniDocument.parse(fs.existsSync(shared) ? fs.readFileSync(shared, "utf8") : ""), specific);
    } catch (e) {
      throw badRequest((e as Error).message, { cause: "unit_config.ini does not merge with config.ini." });
    }
    writeFileAtomicSync(resolveInside(ctx.dotPioreactor, "unit_config.ini"), code);
    ctx.configChanged?.();
    res.json({ status: "success" });
  };
  r.post("/config/specific", saveSpecific);
  r.patch("/config/specific", saveSpecific);

  /**
   * The receiving end of the leader's config sync. Only workers take it: the leader's copy is
   * edited through `/api/config/shared`, which keeps its history.
   */
  const receiveShared = (req: import("express").Request, res: import("express").Response) => {
    if (ctx.isLeader) {
      throw forbidden("The leader's config.ini is edited through /api/config/shared.", {
        remediation: "Use PATCH /api/config/shared on the leader.",
      });
    }
    const body = decodeBody<{ code: string }>(req, { fields: { code: { type: "str", required: true } }, forbidUnknown: true });
    const code = validateSharedConfigText(body.code);
    const specific = readTextOrEmpty(resolveInside(ctx.dotPioreactor, "unit_config.ini"));
    try {
      LayeredConfig.fromDocuments(IniDocument.parse(code), specific ? IniDocument.parse(specific) : undefined);
    } catch (e) {
      throw badRequest((e as Error).message, { cause: "config.ini does not merge with this unit's unit_config.ini." });
    }
    writeFileAtomicSync(resolveInside(ctx.dotPioreactor, "config.ini"), code);
    ctx.configChanged?.();
    res.json({ status: "success" });
  };
  r.post("/config/shared", receiveShared);
  r.patch("/config/shared", receiveShared);

  const removeFile = (req: import("express").Request, res: import("express").Response) => {
    const marker = path.join(ctx.dotPioreactor, "DISALLOW_UI_FILE_SYSTEM");
    if (fs.existsSync(marker)) {
      ctx.serverLog.error(`Delete blocked because ${marker} is present`);
      throw forbidden("DISALLOW_UI_FILE_SYSTEM is present", {
        cause: "File system operations are disabled on this unit.",
        remediation: "Remove DISALLOW_UI_FILE_SYSTEM or run the action locally via SSH.",
      });
    }
    const { filepath } = decodeBody<{ filepath: string }>(req, { fields: { filepath: { type: "str", required: true } }, forbidUnknown: true });
    const target = confinedToDot(ctx.dotPioreactor, filepath);
    res.status(202).json(
      ctx.tasks.submit(async () => {
        // As `rm <path>`: files (and symlinks) only, and false when there was nothing to remove.
        try {
          if (fs.lstatSync(target).isDirectory()) return false;
          fs.unlinkSync(target);
          return true;
        } catch {
          return false;
        }
      }),
    );
  };
  r.post("/system/remove_file", removeFile);
  r.patch("/system/remove_file", removeFile);

  /** The root filesystem, as `shutil.disk_usage("/")`: free = blocks available to unprivileged users. */
  r.get("/system/disk_space", (_req, res) => {
    const s = fs.statfsSync("/");
    cacheFor(res, 10).json({ available_bytes: s.bavail * s.bsize, total_bytes: s.blocks * s.bsize });
  });

  r.get("/versions/app", (_req, res) => {
    cacheFor(res, 30).json({ version: SOFTWARE_VERSION });
  });

  /** USB drive discovery is not implemented: always "absent", in the original's shape (the UI's UsbDriveCard then shows no drive). */
  r.get("/usb", (_req, res) => {
    res.json({ status: "absent", partitions: [], active_mount: null });
  });

  return r;
}

/** Relative paths are taken from `$DOT_PIOREACTOR`; anything resolving outside it (or the root itself) is refused. */
export function confinedToDot(dot: string, filepath: string): string {
  const refused = () =>
    forbidden("Access to this path is not allowed", {
      cause: "Requested path is outside the .pioreactor directory.",
      remediation: "Provide a path within the .pioreactor directory.",
    });
  let target: string;
  try {
    target = resolveInside(dot, filepath);
  } catch (e) {
    if (e instanceof HttpError && e.status === 403) throw refused();
    throw e;
  }
  if (path.resolve(target) === path.resolve(dot)) throw refused();
  return target;
}
