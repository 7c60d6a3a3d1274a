/**
 * A progress bar while a `pios` command waits on many units — only on a terminal, where it is
 * drawn on stderr and cleared before results print. cli-progress is loaded only then.
 */

export interface FanoutProgress {
  done(unit: string, ok: boolean): void;
  stop(): void;
}

export const NO_PROGRESS: FanoutProgress = { done() {}, stop() {} };

export function terminalProgress(stream: NodeJS.WriteStream, label: string, total: number): FanoutProgress {
  if (!stream.isTTY || total < 2) return NO_PROGRESS;
  const cliProgress = require("cli-progress") as typeof import("cli-progress");
  const bar = new cliProgress.SingleBar(
    { stream, format: `${label} [{bar}] {value}/{total} units {failed}`, clearOnComplete: true, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let failed = 0;
  bar.start(total, 0, { failed: "" });
  return {
    done(_unit, ok) {
      if (!ok) failed++;
      bar.increment(1, { failed: failed ? `(${failed} failed)` : "" });
    },
    stop() {
      bar.stop();
    },
  };
}

/** Runs `task` on every unit at once (at most `limit` in flight), reporting each outcome. */
export async function fanOut<T>(
  units: string[],
  task: (unit: string) => Promise<{ ok: boolean; value: T }>,
  progress: FanoutProgress,
  limit = units.length,
): Promise<Array<{ unit: string; ok: boolean; value: T }>> {
  const results: Array<{ unit: string; ok: boolean; value: T }> = new Array(units.length);
  let next = 0;
  const worker = async () => {
    while (next < units.length) {
      const i = next++;
      const outcome = await task(units[i]);
      results[i] = { unit: units[i], ...outcome };
      progress.done(units[i], outcome.ok);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, units.length)) }, worker));
  } finally {
    progress.stop();
  }
  return results;
}
