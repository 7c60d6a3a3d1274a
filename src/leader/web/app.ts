/**
 * `createApp(deps)`: the express application every unit serves — `/unit_api` everywhere, `/api`
 * on the leader only, the UI bundle when a directory is given. Bodies are read as raw bytes (JSON
 * whatever the Content-Type, size-limited) and every error leaves as the original's envelope.
 */
import express, { type Express, type Router } from "express";
import { calibrationRoutes } from "./api/calibrations";
import { configRoutes } from "./api/config";
import { datasetRoutes, exportsDirOf } from "./api/datasets";
import { localDescriptorRoutes, workerDescriptorRoutes } from "./api/descriptors";
import { experimentRoutes } from "./api/experiments";
import { inventoryRoutes } from "./api/inventory";
import { jobRoutes } from "./api/jobs";
import { logRoutes } from "./api/logs";
import { modelRoutes } from "./api/models";
import { pluginRoutes } from "./api/plugins";
import { profileRoutes } from "./api/profiles";
import { systemRoutes } from "./api/system";
import { timeSeriesRoutes } from "./api/time-series";
import { workerRoutes } from "./api/workers";
import { requireApiKey } from "./auth";
import type { WebContext, WebDeps } from "./deps";
import { Fanout } from "./fanout";
import { errorMiddleware, notFound, notFoundJson } from "./http-errors";
import { ServerLog } from "./server-log";
import { staticUiRoutes } from "./static-ui";
import { TaskStore } from "./task-store";
import { unitBioreactorRoutes } from "./unit-api/bioreactor";
import { unitCalibrationRoutes } from "./unit-api/calibrations";
import { FILE_UPLOAD_BODY_LIMIT, unitFileRoutes } from "./unit-api/files";
import { unitJobRoutes } from "./unit-api/jobs";
import { unitPluginRoutes } from "./unit-api/plugins";
import { unitSystemRoutes } from "./unit-api/system";
import { unitSystemAdminRoutes } from "./unit-api/system-admin";

export const DEFAULT_JSON_BODY_LIMIT = 1024 * 1024;

export interface CreatedApp {
  app: Express;
  context: WebContext;
}

export function createWebContext(deps: WebDeps): WebContext {
  return {
    ...deps,
    tasks: new TaskStore(deps.unitName, deps.newTaskId),
    fanout: new Fanout({ fetch: deps.fetch, clock: deps.clock, config: deps.config, unitBaseUrl: deps.unitBaseUrl }),
    serverLog: new ServerLog(deps.unitName, deps.mqtt, deps.clock),
    leaderDb() {
      if (!deps.db) throw notFound("Can't access /api/ endpoints when this unit isn't the leader. Did you mean /unit_api/?");
      return deps.db;
    },
  };
}

function leaderApi(ctx: WebContext): Router {
  const api = express.Router();
  if (!ctx.isLeader) {
    api.use(() => {
      throw notFound("Can't access /api/ endpoints when this unit isn't the leader. Did you mean /unit_api/?");
    });
    return api;
  }
  api.use(configRoutes(ctx));
  api.use(experimentRoutes(ctx));
  api.use(workerDescriptorRoutes(ctx));
  api.use(jobRoutes(ctx));
  api.use(modelRoutes(ctx));
  // Before workerRoutes: `/workers/discover` is not a worker named "discover".
  api.use(inventoryRoutes(ctx));
  api.use(workerRoutes(ctx));
  api.use(logRoutes(ctx));
  api.use(timeSeriesRoutes(ctx));
  api.use(profileRoutes(ctx));
  api.use(localDescriptorRoutes(ctx));
  api.use(systemRoutes(ctx));
  api.use(pluginRoutes(ctx));
  api.use(datasetRoutes(ctx));
  api.use(calibrationRoutes(ctx));
  api.use(notFoundJson);
  return api;
}

function unitApi(ctx: WebContext): Router {
  const api = express.Router();
  api.use(unitSystemRoutes(ctx));
  api.use(unitJobRoutes(ctx));
  api.use(unitBioreactorRoutes(ctx));
  api.use(unitSystemAdminRoutes(ctx));
  api.use(unitPluginRoutes(ctx));
  api.use(unitCalibrationRoutes(ctx));
  api.use(unitFileRoutes(ctx));
  api.use(localDescriptorRoutes(ctx));
  api.use(notFoundJson);
  return api;
}

export function createApp(deps: WebDeps): CreatedApp {
  const ctx = createWebContext(deps);
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  // Both parameter spellings the UI sends (`$broadcast` raw, `%24experiment` encoded) arrive decoded.
  app.set("query parser", "simple");

  app.use(requireApiKey(() => deps.config().get("ui_basic_auth", "api_key") ?? undefined));
  const rawBody = express.raw({ type: () => true, limit: deps.jsonBodyLimitBytes ?? DEFAULT_JSON_BODY_LIMIT });
  app.use("/api", rawBody, leaderApi(ctx));
  // File copies (`pios cp`) carry up to the original's 60 MB upload cap; read before the 1 MiB parser.
  app.use("/unit_api/system/file", express.raw({ type: () => true, limit: FILE_UPLOAD_BODY_LIMIT }));
  app.use("/unit_api", rawBody, unitApi(ctx));
  // The finished dataset exports the UI downloads (lighttpd's `/exports/*` in the original).
  if (deps.isLeader) app.use("/exports", express.static(exportsDirOf(deps), { index: false, dotfiles: "deny", fallthrough: false }));
  if (deps.uiDir) app.use(staticUiRoutes({ uiDir: deps.uiDir }));
  app.use(notFoundJson);
  app.use(errorMiddleware(deps.reportError ?? ((err) => process.stderr.write(`pio serve: ${(err as Error)?.stack ?? String(err)}\n`))));
  return { app, context: ctx };
}
