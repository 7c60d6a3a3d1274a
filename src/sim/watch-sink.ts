/**
 * The log lines of a simulated run worth showing the person watching it: the profile's notices,
 * warnings and errors, and every job's errors. Everything else reaches the database only.
 */
import { type LogRecord, type LogSink, LOG_LEVEL_NUMBERS } from "../jobs/logger";

export class WatchSink implements LogSink {
  constructor(private readonly log: (line: string) => void) {}

  write(r: LogRecord): void {
    const important = r.task.startsWith("experiment_profile") ? LOG_LEVEL_NUMBERS[r.level] >= LOG_LEVEL_NUMBERS.NOTICE : LOG_LEVEL_NUMBERS[r.level] >= LOG_LEVEL_NUMBERS.ERROR;
    if (important) this.log(`${new Date(r.timeMs).toISOString()} ${r.unit} ${r.task} ${r.level}: ${r.message}`);
  }
}
