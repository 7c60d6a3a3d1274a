/**
 * The leader's weekly database backup (the original: a systemd timer, Sundays 00:00 local time
 * with up to 5 minutes of random delay). Calendar time, so this uses node-cron and the wall
 * clock rather than the injected `Clock`.
 */
import cron from "node-cron";

export const WEEKLY_BACKUP_CRON = "0 0 * * 0";

export interface ScheduledBackups {
  stop(): Promise<void>;
}

export function scheduleDatabaseBackups(
  runBackup: () => Promise<unknown>,
  opts: { cronExpression?: string; timezone?: string; onError?: (err: unknown) => void } = {},
): ScheduledBackups {
  const expression = opts.cronExpression ?? WEEKLY_BACKUP_CRON;
  if (!cron.validate(expression)) throw new Error(`invalid cron expression for database backups: '${expression}'`);
  const task = cron.schedule(
    expression,
    async () => {
      try {
        await runBackup();
      } catch (err) {
        opts.onError?.(err);
      }
    },
    { name: "backup_database", timezone: opts.timezone, noOverlap: true, maxRandomDelay: 5 * 60_000 },
  );
  return {
    stop: async () => {
      await task.stop();
      await task.destroy();
    },
  };
}
