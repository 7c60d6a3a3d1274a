/**
 * `monitor`: the always-on, experiment-independent job of a unit (experiment `$experiment`). It
 * publishes versions and computer statistics, checks the power rail, blinks the PCB LED on
 * request, and — the part everything else depends on — owns the vial's liquid bookkeeping: every
 * `dosing_events` message of this unit (any experiment) is applied to the persistent
 * `bioreactor` cache and republished retained on `bioreactor/*`.
 *
 * Anything that touches the Pi itself (disk, CPU temperature, network, LED, button) comes in
 * through `MonitorSystem`, so the job runs unchanged off a Pi and in tests.
 */
import { type BioreactorState, bioreactorTopic, encodeBioreactorValue } from "../automations/bioreactor-state";
import type { HardwareBackend } from "../hardware/ports";
import { decodeDosingEvent } from "../pubsub/structs";
import type { MqttMessage } from "../pubsub/types";
import { formatMillisTimestamp, formatPayloadTimestamp, PyInt } from "../util/python-format";
import { BackgroundJob, type JobDeps } from "./background-job";
import { type JobCommand, runInForeground } from "./job-command";

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export const MONITOR_EXPERIMENT = "$experiment";
const AUX_DIVIDER = 0.134;
/** The original's error code for a power problem (LED blinks 7 times). */
const VOLTAGE_PROBLEM = 7;

/** The host the monitor runs on. Off a Pi the LED and button are absent (no-ops, members left out). */
export interface MonitorSystem {
  versions(): { app: string; hat: string; firmware: string; hat_serial: string; rpi_machine: string };
  freeDiskGb(): Promise<number>;
  cpuTemperatureC(): Promise<number>;
  ipv4Addresses(): string[];
  macAddress(kind: "wlan" | "eth"): string;
  flickerOk(): Promise<void>;
  flickerErrorCode(code: number): Promise<void>;
  /** Claims the PCB LED (and the button when asked); throws when the lines cannot be had. */
  openLedAndButton?(opts: { button: boolean }): void;
  setLed?(on: boolean): void;
  /** `listener(true)` on press, `listener(false)` on release. */
  onButton?(listener: (down: boolean) => void): () => void;
  /** LED off, lines released. */
  release?(): Promise<void>;
}

/** `[monitor.config] enable_button`: `auto` enables the button except on single-core Pis (where its callbacks cost too much). */
export function buttonControlsEnabled(configValue: string, cpuCount: number): boolean {
  const value = configValue.trim().toLowerCase();
  if (value === "auto") return cpuCount !== 1;
  if (["1", "true", "yes", "on"].includes(value)) return true;
  if (["0", "false", "no", "off"].includes(value)) return false;
  throw new Error("[monitor.config] enable_button must be one of: auto, true, false.");
}

export interface MonitorOptions {
  system: MonitorSystem;
  bioreactor: BioreactorState;
  /** For the AUX rail voltage; undefined on the leader without a HAT. */
  backend?: HardwareBackend;
  /** `[monitor.config] self_check_interval_hours` (0 = once). */
  selfCheckIntervalHours?: number;
  /** CPU cores, for `enable_button=auto`; defaults to 2 (button enabled). */
  cpuCount?: number;
}

export class Monitor extends BackgroundJob {
  private readonly options: MonitorOptions;

  constructor(deps: JobDeps, options: MonitorOptions) {
    super(
      { ...deps, experiment: MONITOR_EXPERIMENT },
      {
        jobName: "monitor",
        longRunning: true,
        settings: {
          computer_statistics: { datatype: "json", settable: false },
          button_down: { datatype: "boolean", settable: false },
          versions: { datatype: "json", settable: true },
          voltage_on_pwm_rail: { datatype: "Voltage", settable: false },
          ipv4: { datatype: "string", settable: false },
          wlan_mac_address: { datatype: "string", settable: false },
          eth_mac_address: { datatype: "string", settable: false },
        },
      },
    );
    this.options = options;
    this.setters.versions = (v) => this.mergeVersions(v);
  }

  protected override async setup(): Promise<void> {
    const versions = { ...this.options.system.versions(), timestamp: formatMillisTimestamp(this.clock.now()) };
    this.setSetting("versions", versions);
    this.logger.debug(`Pioreactor software version: ${versions.app}`);
    this.logger.debug(`Raspberry Pi: ${versions.rpi_machine}`);
    this.logger.debug(`Pioreactor HAT version: ${versions.hat}`);
    this.logger.debug(`Pioreactor firmware version: ${versions.firmware}`);
    this.logger.debug(`Pioreactor HAT serial number: ${versions.hat_serial}`);
    this.setSetting("button_down", false);
    this.setUpLedAndButton();
    // The original starts its first self-check here, and that check begins by resetting the button.
    this.resetButton();
  }

  /** Like the original, a unit whose LED or button cannot be claimed still runs: the failure is only logged. */
  private setUpLedAndButton(): void {
    const s = this.options.system;
    if (!s.openLedAndButton) return;
    let button = true;
    try {
      button = buttonControlsEnabled(this.config.get("monitor.config", "enable_button") ?? "auto", this.options.cpuCount ?? 2);
    } catch (e) {
      this.logger.warning(`${errorText(e)} Defaulting to enabled.`);
    }
    try {
      s.openLedAndButton({ button });
    } catch (e) {
      this.logger.debug(`Skipping LED / button controls: setup failed. ${errorText(e)}`);
      return;
    }
    if (!button) {
      this.logger.debug("Button controls disabled by monitor.config.enable_button.");
      return;
    }
    s.onButton?.((down) => this.onButtonEdge(down));
  }

  /**
   * Press: `button_down` true, `$state` republished (so the UI sees the unit), LED on; release:
   * `button_down` false, LED off. lg may report a level twice, so every step is idempotent.
   */
  private onButtonEdge(down: boolean): void {
    if (this.state === "disconnected") return;
    this.setSetting("button_down", down);
    if (down) this.publishRaw(this.settingTopic("$state"), this.state, { qos: 2, retain: true });
    this.options.system.setLed?.(down);
  }

  protected override async onDisconnected(): Promise<void> {
    await this.options.system.release?.();
  }

  /** `versions/set` merges only the keys the monitor knows (what `pio update app` sends). */
  private mergeVersions(value: unknown): void {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new Error('versions must be a JSON object such as {"app": "26.7.2", "timestamp": "…"}.');
    }
    const current = { ...(this.getSetting<Record<string, unknown>>("versions") ?? {}) };
    for (const [k, v] of Object.entries(value)) if (k in current) current[k] = v;
    this.setSetting("versions", current);
  }

  protected override async onReady(): Promise<void> {
    await this.reportNetworkAndStatistics();
    await this.flickerOkAndRepublishState();
    this.logger.notice(`${this.unit} is online and ready.`);
    const hours = this.options.selfCheckIntervalHours ?? this.config.getFloat("monitor.config", "self_check_interval_hours", 12);
    if (hours > 0) {
      this.every(hours * 3_600_000, async () => {
        this.resetButton();
        await this.reportNetworkAndStatistics();
      });
    }
    if (this.options.backend) {
      // One-shot through `every` so shutdown cancels it like any other timer of the job.
      const once = this.every(5000, async () => {
        once.cancel();
        await this.checkPowerRail();
      });
    }
  }

  private resetButton(): void {
    this.setSetting("button_down", false);
  }

  /**
   * The "I'm here" answer (start-up, the UI's identify button): blink the LED where there is one,
   * then republish `$state`, which tells the UI the unit is alive.
   */
  private async flickerOkAndRepublishState(): Promise<void> {
    await this.options.system.flickerOk();
    this.publishRaw(this.settingTopic("$state"), this.state, { qos: 2, retain: true });
  }

  private async reportNetworkAndStatistics(): Promise<void> {
    const s = this.options.system;
    this.setSetting("ipv4", s.ipv4Addresses().join(", ") || "");
    this.setSetting("wlan_mac_address", s.macAddress("wlan"));
    this.setSetting("eth_mac_address", s.macAddress("eth"));
    const freeGb = await s.freeDiskGb();
    if (freeGb >= 3) this.logger.debug(`Available disk space: ${freeGb.toFixed(1)}GB.`);
    else {
      this.logger.warning(`Available disk space: ${freeGb.toFixed(1)}GB. Export and delete experiments to free up space.`);
      await s.flickerErrorCode(3);
    }
    const cpu = Math.round(await s.cpuTemperatureC());
    if (cpu <= 80) this.logger.debug(`CPU temperature at ${cpu} ℃.`);
    else {
      this.logger.warning(`CPU temperature at ${cpu} ℃.`);
      await s.flickerErrorCode(6);
    }
    this.setSetting("computer_statistics", {
      available_disk_space: freeGb,
      cpu_temperature_celcius: new PyInt(cpu),
      timestamp: formatMillisTimestamp(this.clock.now()),
    });
  }

  private async checkPowerRail(): Promise<void> {
    const backend = this.options.backend;
    if (!backend || this.state === "disconnected" || !backend.adc.inputNames().includes("aux")) return;
    const volts = Math.round(((await backend.adc.input("aux").readVolts()) / AUX_DIVIDER) * 100) / 100;
    this.logger.debug(`PWM power supply at ~${volts.toFixed(2)}V.`);
    this.setSetting("voltage_on_pwm_rail", { timestamp: formatPayloadTimestamp(this.clock.now()), voltage: volts });
    if (volts <= 4.8) {
      this.logger.warning(
        `Low-voltage detected on rail. PWM power supply at ${volts.toFixed(1)}V. Suggestion: use a better power supply or an AUX power. See docs at: https://docs.pioreactor.com/user-guide/external-power`,
      );
      await this.options.system.flickerErrorCode(VOLTAGE_PROBLEM);
    } else {
      this.logger.debug("Power status okay.");
    }
  }

  protected override async startPassiveListeners(): Promise<void> {
    await this.subscribe(
      [`pioreactor/${this.unit}/+/monitor/flicker_led_response_okay`, `pioreactor/$broadcast/+/monitor/flicker_led_response_okay`],
      () => this.flickerOkAndRepublishState(),
      { qos: 1, allowRetained: false, serialised: false },
    );
    await this.subscribe(
      `pioreactor/${this.unit}/+/monitor/flicker_led_with_error_code`,
      (m) => this.options.system.flickerErrorCode(Number(m.payload.toString("utf8"))),
      { qos: 1, allowRetained: false, serialised: false },
    );
    // Serialised: events must be applied one at a time, in arrival order, or volumes drift.
    await this.subscribe(`pioreactor/${this.unit}/+/dosing_events`, (m) => this.applyDosingEvent(m), { qos: 1, allowRetained: false });
  }

  /** The bioreactor projection (see bioreactor-state.ts); a bad event is logged and changes nothing. */
  applyDosingEvent(message: MqttMessage): void {
    const experiment = message.topic.split("/")[2];
    const log = this.logger.child({ task: "bioreactor", experiment });
    const decoded = decodeDosingEvent(message.payload);
    if (!decoded.ok) {
      log.warning(`Ignoring malformed dosing event: ${decoded.error}`);
      return;
    }
    if (decoded.value.source_of_event === "pump_calibration") return;
    try {
      for (const [variable, value] of this.options.bioreactor.applyDosingEvent(experiment, decoded.value)) {
        this.publishRaw(bioreactorTopic(this.unit, experiment, variable), encodeBioreactorValue(value), { qos: 2, retain: true });
      }
    } catch (e) {
      log.warning(e instanceof Error ? e.message : String(e));
    }
  }
}

/** A host without Pi peripherals: no LED, no button, numbers from Node's `os`/`fs`. */
export function nodeMonitorSystem(appVersion: string, hat: { version: string; firmware: string; serial: string }): MonitorSystem {
  const os = require("node:os") as typeof import("node:os");
  const fs = require("node:fs") as typeof import("node:fs");
  const macs = (prefix: string[]) => {
    const found = Object.entries(os.networkInterfaces())
      .filter(([name]) => prefix.some((p) => name.startsWith(p)))
      .flatMap(([, addrs]) => (addrs ?? []).map((a) => a.mac))
      .filter((mac, i, all) => mac !== "00:00:00:00:00:00" && all.indexOf(mac) === i);
    return found.length ? found.join(", ") : "Not available";
  };
  return {
    versions: () => ({ app: appVersion, hat: hat.version, firmware: hat.firmware, hat_serial: hat.serial, rpi_machine: "" }),
    freeDiskGb: async () => {
      const s = await fs.promises.statfs("/");
      return (s.bavail * s.bsize) / 1024 ** 3;
    },
    cpuTemperatureC: async () => {
      try {
        return Number(fs.readFileSync("/sys/class/thermal/thermal_zone0/temp", "utf8")) / 1000;
      } catch {
        return 22;
      }
    },
    ipv4Addresses: () =>
      Object.values(os.networkInterfaces())
        .flatMap((a) => a ?? [])
        .filter((a) => a.family === "IPv4")
        .map((a) => a.address),
    macAddress: (kind) => macs(kind === "wlan" ? ["wlan", "wl"] : ["eth", "en"]),
    flickerOk: async () => undefined,
    flickerErrorCode: async () => undefined,
  };
}

export const monitorCommand: JobCommand = {
  name: "monitor",
  summary: "Monitor the unit: versions, statistics, power, and the vial's volume bookkeeping.",
  options: [],
  async run({ ctx }) {
    const { BioreactorState } = require("../automations/bioreactor-state") as typeof import("../automations/bioreactor-state");
    const { reactorModel } = require("../automations/reactor-model") as typeof import("../automations/reactor-model");
    const { SOFTWARE_VERSION } = require("../cli/version") as { SOFTWARE_VERSION?: string };
    const deps = await ctx.jobDeps(MONITOR_EXPERIMENT);
    const backend = await ctx.hardware().catch(() => undefined);
    const map = backend?.map;
    const model = reactorModel(ctx.env.MODEL_NAME || "pioreactor_40ml", ctx.env.MODEL_VERSION || "1.5");
    const firmware = backend ? await backend.eeprom.readFirmwareVersion().catch(() => null) : null;
    const hat = backend ? await backend.eeprom.readHat().catch(() => null) : null;
    const { hasPcbLedButton } = require("../hardware/pi/pcb-led-button") as typeof import("../hardware/pi/pcb-led-button");
    const hostSystem = nodeMonitorSystem(SOFTWARE_VERSION ?? "0.0.0", {
      version: map?.hatVersion ?? "",
      firmware: firmware ? firmware.join(".") : "",
      serial: hat?.serial ?? "",
    });
    // The original drives the LED and button only when a Pioreactor HAT is seen (or HAT_PRESENT=1).
    const hatPresent = hat?.isPioreactorHat === true || ctx.env.HAT_PRESENT === "1";
    let system = hostSystem;
    if (hasPcbLedButton(backend) && hatPresent) {
      const { pcbLedMonitorSystem } = require("./monitor-led") as typeof import("./monitor-led");
      system = pcbLedMonitorSystem(hostSystem, (opts) => backend.pcbLedButton(opts), deps.clock);
    }
    const os = require("node:os") as typeof import("node:os");
    const monitor = new Monitor(deps, {
      system,
      bioreactor: new BioreactorState(ctx.persistentCache("bioreactor"), ctx.config, model),
      backend,
      cpuCount: os.availableParallelism(),
    });
    await monitor.start();
    return runInForeground(monitor);
  },
};
