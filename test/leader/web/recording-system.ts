/**
 * A SystemPort for tests: records every command instead of running it (so nothing reboots,
 * re-times or installs), answers with a chosen exit code, and can hold a command until released
 * to test the locks.
 */
import type { CommandResult, SystemPort } from "../../../src/leader/web/system-port";

export interface RecordingSystem extends SystemPort {
  commands: string[][];
  exitCode: number;
  /** While set, `run` waits for `release()` before answering. */
  hold(): void;
  release(): void;
}

export function recordingSystem(isPi: boolean): RecordingSystem {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const sys: RecordingSystem = {
    commands: [],
    exitCode: 0,
    isRaspberryPi: () => isPi,
    async run(command, args): Promise<CommandResult> {
      sys.commands.push([command, ...args]);
      if (gate) await gate;
      return { exitCode: sys.exitCode, stdout: "", stderr: sys.exitCode === 0 ? "" : "it failed" };
    },
    hold() {
      gate = new Promise((r) => {
        open = r;
      });
    },
    release() {
      open?.();
      gate = undefined;
    },
  };
  return sys;
}
