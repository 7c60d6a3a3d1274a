/**
 * The prebuilt React UI, with the original's lighttpd URL map: `/static/*` from the bundle
 * directory (12 h cache, `index.html` uncached), `/exports/*` from the exports folder, and every
 * other non-API path answered with `/static/index.html` so client-side routes (`/overview`,
 * `/pioreactors/unit1`, …) load the app.
 */
import fs from "node:fs";
import path from "node:path";
import express, { type Router } from "express";

const API_PREFIX = /^\/(api|unit_api|mcp)(\/|$)/;
const NO_CACHE_FILES = new Set(["index.html", "service-worker.js", "asset-manifest.json"]);

export interface StaticUiOptions {
  uiDir: string;
  exportsDir?: string;
}

export function staticUiRoutes(opts: StaticUiOptions): Router {
  const r = express.Router();
  const index = path.join(opts.uiDir, "index.html");

  r.use(
    "/static",
    express.static(opts.uiDir, {
      index: false,
      fallthrough: true,
      setHeaders: (res, file) => {
        const name = path.basename(file);
        res.setHeader("Cache-Control", NO_CACHE_FILES.has(name) ? "no-cache, max-age=0" : "public, max-age=43200");
        if (/[/\\]static[/\\]static[/\\]/.test(file) || /\.(css|js)$/.test(name)) res.setHeader("Access-Control-Allow-Origin", "*");
      },
    }),
  );
  if (opts.exportsDir) r.use("/exports", express.static(opts.exportsDir, { index: false, dotfiles: "deny" }));

  r.get(/.*/, (req, res, next) => {
    if (API_PREFIX.test(req.path) || req.path.startsWith("/static/") || req.path.startsWith("/exports/")) return next();
    if (!fs.existsSync(index)) return next();
    res.setHeader("Cache-Control", "no-cache");
    res.sendFile(index);
  });
  return r;
}
