/** `/api/…/time_series/<source>[/<column>]` and `/api/experiments/<exp>/media_rates`. */
import { type Request, type Response, Router } from "express";
import { isoMillis } from "../cluster";
import type { WebContext } from "../deps";
import { badRequest } from "../http-errors";
import { cacheFor, param } from "../http-util";
import { readColumnSeries, readSeriesJson, SERIES_SOURCES, SeriesStatements, type Window } from "../time-series";

function windowOf(req: Request, now: number): Window {
  const lookback = req.query.lookback === undefined ? 4 : Number(req.query.lookback);
  if (!Number.isFinite(lookback)) throw badRequest("lookback must be a number of hours.");
  const targetPoints = req.query.target_points === undefined ? 720 : Number(req.query.target_points);
  if (!Number.isInteger(targetPoints) || targetPoints <= 0) {
    throw badRequest("target_points must be a positive integer.", { remediation: "Send target_points=720, for example." });
  }
  return { experiment: param(req.params.experiment), from: isoMillis(now - lookback * 3600_000), to: isoMillis(now), targetPoints };
}

export function timeSeriesRoutes(ctx: WebContext): Router {
  const r = Router();
  // The chart statements stay prepared between calls, for as long as this app lives.
  const statements = new SeriesStatements();

  const fixedSource = async (req: Request, res: Response, unit?: string) => {
    const source = SERIES_SOURCES[param(req.params.source)];
    const w = windowOf(req, ctx.clock.now());
    if (!source) return columnSource(req, res, unit);
    cacheFor(res).type("application/json").send(await readSeriesJson(ctx.leaderDb(), source, w, unit, statements));
  };
  const columnSource = async (req: Request, res: Response, unit?: string) => {
    const w = windowOf(req, ctx.clock.now());
    const column = req.params.column === undefined ? undefined : param(req.params.column);
    if (column === undefined) throw badRequest(`Unknown time series ${param(req.params.source)}.`);
    try {
      cacheFor(res).json(await readColumnSeries(ctx.leaderDb(), param(req.params.source), column, w, unit));
    } catch (e) {
      throw badRequest((e as Error).message);
    }
  };

  r.get("/experiments/:experiment/time_series/:source", (req, res) => fixedSource(req, res));
  r.get("/workers/:unit/experiments/:experiment/time_series/:source", (req, res) => fixedSource(req, res, param(req.params.unit)));
  r.get("/experiments/:experiment/time_series/:source/:column", (req, res) => columnSource(req, res));
  r.get("/workers/:unit/experiments/:experiment/time_series/:source/:column", (req, res) => columnSource(req, res, param(req.params.unit)));

  r.get("/experiments/:experiment/media_rates", async (req, res) => {
    const since = isoMillis(ctx.clock.now() - 3 * 3600_000);
    const rows: Array<{ pioreactor_unit: string; event: string; total: number }> = await ctx
      .leaderDb()("dosing_events")
      .where("experiment", param(req.params.experiment))
      .andWhere("timestamp", ">=", since)
      .whereIn("event", ["add_media", "add_alt_media"])
      .groupBy("pioreactor_unit", "event")
      .select("pioreactor_unit", "event")
      .sum({ total: "volume_change_ml" });
    const out: Record<string, { mediaRate: number; altMediaRate: number }> = {};
    const all = { mediaRate: 0, altMediaRate: 0 };
    for (const row of rows) {
      if (!out[row.pioreactor_unit]) out[row.pioreactor_unit] = { mediaRate: 0, altMediaRate: 0 };
      const rates = out[row.pioreactor_unit];
      const perHour = Number(row.total) / 3;
      if (row.event === "add_media") {
        rates.mediaRate += perHour;
        all.mediaRate += perHour;
      } else {
        rates.altMediaRate += perHour;
        all.altMediaRate += perHour;
      }
    }
    res.json({ ...out, all });
  });

  return r;
}
