/**
 * The running half of the experiment-profile engine (barrel): plan, scheduler, executor, cluster
 * client (port, HTTP adapter, recording fake), MQTT lookups, journal and resume, the managed job.
 * The static half (load, validate, expressions, time) is `./index`, re-exported here for convenience.
 */
export * from "./index";
export * from "./cluster-client";
export * from "./executor";
export * from "./fake-cluster";
export * from "./http-cluster-client";
export * from "./journal";
export * from "./managed-run";
export * from "./mqtt-lookups";
export * from "./plan";
export * from "./plan-svg";
export * from "./plugin-check";
export * from "./profile-job";
export * from "./runner";
export * from "./scheduler";
export * from "./unit-queues";
