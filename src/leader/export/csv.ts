/**
 * CSV lines as Python's `csv.writer` writes them (minimal quoting, `\r\n` line ends), with
 * SQLite values rendered as the original's export renders them: REALs rounded to 12 decimals
 * and printed like Python floats, NULL as an empty field.
 */
import { formatPyFloat } from "../../util/python-format";

/** Rounds like the original's export row factory (12 decimals) without exponent surprises. */
export function roundTo12(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) >= 1e21) return x;
  return Number(x.toFixed(12));
}

/** One SQLite value as CSV text; integers arrive as bigint (safeIntegers) so REALs are told apart. */
export function renderSqliteValue(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return formatPyFloat(roundTo12(value));
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  return String(value);
}

function quoteField(field: string): string {
  return /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

export function csvLine(fields: string[]): string {
  // Python quotes a row made of one empty field, so the line is not read back as no fields.
  if (fields.length === 1 && fields[0] === "") return '""\r\n';
  return `${fields.map(quoteField).join(",")}\r\n`;
}
