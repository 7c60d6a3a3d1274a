/**
 * A simulated unit for automation tests: the virtual bioreactor on a VirtualClock, the in-process
 * bus, a real registry and caches in a temp SQLite file, the shipped config, the monitor (which
 * keeps the vial's volume bookkeeping) and a feeder that publishes OD, normalized OD and growth
 * rate from the simulator's ground truth the way od_reading / growth_rate_calculating would.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runPump, type PumpEnvironment } from "../../../src/actions/pump";
import { linearPumpCalibration, type PumpCalibration, type PumpDevice, StaticPumpCalibrations } from "../../../src/actions/pump-calibration";
import { BioreactorState } from "../../../src/automations/bioreactor-state";
import type { DosingContext, DosingPumps } from "../../../src/automations/dosing/base";
import { reactorModel } from "../../../src/automations/reactor-model";
import type { TemperatureContext } from "../../../src/automations/temperature/base";
import { createSimulatedUnit, type SimulatedUnit } from "../../../src/hardware/sim/simulated-unit";
import type { JobDeps } from "../../../src/jobs/background-job";
import { KeyValueCache, openCacheDatabase } from "../../../src/jobs/local-storage";
import { MqttLogSink } from "../../../src/jobs/logger";
import { Monitor, type MonitorSystem } from "../../../src/jobs/monitor";
import { JobRegistry } from "../../../src/jobs/registry";
import { encodeMsgspecJson } from "../../../src/pubsub/codec";
import { VirtualClock } from "../../../src/util/clock";
import { formatPayloadTimestamp } from "../../../src/util/python-format";
import { exampleConfig, RecordingLogSink } from "../../helpers/job-harness";
import { MemoryBus } from "./memory-bus";

export const FAKE_SYSTEM: MonitorSystem = {
  versions: () => ({ app: "26.7.2", hat: "1.2", firmware: "0.5", hat_serial: "00000000-0000-0000-0000-000000000000", rpi_machine: "" }),
  freeDiskGb: async () => 77.86206817626953,
  cpuTemperatureC: async () => 22,
  ipv4Addresses: () => ["127.0.0.1"],
  macAddress: (kind) => (kind === "wlan" ? "d8:3a:dd:61:01:59" : "d8:3a:dd:61:01:60"),
  flickerOk: async () => undefined,
  flickerErrorCode: async () => undefined,
};

export interface RigOptions {
  unit?: string;
  experiment?: string;
  initialOd?: number;
  volumeMl?: number;
  /** Simulator pump flow at 100 % duty (mL/s). */
  pumpMlPerSecondAtFullDuty?: number;
  /** Calibrations; default: matching the simulator at 100 % duty. */
  calibrations?: Partial<Record<PumpDevice, PumpCalibration>>;
  configOverrides?: Array<[string, string, string]>;
  params?: Parameters<typeof createSimulatedUnit>[0]["params"];
  temperatureC?: number;
}

export class Rig {
  readonly clock = new VirtualClock(Date.UTC(2026, 10, 21, 5, 45, 0));
  readonly bus = new MemoryBus();
  readonly logs = new RecordingLogSink();
  readonly unit: string;
  readonly experiment: string;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-rig-"));
  private readonly intermittent = openCacheDatabase(path.join(this.dir, "intermittent.sqlite"));
  private readonly persistent = openCacheDatabase(path.join(this.dir, "persistent.sqlite"));
  readonly registry = new JobRegistry(this.intermittent, () => true);
  readonly config;
  readonly sim: SimulatedUnit;
  readonly model = reactorModel("pioreactor_40ml", "1.5");
  readonly bioreactor: BioreactorState;
  readonly calibrations: StaticPumpCalibrations;
  private initialOd: number;
  private feederTimer: { cancel(): void } | undefined;
  monitor: Monitor | undefined;

  constructor(opts: RigOptions = {}) {
    this.unit = opts.unit ?? "leader";
    this.experiment = opts.experiment ?? "exp1";
    this.config = exampleConfig(opts.configOverrides ?? []);
    const flow = opts.pumpMlPerSecondAtFullDuty ?? 5;
    this.sim = createSimulatedUnit({
      seed: 7,
      clock: this.clock,
      params: { pumps: { media: { mlPerSecondAtFullDuty: flow }, alt_media: { mlPerSecondAtFullDuty: flow }, waste: { mlPerSecondAtFullDuty: flow } }, ...opts.params },
      initial: { od: opts.initialOd ?? 0.05, volumeMl: opts.volumeMl ?? 15, temperatureC: opts.temperatureC },
    });
    this.initialOd = opts.initialOd ?? 0.05;
    this.bioreactor = new BioreactorState(this.persistentCache("bioreactor"), this.config, this.model);
    this.calibrations = new StaticPumpCalibrations(
      opts.calibrations ?? {
        media_pump: linearPumpCalibration("sim_media", flow),
        alt_media_pump: linearPumpCalibration("sim_alt_media", flow),
        waste_pump: linearPumpCalibration("sim_waste", flow),
      },
    );
  }

  intermittentCache(name: string): KeyValueCache {
    return new KeyValueCache(this.intermittent, name);
  }

  persistentCache(name: string): KeyValueCache {
    return new KeyValueCache(this.persistent, name);
  }

  deps(experiment = this.experiment): JobDeps {
    return {
      unit: this.unit,
      experiment,
      clock: this.clock,
      config: this.config,
      registry: this.registry,
      connect: async (req) => this.bus.connect(req),
      logSinks: [this.logs],
      mqttLogSink: (client) => new MqttLogSink(client),
      leader: "leader",
      jobSource: "user",
      pid: process.pid,
      isActive: true,
    };
  }

  pumpEnvironment(): PumpEnvironment {
    return {
      unit: this.unit,
      experiment: this.experiment,
      clock: this.clock,
      config: this.config,
      registry: this.registry,
      backend: this.sim.backend,
      pwmDutyCycles: this.intermittentCache("pwm_dc"),
      pwmLocks: this.intermittentCache("pwm_locks"),
      calibrations: this.calibrations,
      bioreactor: this.bioreactor,
      model: this.model,
      testing: true,
      jobSource: "user",
      pid: process.pid,
      leader: "leader",
      connect: async (req) => this.bus.connect(req),
      logSinks: [this.logs],
    };
  }

  dosingContext(): DosingContext {
    const env = this.pumpEnvironment();
    const pumps: DosingPumps = {
      run: (device, request, via) => runPump(device, { ...env, connect: undefined, shared: via.shared, logger: via.logger }, request),
      hasActiveCalibration: (device) => this.calibrations.active(device) !== undefined,
    };
    return { pumps, bioreactor: this.bioreactor, model: this.model };
  }

  temperatureContext(extra: Partial<TemperatureContext> = {}): TemperatureContext {
    return {
      backend: this.sim.backend,
      pwmDutyCycles: this.intermittentCache("pwm_dc"),
      pwmLocks: this.intermittentCache("pwm_locks"),
      heatingCache: this.intermittentCache("temperature_and_heating"),
      bioreactor: this.bioreactor,
      model: this.model,
      testing: true,
      ...extra,
    };
  }

  async startMonitor(): Promise<Monitor> {
    this.monitor = await new Monitor(this.deps(), { system: FAKE_SYSTEM, bioreactor: this.bioreactor, selfCheckIntervalHours: 0 }).start();
    return this.monitor;
  }

  /** Publishes what od_reading and growth_rate_calculating would, every `intervalS`, from ground truth. */
  startFeeder(intervalS = 5): void {
    const client = this.bus.connect({ clientIdBase: "feeder" });
    // Both producers are "running" as far as automations asking the registry are concerned.
    for (const jobName of ["od_reading", "growth_rate_calculating"]) {
      this.registry.register({ unit: this.unit, experiment: this.experiment, jobName, jobSource: "user", pid: process.pid, leader: "leader", isLongRunning: false });
    }
    const base = `pioreactor/${this.unit}/${this.experiment}`;
    this.feederTimer = this.clock.setInterval(() => {
      const r = this.sim.bioreactor.readout();
      const ts = formatPayloadTimestamp(this.clock.now());
      const reading = { calibrated: 0, timestamp: ts, angle: "90", od: r.od, channel: "2", ir_led_intensity: 80.0 };
      void client.publish(`${base}/od_reading/ods`, encodeMsgspecJson({ timestamp: ts, ods: { "2": reading } }), { qos: 2, retain: true });
      void client.publish(`${base}/growth_rate_calculating/growth_rate`, encodeMsgspecJson({ growth_rate: r.growthRatePerHour, timestamp: ts }), { qos: 2, retain: true });
      void client.publish(`${base}/growth_rate_calculating/od_filtered`, encodeMsgspecJson({ od_filtered: r.od / this.initialOd, timestamp: ts }), { qos: 2, retain: true });
    }, intervalS * 1000);
  }

  stopFeeder(): void {
    this.feederTimer?.cancel();
  }

  /** Advances simulated time in steps, letting in-process messages flow between timers. */
  async run(ms: number, stepMs = 60_000): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) await this.clock.advanceTo(Math.min(end, this.clock.now() + stepMs));
  }

  close(): void {
    this.stopFeeder();
    this.intermittent.close();
    this.persistent.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
