/**
 * What the coordinator (the thread running the profile and the leader's streamer) and a shard (a
 * worker thread running some of the simulated units on its own clock and bus) say to each other.
 *
 * Everything a shard publishes that the leader database keeps travels back as a `ForwardedBatch`:
 * topic ids, delivery times and payload offsets in typed arrays and the payload bytes in one
 * ArrayBuffer, all transferred rather than copied, so a simulated week's millions of rows cost
 * the coordinator almost nothing to receive.
 */
import type { BioreactorParams } from "../../hardware/sim/bioreactor";
import type { DeepPartial } from "../../hardware/sim/defaults";
import type { ClusterClient } from "../../profiles/cluster-client";
import type { BusStats } from "../in-process-bus";
import type { UnitFinalState, UnitLiveValues } from "../runtime";

export interface ShardInit {
  kind: "pioreactor-sim-shard";
  units: string[];
  experiment: string;
  leader: string;
  seed: number;
  startMs: number;
  configOverrides?: Array<[string, string, string]>;
  /** Per-unit culture physics, already evaluated (functions cannot cross threads). */
  unitParams: Record<string, DeepPartial<BioreactorParams> | undefined>;
  initialOd?: number;
  adcOversampling?: number;
  appVersion?: string;
  /** Post job log lines worth showing a person (see WatchSink) back to the coordinator. */
  watchLogs: boolean;
  /** The streamer's topic filters: what to forward. */
  forwardFilters: string[];
}

/** The ClusterClient methods a shard answers for its units (the rest the coordinator answers itself). */
export type UnitCallMethod = keyof Pick<
  ClusterClient,
  "workerInfo" | "startJob" | "isJobRunning" | "updateJobSettings" | "stopJob" | "stopJobsFromSource" | "postUnitLog"
>;

export type ShardRequest =
  /** Run every timer due up to `toMs`, then answer with what was forwarded. */
  | { type: "advance"; id: number; toMs: number; wantProgress: boolean }
  | { type: "call"; id: number; method: UnitCallMethod; args: unknown[] }
  /** A setting's retained value (null if none); from now on its changes are reported. */
  | { type: "lookup"; id: number; unit: string; job: string; setting: string }
  /** Stop every unit, forward what that published, answer with the run's final data. */
  | { type: "finish"; id: number };

export interface ForwardedBatch {
  /** Topics first seen in this batch, in id order (ids continue from the previous batch). */
  newTopics: string[];
  topicIds: Uint32Array;
  /** Simulated ms at which each message was delivered. */
  times: Float64Array;
  /** Payload i is bytes[offsets[i], offsets[i + 1]). */
  offsets: Uint32Array;
  bytes: ArrayBuffer;
}

export interface AdvanceResult {
  nowMs: number;
  forwarded: ForwardedBatch;
  /** Watched lookups (unit, job, setting) published in this window, with their value now. */
  changed: Array<[string, string, string, string | null]>;
  progress?: UnitLiveValues[];
}

export interface CallResult {
  nowMs: number;
  forwarded: ForwardedBatch;
  value: unknown;
}

export interface LookupResult {
  nowMs: number;
  value: string | null;
}

export interface SerializedError {
  name: string;
  message: string;
  kind?: string;
  status?: number;
}

export interface FinishResult {
  nowMs: number;
  forwarded: ForwardedBatch;
  units: Array<[string, UnitFinalState]>;
  bus: Pick<BusStats, "published">;
}

export type ShardReply =
  | { type: "ready"; id: 0; nowMs: number; forwarded: ForwardedBatch }
  | { type: "result"; id: number; result: AdvanceResult | CallResult | FinishResult | LookupResult }
  | { type: "error"; id: number; error: SerializedError }
  /** A call that needs simulated time to finish: its result follows during an advance. */
  | { type: "pending"; id: number }
  | { type: "log"; line: string };
