/** The static half of the experiment-profile engine: load, check, decode; plus the expression language and time values. */
export * from "./diagnostics";
export * from "./expressions";
export { profileToJsonForm } from "./json-form";
export { type LoadedYaml, loadYaml, type YamlMapping, type YamlValue } from "./load";
export { parsePluginVersionConstraint, type PluginConstraint } from "./plugin-version";
export { ACTION_TYPES, BASIC_ACTION_TYPES, PROFILE_SCHEMA, ProfileSchemaValidator } from "./schema";
export * from "./time";
export * from "./types";
export {
  decodeProfile,
  loadProfileText,
  type ProfileValidation,
  type ValidateOptions,
  validateProfile,
  validateProfileText,
} from "./validate";
