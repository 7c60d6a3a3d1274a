/**
 * `turbidostat`: whenever a fresh (non-retained) biomass reading is at or above `target_biomass`,
 * exchange `exchange_volume_ml` of culture for media, then ignore readings for 30 s while the
 * culture mixes. Event-driven: there is no `duration`.
 */
import type { JobDeps } from "../../jobs/background-job";
import type { AutomationEvent } from "../../pubsub/structs";
import type { MqttMessage } from "../../pubsub/types";
import { AutomationSettingError, type BiomassSignal, numberArg } from "../base";
import { automationEvent } from "../events";
import { type DosingBaseArgs, type DosingContext, DosingAutomationJob } from "./base";
import { checkExchangeVolume } from "./chemostat";

export const SETTLING_TIME_MS = 30_000;
const BIOMASS_SIGNALS = ["auto", "normalized_od", "od_fused", "od"] as const;

export interface TurbidostatArgs extends DosingBaseArgs {
  exchange_volume_ml: number | string;
  target_biomass?: number | string;
  biomass_signal?: string;
}

/** What `auto` resolves to; injected because it depends on calibrations and estimators on disk. */
export interface BiomassSignalResolver {
  hasActiveOdFusedEstimator(): boolean;
  hasActiveOdCalibration(angle: string): boolean;
}

export const NO_CALIBRATIONS: BiomassSignalResolver = { hasActiveOdFusedEstimator: () => false, hasActiveOdCalibration: () => false };

function checkTarget(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) throw new AutomationSettingError(`target_biomass must be greater than 0 (got ${value}).`);
  return value;
}

export class Turbidostat extends DosingAutomationJob {
  static readonly automationName = "turbidostat";
  private readonly args: TurbidostatArgs;
  private settlingUntilMs: number | undefined;
  private triggerReady = false;

  constructor(
    deps: JobDeps,
    dosing: DosingContext,
    args: TurbidostatArgs,
    private readonly resolver: BiomassSignalResolver = NO_CALIBRATIONS,
  ) {
    super(
      deps,
      {
        automationName: Turbidostat.automationName,
        settings: {
          exchange_volume_ml: { datatype: "float", settable: true, unit: "mL" },
          target_biomass: { datatype: "float", settable: true, unit: "OD/AU" },
          biomass_signal: { datatype: "string", settable: true },
        },
      },
      dosing,
      args,
      ["media_pump", "waste_pump"],
    );
    this.args = args;
    if (args.target_biomass === undefined || args.target_biomass === "") throw new AutomationSettingError("Provide a target biomass: --target-biomass <OD>.");
    checkTarget(numberArg(args as unknown as Record<string, unknown>, "target_biomass"));
    checkExchangeVolume(numberArg(args as unknown as Record<string, unknown>, "exchange_volume_ml"));
    this.setters.target_biomass = (v) => this.setSetting("target_biomass", checkTarget(Number(v)));
    this.setters.exchange_volume_ml = (v) => this.setSetting("exchange_volume_ml", checkExchangeVolume(Number(v)));
    this.setters.biomass_signal = (v) => this.setSetting("biomass_signal", this.resolveSignal(String(v)));
  }

  protected override async setupAutomation(): Promise<void> {
    const a = this.args as unknown as Record<string, unknown>;
    const requested = this.args.biomass_signal ?? this.config.getString("dosing_automation.turbidostat", "biomass_signal", "auto");
    this.setSetting("biomass_signal", this.resolveSignal(requested));
    this.setSetting("target_biomass", numberArg(a, "target_biomass"));
    this.setSetting("exchange_volume_ml", numberArg(a, "exchange_volume_ml"));
    this.triggerReady = true;
  }

  get resolvedBiomassSignal(): BiomassSignal {
    return this.getSetting<BiomassSignal>("biomass_signal") ?? "normalized_od";
  }

  private resolveSignal(signal: string): BiomassSignal {
    if (!(BIOMASS_SIGNALS as readonly string[]).includes(signal)) {
      throw new AutomationSettingError(`Unsupported biomass_signal=${signal}. Use one of: ${BIOMASS_SIGNALS.join(", ")}.`);
    }
    if (signal !== "auto") return signal as BiomassSignal;
    if (this.resolver.hasActiveOdFusedEstimator()) return "od_fused";
    const angle = this.signalChannel() === undefined ? undefined : this.config.get("od_config.photodiode_channel", this.signalChannel()!);
    if (angle && this.resolver.hasActiveOdCalibration(angle)) return "od";
    return "normalized_od";
  }

  /** The OD channel used for `od`: the only signal channel, else the lowest-numbered one. */
  private signalChannel(): string | undefined {
    const channels = Object.entries(this.config.section("od_config.photodiode_channel") ?? {})
      .filter(([, angle]) => angle && angle !== "REF")
      .map(([c]) => c)
      .sort((a, b) => Number(a) - Number(b));
    return channels[0];
  }

  private isSettling(): boolean {
    return this.settlingUntilMs !== undefined && this.clock.now() < this.settlingUntilMs;
  }

  protected override async execute(): Promise<AutomationEvent | undefined> {
    if (this.isSettling()) return undefined;
    const signal = this.resolvedBiomassSignal;
    const latest = await this.latestBiomassValue(signal, this.signalChannel());
    const target = this.getSetting<number>("target_biomass") ?? Number.POSITIVE_INFINITY;
    if (latest < target) return undefined;
    const v = this.getSetting<number>("exchange_volume_ml") ?? 0;
    const moved = await this.executeIoAction(v, { media_ml: v });
    this.settlingUntilMs = this.clock.now() + SETTLING_TIME_MS;
    return automationEvent(
      "DilutionEvent",
      `Latest biomass (${signal}) = ${latest.toFixed(2)} ≥ Target biomass = ${target.toFixed(2)}; cycled ${moved.media_ml.toFixed(2)} mL`,
      { latest_biomass: latest, target_biomass: target, resolved_biomass_signal: signal, exchange_volume_ml: v, volume_actually_moved_ml: moved.media_ml },
    );
  }

  protected override onNormalizedOd(m: MqttMessage): void {
    super.onNormalizedOd(m);
    this.maybeTrigger("normalized_od", m);
  }

  protected override onOds(m: MqttMessage): void {
    super.onOds(m);
    this.maybeTrigger("od", m);
  }

  protected override onOdFused(m: MqttMessage): void {
    super.onOdFused(m);
    this.maybeTrigger("od_fused", m);
  }

  private maybeTrigger(signal: BiomassSignal, m: MqttMessage): void {
    if (m.payload.length === 0 || !this.triggerReady || m.retain || this.isSettling()) return;
    if (this.resolvedBiomassSignal !== signal) return;
    this.triggerRunOnceFromEvent();
  }
}
