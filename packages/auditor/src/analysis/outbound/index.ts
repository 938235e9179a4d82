import type { AuditContext } from '../context.ts';
import { channelFacts, type ChannelFacts } from './channels.ts';
import { analyseHttp } from './http.ts';
import type { HttpModel } from './model.ts';
import { analyseQueues, type QueueModel } from './queues.ts';
import { productionFacts } from './scan.ts';
import { StartupAnalysis } from './startup.ts';

/** The outbound HTTP model of the audited project, computed once per audit. */
export function httpModel(ctx: AuditContext): HttpModel {
  return ctx.memo('outbound.http', () => analyseHttp(ctx));
}

/** Per-channel facts (clients and standalone calls) for the SC rules, computed once per audit. */
export function outboundChannels(ctx: AuditContext): readonly ChannelFacts[] {
  return ctx.memo('outbound.channels', () => {
    const startup = new StartupAnalysis(
      ctx.project,
      productionFacts(ctx).map((f) => f.unit),
    );
    return channelFacts(httpModel(ctx), (site) => startup.startupOnly(site));
  });
}

/** RabbitMQ and Kafka clients of the audited project, computed once per audit. */
export function queueModel(ctx: AuditContext): QueueModel {
  return ctx.memo('outbound.queues', () => analyseQueues(ctx));
}
