/**
 * Every command id the extension registers, in one place, so that package.json, the
 * registrations and the callers (status bar, tree, tests) cannot drift apart silently.
 * The extension test compares this list with package.json's contributes.commands.
 */
export const CommandId = {
  connect: 'sshKeepalive.connect',
  disconnect: 'sshKeepalive.disconnect',
  reconnect: 'sshKeepalive.reconnect',
  pauseReconnecting: 'sshKeepalive.pauseReconnecting',
  resumeReconnecting: 'sshKeepalive.resumeReconnecting',
  openTerminal: 'sshKeepalive.openTerminal',
  addForward: 'sshKeepalive.addForward',
  stopForward: 'sshKeepalive.stopForward',
  copyForwardAddress: 'sshKeepalive.copyForwardAddress',
  showLog: 'sshKeepalive.showLog',
  hostActions: 'sshKeepalive.hostActions',
  openConfig: 'sshKeepalive.openConfig',
  refresh: 'sshKeepalive.refresh',
  focusTerminal: 'sshKeepalive.focusTerminal',
  /** Demo profile only (`npm run demo`): registered when SSHKA_DEMO_CONTROL is set. */
  simulateNatDrop: 'sshKeepalive.demo.simulateNatDrop',
} as const;

export type CommandId = (typeof CommandId)[keyof typeof CommandId];

/** Context keys set with `setContext`; package.json's `when`/`enablement` clauses use them. */
export const ContextKey = {
  /** At least one host has a session (in any state but closed). */
  hasSessions: 'sshKeepalive.hasSessions',
  /** At least one forward exists on some session. */
  hasForwards: 'sshKeepalive.hasForwards',
  /** The ssh_config names at least one concrete Host. */
  hasConfiguredHosts: 'sshKeepalive.hasConfiguredHosts',
  /** Reading the ssh_config failed; the welcome view says how to fix it. */
  configError: 'sshKeepalive.configError',
  /** Running in the `npm run demo` profile: the Simulate NAT Drop command is shown. */
  demoMode: 'sshKeepalive.demoMode',
} as const;

export type ContextKey = (typeof ContextKey)[keyof typeof ContextKey];

/** The activity bar container and its view. */
export const ViewContainerId = 'sshKeepalive';
export const HostsViewId = 'sshKeepalive.hosts';
export const TerminalProfileId = 'sshKeepalive.remoteTerminal';
