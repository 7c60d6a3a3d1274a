/**
 * The compiled `pio` CLI as a child process, for tests that need a real process (signals, exit
 * codes, kill -9): where it is, and a spawn that collects stdout and stderr together.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

export const DIST_PIO = path.join(__dirname, "..", "..", "dist", "src", "cli", "pio.js");

export interface PioChild {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as they arrived. */
  output(): string;
  exited: Promise<number | null>;
}

export function startPio(args: string[], env: NodeJS.ProcessEnv): PioChild {
  const child = spawn(process.execPath, [DIST_PIO, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}
