/**
 * `led_intensity`: sets LED channels A–D, remembers the full state in the unit's `leds` cache,
 * publishes it retained on `…/leds/intensity`, and (when verbose) one `LEDChangeEvent` per
 * requested channel on `…/led_change_events`. OD reading uses the same controller silently to
 * switch the IR LED around each reading, and soft-locks the other channels meanwhile through the
 * `led_locks` cache, which every caller here respects.
 */
import type { LedChannel, LedDriver } from "../hardware/ports";
import { LED_CHANNELS } from "../hardware/ports";
import { type JobCommand, parseFloatRange } from "../jobs/job-command";
import type { KeyValueCache } from "../jobs/local-storage";
import { JobLogger, type Logger, MqttLogSink } from "../jobs/logger";
import type { JobRegistry } from "../jobs/registry";
import type { UnitContext } from "../jobs/unit-context";
import { encodeMsgspecJson } from "../pubsub/codec";
import type { PubSubClient, QoS } from "../pubsub/types";
import type { Clock } from "../util/clock";
import { formatPayloadTimestamp } from "../util/python-format";

export type LedState = Record<LedChannel, number>;
export type LedRequest = Partial<Record<LedChannel, number>>;

export interface LedControllerDeps {
  unit: string;
  experiment: string;
  clock: Clock;
  driver: LedDriver;
  /** Intermittent cache `leds` (channel → intensity %). */
  leds: KeyValueCache;
  /** Intermittent cache `led_locks` (channel → lock owner). */
  locks: KeyValueCache;
  publish(topic: string, payload: string, opts: { qos: QoS; retain: boolean }): void | Promise<void>;
  logger: Logger;
  /**
   * Records a `pio run led_intensity` call that left LEDs on as a pseudo-job, so `pio kill` can turn
   * them off later. Jobs that drive LEDs themselves (OD reading) leave this out.
   */
  registerCliCall?: () => void;
}

export interface SetLedOptions {
  /** Log the change and publish `led_change_events` (off for OD reading, which would spam). */
  verbose?: boolean;
  sourceOfEvent?: string | null;
}

/** Python's `format(x, "0.3g")` for the intensities in log lines (`50`, `12.3`, `0`). */
export function formatThreeSignificant(x: number): string {
  if (x === 0) return "0";
  const exponent = Math.floor(Math.log10(Math.abs(x)));
  if (exponent < -4 || exponent >= 3) {
    const [mantissa, exp] = x.toExponential(2).split("e");
    const m = mantissa.replace(/\.?0+$/, "");
    const e = Number(exp);
    return `${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  const fixed = x.toFixed(Math.max(0, 2 - exponent));
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
}

/** How many recent `leds/intensity` payloads a controller remembers (OD reading alternates between two). */
const REMEMBERED_PAYLOADS = 2;

/** The default options, shared (OD reading switches LEDs twice a reading). */
const DEFAULT_OPTIONS: SetLedOptions = Object.freeze({});
const INTENSITY_PUBLISH_OPTIONS = Object.freeze({ qos: 0, retain: true }) as { qos: QoS; retain: boolean };

/** Requested channels that are not locked: `channels[0..count)`. */
interface Selection {
  channels: LedChannel[];
  count: number;
  /** False when some requested channel was locked. */
  allChanged: boolean;
}

const NO_CHANNELS: readonly LedChannel[] = [];
const RESOLVED_TRUE = Promise.resolve(true);
const RESOLVED_FALSE = Promise.resolve(false);

export class LedController {
  /** Most recent first; see `intensityPayload`. */
  private readonly recentPayloads: Array<{ state: LedState; payload: string }> = [];
  /** `…/leds/intensity`, built once (the bus looks topics up by their text). */
  private readonly intensityTopic: string;
  /**
   * The state just written, for the payload of a silent change (filled and used without a turn in
   * between, so overlapping calls cannot see each other's). Keys in channel order, as `currentState`.
   */
  private readonly scratchState: LedState = { A: 0, B: 0, C: 0, D: 0 };
  /** The silent synchronous path's channel selection (used without a turn in between, like `scratchState`). */
  private readonly scratchSelection: Selection = { channels: [], count: 0, allChanged: true };
  /** What the last `recordAndPublishState` publish returned (a promise from a CLI connection). */
  private lastPublished: Promise<void> | undefined;

  constructor(private readonly deps: LedControllerDeps) {
    this.intensityTopic = `pioreactor/${deps.unit}/${deps.experiment}/leds/intensity`;
  }

  /** The full state the cache holds (channels never set read as 0). */
  currentState(): LedState {
    const out = {} as LedState;
    for (const c of LED_CHANNELS) out[c] = this.cachedIntensity(c);
    return out;
  }

  private currentStateInto(out: LedState): LedState {
    for (let i = 0; i < LED_CHANNELS.length; i++) out[LED_CHANNELS[i]] = this.cachedIntensity(LED_CHANNELS[i]);
    return out;
  }

  isLocked(channel: LedChannel): boolean {
    return this.deps.locks.get(channel) !== undefined;
  }

  /**
   * Sets the requested channels. Locked channels are skipped (with a debug line) and make the
   * result false, as does a bad channel or intensity (logged with the allowed values) or a
   * missing LED driver. Returns true when every requested channel was changed.
   */
  setIntensities(request: LedRequest, opts: SetLedOptions = DEFAULT_OPTIONS): Promise<boolean> {
    const { driver } = this.deps;
    if ((opts.verbose ?? true) || !driver.setIntensitySync) return this.setIntensitiesAsync(request, opts);
    // Silent, on a driver that never waits (OD reading in a simulation, twice a reading): done
    // before returning, as the async version would be up to its first await, without its frame.
    try {
      const selection = this.select(request, this.scratchSelection);
      for (let i = 0; i < selection.count; i++) {
        const channel = selection.channels[i];
        const intensity = request[channel] as number;
        if (!this.checkRequest(channel, intensity)) return RESOLVED_FALSE;
        try {
          driver.setIntensitySync(channel, intensity);
        } catch (e) {
          this.reportDriverFailure(e);
          return RESOLVED_FALSE;
        }
      }
      const allChanged = selection.allChanged;
      const newState = this.recordAndPublishState(request, selection, this.scratchState);
      const anyOn = newState.A !== 0 || newState.B !== 0 || newState.C !== 0 || newState.D !== 0;
      const published = this.lastPublished;
      this.lastPublished = undefined;
      if (published) return published.then(() => this.afterPublish(anyOn, allChanged));
      return this.afterPublish(anyOn, allChanged) ? RESOLVED_TRUE : RESOLVED_FALSE;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private async setIntensitiesAsync(request: LedRequest, opts: SetLedOptions): Promise<boolean> {
    const { logger, driver } = this.deps;
    const selection = this.select(request, { channels: [], count: 0, allChanged: true });
    const desired = selection.channels.slice(0, selection.count);
    for (const channel of desired) {
      const intensity = request[channel] as number;
      if (!this.checkRequest(channel, intensity)) return false;
      try {
        // A driver that never waits (the simulator) is not awaited: that would cost a promise and a turn per channel.
        if (driver.setIntensitySync) driver.setIntensitySync(channel, intensity);
        else await driver.setIntensity(channel, intensity);
      } catch (e) {
        this.reportDriverFailure(e);
        return false;
      }
    }

    const verbose = opts.verbose ?? true;
    // Only the log lines need the old state; OD reading switches LEDs silently twice a reading.
    const oldState = verbose ? this.currentState() : undefined;
    // The log lines use the new state after awaiting publishes, so they get an object of their own.
    const newState = this.recordAndPublishState(request, selection, verbose ? ({ A: 0, B: 0, C: 0, D: 0 } as LedState) : this.scratchState);
    const anyOn = newState.A !== 0 || newState.B !== 0 || newState.C !== 0 || newState.D !== 0;
    const published = this.lastPublished;
    this.lastPublished = undefined;
    // A job's publish only queues (returns nothing): awaiting that would just cost a turn, twice per OD reading.
    if (published) await published;
    this.afterPublish(anyOn, true);

    if (oldState) {
      const { unit, experiment } = this.deps;
      const timestamp = formatPayloadTimestamp(this.deps.clock.now());
      for (const channel of desired) {
        const intensity = request[channel] as number;
        const event = { channel, intensity, source_of_event: opts.sourceOfEvent ?? null, timestamp };
        await this.deps.publish(`pioreactor/${unit}/${experiment}/led_change_events`, encodeMsgspecJson(event), {
          qos: 0,
          retain: false,
        });
        logger.info(
          `Updated LED ${channel} from ${formatThreeSignificant(oldState[channel])}% to ${formatThreeSignificant(newState[channel])}%.`,
        );
      }
    }
    return selection.allChanged;
  }

  /**
   * The requested channels not soft-locked, in the request's order (its own keys, as
   * Object.entries gives them), written into `into` from the start.
   */
  private select(request: LedRequest, into: Selection): Selection {
    into.count = 0;
    into.allChanged = true;
    for (const key in request) {
      if (!Object.hasOwn(request, key)) continue;
      const channel = key as LedChannel;
      if (this.isLocked(channel)) {
        this.deps.logger.debug(`Unable to update channel ${channel} due to a software lock on it. Please try again.`);
        into.allChanged = false;
        continue;
      }
      into.channels[into.count++] = channel;
    }
    return into;
  }

  /** A bad channel or intensity is logged (naming what is allowed) and refused. */
  private checkRequest(channel: LedChannel, intensity: number): boolean {
    if (!LED_CHANNELS.includes(channel)) {
      this.deps.logger.error(`Saw incorrect channel ${channel}, not in ${JSON.stringify(LED_CHANNELS)}`);
      return false;
    }
    if (!(intensity >= 0 && intensity <= 100)) {
      this.deps.logger.error(`Channel ${channel} intensity should be between 0 and 100, inclusive`);
      return false;
    }
    return true;
  }

  private reportDriverFailure(e: unknown): void {
    this.deps.logger.debug(String(e instanceof Error ? e.message : e));
    this.deps.logger.error("Unable to find i2c for LED driver. Is the Pioreactor HAT attached to the Raspberry Pi? Is the firmware loaded?");
  }

  /**
   * Writes the selected channels to the cache, reads the full state back into `state` and
   * publishes it retained; what the publish returned is left in `lastPublished` (read at once).
   */
  private recordAndPublishState(request: LedRequest, selection: Selection, state: LedState): LedState {
    for (let i = 0; i < selection.count; i++) this.deps.leds.set(selection.channels[i], request[selection.channels[i]] as number);
    this.currentStateInto(state);
    const published = this.deps.publish(this.intensityTopic, this.intensityPayload(state), INTENSITY_PUBLISH_OPTIONS);
    this.lastPublished = published ? published : undefined;
    return state;
  }

  /** Once the summary is out: a CLI call that left an LED on registers itself. Returns `allChanged`. */
  private afterPublish(anyOn: boolean, allChanged: boolean): boolean {
    if (this.deps.registerCliCall && anyOn) this.deps.registerCliCall();
    return allChanged;
  }

  /**
   * Runs `fn` with the requested channels at the given intensities and restores their previous
   * values afterwards (even when `fn` throws, and even if they were changed meanwhile).
   */
  withTemporaryIntensities<T>(request: LedRequest, fn: () => Promise<T>, opts: SetLedOptions = DEFAULT_OPTIONS): Promise<T> {
    // Locking no channels adds no step: the same changes, awaits and restore.
    return this.withTemporaryIntensitiesAndLocks(request, NO_CHANNELS, fn, "", opts);
  }

  /**
   * Soft-locks channels for the duration of `fn`: other callers' changes to them are refused.
   * Only locks this call acquired are released, so nested or foreign locks survive.
   */
  async withLockedChannels<T>(channels: readonly LedChannel[], fn: () => Promise<T>, ownerId: string): Promise<T> {
    const lockId = `${ownerId}:${this.deps.clock.now()}`;
    const acquired = this.lock(channels, lockId);
    try {
      return await fn();
    } finally {
      this.unlock(channels, acquired, lockId);
    }
  }

  /**
   * `withTemporaryIntensities(request, () => withLockedChannels(lockChannels, fn, ownerId), opts)`
   * in one frame: the same steps in the same order (OD reading does this every reading). With no
   * `lockChannels` it is `withTemporaryIntensities` itself.
   */
  async withTemporaryIntensitiesAndLocks<T>(
    request: LedRequest,
    lockChannels: readonly LedChannel[],
    fn: () => Promise<T>,
    ownerId: string,
    opts: SetLedOptions = DEFAULT_OPTIONS,
  ): Promise<T> {
    const previous: LedRequest = {};
    for (const key in request) if (Object.hasOwn(request, key)) previous[key as LedChannel] = this.cachedIntensity(key as LedChannel);
    try {
      if (!(await this.setIntensities(request, opts))) throw new Error("Unable to update LED.");
      const lockId = `${ownerId}:${this.deps.clock.now()}`;
      const acquired = this.lock(lockChannels, lockId);
      try {
        return await fn();
      } finally {
        this.unlock(lockChannels, acquired, lockId);
      }
    } finally {
      if (!(await this.setIntensities(previous, opts))) this.deps.logger.error("Unable to reset LED.");
    }
  }

  /** Locks the free channels among `channels` with `lockId`; returns which (bit i: `channels[i]`). */
  private lock(channels: readonly LedChannel[], lockId: string): number {
    let acquired = 0;
    for (let i = 0; i < channels.length; i++) {
      if (this.deps.locks.get(channels[i]) === undefined) {
        this.deps.locks.set(channels[i], lockId);
        acquired |= 1 << i;
      }
    }
    return acquired;
  }

  /** Releases the channels `lock` acquired, unless someone else holds them by now. */
  private unlock(channels: readonly LedChannel[], acquired: number, lockId: string): void {
    for (let i = 0; i < channels.length; i++) {
      if ((acquired & (1 << i)) !== 0 && this.deps.locks.getString(channels[i]) === lockId) this.deps.locks.delete(channels[i]);
    }
  }

  /** Drops every lock (the over-voltage safety does this before switching everything off). */
  clearLocks(): void {
    for (const c of LED_CHANNELS) this.deps.locks.delete(c);
  }

  /**
   * The msgspec JSON of a full LED state. OD reading switches between the same two states twice a
   * reading, and encoding them each time was ~2 % of a simulated run, so the last few encodings are
   * reused; a state's text depends only on its four numbers (compared with Object.is, so -0 ≠ 0).
   * `state` may be reused by the caller: a remembered one is a copy.
   */
  private intensityPayload(state: LedState): string {
    for (let i = 0; i < this.recentPayloads.length; i++) {
      const recent = this.recentPayloads[i];
      const r = recent.state;
      if (Object.is(r.A, state.A) && Object.is(r.B, state.B) && Object.is(r.C, state.C) && Object.is(r.D, state.D)) return recent.payload;
    }
    const payload = encodeMsgspecJson(state);
    this.recentPayloads.unshift({ state: { A: state.A, B: state.B, C: state.C, D: state.D }, payload });
    if (this.recentPayloads.length > REMEMBERED_PAYLOADS) this.recentPayloads.pop();
    return payload;
  }

  private cachedIntensity(channel: LedChannel): number {
    const v = this.deps.leds.get(channel);
    if (v === undefined || v === null) return 0;
    const n = Number(Buffer.isBuffer(v) ? v.toString("utf8") : v);
    return Number.isFinite(n) ? n : 0;
  }
}

/** Registers the CLI process as a running `led_intensity` job unless it already is one. */
export function cliCallRegistrar(
  registry: JobRegistry,
  job: { unit: string; experiment: string; leader: string; jobSource: string; pid: number },
): () => void {
  return () => {
    if (registry.runningJobs().some((j) => j.pid === job.pid)) return;
    registry.register({ ...job, jobName: "led_intensity", isLongRunning: false });
  };
}

export const ledIntensityCommand: JobCommand = {
  name: "led_intensity",
  summary: "Modify the intensity of LED channel(s)",
  options: [
    ...LED_CHANNELS.map((c) => ({
      flags: `--${c} <intensity>`,
      description: "value between 0 and 100",
      parse: parseFloatRange(`--${c}`, 0, 100),
    })),
    { flags: "--source-of-event <text>", description: "whom is calling this function (for logging purposes)", defaultValue: "CLI" },
    { flags: "--no-log", description: "skip logging" },
  ],
  async run({ ctx, options }) {
    const experiment = await ctx.experiment();
    if (!(await ctx.isActive())) return 1;
    const request: LedRequest = {};
    for (const c of LED_CHANNELS) {
      const v = options[c] ?? options[c.toLowerCase()];
      if (v !== undefined) request[c] = v as number;
    }
    const backend = await ctx.hardware();
    const client = await ctx.connect({ clientIdBase: `led_intensity-${ctx.unit}-${experiment}`, keepalive: 60, clean: true });
    try {
      const leds = ledControllerOn(ctx, experiment, client, "led_intensity", backend.ledDriver, {
        registerCliCall: cliCallRegistrar(ctx.registry(), {
          unit: ctx.unit,
          experiment,
          leader: ctx.leader,
          jobSource: ctx.env.JOB_SOURCE || "user",
          pid: process.pid,
        }),
      });
      // commander turns `--no-log` into `log: false`.
      const ok = await leds.setIntensities(request, {
        verbose: options.log !== false,
        sourceOfEvent: (options.sourceOfEvent as string | undefined) ?? "CLI",
      });
      return ok ? 0 : 1;
    } finally {
      await client.end();
    }
  },
};

/**
 * A `LedController` for this unit on an open connection: the `leds`/`led_locks` caches, the
 * retained `leds/intensity` summary and logs under `task`. `pio run led_intensity` and LED
 * automations share it.
 */
export function ledControllerOn(
  ctx: UnitContext,
  experiment: string,
  client: PubSubClient,
  task: string,
  driver: LedDriver,
  extra: Pick<LedControllerDeps, "registerCliCall"> = {},
): LedController {
  return new LedController({
    unit: ctx.unit,
    experiment,
    clock: ctx.clock,
    driver,
    leds: ctx.intermittentCache("leds"),
    locks: ctx.intermittentCache("led_locks"),
    publish: (topic, payload, opts) => client.publish(topic, payload, opts),
    logger: new JobLogger({ task, source: "app", unit: ctx.unit, experiment }, ctx.clock, [...ctx.logSinks(), new MqttLogSink(client)]),
    ...extra,
  });
}
