import type * as vscode from 'vscode';
import type { Logger } from '../core/base/logger';

/**
 * Core's Logger onto a LogOutputChannel, which has its own level setting ("Set Log Level"
 * in the channel's menu), so the extension needs none. Core never passes secrets here.
 */
export function channelLogger(channel: vscode.LogOutputChannel): Logger {
  return {
    trace: (m) => channel.trace(m),
    debug: (m) => channel.debug(m),
    info: (m) => channel.info(m),
    warn: (m) => channel.warn(m),
    error: (m) => channel.error(m),
  };
}
