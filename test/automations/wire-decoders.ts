/**
 * Applies the strict decoders of src/pubsub/structs.ts (written from the spec's struct catalogue)
 * to every payload a job published, choosing the decoder by topic, and checks the plain settings
 * against the original's text encodings (Python `str(float)`, `True`/`False`, job states).
 */
import {
  decodeAutomationEvent,
  decodeAutomationSettings,
  decodeAutomationSettingsJson,
  decodeDosingEvent,
  decodeLEDChangeEvent,
  decodeLog,
  decodeTemperature,
  decodeVoltage,
  type Decoded,
} from "../../src/pubsub/structs";
import type { WireLine } from "./wire-capture";

const PY_FLOAT = /^-?(?:\d+\.\d+(?:e[+-]\d+)?|\d+e[+-]\d+|inf|nan)$/;
const STATES = new Set(["init", "ready", "sleeping", "disconnected", "lost"]);
const FLOAT_SETTINGS = new Set([
  "duration",
  "exchange_volume_ml",
  "dosing_volume_ml",
  "target_biomass",
  "target_growth_rate",
  "target_normalized_od",
  "target_temperature",
  "heater_duty_cycle",
]);
/** The spec's PID log, in its field order. */
const PID_LOG_KEYS = ["setpoint", "output_limits_lb", "output_limits_ub", "Kd", "Ki", "Kp", "integral", "proportional", "derivative", "latest_input", "latest_output", "job_name", "target_name"];
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function asError<T>(d: Decoded<T>): string | undefined {
  return d.ok ? undefined : d.error;
}

/** `undefined` when the payload is what the topic should carry, else what is wrong with it. */
export function wireProblem(topic: string, payload: string): string | undefined {
  const parts = topic.split("/");
  const leaf = parts[parts.length - 1];
  const parent = parts[parts.length - 2];
  if (payload === "") return undefined; // a cleared retained value
  if (parts[3] === "logs") return asError(decodeLog(payload));
  if (leaf === "dosing_events") return asError(decodeDosingEvent(payload));
  if (leaf === "led_change_events") return asError(decodeLEDChangeEvent(payload));
  if (parent === "pid_log") {
    const keys = Object.keys(JSON.parse(payload) as object);
    return JSON.stringify(keys) === JSON.stringify(PID_LOG_KEYS) ? undefined : `pid_log keys ${keys.join(",")}`;
  }
  if (leaf === "latest_event") return asError(decodeAutomationEvent(payload));
  if (leaf.endsWith("_automation_settings")) {
    const d = decodeAutomationSettings(payload);
    if (!d.ok) return d.error;
    return asError(decodeAutomationSettingsJson(d.value.settings));
  }
  if (leaf === "$state") return STATES.has(payload) ? undefined : `not a job state: ${payload}`;
  if (parent === "bioreactor" || FLOAT_SETTINGS.has(leaf)) return PY_FLOAT.test(payload) ? undefined : `not a Python float: ${payload}`;
  if (leaf === "button_down") return payload === "True" || payload === "False" ? undefined : `not a Python bool: ${payload}`;
  if (leaf === "voltage_on_pwm_rail") return asError(decodeVoltage(payload));
  if (leaf === "temperature") return asError(decodeTemperature(payload));
  if (leaf === "versions" || leaf === "computer_statistics") {
    const o = JSON.parse(payload) as Record<string, unknown>;
    const keys = leaf === "versions" ? ["app", "hat", "firmware", "hat_serial", "rpi_machine", "timestamp"] : ["available_disk_space", "cpu_temperature_celcius", "timestamp"];
    if (JSON.stringify(Object.keys(o)) !== JSON.stringify(keys)) return `${leaf} keys ${Object.keys(o).join(",")}`;
    return typeof o.timestamp === "string" && ISO_MS.test(o.timestamp) ? undefined : `${leaf}.timestamp: ${String(o.timestamp)}`;
  }
  if (parent === "pwms" && leaf === "dc") {
    const o = JSON.parse(payload) as Record<string, unknown>;
    const bad = Object.entries(o).find(([pin, dc]) => !/^\d+$/.test(pin) || typeof dc !== "number");
    return bad ? `pwms/dc entry ${bad[0]}` : undefined;
  }
  return undefined;
}

/** `topic: problem` for every published payload that fails its decoder. */
export function undecodable(lines: WireLine[]): string[] {
  return lines.flatMap((l) => {
    const problem = wireProblem(l.topic, l.payload);
    return problem ? [`${l.topic}: ${problem}`] : [];
  });
}
