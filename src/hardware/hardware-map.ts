/**
 * Resolves which pins, I²C addresses and ADC channels a unit has, from its HAT revision and
 * model. The facts live in YAML: built-in descriptions shipped with pioreactor-ts, overridden by
 * the unit's own `~/.pioreactor/hardware/` tree in the original software's layout
 * (`hats/<hat>/<mod>.yaml`, `models/<model>/<version>/<mod>.yaml`), so a unit set up for the
 * Python software keeps its wiring when it switches.
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { HardwareDescriptionError } from "./errors";
import type { AdcDriverKind, GpioPin, PwmChannel } from "./ports";
import { PWM_CHANNELS } from "./ports";

/** The subsystems a description covers, one unit file each. */
export const DESCRIPTION_MODS = ["pwm", "gpio", "adc", "dac", "temp"] as const;
export type DescriptionMod = (typeof DESCRIPTION_MODS)[number];

export interface AdcInputDescription {
  name: string;
  driver: AdcDriverKind;
  address: number;
  channel: number;
}

export interface HardwareMap {
  hatVersion: string;
  modelName: string;
  modelVersion: string;
  pwm: {
    /** Who generates PWM; the original declares it but always uses the Pi's GPIO. */
    controller: "rpi_gpio" | "hat_mcu" | null;
    heaterChannel: PwmChannel;
    channelToPin: Record<PwmChannel, GpioPin>;
  };
  gpio: { pcbLedPin: GpioPin; pcbButtonPin: GpioPin; hallSensorPin: GpioPin; sdaPin: GpioPin; sclPin: GpioPin };
  /** By description name: `pd1`..`pd4`, `aux`, `version`. */
  adc: Record<string, AdcInputDescription>;
  dac: { address: number; driver: "pico" | "dac43608" };
  temp: { address: number };
  /** Every file that contributed, lowest precedence first (for error messages and `pio` diagnostics). */
  sources: string[];
}

export interface HardwareMapRequest {
  /** HAT revision as text, e.g. "1.2" (env `HARDWARE`, or the HAT EEPROM's product_ver). */
  hatVersion: string;
  modelName: string;
  modelVersion: string;
  /** The unit's `$DOT_PIOREACTOR/hardware` directory; omit to use built-ins only. */
  unitHardwareDir?: string;
  /** Built-in descriptions; defaults to the ones shipped with pioreactor-ts. `null` disables them. */
  builtinDir?: string | null;
}

/** The built-in descriptions folder, found both from `src/` (tests, ts-node) and from `dist/src/`. */
export function builtinDescriptionsDir(): string {
  const candidates = [
    path.join(__dirname, "descriptions"),
    path.join(__dirname, "..", "..", "..", "src", "hardware", "descriptions"),
  ];
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, "hats"))) return dir;
  }
  return candidates[0];
}

type Doc = Record<string, unknown>;

interface Layer {
  file: string;
  data: Doc;
}

function isMapping(v: unknown): v is Doc {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function readYamlMapping(file: string): Doc | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new HardwareDescriptionError(`Cannot read hardware description ${file}: ${(err as Error).message}`, [file]);
  }
  let data: unknown;
  try {
    // YAML 1.1 like the original's loader: 0x2C is a number, yes/no are booleans.
    data = parseYaml(text, { version: "1.1" });
  } catch (err) {
    throw new HardwareDescriptionError(
      `Hardware description ${file} is not valid YAML: ${(err as Error).message}. Fix or delete the file.`,
      [file],
    );
  }
  if (data === null || data === undefined) return {};
  if (!isMapping(data)) {
    throw new HardwareDescriptionError(`Hardware description ${file} must be a mapping of keys to values.`, [file]);
  }
  return data;
}

function deepMerge(base: Doc, over: Doc): Doc {
  const out: Doc = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const existing = out[k];
    out[k] = isMapping(existing) && isMapping(v) ? deepMerge(existing, v) : v;
  }
  return out;
}

/** Layers for one mod, lowest precedence first. */
function collectLayers(req: HardwareMapRequest, mod: DescriptionMod): Layer[] {
  const layers: Layer[] = [];
  const builtin = req.builtinDir === undefined ? builtinDescriptionsDir() : req.builtinDir;
  const fromBuiltin = (file: string) => {
    const doc = readYamlMapping(file);
    if (doc === undefined) return;
    const section = doc[mod];
    if (section === undefined || section === null) return;
    if (!isMapping(section)) {
      throw new HardwareDescriptionError(`Section '${mod}' in ${file} must be a mapping.`, [file]);
    }
    layers.push({ file: `${file} [${mod}]`, data: section });
  };
  const fromUnit = (file: string) => {
    const doc = readYamlMapping(file);
    if (doc !== undefined) layers.push({ file, data: doc });
  };
  if (builtin) fromBuiltin(path.join(builtin, "hats", `${req.hatVersion}.yaml`));
  if (req.unitHardwareDir) fromUnit(path.join(req.unitHardwareDir, "hats", req.hatVersion, `${mod}.yaml`));
  if (builtin) fromBuiltin(path.join(builtin, "models", req.modelName, `${req.modelVersion}.yaml`));
  if (req.unitHardwareDir) {
    fromUnit(path.join(req.unitHardwareDir, "models", req.modelName, req.modelVersion, `${mod}.yaml`));
  }
  return layers;
}

/** Where a user should put a missing key: the unit's HAT file for that mod. */
function suggestedFile(req: HardwareMapRequest, mod: DescriptionMod): string {
  const base = req.unitHardwareDir ?? "~/.pioreactor/hardware";
  return path.join(base, "hats", req.hatVersion, `${mod}.yaml`);
}

class ModReader {
  constructor(
    private readonly req: HardwareMapRequest,
    readonly mod: DescriptionMod,
    readonly layers: Layer[],
    readonly data: Doc,
  ) {}

  private fail(what: string): never {
    const files = this.layers.map((l) => l.file);
    const consulted = files.length > 0 ? files.join(", ") : "no file (none exists)";
    throw new HardwareDescriptionError(
      `Hardware description for HAT ${this.req.hatVersion} / ${this.req.modelName} ${this.req.modelVersion}: ${what} ` +
        `(mod '${this.mod}', read from: ${consulted}). Add it to ${suggestedFile(this.req, this.mod)}.`,
      files,
    );
  }

  integer(value: unknown, where: string): number {
    const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) this.fail(`'${where}' must be a non-negative integer, got ${JSON.stringify(value)}`);
    return n;
  }

  requireInt(key: string): number {
    if (!(key in this.data)) this.fail(`missing key '${key}'`);
    return this.integer(this.data[key], key);
  }

  optionalInt(key: string, fallback: number): number {
    return key in this.data ? this.integer(this.data[key], key) : fallback;
  }

  requireMapping(key: string): Doc {
    const v = this.data[key];
    if (v === undefined) this.fail(`missing key '${key}'`);
    if (!isMapping(v)) this.fail(`'${key}' must be a mapping`);
    return v;
  }

  error(what: string): never {
    return this.fail(what);
  }
}

function isPwmChannel(s: string): s is PwmChannel {
  return (PWM_CHANNELS as readonly string[]).includes(s);
}

const ADC_DRIVERS: readonly AdcDriverKind[] = ["pico", "ads1114", "ads1115"];

/**
 * Loads and validates the description for one HAT revision and model. Throws
 * HardwareDescriptionError naming the files involved when a file is malformed, a required key is
 * missing, or nothing at all describes the HAT revision.
 */
export function loadHardwareMap(req: HardwareMapRequest): HardwareMap {
  const readers = {} as Record<DescriptionMod, ModReader>;
  const sources: string[] = [];
  for (const mod of DESCRIPTION_MODS) {
    const layers = collectLayers(req, mod);
    readers[mod] = new ModReader(req, mod, layers, layers.reduce<Doc>((acc, l) => deepMerge(acc, l.data), {}));
    for (const l of layers) if (!sources.includes(l.file.replace(/ \[\w+\]$/, ""))) sources.push(l.file.replace(/ \[\w+\]$/, ""));
  }
  if (DESCRIPTION_MODS.every((m) => readers[m].layers.length === 0)) {
    const builtin = req.builtinDir === undefined ? builtinDescriptionsDir() : req.builtinDir;
    const looked = [
      builtin ? path.join(builtin, "hats", `${req.hatVersion}.yaml`) : undefined,
      req.unitHardwareDir ? path.join(req.unitHardwareDir, "hats", req.hatVersion, "<mod>.yaml") : undefined,
    ].filter((s): s is string => s !== undefined);
    throw new HardwareDescriptionError(
      `No hardware description for HAT version ${req.hatVersion}: none of ${looked.join(", ")} exist. ` +
        `Set HARDWARE=<x.y> to a described revision (1.0, 1.1, 1.2) or create the files for ${req.hatVersion}.`,
      looked,
    );
  }

  const pwmR: ModReader = readers.pwm;
  const rawPins = pwmR.requireMapping("pwm_to_pin");
  const channelToPin = {} as Record<PwmChannel, GpioPin>;
  for (const [k, v] of Object.entries(rawPins)) {
    if (!isPwmChannel(k)) pwmR.error(`'pwm_to_pin' has unknown channel '${k}' (expected 1..5)`);
    channelToPin[k] = pwmR.integer(v, `pwm_to_pin.${k}`);
  }
  const heater = String(pwmR.data["heater_pwm_channel"] ?? "");
  if (heater === "") pwmR.error("missing key 'heater_pwm_channel'");
  if (!isPwmChannel(heater) || channelToPin[heater] === undefined) {
    pwmR.error(`'heater_pwm_channel' is '${heater}', which is not a channel in 'pwm_to_pin'`);
  }
  const controllerRaw = pwmR.data["controller"];
  if (controllerRaw !== undefined && controllerRaw !== "rpi_gpio" && controllerRaw !== "hat_mcu") {
    pwmR.error(`'controller' must be rpi_gpio or hat_mcu, got ${JSON.stringify(controllerRaw)}`);
  }

  const gpioR: ModReader = readers.gpio;
  const gpio = {
    pcbLedPin: gpioR.requireInt("pcb_led_pin"),
    pcbButtonPin: gpioR.requireInt("pcb_button_pin"),
    hallSensorPin: gpioR.requireInt("hall_sensor_pin"),
    sdaPin: gpioR.optionalInt("sda_pin", 2),
    sclPin: gpioR.optionalInt("scl_pin", 3),
  };

  const adcR: ModReader = readers.adc;
  const adc: Record<string, AdcInputDescription> = {};
  for (const [name, entry] of Object.entries(adcR.data)) {
    if (!isMapping(entry)) adcR.error(`ADC input '${name}' must be a mapping with driver, address and channel`);
    for (const key of ["driver", "address", "channel"]) {
      if (entry[key] === undefined) adcR.error(`ADC input '${name}' is missing '${key}'`);
    }
    const driver = String(entry["driver"]).toLowerCase() as AdcDriverKind;
    if (!ADC_DRIVERS.includes(driver)) {
      adcR.error(`ADC input '${name}' has driver '${String(entry["driver"])}' (expected ${ADC_DRIVERS.join(", ")})`);
    }
    const channel = adcR.integer(entry["channel"], `${name}.channel`);
    if (channel > 3 || (driver === "ads1114" && channel !== 0)) {
      adcR.error(`ADC input '${name}' has channel ${channel}, which a ${driver} does not have`);
    }
    adc[name] = { name, driver, address: adcR.integer(entry["address"], `${name}.address`), channel };
  }

  const dacR: ModReader = readers.dac;
  const dacDriverRaw = dacR.data["driver"];
  // Unit files written for the original carry no driver: it follows the HAT revision there.
  const dacDriver = dacDriverRaw === undefined ? (hatAtMost(req.hatVersion, 1, 0) ? "dac43608" : "pico") : dacDriverRaw;
  if (dacDriver !== "pico" && dacDriver !== "dac43608") dacR.error(`'driver' must be pico or dac43608`);

  return {
    hatVersion: req.hatVersion,
    modelName: req.modelName,
    modelVersion: req.modelVersion,
    pwm: {
      controller: (controllerRaw as "rpi_gpio" | "hat_mcu" | undefined) ?? null,
      heaterChannel: heater as PwmChannel,
      channelToPin,
    },
    gpio,
    adc,
    dac: { address: dacR.requireInt("address"), driver: dacDriver },
    temp: { address: readers.temp.requireInt("address") },
    sources,
  };
}

function hatAtMost(version: string, major: number, minor: number): boolean {
  const [a, b] = version.split(".").map((s) => Number.parseInt(s, 10));
  return a < major || (a === major && (b ?? 0) <= minor);
}

/** Photodiode inputs keyed by channel number as used in `[od_config.photodiode_channel]` ("1".."4"). */
export function photodiodeInputs(map: HardwareMap): Record<string, AdcInputDescription> {
  const out: Record<string, AdcInputDescription> = {};
  for (const [name, d] of Object.entries(map.adc)) {
    if (name.startsWith("pd")) out[name.slice(2)] = d;
  }
  return out;
}

/** GPIO pin behind a HAT PWM channel; throws naming the description files if the channel is absent. */
export function pinForPwmChannel(map: HardwareMap, channel: PwmChannel): GpioPin {
  const pin = map.pwm.channelToPin[channel];
  if (pin === undefined) {
    throw new HardwareDescriptionError(
      `PWM channel ${channel} has no pin in the hardware description (pwm.pwm_to_pin in ${map.sources.join(", ")}).`,
      map.sources,
    );
  }
  return pin;
}

/** Distinct I²C addresses of all ADC inputs (the original's model↔HAT compatibility probe). */
export function adcAddresses(map: HardwareMap): number[] {
  return [...new Set(Object.values(map.adc).map((d) => d.address))].sort((a, b) => a - b);
}
