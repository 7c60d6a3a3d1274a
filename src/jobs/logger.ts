/**
 * Job logging with the original's three sinks: MQTT (`pioreactor/<unit>/<exp>/logs/<source>/<level>`,
 * QoS 0, the UI and the database read it), the unit's log file, and the console (stderr).
 * The MQTT payload keeps the original's key order and ASCII escaping so the leader and UI parse it unchanged.
 */
import fs from "node:fs";
import type { PubSubClient } from "../pubsub/types";
import type { Clock } from "../util/clock";
import { formatMillisTimestamp, pythonJsonDumps } from "../util/python-format";

export type LogLevel = "DEBUG" | "INFO" | "NOTICE" | "WARNING" | "ERROR" | "CRITICAL";

export const LOG_LEVEL_NUMBERS: Record<LogLevel, number> = {
  DEBUG: 10,
  INFO: 20,
  NOTICE: 25,
  WARNING: 30,
  ERROR: 40,
  CRITICAL: 50,
};

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  notice(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  critical(message: string): void;
  log(level: LogLevel, message: string): void;
}

/** Somewhere a formatted log record goes. */
export interface LogSink {
  write(record: LogRecord): void;
}

export interface LogRecord {
  level: LogLevel;
  /** The logger name: the job name, `experiment_profile/<id>`, `CLI` … */
  task: string;
  /** `app` for core code, the plugin name for plugins, `ui` for UI posts. */
  source: string;
  unit: string;
  experiment: string;
  message: string;
  timeMs: number;
}

const ANSI_ESCAPE = /\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])/g;

/** Message text as the original sends it over MQTT: ANSI codes stripped, CR and CRLF turned into LF. */
export function normaliseLogMessage(message: string): string {
  return message.replace(/\r\n/g, "\n").replace(/\r/g, "\n").replace(ANSI_ESCAPE, "");
}

/** The MQTT log payload, byte for byte as the original's JSON formatter writes it. */
export function encodeLogPayload(record: LogRecord): string {
  return pythonJsonDumps(
    {
      taskName: null,
      source: record.source,
      task: record.task,
      message: normaliseLogMessage(record.message),
      level: record.level,
      timestamp: formatMillisTimestamp(record.timeMs),
    },
    { compact: true },
  );
}

export function logTopic(unit: string, experiment: string, source: string, level: LogLevel): string {
  return `pioreactor/${unit}/${experiment}/logs/${source}/${level.toLowerCase()}`;
}

/** Python's `%Y-%m-%dT%H:%M:%S%z` in local time, as the original's file and console lines begin. */
export function formatLocalLogTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(Math.abs(n)).padStart(w, "0");
  const offsetMin = -d.getTimezoneOffset();
  const sign = offsetMin >= 0 ? "+" : "-";
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}` +
    `${sign}${p(Math.floor(Math.abs(offsetMin) / 60))}${p(Math.abs(offsetMin) % 60)}`
  );
}

export class MqttLogSink implements LogSink {
  constructor(private readonly client: PubSubClient) {}

  write(record: LogRecord): void {
    if (!this.client.isConnected()) return;
    // Fire and forget: logging must never block or fail a job; QoS 0 as in the original.
    this.client
      .publish(logTopic(record.unit, record.experiment, record.source, record.level), encodeLogPayload(record), {
        qos: 0,
      })
      .catch(() => undefined);
  }
}

/** Appends `<time> [<task>] <LEVEL> <message>` lines, as the original's `[logging] log_file` handler. */
export class FileLogSink implements LogSink {
  constructor(private readonly file: string) {}

  write(record: LogRecord): void {
    const line = `${formatLocalLogTime(record.timeMs)} [${record.task}] ${record.level.padEnd(2)} ${record.message}\n`;
    try {
      fs.appendFileSync(this.file, line);
    } catch {
      // An unwritable log file (e.g. /var/log without permission on a laptop) must not stop a job.
    }
  }
}

const COLOURS: Record<LogLevel, string> = {
  DEBUG: "\x1b[36m",
  INFO: "\x1b[32m",
  NOTICE: "\x1b[32m",
  WARNING: "\x1b[33m",
  ERROR: "\x1b[31m",
  CRITICAL: "\x1b[31m",
};

export class ConsoleLogSink implements LogSink {
  constructor(
    private readonly minLevel: LogLevel = "DEBUG",
    private readonly stream: NodeJS.WritableStream = process.stderr,
    private readonly colour = Boolean((process.stderr as { isTTY?: boolean }).isTTY),
  ) {}

  write(record: LogRecord): void {
    if (LOG_LEVEL_NUMBERS[record.level] < LOG_LEVEL_NUMBERS[this.minLevel]) return;
    const text = `${formatLocalLogTime(record.timeMs)} ${record.level.padEnd(6)} [${record.task}] ${record.message}`;
    this.stream.write(this.colour ? `${COLOURS[record.level]}${text}\x1b[0m\n` : `${text}\n`);
  }
}

export function parseLogLevel(text: string | undefined, fallback: LogLevel = "DEBUG"): LogLevel {
  const upper = (text ?? "").trim().toUpperCase();
  return upper in LOG_LEVEL_NUMBERS ? (upper as LogLevel) : fallback;
}

export interface LoggerIdentity {
  task: string;
  source: string;
  unit: string;
  experiment: string;
}

/** The per-level methods of `Logger`, for loggers that only need to say what `log` does. */
export abstract class LevelLogger implements Logger {
  abstract log(level: LogLevel, message: string): void;

  debug(message: string): void {
    this.log("DEBUG", message);
  }
  info(message: string): void {
    this.log("INFO", message);
  }
  notice(message: string): void {
    this.log("NOTICE", message);
  }
  warning(message: string): void {
    this.log("WARNING", message);
  }
  error(message: string): void {
    this.log("ERROR", message);
  }
  critical(message: string): void {
    this.log("CRITICAL", message);
  }
}

export class JobLogger extends LevelLogger {
  constructor(
    private readonly identity: LoggerIdentity,
    private readonly clock: Clock,
    private readonly sinks: LogSink[],
  ) {
    super();
  }

  log(level: LogLevel, message: string): void {
    const record: LogRecord = { ...this.identity, level, message, timeMs: this.clock.now() };
    for (const sink of this.sinks) sink.write(record);
  }

  /** The same logger with one more sink (the MQTT sink is added once the job's connection exists). */
  withSink(sink: LogSink): JobLogger {
    return new JobLogger(this.identity, this.clock, [...this.sinks, sink]);
  }

  /** A logger for the same sinks under another task name or experiment. */
  child(overrides: Partial<LoggerIdentity>): JobLogger {
    return new JobLogger({ ...this.identity, ...overrides }, this.clock, this.sinks);
  }
}
