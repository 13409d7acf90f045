/** Errors people read, kept apart from the schema code so that catching them loads nothing heavy. */

/**
 * An optional package that a part of the config needs is not installed (the Kubernetes client for the kubernetes
 * driver): the message names the package, what needs it, and the command that installs it.
 */
export class MissingPackageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingPackageError';
  }
}

/** A config that cannot be used: every problem, each naming its path and the fix. */
export class ConfigError extends Error {
  constructor(readonly problems: string[], source = 'config') {
    super(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}
