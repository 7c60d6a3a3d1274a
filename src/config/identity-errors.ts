/** Errors about who this unit is and what it is doing, each with a message a user can act on. */

export class IdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The leader has no experiment assignment for this unit (HTTP 404 from /api/workers/<unit>/experiment). */
export class NotAssignedAnExperimentError extends IdentityError {}

/** The leader's inventory has no such worker (HTTP 404 from /api/workers/<unit>). */
export class NoWorkerFoundError extends IdentityError {}

/** The leader refused our credentials (HTTP 401): `[ui_basic_auth] api_key` is wrong or missing. */
export class LeaderAuthError extends IdentityError {}

/** The leader could not be reached, or kept answering with errors. */
export class LeaderUnreachableError extends IdentityError {}
