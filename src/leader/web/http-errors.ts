/**
 * The original's error envelope. Every JSON error the web server returns has the shape
 * `{error, status, cause, remediation?, diagnostics?}`: Python workers and `pio` trust a unit's
 * error only when it has exactly these keys and `status` equals the HTTP status, so handlers throw
 * an `HttpError` and one middleware renders it; nothing builds error bodies by hand.
 */
import type { ErrorRequestHandler, RequestHandler } from "express";

/** A profile-validation diagnostic as it travels in the envelope. */
export interface EnvelopeDiagnostic {
  severity: string;
  code: string;
  message: string;
  path: string;
  hint?: string;
  line?: number;
  column?: number;
}

export interface ErrorEnvelope {
  error: string;
  status: number;
  cause: string;
  remediation?: string;
  diagnostics?: EnvelopeDiagnostic[];
}

export interface HttpErrorDetails {
  cause?: string;
  remediation?: string;
  diagnostics?: EnvelopeDiagnostic[];
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: HttpErrorDetails = {},
  ) {
    super(message);
    this.name = "HttpError";
  }

  toEnvelope(): ErrorEnvelope {
    return errorEnvelope(this.status, this.message, this.details);
  }
}

/** Builds the envelope in the original's key order; `cause` falls back to the error text. */
export function errorEnvelope(status: number, error: string, details: HttpErrorDetails = {}): ErrorEnvelope {
  const message = error.trim() || "Request failed.";
  const envelope: ErrorEnvelope = { error: message, status, cause: details.cause?.trim() || message };
  if (details.remediation?.trim()) envelope.remediation = details.remediation.trim();
  if (details.diagnostics) envelope.diagnostics = details.diagnostics;
  return envelope;
}

/** Shorthands for the statuses handlers use most. */
export const badRequest = (message: string, details?: HttpErrorDetails) => new HttpError(400, message, details);
export const notFound = (message: string, details?: HttpErrorDetails) => new HttpError(404, message, details);
export const conflict = (message: string, details?: HttpErrorDetails) => new HttpError(409, message, details);
export const forbidden = (message: string, details?: HttpErrorDetails) => new HttpError(403, message, details);

/** What body-parser attaches to its errors (too large, bad encoding, aborted). */
interface BodyParserError extends Error {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
}

/**
 * Renders any error as the envelope. Unexpected errors become 500 with their message (as the
 * original's handlers do with `abort_with(500, str(e))`); `report` sees them for the server log.
 */
export function errorMiddleware(report: (err: unknown) => void = () => {}): ErrorRequestHandler {
  return (err, _req, res, next) => {
    if (res.headersSent) return next(err);
    let envelope: ErrorEnvelope;
    if (err instanceof HttpError) {
      envelope = err.toEnvelope();
    } else {
      const e = err as BodyParserError;
      const status = e?.status ?? e?.statusCode;
      if (e?.type === "entity.too.large") {
        envelope = errorEnvelope(413, "Request body is too large.", {
          cause: e.message,
          remediation: "Send a smaller request body.",
        });
      } else if (typeof status === "number" && status >= 400 && status < 500 && e.expose !== false) {
        envelope = errorEnvelope(status, e.message);
      } else {
        report(err);
        envelope = errorEnvelope(500, e?.message ?? String(err));
      }
    }
    res.status(envelope.status).json(envelope);
  };
}

/** Unknown `/api` and `/unit_api` paths get a JSON 404 in the envelope (not Express's HTML page). */
export const notFoundJson: RequestHandler = (req) => {
  void req;
  throw notFound("The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.");
};
