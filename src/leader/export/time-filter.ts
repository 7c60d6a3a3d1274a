/**
 * `--start-time/--end-time`: ISO-8601 with an explicit offset (as the original requires),
 * normalised to the UTC millisecond strings the database stores, so string comparison works.
 */

const OFFSET = /(Z|[+-]\d{2}(:?\d{2})?)$/i;

export class ExportArgumentError extends Error {}

export function parseOffsetTimestamp(label: string, text: string): string {
  const trimmed = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(trimmed)) throw new ExportArgumentError(`${label} is not an ISO-8601 timestamp: ${text}`);
  if (!OFFSET.test(trimmed)) throw new ExportArgumentError(`${label} must include a timezone offset`);
  const ms = Date.parse(trimmed.replace(" ", "T"));
  if (Number.isNaN(ms)) throw new ExportArgumentError(`${label} is not a valid timestamp: ${text}`);
  return new Date(ms).toISOString();
}

export interface TimeWindow {
  start?: string;
  end?: string;
}

export function parseTimeWindow(start: string | undefined, end: string | undefined): TimeWindow {
  const window: TimeWindow = {
    start: start === undefined ? undefined : parseOffsetTimestamp("start_time", start),
    end: end === undefined ? undefined : parseOffsetTimestamp("end_time", end),
  };
  if (window.start && window.end && window.start > window.end) throw new ExportArgumentError("start_time must be earlier than or equal to end_time");
  return window;
}
