/** Errors people read, kept apart from the schema code so that catching them loads nothing heavy. */

/** A config that cannot be used: every problem, each naming its path and the fix. */
export class ConfigError extends Error {
  constructor(readonly problems: string[], source = 'config') {
    super(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}
