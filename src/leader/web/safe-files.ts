/**
 * File access confined to `$DOT_PIOREACTOR`. Names that arrive in URLs or bodies are checked
 * before any path is built from them, and the resolved path (following symlinks that already
 * exist) must stay inside the root, so `../../etc/passwd` or a planted symlink cannot reach out.
 */
import fs from "node:fs";
import path from "node:path";
import { badRequest, forbidden } from "./http-errors";

/** A plain file name: no directory parts, no NUL, not `.`/`..`, at most 255 bytes. */
export function isValidUnixFilename(name: string): boolean {
  return (
    name.length > 0 &&
    Buffer.byteLength(name) <= 255 &&
    !name.includes("/") &&
    !name.includes("\0") &&
    !name.includes("\\") &&
    name !== "." &&
    name !== ".."
  );
}

/** Throws 400 unless `name` is a plain file name with one of `suffixes`. */
export function requireFilename(name: string, suffixes: readonly string[]): string {
  if (!isValidUnixFilename(name)) {
    throw badRequest("Invalid filename.", {
      cause: `'${name}' is not a plain file name.`,
      remediation: "Use a file name without slashes or '..'.",
    });
  }
  if (!suffixes.some((s) => name.endsWith(s))) {
    throw badRequest(`Filename must end with ${suffixes.join(" or ")}.`);
  }
  return name;
}

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** The deepest existing ancestor's real path, plus the not-yet-existing rest. */
function realPathOfPossiblyMissing(p: string): string {
  let existing = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(existing), ...rest.reverse());
    } catch {
      const parent = path.dirname(existing);
      if (parent === existing) return p;
      rest.push(path.basename(existing));
      existing = parent;
    }
  }
}

/**
 * Joins `parts` under `root` and refuses (403) anything that resolves outside it, including
 * through symlinks. The root itself may not exist yet.
 */
export function resolveInside(root: string, ...parts: string[]): string {
  const absoluteRoot = path.resolve(root);
  const candidate = path.resolve(absoluteRoot, ...parts);
  const realRoot = realPathOfPossiblyMissing(absoluteRoot);
  if (!isInside(absoluteRoot, candidate) || !isInside(realRoot, realPathOfPossiblyMissing(candidate))) {
    throw forbidden("Access to this path is not allowed.", {
      cause: "The resolved path is outside $DOT_PIOREACTOR.",
      remediation: "Use a path inside $DOT_PIOREACTOR.",
    });
  }
  return candidate;
}
