import type { FaultProxy } from './faultProxy';

/**
 * A NAT reboot on the userland flaky NAT: every current flow is forgotten at once (from then on
 * its packets are dropped silently, both ways, and no FIN or RST is passed on); new flows work.
 * The idle timeout is put back afterwards.
 */
export async function forgetAllFlows(nat: FaultProxy, idleTimeoutMs: number): Promise<void> {
  nat.setIdleTimeout(1);
  await new Promise<void>((r) => setTimeout(r, 50));
  nat.setIdleTimeout(idleTimeoutMs);
}
