/**
 * The signal sources, by pool kind (core/pool-kind.ts), and the Celery brokers, by family (core/celery.ts
 * CELERY_BROKERS): a new kind of pool is one source and a line in SOURCES; a new broker for Celery is one file and a
 * line in BROKERS. The controller builds each kind's source from here (control/redis-state.ts) and never asks which
 * one it reads.
 */
import { brokerFamily } from '../core/celery.js';
import { bullmqSource } from './bullmq.js';
import { CelerySource, type BrokerFactory } from './celery.js';
import { CeleryAmqpBroker } from './celery-amqp.js';
import { CeleryRedisBroker } from './celery-redis.js';
import type { PoolSource, SourceContext } from './source.js';

export type { PoolRef, PoolSource, SourceContext } from './source.js';

export const BROKERS: Record<string, BrokerFactory> = {
  redis: (url) => new CeleryRedisBroker(url),
  amqp: (url) => new CeleryAmqpBroker(url),
};

export const SOURCES: Record<string, (ctx: SourceContext) => PoolSource> = {
  trireme: bullmqSource,
  celery: (ctx) => new CelerySource(ctx, BROKERS, brokerFamily),
};
