/** The compose driver's registry entry: its settings, how it is built, and the Compose file it exports. */
import type { DriverKind } from '../driver.js';
import { KIND, poolSchema, sharedSchema } from './settings.js';
import { ComposeDriver } from './driver.js';
import { composeFile } from './compose-file.js';

export const composeDriver: DriverKind = {
  scaleIn: 'set-count',
  placement: 'elsewhere',
  pool: poolSchema,
  shared: sharedSchema,
  async create(ctx) {
    return new ComposeDriver(ctx.project.config, ctx.project.baseDir, ctx.logger.child({ driver: KIND }));
  },
  exports: { compose: composeFile },
};
