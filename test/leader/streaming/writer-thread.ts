/**
 * Whether the SQLite writer thread can run in these tests. A worker thread needs compiled
 * JavaScript, and Jest runs the TypeScript sources, so the thread runs from the build
 * (dist/src/leader/streaming/sqlite-writer-worker.js). Without a build its tests are skipped,
 * saying why, as test/e2e does; an outdated build still runs, with a warning.
 */
import { statSync } from "node:fs";
import path from "node:path";
import { sqliteWriterThreadScript } from "../../../src/leader/streaming/sqlite-worker-row-store";

const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
/** What the compiled worker is made of: newer sources mean the build is out of date. */
const WORKER_SOURCES = [
  "src/leader/streaming/sqlite-writer-worker.ts",
  "src/leader/streaming/sqlite-batch.ts",
  "src/leader/streaming/sqlite-connection.ts",
  "src/leader/streaming/row-store.ts",
  "src/leader/db/sqlite-pragmas.ts",
];

export function writerThreadProblem(): string | undefined {
  const script = sqliteWriterThreadScript();
  if (!script) return "dist/src/leader/streaming/sqlite-writer-worker.js is missing (run `npm run build`)";
  const built = statSync(script).mtimeMs;
  const stale = WORKER_SOURCES.filter((f) => statSync(path.join(REPO_ROOT, f)).mtimeMs > built);
  if (stale.length > 0) process.stdout.write(`warning: ${path.relative(REPO_ROOT, script)} is older than ${stale.join(", ")}; run \`npm run build\`\n`);
  return undefined;
}
