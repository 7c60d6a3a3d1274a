/**
 * `/unit_api/calibrations…` and `/unit_api/estimators…`: this unit's calibration and estimator
 * YAML files (`$DOT_PIOREACTOR/storage/{calibrations,estimators}/<device>/<name>.yaml`, the
 * original's layout) and which one per device is active (persistent caches `active_calibrations`
 * and `active_estimators`, device → name, shared with the jobs that use them). Device and name are
 * single file-name components, checked before any path is built.
 */
import fs from "node:fs";
import path from "node:path";
import { type Request, type Response, Router } from "express";
import { writeFileAtomicSync } from "../../../config/atomic-write";
import type { KeyValueCache } from "../../../jobs/local-storage";
import { UNIVERSAL_EXPERIMENT } from "../../../pubsub/topics";
import { CalibrationDataError, checkCalibrationYaml, readArtifactYaml } from "../calibration-schema";
import { zipDirectoryYaml } from "../calibration-zip";
import type { WebContext } from "../deps";
import { badRequest, HttpError, notFound } from "../http-errors";
import { cacheFor, param } from "../http-util";
import { decodeBody } from "../request-body";
import { isValidUnixFilename, resolveInside } from "../safe-files";

type Kind = "calibration" | "estimator";

const KINDS: Record<Kind, { folder: string; cache: string; nameField: string; label: string; addDevice: boolean }> = {
  calibration: { folder: "calibrations", cache: "active_calibrations", nameField: "calibration_name", label: "Calibration", addDevice: false },
  estimator: { folder: "estimators", cache: "active_estimators", nameField: "estimator_name", label: "Estimator", addDevice: true },
};

/** The original's `_validate_storage_path_component`. */
export function requireStorageComponent(value: string, field: string): string {
  if (!value || !isValidUnixFilename(value) || value.startsWith(".")) {
    const readable = field.replace(/_/g, " ");
    throw badRequest(`Missing or invalid '${field}'.`, {
      cause: `${readable.charAt(0).toUpperCase()}${readable.slice(1)} is missing or contains invalid characters.`,
      remediation: `Provide a valid ${field} using letters, digits, spaces, dots, dashes, or underscores.`,
    });
  }
  return value;
}

export interface CreateCalibrationBody {
  calibration_data: string;
  set_as_active?: boolean;
}

/** Decodes and checks a calibration upload (both the leader and the unit do, before anything is written). */
export function decodeCalibrationUpload(req: Request): CreateCalibrationBody & { calibrationName: string } {
  const body = decodeBody<CreateCalibrationBody>(req, {
    fields: { calibration_data: { type: "str", required: true }, set_as_active: { type: "bool" } },
    forbidUnknown: true,
  });
  try {
    const { calibrationName } = checkCalibrationYaml(body.calibration_data);
    return { ...body, calibrationName: requireStorageComponent(calibrationName, "calibration_name") };
  } catch (e) {
    if (e instanceof CalibrationDataError) {
      throw badRequest("Invalid calibration data.", { cause: e.message, remediation: "Send calibration YAML as `pio calibrations display` prints it." });
    }
    throw e;
  }
}

export function unitCalibrationRoutes(ctx: WebContext): Router {
  const r = Router();
  const log = ctx.serverLog.child("calibrations", UNIVERSAL_EXPERIMENT);
  const root = (kind: Kind) => path.join(ctx.dotPioreactor, "storage", KINDS[kind].folder);
  const active = (kind: Kind): KeyValueCache => {
    if (!ctx.persistentCache) throw new HttpError(503, "Active calibrations are not available on this unit.", { remediation: "Run the unit API with its persistent cache." });
    return ctx.persistentCache(KINDS[kind].cache);
  };
  const fileOf = (kind: Kind, device: string, name: string) =>
    resolveInside(ctx.dotPioreactor, "storage", KINDS[kind].folder, requireStorageComponent(device, "device"), `${requireStorageComponent(name, KINDS[kind].nameField)}.yaml`);

  /** One stored file as the original returns it: its fields plus is_active and pioreactor_unit (estimators: device). */
  const describe = (kind: Kind, device: string, file: string, activeName: string | undefined): Record<string, unknown> | undefined => {
    try {
      const doc = readArtifactYaml(fs.readFileSync(file, "utf8"), path.basename(file));
      const out: Record<string, unknown> = { ...doc, is_active: activeName !== undefined && doc[KINDS[kind].nameField] === activeName, pioreactor_unit: ctx.unitName };
      if (KINDS[kind].addDevice) out.device = device;
      return out;
    } catch (e) {
      log.error(`Error reading ${path.basename(file, ".yaml")}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const yamlFiles = (dir: string) =>
    fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((f) => f.endsWith(".yaml"))
          .sort()
      : [];
  const devices = (kind: Kind) =>
    fs.existsSync(root(kind))
      ? fs
          .readdirSync(root(kind), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => d.name)
          .sort()
      : [];

  r.get("/zipped_calibrations", async (_req, res) => {
    const dir = root("calibration");
    if (!fs.existsSync(dir)) {
      throw notFound("Calibration directory does not exist.", {
        cause: "Calibration storage directory is missing on disk.",
        remediation: "Create the calibration directory or restore from backup.",
      });
    }
    const zip = await zipDirectoryYaml(dir, () => new Date(ctx.clock.now()));
    res.type("application/zip").attachment(`${ctx.unitName}_calibrations.zip`).send(zip);
  });

  /** Protocols run as guided sessions in the original's Python helpers; none are implemented here. */
  r.get("/calibration_protocols", (_req, res) => {
    cacheFor(res, 10).json([]);
  });
  const sessionsNotImplemented = (_req: Request, _res: Response) => {
    throw new HttpError(501, "Calibration sessions are not implemented on this unit.", {
      cause: "Guided calibration protocols run in the original's Python helpers.",
      remediation: "Upload a calibration YAML with POST /unit_api/calibrations/<device>.",
    });
  };
  r.post("/calibrations/sessions", sessionsNotImplemented);
  r.get("/calibrations/sessions/:id", sessionsNotImplemented);
  r.post("/calibrations/sessions/:id/inputs", sessionsNotImplemented);
  r.post("/calibrations/sessions/:id/abort", sessionsNotImplemented);


  for (const kind of ["calibration", "estimator"] as const) {
    const { folder, label } = KINDS[kind];

    r.get(`/${folder}`, (_req, res) => {
      const cache = active(kind);
      const all: Record<string, unknown[]> = {};
      for (const device of devices(kind)) {
        for (const f of yamlFiles(path.join(root(kind), device))) {
          const item = describe(kind, device, path.join(root(kind), device, f), cache.getString(device));
          if (item) all[device] = [...(all[device] ?? []), item];
        }
      }
      cacheFor(res, 10).json(all);
    });

    r.get(`/active_${folder}`, (_req, res) => {
      const cache = active(kind);
      const all: Record<string, unknown> = {};
      for (const [device, name] of cache.entries()) {
        const activeName = Buffer.isBuffer(name) ? name.toString("utf8") : String(name);
        const file = path.join(root(kind), String(device), `${activeName}.yaml`);
        if (!isValidUnixFilename(String(device)) || !isValidUnixFilename(`${activeName}.yaml`) || !fs.existsSync(file)) continue;
        const item = describe(kind, String(device), file, activeName);
        if (item) all[String(device)] = item;
      }
      cacheFor(res, 10).json(all);
    });

    r.get(`/${folder}/:device`, (req, res) => {
      const device = requireStorageComponent(param(req.params.device), "device");
      const dir = resolveInside(ctx.dotPioreactor, "storage", folder, device);
      if (kind === "calibration" && !fs.existsSync(dir)) {
        throw notFound("Calibration directory does not exist.", {
          cause: "Calibration storage directory is missing on disk.",
          remediation: "Create the calibration directory or restore from backup.",
        });
      }
      const cache = active(kind);
      const items = yamlFiles(dir)
        .map((f) => describe(kind, device, path.join(dir, f), cache.getString(device)))
        .filter((x) => x !== undefined);
      cacheFor(res, 10).json(items);
    });

    r.get(`/${folder}/:device/:name`, (req, res) => {
      const device = param(req.params.device);
      const file = fileOf(kind, device, param(req.params.name));
      if (!fs.existsSync(file)) {
        throw notFound(`${label} '${param(req.params.name)}' not found for device '${device}'.`, {
          cause: `${label} file is missing from disk.`,
          remediation: `List available ${folder} for this device and retry.`,
        });
      }
      const item = describe(kind, device, file, active(kind).getString(device));
      if (!item) {
        throw new HttpError(500, `Failed to read ${kind} file.`, { cause: `Unable to parse ${kind} YAML.`, remediation: `Check the ${kind} file contents or re-upload it.` });
      }
      cacheFor(res, 10).json(item);
    });

    r.delete(`/${folder}/:device/:name`, (req, res) => {
      const device = param(req.params.device);
      const name = param(req.params.name);
      const file = fileOf(kind, device, name);
      if (!fs.existsSync(file)) {
        throw notFound(`${label} '${name}' not found for device '${device}'.`, {
          cause: `${label} file is missing from disk.`,
          remediation: `List available ${folder} for this device and retry.`,
        });
      }
      fs.unlinkSync(file);
      const cache = active(kind);
      if (cache.getString(device) === name) cache.delete(device);
      res.json({ msg: `${label} '${name}' for device '${device}' deleted successfully.` });
    });

    r.patch(`/active_${folder}/:device/:name`, (req, res) => {
      const device = param(req.params.device);
      const name = param(req.params.name);
      // An active pointer always names a file on disk.
      if (!fs.existsSync(fileOf(kind, device, name))) {
        throw notFound(`${label} '${name}' not found for device '${device}'.`, {
          cause: `${label} file is missing from disk.`,
          remediation: `List available ${folder} for this device and retry.`,
        });
      }
      active(kind).set(device, name);
      res.json({ status: "success" });
    });

    r.delete(`/active_${folder}/:device`, (req, res) => {
      const device = requireStorageComponent(param(req.params.device), "device");
      active(kind).delete(device);
      res.json({ status: "success" });
    });
  }

  r.post("/calibrations/:device", (req, res) => {
    const device = requireStorageComponent(param(req.params.device), "device");
    const upload = decodeCalibrationUpload(req);
    const file = fileOf("calibration", device, upload.calibrationName);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomicSync(file, upload.calibration_data);
    if (upload.set_as_active) active("calibration").set(device, upload.calibrationName);
    res.status(201).json({ msg: "Calibration created successfully.", path: file });
  });

  return r;
}
