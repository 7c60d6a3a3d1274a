/** Reads the wire captures in /work/shared/spec/wire (`<time> r=<0|1> q=<qos> <topic> <payload>`). */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const WIRE_DIR = "/work/shared/spec/wire";

export interface CapturedMessage {
  file: string;
  time: string;
  retain: boolean;
  qos: number;
  topic: string;
  payload: string;
}

const LINE = /^(\S+) r=([01]) q=([012]) (\S+)(?: (.*))?$/;

export function readWireCaptures(): CapturedMessage[] {
  if (!existsSync(WIRE_DIR)) return [];
  const out: CapturedMessage[] = [];
  for (const file of readdirSync(WIRE_DIR).filter((f) => f.endsWith(".txt")).sort()) {
    for (const line of readFileSync(join(WIRE_DIR, file), "utf8").split("\n")) {
      const m = LINE.exec(line);
      if (!m) continue; // HTTP exchanges and blank lines
      out.push({ file, time: m[1], retain: m[2] === "1", qos: Number(m[3]), topic: m[4], payload: m[5] ?? "" });
    }
  }
  return out;
}
