/**
 * Optional API key. In the original, `[ui_basic_auth] api_key` only makes Python clients *send*
 * `Authorization: Basic <key>`; nothing checks it. Here, when the key is set, every request must
 * carry it (a deliberate difference): Python clients already send it, and browsers get a Basic
 * challenge so the user types the key once (any user name, the key as password). Without this the
 * MQTT password in `/api/config/shared` and every `/unit_api` action would be open to the LAN.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { RequestHandler } from "express";
import { errorEnvelope } from "./http-errors";

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The key from `Authorization: Basic <key>` (Python clients) or `Basic base64(user:key)` (browsers). */
export function authorizationMatches(header: string | undefined, apiKey: string): boolean {
  if (!header) return false;
  const match = /^(Basic|Bearer)\s+(.+)$/i.exec(header.trim());
  if (!match) return false;
  const token = match[2].trim();
  if (sameSecret(token, apiKey)) return true;
  if (match[1].toLowerCase() !== "basic") return false;
  const decoded = Buffer.from(token, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon >= 0 && sameSecret(decoded.slice(colon + 1), apiKey);
}

/** `apiKey()` is read per request so a config edit takes effect without a restart. */
export function requireApiKey(apiKey: () => string | undefined): RequestHandler {
  return (req, res, next) => {
    const key = apiKey();
    if (!key || authorizationMatches(req.headers.authorization, key)) return next();
    res.setHeader("WWW-Authenticate", 'Basic realm="Pioreactor", charset="UTF-8"');
    res.status(401).json(
      errorEnvelope(401, "Unauthorized.", {
        cause: "Missing or wrong API key.",
        remediation: "Send 'Authorization: Basic <[ui_basic_auth] api_key>'.",
      }),
    );
  };
}
