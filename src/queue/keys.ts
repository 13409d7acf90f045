/** Names of the Redis keys Trireme writes beside BullMQ's own (which live under `<prefix>:<queue>:…`). */
export const keys = {
  replica: (prefix: string, id: string) => `${prefix}:~replica:${id}`,
  replicas: (prefix: string) => `${prefix}:~replicas`,
  scaleEvents: (prefix: string) => `${prefix}:~scale-events`,
  lease: (prefix: string) => `${prefix}:~controller-lease`,
  overrides: (prefix: string) => `${prefix}:~overrides`,
  decisions: (prefix: string) => `${prefix}:~decisions`,
  wake: (prefix: string) => `${prefix}:~wake`,
  stats: (prefix: string, queue: string) => `${prefix}:~stats:${queue}`,
  control: (prefix: string, id: string) => `${prefix}:~control:${id}`,
};
