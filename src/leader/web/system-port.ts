/**
 * The operating system as the web server's admin routes touch it: power, the clock, services,
 * package installs. Everything goes through `SystemPort.run` (a program and its arguments, never
 * a shell), so tests and laptops can supply a port that records instead of rebooting.
 */
import fs from "node:fs";

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  cwd?: string;
}

export interface SystemPort {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** Power, clock and software-update routes act only on a Raspberry Pi. */
  isRaspberryPi(): boolean;
}

/** The original's test for a Pi: the device-tree model names one. */
export function readIsRaspberryPi(modelFile = "/proc/device-tree/model"): boolean {
  try {
    return fs.readFileSync(modelFile, "utf8").includes("Raspberry Pi");
  } catch {
    return false;
  }
}

/** Runs programs with `execFile` (no shell); a program that cannot start reports exit code 127. */
export function processSystemPort(): SystemPort {
  return {
    isRaspberryPi: () => readIsRaspberryPi(),
    run: (command, args, options = {}) =>
      new Promise((resolve) => {
        const { execFile } = require("node:child_process") as typeof import("node:child_process");
        execFile(
          command,
          [...args],
          { timeout: options.timeoutMs ?? 120_000, cwd: options.cwd, maxBuffer: 16 * 1024 * 1024 },
          (err, stdout, stderr) => {
            const code = err ? (typeof (err as NodeJS.ErrnoException).code === "number" ? Number((err as NodeJS.ErrnoException).code) : 127) : 0;
            resolve({ exitCode: code, stdout: String(stdout), stderr: String(stderr || (err && !stderr ? err.message : "")) });
          },
        );
      }),
  };
}

/** The last non-empty line of a command's output, for error messages. */
export function lastOutputLine(result: CommandResult): string {
  const lines = `${result.stdout}\n${result.stderr}`.split("\n").map((l) => l.trim());
  return lines.filter((l) => l.length > 0).pop() ?? "";
}
