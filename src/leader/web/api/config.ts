/**
 * Config files: the shared `config.ini` (the SPA's bootstrap config) and each unit's
 * `unit_config.ini`. Edits are validated, written atomically exactly as sent (so every line and
 * comment the user kept survives), and snapshotted in `config_files_histories`.
 */
import fs from "node:fs";
import { Router } from "express";
import { writeFileAtomicSync } from "../../../config/atomic-write";
import { IniDocument } from "../../../config/ini";
import { LayeredConfig } from "../../../config/layered";
import { UNIVERSAL_IDENTIFIER } from "../../../pubsub/topics";
import { allUnits, isoMillis, leaderHostnameOf } from "../cluster";
import { syncSharedConfigToWorkers } from "../config-sync";
import type { WebContext } from "../deps";
import { badRequest, HttpError } from "../http-errors";
import { cacheFor, param, sendText } from "../http-util";
import { normalizeIniText, validateIniText, validateSharedConfigText } from "../ini-validation";
import { decodeBody } from "../request-body";
import { resolveInside } from "../safe-files";

export const SHARED_HISTORY_KEY = "config.ini";
export const unitHistoryKey = (unit: string) => `unit_config.ini::${unit}`;
const legacyUnitHistoryKey = (unit: string) => `config_${unit}.ini`;

export function readTextOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw e;
  }
}

/** `{section: {key: value}}` of config.ini + unit_config.ini with the derived sections, as `/unit_api/config/merged` returns. */
export function renderMergedConfig(dotPioreactor: string): Record<string, Record<string, string | null>> {
  const shared = IniDocument.parse(readTextOrEmpty(resolveInside(dotPioreactor, "config.ini")));
  const specificText = readTextOrEmpty(resolveInside(dotPioreactor, "unit_config.ini"));
  const config = LayeredConfig.fromDocuments(shared, specificText ? IniDocument.parse(specificText) : undefined);
  const out: Record<string, Record<string, string | null>> = {};
  for (const name of config.sections()) out[name] = { ...(config.section(name) ?? {}) };
  return out;
}

export function configRoutes(ctx: WebContext): Router {
  const r = Router();
  const sharedPath = () => resolveInside(ctx.dotPioreactor, "config.ini");
  const leaderSpecificPath = () => resolveInside(ctx.dotPioreactor, "unit_config.ini");
  const history = async (filename: string, data: string) =>
    ctx.leaderDb()("config_files_histories").insert({ timestamp: isoMillis(ctx.clock.now()), filename, data });
  const isLeaderUnit = (unit: string) => unit === (leaderHostnameOf(ctx.config()) ?? ctx.unitName) || unit === ctx.unitName;
  const requireRegisteredUnit = async (unit: string) => {
    if (unit === UNIVERSAL_IDENTIFIER || !(await allUnits(ctx.leaderDb(), ctx.config())).includes(unit)) {
      throw badRequest(`Unknown Pioreactor unit: ${unit}`, {
        cause: "The requested unit is not registered in this cluster.",
        remediation: "Choose the leader or a Pioreactor unit from inventory.",
      });
    }
    return unit;
  };

  r.get("/config/shared", (_req, res) => {
    const file = sharedPath();
    if (!fs.existsSync(file)) throw badRequest("config.ini is missing.");
    cacheFor(res, 10);
    sendText(res, fs.readFileSync(file, "utf8"));
  });

  r.patch("/config/shared", async (req, res) => {
    const body = decodeBody<{ code: string }>(req, { fields: { code: { type: "str", required: true } }, forbidUnknown: true });
    const code = validateSharedConfigText(body.code);
    writeFileAtomicSync(sharedPath(), code);
    await history(SHARED_HISTORY_KEY, code);
    ctx.configChanged?.();
    try {
      await (ctx.syncSharedConfig ?? ((text: string) => syncSharedConfigToWorkers(ctx, text)))(code);
    } catch (e) {
      ctx.serverLog.error(`Could not sync configs: ${(e as Error).message}`);
      throw new HttpError(500, "Could not sync configs to all Pioreactors.", { cause: (e as Error).message });
    }
    res.status(200).json({ status: "success" });
  });

  r.get("/config/shared/history", async (_req, res) => {
    const rows = await ctx
      .leaderDb()("config_files_histories")
      .where("filename", SHARED_HISTORY_KEY)
      .orderBy("timestamp", "desc")
      .select("filename", "timestamp", "data");
    cacheFor(res, 0).json(rows);
  });

  r.get("/config/units/:unit", async (req, res) => {
    const unit = param(req.params.unit);
    const units = unit === UNIVERSAL_IDENTIFIER ? await allUnits(ctx.leaderDb(), ctx.config()) : [await requireRegisteredUnit(unit)];
    const configs: Record<string, unknown> = {};
    const errors: Record<string, unknown> = {};
    const remote = units.filter((u) => !isLeaderUnit(u));
    for (const u of units.filter(isLeaderUnit)) configs[u] = renderMergedConfig(ctx.dotPioreactor);
    const answers = await ctx.fanout.multicast("GET", "/unit_api/config/merged", remote);
    for (const [u, answer] of Object.entries(answers)) {
      if (answer.ok) configs[u] = answer.value;
      else errors[u] = answer;
    }
    if (unit !== UNIVERSAL_IDENTIFIER) {
      const failed = answers[unit];
      if (failed && !failed.ok) {
        const status = failed.status_code && failed.status_code >= 400 ? failed.status_code : 502;
        throw new HttpError(status, failed.error.message, { cause: failed.error.cause, remediation: failed.error.remediation });
      }
    }
    res.json({ configs, errors });
  });

  r.get("/config/units/:unit/specific", async (req, res) => {
    const unit = param(req.params.unit);
    if (unit === UNIVERSAL_IDENTIFIER) throw badRequest("Choose one unit, not $broadcast.");
    await requireRegisteredUnit(unit);
    cacheFor(res, 0);
    if (isLeaderUnit(unit)) return sendText(res, readTextOrEmpty(leaderSpecificPath()));
    const response = await ctx.fetch(`${ctx.fanout.baseUrl(unit)}/unit_api/config/specific`, { signal: AbortSignal.timeout(10_000) }).catch((e) => {
      throw new HttpError(502, `Could not reach ${unit}.`, { cause: (e as Error).message, remediation: "Check that the worker is online and retry." });
    });
    if (!response.ok) throw new HttpError(502, `Could not read ${unit}'s unit_config.ini (HTTP ${response.status}).`);
    sendText(res, await response.text());
  });

  r.patch("/config/units/:unit/specific", async (req, res) => {
    const unit = param(req.params.unit);
    if (unit === UNIVERSAL_IDENTIFIER) throw badRequest("Choose one unit, not $broadcast.");
    const body = decodeBody<{ code: string }>(req, { fields: { code: { type: "str", required: true } }, forbidUnknown: true });
    await requireRegisteredUnit(unit);
    const code = normalizeIniText(body.code);
    if (isLeaderUnit(unit)) {
      const specific = validateIniText(code);
      try {
        LayeredConfig.fromDocuments(IniDocument.parse(readTextOrEmpty(sharedPath())), specific);
      } catch (e) {
        throw badRequest((e as Error).message, { cause: "unit_config.ini does not merge with config.ini." });
      }
      writeFileAtomicSync(leaderSpecificPath(), code);
      ctx.configChanged?.();
    } else {
      const answer = await ctx.fanout.callOne("POST", "/unit_api/config/specific", unit, { code }, { requestTimeoutMs: 30_000 });
      if (!answer.ok) {
        const status = answer.status_code && answer.status_code >= 400 ? answer.status_code : 502;
        throw new HttpError(status, answer.error.message, { cause: answer.error.cause, remediation: answer.error.remediation });
      }
    }
    await history(unitHistoryKey(unit), code);
    res.status(200).json({ status: "success" });
  });

  r.get("/config/units/:unit/specific/history", async (req, res) => {
    const unit = param(req.params.unit);
    const rows = await ctx
      .leaderDb()("config_files_histories")
      .whereIn("filename", [unitHistoryKey(unit), legacyUnitHistoryKey(unit)])
      .orderBy("timestamp", "desc")
      .select("filename", "timestamp", "data");
    cacheFor(res, 0).json(rows);
  });

  return r;
}
