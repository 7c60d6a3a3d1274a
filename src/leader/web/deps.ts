/**
 * Everything the web server touches comes in through `WebDeps` (ports & adapters): `pio serve`
 * composes the real ones, tests compose temp files, an embedded broker and fakes. `WebContext` is
 * what route modules receive: the deps plus the per-app services built from them.
 */
import type { Knex } from "knex";
import type { ConfigReader } from "../../config/types";
import type { KeyValueCache } from "../../jobs/local-storage";
import type { JobRegistry } from "../../jobs/registry";
import type { PubSubClient } from "../../pubsub/types";
import type { Clock } from "../../util/clock";
import type { Fanout } from "./fanout";
import type { JobLauncher } from "./job-launcher";
import type { JobStopper } from "./job-stopper";
import type { PluginManager } from "./plugin-manager";
import type { ProfileRunner } from "./profile-runner";
import type { ServerLog } from "./server-log";
import type { SystemPort } from "./system-port";
import type { TaskStore } from "./task-store";

export interface WebDeps {
  /** This unit's hostname (`HOSTNAME` / identity). */
  unitName: string;
  /** Only the leader serves `/api`; other units answer it with the original's 404. */
  isLeader: boolean;
  /** `$DOT_PIOREACTOR`: config files, profiles, UI descriptors. All file access stays inside it. */
  dotPioreactor: string;
  /** The merged configuration as it is now (re-read after config edits). */
  config: () => ConfigReader;
  /** Called after the server rewrote a config file, so `config()` re-reads it. */
  configChanged?: () => void;
  /** The leader database; required when `isLeader`. */
  db?: Knex;
  clock: Clock;
  mqtt: Pick<PubSubClient, "publish">;
  /**
   * This unit's persistent caches (`[storage] persistent_cache`, e.g. `bioreactor`), shared with
   * the jobs on this unit. Omitted: routes that need one answer 503.
   */
  persistentCache?: (name: string) => KeyValueCache;
  /**
   * This unit's vessel model as `pio` resolves it ($MODEL_NAME/$MODEL_VERSION, test mode, else the
   * leader's inventory); rejects with a user-facing message when it cannot be found.
   */
  unitModel?: () => Promise<{ modelName: string | null; modelVersion: string | null }>;
  /** This unit's job registry (`pio_job_metadata`). */
  registry: JobRegistry;
  jobLauncher: JobLauncher;
  jobStopper: JobStopper;
  profileRunner?: ProfileRunner;
  /** Used for fan-out and proxying to units. */
  fetch: typeof fetch;
  /** Where a unit's HTTP server is; default `[cluster.addresses]`/`<unit>.local` and `[ui] port`. */
  unitBaseUrl?: (unit: string) => string;
  /**
   * Copies config.ini (its new text) to the workers, the original's `pios sync-configs --shared`;
   * default: `PATCH /unit_api/config/shared` on every worker in the inventory.
   */
  syncSharedConfig?: (code: string) => Promise<void>;
  /** The prebuilt UI bundle (index.html, static/…); omitted = API only. */
  uiDir?: string;
  /** Built-in UI descriptor YAML (`<dir>/<kind>/*.yaml`); null = none; default = the ones shipped here. */
  builtinDescriptorsDir?: string | null;
  /** Descriptor folders the loaded plugins registered (`registerUiDescriptors`), read after `$DOT_PIOREACTOR/plugins/ui`. */
  pluginDescriptorDirs?: () => string[];
  /** Largest JSON body accepted, in bytes (default 1 MiB). */
  jsonBodyLimitBytes?: number;
  /** `TESTING=1` for jobs started through the leader. */
  testing?: boolean;
  newTaskId?: () => string;
  /** Power, clock, service and package commands (default: real processes via execFile). */
  system?: SystemPort;
  /** Installed plugins and (un)installs (default: npm into `$DOT_PIOREACTOR/plugins`). */
  plugins?: PluginManager;
  /** Workers answering mDNS on the network (default: browse `_pio-worker._tcp` until 3 s pass without a new one). */
  discoverWorkers?: () => Promise<Array<{ hostname: string; ipv4Address: string }>>;
  /** The `pio` command that provisions workers (`pio workers add`; default `pio` on PATH). */
  pioExecutable?: string;
  /** Where dataset exports are written and served from as `/exports/<file>` (default `$DOT_PIOREACTOR/exports`; the original's is `$RUN_PIOREACTOR/exports`). */
  exportsDir?: string;
  /** Where unexpected server errors are reported (default: stderr). */
  reportError?: (err: unknown) => void;
}

export interface WebContext extends WebDeps {
  tasks: TaskStore;
  fanout: Fanout;
  serverLog: ServerLog;
  /** The leader database; throws when this unit has none. */
  leaderDb(): Knex;
}
