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

/**
 * A payload with what legitimately differs between runs reduced to its format: timestamps keep
 * their format (`<ts.us>` is msgspec's `…ss.ffffffZ`, which drops the fraction at a whole second;
 * `<ts.ms>` the millisecond form of logs and `current_utc_timestamp()`), the unit
 * name becomes `leader`, and the base64 `settings` of an automation settings message is decoded
 * so a mismatch shows which setting differs.
 */
export function payloadShape(payload: string, unit = "leader"): string {
  let out = payload.replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?Z"/g, (_, frac: string | undefined) =>
    frac?.length === 3 ? '"<ts.ms>"' : frac === undefined || frac.length === 6 ? '"<ts.us>"' : `"<ts.${frac.length}>"`,
  );
  if (unit !== "leader") out = out.split(unit).join("leader");
  return out.replace(/"settings":"([A-Za-z0-9+/=]+)"/, (_, b64: string) => `"settings":<${Buffer.from(b64, "base64").toString("utf8")}>`);
}

/** `suffix r=<0|1> q=<qos> <payload shape>`, the unit of comparison with a capture. */
export function shapeLine(line: WireLine, prefix: string, unit = "leader"): string {
  return `${line.topic.slice(prefix.length)} r=${line.retain ? 1 : 0} q=${line.qos} ${payloadShape(line.payload, unit)}`.trimEnd();
}

/**
 * What stays retained under the dosing topics after a dosing automation stopped: ours (from a
 * retained snapshot under `prefix`) and capture 13's (under `capturePrefix`), as sorted
 * `subtopic payload` lines.
 */
export function dosingRetainedLines(retained: Map<string, string>, prefix: string, capturePrefix: string): { ours: string[]; capture13: string[] } {
  const kept = (p: string) => /^(dosing_automation|add_media|remove_waste|bioreactor)\//.test(p);
  const ours = [...retained].map(([t, v]) => `${t.slice(prefix.length)} ${v}`).filter(kept).sort();
  const capture13 = readCapture("13_retained_snapshot_end.txt")
    .filter((l) => l.topic.startsWith(capturePrefix) && kept(l.topic.slice(capturePrefix.length)))
    .map((l) => `${l.topic.slice(capturePrefix.length)} ${l.payload}`)
    .sort();
  return { ours, capture13 };
}
