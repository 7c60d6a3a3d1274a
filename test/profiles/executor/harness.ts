/** Shared set-up for executor tests: a virtual clock, the recording fake cluster behind the real HTTP client, a log spy. */
import { LevelLogger, type LogLevel } from "../../../src/jobs/logger";
import { type ExecutorOptions, ProfileExecutor } from "../../../src/profiles/executor";
import { FakeCluster, type FakeWorker } from "../../../src/profiles/fake-cluster";
import { HttpClusterClient } from "../../../src/profiles/http-cluster-client";
import { validateProfileText } from "../../../src/profiles";
import type { Profile } from "../../../src/profiles/types";
import { VirtualClock } from "../../../src/util/clock";

export interface LogLine {
  level: LogLevel;
  message: string;
  atMs: number;
}

export class LogSpy extends LevelLogger {
  readonly lines: LogLine[] = [];
  constructor(private readonly clock: { now(): number }) {
    super();
  }
  log(level: LogLevel, message: string): void {
    this.lines.push({ level, message, atMs: this.clock.now() });
  }
  text(): string[] {
    return this.lines.map((l) => `${l.level} ${l.message}`);
  }
}

export function profileFrom(text: string): Profile {
  const v = validateProfileText(text);
  if (!v.ok || !v.profile) throw new Error(`invalid test profile: ${JSON.stringify(v.diagnostics)}`);
  return v.profile;
}

export const START_MS = Date.UTC(2026, 10, 21, 5, 46, 59, 208);

export function setUp(workers: Record<string, FakeWorker>, startMs = START_MS) {
  const clock = new VirtualClock(startMs);
  const fake = new FakeCluster({ workers, clock });
  const cluster = new HttpClusterClient({
    leaderBaseUrl: fake.leaderBaseUrl(),
    unitBaseUrl: (u) => fake.unitBaseUrl(u),
    fetch: fake.fetch,
    clock,
  });
  const log = new LogSpy(clock);
  const executor = (profile: Profile, extra: Partial<ExecutorOptions> = {}) =>
    new ProfileExecutor({
      profile,
      profileFilename: "test.yaml",
      experiment: "exp1",
      jobKey: "experiment_profile/1",
      cluster,
      clock,
      logger: log,
      random: () => 0.5,
      ...extra,
    });
  return { clock, fake, cluster, log, executor };
}
