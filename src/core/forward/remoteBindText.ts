import { formatHostPort } from '../base/hostPort';

/**
 * What to say once the server accepted a remote forward. The tcpip-forward reply carries
 * only a port (and only for port 0), never the addresses bound: for "" (`*`) or any address
 * that is not loopback, the server decides where it really listens (OpenSSH binds loopback
 * only unless GatewayPorts allows more; Dropbear unless started with -a), so we must not
 * claim every interface.
 */
export function describeRemoteBind(bindAddress: string, port: number): string {
  if (bindAddress === 'localhost' || /^127\./.test(bindAddress) || bindAddress === '::1') {
    return `the server listens on ${formatHostPort(bindAddress, port)}`;
  }
  const asked = bindAddress === '' ? `port ${port} on all interfaces (*)` : `port ${port} on ${bindAddress}`;
  return `the server accepted ${asked}; which addresses it listens on the server decides (loopback only unless its GatewayPorts, or Dropbear's -a, allows more)`;
}
