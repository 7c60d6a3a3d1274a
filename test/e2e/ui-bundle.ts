/**
 * The original's prebuilt UI bundle (`core/pioreactor/web/static/` of Pioreactor/pioreactor),
 * extracted at test time from the read-only mirror; never committed here.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const MIRROR = process.env.PIOREACTOR_MIRROR ?? "/work/.mirror/Pioreactor+pioreactor/repo";
const BUNDLE_PATH = "core/pioreactor/web/static";

/** Why the bundle is unavailable, else undefined. */
export function bundleProblem(): string | undefined {
  if (!fs.existsSync(MIRROR)) return `the Pioreactor mirror (${MIRROR}) is absent`;
  try {
    execFileSync("git", ["-C", MIRROR, "cat-file", "-e", `HEAD:${BUNDLE_PATH}/index.html`], { stdio: "ignore" });
  } catch {
    return `${MIRROR} has no ${BUNDLE_PATH}/index.html at HEAD`;
  }
  return undefined;
}

/** Extracts the bundle into a fresh temp dir and returns the directory holding index.html. */
export function extractBundle(): { uiDir: string; cleanup(): void } {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pio-ui-bundle-"));
  const archive = execFileSync("git", ["-C", MIRROR, "archive", "HEAD", BUNDLE_PATH], { maxBuffer: 512 * 1024 * 1024 });
  execFileSync("tar", ["-x", "-C", tmp], { input: archive });
  return { uiDir: path.join(tmp, BUNDLE_PATH), cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}
