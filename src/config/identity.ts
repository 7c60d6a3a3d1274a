/**
 * Who this unit is and what it is doing: unit name, leader, assigned experiment, active flag and
 * model, resolved in the same order as the original (environment first, then TESTING defaults,
 * then the leader's API). Everything the answers depend on — environment, config, hostname, HTTP
 * and the clock used for retries — is passed in.
 */
import * as os from "node:os";
import { type Clock, RealClock } from "../util/clock";
import {
  IdentityError,
  LeaderAuthError,
  LeaderUnreachableError,
  NotAssignedAnExperimentError,
  NoWorkerFoundError,
} from "./identity-errors";
import { type FetchLike, getJson, type HttpJsonResult, resolveUnitAddress, webBaseUrl } from "./leader-http";
import { isTesting } from "./testing";
import type { ConfigReader } from "./types";

export { isTesting } from "./testing";

/** The experiment every job uses under TESTING=1 (topics with `/_testing_` never reach the database). */
export const TESTING_EXPERIMENT = "_testing_experiment";
export const TESTING_MODEL_NAME = "pioreactor_40ml";
export const TESTING_MODEL_VERSION = "1.5";

export interface IdentityDeps {
  env: NodeJS.ProcessEnv;
  config: ConfigReader;
  /** The OS hostname; defaults to `os.hostname()`. */
  hostname?: () => string;
  /** HTTP transport for leader API calls; defaults to the global `fetch`. */
  fetch?: FetchLike;
  /** Used for retry back-off and request timeouts; defaults to the real clock. */
  clock?: Clock;
  /** Attempts at reading the assigned experiment from the leader (the original makes 6). */
  experimentAttempts?: number;
}

/** What `GET /api/workers/<unit>` answers (the fields this module reads). */
interface WorkerRecord {
  is_active?: unknown;
  model_name?: unknown;
  model_version?: unknown;
}

export function leaderHostname(config: ConfigReader): string {
  return config.getString("cluster.topology", "leader_hostname", "localhost");
}

export function leaderAddress(config: ConfigReader): string {
  return config.getString("cluster.topology", "leader_address", "localhost");
}

/** The MQTT broker host: `[mqtt] broker_address` (first of `a;b`), else the leader's address. */
export function mqttBrokerAddress(config: ConfigReader): string {
  return config.getString("mqtt", "broker_address", leaderAddress(config)).split(";")[0];
}

/** Unit name: $HOSTNAME, else under TESTING the leader's hostname, else the OS hostname. */
export function unitName(env: NodeJS.ProcessEnv, config: ConfigReader, hostname: () => string = os.hostname): string {
  let name: string;
  if (env.HOSTNAME) name = env.HOSTNAME;
  else if (isTesting(env)) name = leaderHostname(config);
  else name = hostname();
  if (name === "raspberrypi") {
    throw new IdentityError(
      'This unit\'s hostname is still "raspberrypi". Did you forget to set the hostname? Give it a unique name (e.g. with raspi-config) or set HOSTNAME.',
    );
  }
  if (name === "") {
    throw new IdentityError(
      "Cannot tell this unit's name: HOSTNAME is unset and, under TESTING=1, [cluster.topology] leader_hostname is empty. Set one of them.",
    );
  }
  return name;
}

export function amILeader(env: NodeJS.ProcessEnv, config: ConfigReader, hostname: () => string = os.hostname): boolean {
  if (isTesting(env)) return true;
  return unitName(env, config, hostname) === leaderHostname(config);
}

/** Base URL of the leader's web server, e.g. `http://leader.local:80`. */
export function leaderBaseUrl(config: ConfigReader): string {
  return webBaseUrl(config, leaderAddress(config));
}

/** Base URL of a unit's web server (its `/unit_api`), e.g. `http://pio01.local:80`. */
export function unitBaseUrl(config: ConfigReader, unit: string): string {
  return webBaseUrl(config, resolveUnitAddress(config, unit));
}

export class Identity {
  private readonly env: NodeJS.ProcessEnv;
  private readonly config: ConfigReader;
  private readonly hostname: () => string;
  private readonly fetch: FetchLike;
  private readonly clock: Clock;
  private readonly experimentAttempts: number;

  constructor(deps: IdentityDeps) {
    this.env = deps.env;
    this.config = deps.config;
    this.hostname = deps.hostname ?? os.hostname;
    this.fetch = deps.fetch ?? ((url, init) => fetch(url, init));
    this.clock = deps.clock ?? new RealClock();
    this.experimentAttempts = Math.max(1, deps.experimentAttempts ?? 6);
  }

  get testing(): boolean {
    return isTesting(this.env);
  }

  unitName(): string {
    return unitName(this.env, this.config, this.hostname);
  }

  leaderHostname(): string {
    return leaderHostname(this.config);
  }

  leaderAddress(): string {
    return leaderAddress(this.config);
  }

  amILeader(): boolean {
    return amILeader(this.env, this.config, this.hostname);
  }

  leaderBaseUrl(): string {
    return leaderBaseUrl(this.config);
  }

  unitBaseUrl(unit: string = this.unitName()): string {
    return unitBaseUrl(this.config, unit);
  }

  /**
   * The experiment this unit works for: $EXPERIMENT, else under TESTING `_testing_experiment`,
   * else the leader's assignment. Jobs never fall back to "the latest experiment".
   */
  async assignedExperiment(unit: string = this.unitName()): Promise<string> {
    if (this.env.EXPERIMENT !== undefined) return this.env.EXPERIMENT;
    if (this.testing) return TESTING_EXPERIMENT;

    const path = `/api/workers/${encodeURIComponent(unit)}/experiment`;
    let lastProblem = "no attempt made";
    for (let attempt = 0; attempt < this.experimentAttempts; attempt++) {
      let result: HttpJsonResult | undefined;
      try {
        result = await this.getFromLeader(path);
      } catch (e) {
        lastProblem = (e as Error).message;
      }
      if (result) {
        const experiment = (result.body as { experiment?: unknown } | undefined)?.experiment;
        if (result.status === 200 && typeof experiment === "string") return experiment;
        if (result.status === 401) throw this.authError();
        if (result.status === 404) {
          const said = leaderErrorText(result.body);
          throw new NotAssignedAnExperimentError(
            `${unit} is not assigned to any experiment${said ? ` (leader says: ${said})` : ""}. ` +
              `Assign it in the UI, or on the leader run: pio workers assign ${unit} <experiment>`,
          );
        }
        lastProblem = result.status === 200 ? "the answer had no experiment name" : `HTTP ${result.status}`;
      }
      // Transient problems (leader restarting, network blip) get a growing pause before the next try.
      if (attempt < this.experimentAttempts - 1) await this.clock.sleep(500 * (attempt + 1));
    }
    throw new LeaderUnreachableError(
      `Could not read ${unit}'s experiment from the leader at ${this.leaderBaseUrl()}${path} after ${this.experimentAttempts} attempts (last problem: ${lastProblem}). ` +
        "Check that the leader is online and reachable, or set EXPERIMENT.",
    );
  }

  /** Whether this unit may run jobs: $ACTIVE=1|0, true under TESTING, else the leader's inventory. */
  async isActive(unit: string = this.unitName()): Promise<boolean> {
    if (this.env.ACTIVE === "1" || this.testing) return true;
    if (this.env.ACTIVE === "0") return false;
    const worker = await this.workerRecord(unit);
    return Boolean(worker.is_active);
  }

  /** Model name: $MODEL_NAME for this unit, `pioreactor_40ml` under TESTING, else the leader's inventory. */
  async modelName(unit: string = this.unitName()): Promise<string | null> {
    const local = unit === this.unitName();
    if (local && this.env.MODEL_NAME) return this.env.MODEL_NAME;
    if (local && this.testing) return TESTING_MODEL_NAME;
    return stringOrNull((await this.workerRecord(unit)).model_name);
  }

  /** Model version: $MODEL_VERSION for this unit, `1.5` under TESTING, else the leader's inventory. */
  async modelVersion(unit: string = this.unitName()): Promise<string | null> {
    const local = unit === this.unitName();
    if (local && this.env.MODEL_VERSION) return this.env.MODEL_VERSION;
    if (local && this.testing) return TESTING_MODEL_VERSION;
    return stringOrNull((await this.workerRecord(unit)).model_version);
  }

  private async workerRecord(unit: string): Promise<WorkerRecord> {
    const path = `/api/workers/${encodeURIComponent(unit)}`;
    let result: HttpJsonResult;
    try {
      result = await this.getFromLeader(path);
    } catch (e) {
      throw new LeaderUnreachableError(
        `Could not reach the leader at ${this.leaderBaseUrl()}${path}: ${(e as Error).message}. Check that the leader is online and reachable.`,
      );
    }
    if (result.status === 401) throw this.authError();
    if (result.status === 404) {
      throw new NoWorkerFoundError(`Worker ${unit} is not in the leader's inventory. Add it in the UI, or on the leader run: pio workers add ${unit}`);
    }
    if (result.status !== 200 || typeof result.body !== "object" || result.body === null) {
      throw new LeaderUnreachableError(`The leader answered HTTP ${result.status} to ${path}${errorSuffix(result.body)}`);
    }
    return result.body as WorkerRecord;
  }

  private getFromLeader(path: string): Promise<HttpJsonResult> {
    return getJson({ config: this.config, fetch: this.fetch, clock: this.clock }, this.leaderBaseUrl(), path);
  }

  private authError(): LeaderAuthError {
    return new LeaderAuthError(
      `The leader at ${this.leaderBaseUrl()} refused our credentials (HTTP 401). Check [ui_basic_auth] api_key in config.ini.`,
    );
  }
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function leaderErrorText(body: unknown): string | undefined {
  const error = (body as { error?: unknown } | undefined)?.error;
  return typeof error === "string" ? error : undefined;
}

function errorSuffix(body: unknown): string {
  const said = leaderErrorText(body);
  return said ? `: ${said}` : "";
}
