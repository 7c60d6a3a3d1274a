/**
 * `POST|PUT /unit_api/system/file {filepath, content_base64}` (ours): writes one file inside this
 * unit's `$DOT_PIOREACTOR`, atomically, so `pios cp` needs no SSH keys. The original copies with
 * rsync over SSH; `pios cp` still falls back to that for units without this route. Refused (403)
 * outside `$DOT_PIOREACTOR`, for `.sqlite*` files, and while DISALLOW_UI_FILE_SYSTEM or
 * DISALLOW_UI_UPLOADS exists; mounted with its own body limit (the original's 60 MB upload cap).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { type Request, type Response, Router } from "express";
import type { WebContext } from "../deps";
import { badRequest, forbidden } from "../http-errors";
import { decodeBody } from "../request-body";
import { confinedToDot } from "./system";

/** 60 MB of file, base64-encoded in JSON. */
export const FILE_UPLOAD_BODY_LIMIT = Math.ceil((60 * 1024 * 1024 * 4) / 3) + 64 * 1024;

/** Bytes to `target` through a temp file and rename, so a reader never sees half a file. */
function writeBytesAtomically(target: string, bytes: Buffer): void {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    fs.writeFileSync(temp, bytes, { flag: "wx", mode: 0o664 });
    fs.renameSync(temp, target);
  } catch (e) {
    fs.rmSync(temp, { force: true });
    throw e;
  }
}

export function unitFileRoutes(ctx: WebContext): Router {
  const r = Router();

  const write = (req: Request, res: Response) => {
    for (const marker of ["DISALLOW_UI_FILE_SYSTEM", "DISALLOW_UI_UPLOADS"]) {
      if (fs.existsSync(path.join(ctx.dotPioreactor, marker))) {
        throw forbidden(`${marker} is present`, {
          cause: "File uploads are disabled on this unit.",
          remediation: `Remove ${marker} or copy the file over SSH.`,
        });
      }
    }
    const body = decodeBody<{ filepath: string; content_base64: string }>(req, {
      fields: { filepath: { type: "str", required: true }, content_base64: { type: "str", required: true } },
      forbidUnknown: true,
    });
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body.content_base64) || body.content_base64.length % 4 !== 0) {
      throw badRequest("Invalid request body.", { cause: "content_base64 is not base64.", remediation: "Send the file's bytes base64-encoded." });
    }
    const target = confinedToDot(ctx.dotPioreactor, body.filepath);
    if (/\.sqlite/.test(path.basename(target))) throw forbidden("Access to this path is not allowed", { cause: "Database files cannot be replaced over the API." });
    if (fs.existsSync(target) && fs.lstatSync(target).isDirectory()) throw badRequest(`${body.filepath} is a directory.`, { remediation: "Give the path of a file." });
    const bytes = Buffer.from(body.content_base64, "base64");
    fs.mkdirSync(path.dirname(target), { recursive: true });
    writeBytesAtomically(target, bytes);
    res.status(201).json({ status: "success", path: target, size_bytes: bytes.length });
  };
  r.post("/system/file", write);
  r.put("/system/file", write);
  return r;
}
