/**
 * The web server's own log lines ("New experiment created…", "Assigned pioreactor…"), published
 * where the original's `ui` logger publishes them: `pioreactor/<this unit>/$experiment/logs/ui/<level>`
 * (the experiment argument is ignored there too, so the UI shows them as system logs). `child`
 * gives the per-experiment loggers some routes create (bioreactor edits log under the experiment).
 */
import { logTopic, UNIVERSAL_EXPERIMENT } from "../../pubsub/topics";
import type { PubSubClient } from "../../pubsub/types";
import type { Clock } from "../../util/clock";
import { formatMillisTimestamp } from "../../util/python-format";

export type ServerLogLevel = "DEBUG" | "INFO" | "NOTICE" | "WARNING" | "ERROR";

export class ServerLog {
  constructor(
    private readonly unit: string,
    private readonly mqtt: Pick<PubSubClient, "publish">,
    private readonly clock: Clock,
    private readonly task = "pioreactor-leader-api",
    private readonly experiment = UNIVERSAL_EXPERIMENT,
  ) {}

  /** The same sink for another task and experiment (the original's per-route `create_logger`). */
  child(task: string, experiment: string): ServerLog {
    return new ServerLog(this.unit, this.mqtt, this.clock, task, experiment);
  }

  /** Never throws: a broker hiccup must not fail the HTTP request that logged. */
  log(level: ServerLogLevel, message: string): void {
    const payload = JSON.stringify({
      taskName: null,
      source: "ui",
      task: this.task,
      message: message.trim(),
      level,
      timestamp: formatMillisTimestamp(this.clock.now()),
    });
    this.mqtt.publish(logTopic(this.unit, this.experiment, "ui", level.toLowerCase()), payload, { qos: 0 }).catch(() => {});
  }

  info(message: string): void {
    this.log("INFO", message);
  }

  error(message: string): void {
    this.log("ERROR", message);
  }
}
