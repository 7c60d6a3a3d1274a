/**
 * The port for everything the profile executor asks of the cluster, one method per request the
 * original makes (profiles spec §6–§7, §11; captures 07, 10, 11). The executor never formats a URL
 * or a body's transport: it builds the body's *content* (field order included, because the original's
 * bodies are compared byte for byte in tests) and the adapter (`http-cluster-client.ts`) sends it.
 */
import type { PyValue } from "./expressions";

/** `GET /api/workers/<unit>`: what the start env needs. */
export interface WorkerInfo {
  unit: string;
  isActive: boolean;
  modelName?: string;
  modelVersion?: string;
}

/**
 * The body of `PATCH /unit_api/jobs/run/job_name/<job>`, in the original's key order:
 * `options`, `env`, `args`, `config_overrides` (list of `[section, key, str(value)]`).
 */
export interface StartJobBody {
  options: Record<string, PyValue>;
  env: Record<string, string>;
  args: string[];
  config_overrides: Array<[string, string, string]>;
}

/** The outcome of a start once its background task is known (spec §7.2 step 7). */
export type StartJobResult =
  | { kind: "result"; ok: boolean; error?: string }
  /** The task result could not be read (poll failed); the job may still have started. */
  | { kind: "unreadable" }
  /** The task ended in a status the original does not interpret; nothing is logged. */
  | { kind: "none" }
  /** A result dict without `ok`: the original raises KeyError('ok'). */
  | { kind: "malformed" };

/** The body of `POST /api/workers/<unit>/experiments/<exp>/logs`, in the original's key order. */
export interface UnitLogBody {
  message: string;
  timestamp: string;
  level: string;
  source: string;
  task: string;
  source_: string;
}

export type ClusterErrorKind = "network" | "http";

/**
 * A request that failed. `network`: nothing (or no answer) came back; `http`: a non-2xx answer,
 * with the original's one-line summary (`HTTP 404: … Cause: … Remediation: …`).
 */
export class ClusterRequestError extends Error {
  override readonly name = "ClusterRequestError";
  constructor(
    readonly kind: ClusterErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface ClusterClient {
  /** `GET /api/experiments/<exp>/workers`, rows with a truthy `is_active`, in API order. */
  activeWorkersInExperiment(experiment: string): Promise<string[]>;
  /** `GET /api/workers/<unit>/experiment`; null when the unit is not assigned (404). */
  assignedExperiment(unit: string): Promise<string | null>;
  /** `GET /api/workers/<unit>`; null when the leader does not know the unit or cannot be asked. */
  workerInfo(unit: string): Promise<WorkerInfo | null>;
  /** `PATCH <unit>/unit_api/jobs/run/job_name/<job>`, then the task result (no retries here). */
  startJob(unit: string, job: string, body: StartJobBody): Promise<StartJobResult>;
  /** `GET <unit>/unit_api/jobs/running/<job>`; an HTTP error counts as running (as in the original). */
  isJobRunning(unit: string, job: string): Promise<boolean>;
  /** `PATCH <leader>/api/workers/<unit>/jobs/update/job_name/<job>/experiments/<exp>` `{"settings": …}`. */
  updateJobSettings(unit: string, experiment: string, job: string, settings: Record<string, PyValue>): Promise<void>;
  /** `PATCH <leader>/api/workers/<unit>/jobs/stop/job_name/<job>/experiments/<exp>`, no body. */
  stopJob(unit: string, experiment: string, job: string): Promise<void>;
  /** `PATCH <unit>/unit_api/jobs/stop` `{"experiment", "job_source"}`: the early-stop kill. */
  stopJobsFromSource(unit: string, experiment: string, jobSource: string): Promise<void>;
  /** `POST <leader>/api/workers/<unit>/experiments/<exp>/logs`. */
  postUnitLog(unit: string, experiment: string, body: UnitLogBody): Promise<void>;
  /** `PATCH <leader>/api/experiments/<exp>/unit_labels` `{"unit", "label"}`. */
  setUnitLabel(experiment: string, unit: string, label: string): Promise<void>;
  /** The address printed in "Unable to submit start command … at <address>". */
  addressOf(unit: string): string;
}

/**
 * The original's one-line summary of an error answer: `HTTP <status>: <error>` plus ` Cause: …`
 * and ` Remediation: …`, only when the body is an error payload whose `status` matches; otherwise
 * `HTTP <status>.`
 */
export function summariseHttpError(status: number, body: unknown): string {
  if (body && typeof body === "object" && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    if (typeof b.error === "string" && b.status === status) {
      let text = `HTTP ${status}: ${b.error}`;
      if (typeof b.cause === "string" && b.cause) text += ` Cause: ${b.cause}`;
      if (typeof b.remediation === "string" && b.remediation) text += ` Remediation: ${b.remediation}`;
      return text;
    }
  }
  return `HTTP ${status}.`;
}
