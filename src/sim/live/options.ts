/**
 * The flags of `pio serve --simulate`, checked once before anything starts so a typo is reported
 * naming the flag (the CLI turns it into a usage error, exit 2), never a failure halfway through
 * starting the cluster.
 */

/** A bad `--units`, `--speed` or `--seed` value; the message names the flag and what is allowed. */
export class InvalidSimulationFlag extends Error {
  override readonly name = "InvalidSimulationFlag";
}

export interface LiveSimulationOptions {
  /** Simulated unit names, in the order given. */
  units: string[];
  /** Simulated time per real time: 1 = real time. */
  speed: number;
  /** Seeds each unit's culture and sensor noise (derived per unit name). */
  seed: number;
}

export interface LiveSimulationFlags {
  units?: string;
  speed?: string;
  seed?: string;
}

export const DEFAULT_SIM_UNIT_COUNT = 2;
const MAX_SIM_UNITS = 64;
/** Hostname rules (RFC 1123 label), which is also what keeps a name safe in MQTT topics and URL paths. */
const UNIT_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** `sim-unit1 … sim-unitN`. */
export function numberedUnitNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `sim-unit${i + 1}`);
}

/** `--units 3` (a count) or `--units a,b,c` (names); default two units. */
export function parseUnits(text: string | undefined): string[] {
  if (text === undefined) return numberedUnitNames(DEFAULT_SIM_UNIT_COUNT);
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const n = Number(trimmed);
    if (n < 1 || n > MAX_SIM_UNITS) throw new InvalidSimulationFlag(`Invalid value for '--units': ${n} is not between 1 and ${MAX_SIM_UNITS}.`);
    return numberedUnitNames(n);
  }
  const names = trimmed.split(",").map((s) => s.trim());
  if (names.some((n) => n === "")) throw new InvalidSimulationFlag(`Invalid value for '--units': '${text}' has an empty name; give a count (e.g. 3) or names separated by commas.`);
  for (const name of names) {
    if (!UNIT_NAME.test(name)) {
      throw new InvalidSimulationFlag(`Invalid value for '--units': '${name}' is not a valid unit name (letters, digits and '-', at most 63, not starting or ending with '-').`);
    }
  }
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate) throw new InvalidSimulationFlag(`Invalid value for '--units': '${duplicate}' is given twice.`);
  if (names.length > MAX_SIM_UNITS) throw new InvalidSimulationFlag(`Invalid value for '--units': at most ${MAX_SIM_UNITS} units.`);
  return names;
}

export function parseSpeed(text: string | undefined): number {
  if (text === undefined) return 1;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n <= 0) throw new InvalidSimulationFlag(`Invalid value for '--speed': '${text}' is not a positive number (1 = real time).`);
  return n;
}

export function parseSeed(text: string | undefined): number {
  if (text === undefined) return 1;
  if (!/^-?\d+$/.test(text.trim())) throw new InvalidSimulationFlag(`Invalid value for '--seed': '${text}' is not an integer.`);
  return Number(text);
}

/** Every flag checked; throws InvalidSimulationFlag naming the first bad one. */
export function parseLiveSimulationFlags(flags: LiveSimulationFlags): LiveSimulationOptions {
  return { units: parseUnits(flags.units), speed: parseSpeed(flags.speed), seed: parseSeed(flags.seed) };
}

/** The leader cannot also be one of its simulated workers; known only once config.ini is read. */
export function refuseLeaderAsSimulatedUnit(units: readonly string[], leader: string): void {
  if (units.includes(leader)) {
    throw new InvalidSimulationFlag(`Invalid value for '--units': '${leader}' is the leader's name ([cluster.topology] leader_hostname); pick another.`);
  }
}
