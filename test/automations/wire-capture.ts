/** Reads a wire capture (`/work/shared/spec/wire` or the repo copy) into comparable lines. */
import fs from "node:fs";
import path from "node:path";

export interface WireLine {
  topic: string;
  retain: boolean;
  qos: number;
  payload: string;
}

export function captureDir(): string | undefined {
  for (const dir of [path.join(__dirname, "..", "..", "docs", "wire"), "/work/shared/spec/wire"]) {
    if (fs.existsSync(dir)) return dir;
  }
  return undefined;
}

export function readCapture(file: string): WireLine[] {
  const dir = captureDir();
  if (!dir) return [];
  return fs
    .readFileSync(path.join(dir, file), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((line) => {
      const m = /^\S+ r=(\d) q=(\d) (\S+) ?(.*)$/.exec(line);
      if (!m) throw new Error(`unreadable capture line: ${line}`);
      return { retain: m[1] === "1", qos: Number(m[2]), topic: m[3], payload: m[4] };
    });
}

/** Timestamps differ run to run; everything else must match byte for byte. */
export function normalise(payload: string): string {
  return payload.replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"/g, '"<ts>"');
}
