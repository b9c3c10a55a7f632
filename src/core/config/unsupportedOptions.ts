/**
 * ssh_config options that change what ssh would do but that we do not (or must not)
 * honour. They are reported, not silently dropped, so the user knows why a connection
 * differs from `ssh alias`. Only the effective (first obtained) value is judged: a later
 * value would not apply in ssh either.
 */
import { formatSource } from './configFile';
import type { EffectiveConfig } from './configEval';
import type { UnsupportedOption } from './types';

export interface Rule {
  keyword: string;
  /** Whether this value changes behaviour (e.g. "ProxyCommand none" does not). */
  applies: (value: string) => boolean;
  reason: string;
}

const always = (): boolean => true;
const notNone = (v: string): boolean => v.toLowerCase() !== 'none';
const notNo = (v: string): boolean => !['no', 'false'].includes(v.toLowerCase());
const isYes = (v: string): boolean => ['yes', 'true', 'always'].includes(v.toLowerCase());
const isNo = (v: string): boolean => ['no', 'false'].includes(v.toLowerCase());
const ALGORITHMS = 'algorithm lists from ssh_config are not applied; the built-in defaults are used';

export const RULES: readonly Rule[] = [
  { keyword: 'proxyusefdpass', applies: isYes, reason: 'ProxyUseFdpass is not supported; the ProxyCommand is used as a byte stream' },
  { keyword: 'localcommand', applies: always, reason: 'LocalCommand is never run' },
  { keyword: 'permitlocalcommand', applies: isYes, reason: 'PermitLocalCommand has no effect: local commands are never run' },
  { keyword: 'remotecommand', applies: notNone, reason: 'RemoteCommand is not supported; an interactive shell is opened instead' },
  { keyword: 'knownhostscommand', applies: notNone, reason: 'KnownHostsCommand is never run; only known_hosts files are read' },
  { keyword: 'controlmaster', applies: notNo, reason: 'connection sharing (ControlMaster) is not used; each session has its own connection' },
  { keyword: 'forwardagent', applies: notNo, reason: 'agent forwarding (ForwardAgent) is not supported' },
  { keyword: 'forwardx11', applies: isYes, reason: 'X11 forwarding is not supported' },
  { keyword: 'tunnel', applies: notNo, reason: 'tun/tap forwarding (Tunnel) is not supported' },
  { keyword: 'canonicalizehostname', applies: isYes, reason: 'host name canonicalization is not done; HostName is used as written' },
  {
    keyword: 'certificatefile',
    applies: always,
    reason:
      'certificates (CertificateFile) cannot be used here (the SSH library has no certificate support); only the plain keys are offered, so the server must list the key itself in authorized_keys',
  },
  { keyword: 'pkcs11provider', applies: notNone, reason: 'PKCS#11 tokens are not supported' },
  { keyword: 'securitykeyprovider', applies: always, reason: 'SecurityKeyProvider is not supported' },
  { keyword: 'bindaddress', applies: always, reason: 'choosing the local source address (BindAddress) is not supported' },
  { keyword: 'bindinterface', applies: always, reason: 'choosing the local interface (BindInterface) is not supported' },
  { keyword: 'addressfamily', applies: (v) => v.toLowerCase() !== 'any', reason: 'AddressFamily is not applied' },
  {
    keyword: 'addkeystoagent',
    applies: notNo,
    reason: 'keys are not added to the agent (AddKeysToAgent); a decrypted key is kept in memory for the session instead',
  },
  { keyword: 'usekeychain', applies: isYes, reason: "the macOS keychain (Apple's UseKeychain) is not used; passphrases are asked for" },
  { keyword: 'revokedhostkeys', applies: notNone, reason: 'RevokedHostKeys files are not read; only @revoked lines in known_hosts are' },
  { keyword: 'passwordauthentication', applies: isNo, reason: 'PasswordAuthentication no is not applied: the server may still be offered a password you type' },
  { keyword: 'kbdinteractiveauthentication', applies: isNo, reason: 'KbdInteractiveAuthentication no is not applied' },
  { keyword: 'preferredauthentications', applies: always, reason: "PreferredAuthentications is not applied; methods are tried in OpenSSH's default order" },
  { keyword: 'clearallforwardings', applies: isYes, reason: 'ClearAllForwardings is not applied; configured forwards are set up' },
  { keyword: 'pubkeyauthentication', applies: isNo, reason: 'PubkeyAuthentication no is not applied: keys are still offered' },
  { keyword: 'hostbasedauthentication', applies: isYes, reason: 'host-based authentication (HostbasedAuthentication) is not supported' },
  {
    keyword: 'nohostauthenticationforlocalhost',
    applies: isYes,
    reason: 'NoHostAuthenticationForLocalhost is not applied: the host key of localhost is checked like any other',
  },
  { keyword: 'verifyhostkeydns', applies: notNo, reason: 'SSHFP records are not looked up (VerifyHostKeyDNS); host keys are checked against known_hosts only' },
  { keyword: 'updatehostkeys', applies: notNo, reason: "the server's other host keys are not learned (UpdateHostKeys); only the key it shows is checked" },
  { keyword: 'setenv', applies: always, reason: 'SetEnv is not sent: shells and commands started here do not get these variables' },
  {
    keyword: 'requesttty',
    applies: (v) => v.toLowerCase() !== 'auto',
    reason: "RequestTTY is not applied; the CLI's -t and -T choose whether a terminal is requested",
  },
  { keyword: 'sessiontype', applies: (v) => v.toLowerCase() !== 'default', reason: 'SessionType is not applied; give the CLI -N for no remote command' },
  { keyword: 'stdinnull', applies: isYes, reason: 'StdinNull is not applied' },
  { keyword: 'forkafterauthentication', applies: isYes, reason: 'ForkAfterAuthentication is not applied: ssh-keepalive stays in the foreground' },
  {
    keyword: 'refuseconnection',
    applies: isYes,
    reason: 'RefuseConnection (OpenSSH 10.0) is not applied: ssh-keepalive connects to this host; remove it from the hosts you connect to with ssh-keepalive',
  },
  { keyword: 'ciphers', applies: always, reason: ALGORITHMS },
  { keyword: 'kexalgorithms', applies: always, reason: ALGORITHMS },
  { keyword: 'macs', applies: always, reason: ALGORITHMS },
  { keyword: 'hostkeyalgorithms', applies: always, reason: ALGORITHMS },
  { keyword: 'pubkeyacceptedalgorithms', applies: always, reason: ALGORITHMS },
  { keyword: 'pubkeyacceptedkeytypes', applies: always, reason: ALGORITHMS },
];

export function unsupportedOptions(config: EffectiveConfig): UnsupportedOption[] {
  const out: UnsupportedOption[] = [];
  for (const rule of RULES) {
    // CertificateFile accumulates; the others are first-value-wins.
    const settings = rule.keyword === 'certificatefile' ? config.getAll(rule.keyword) : [config.get(rule.keyword)];
    for (const setting of settings) {
      if (!setting || !rule.applies(setting.text)) continue;
      out.push({ option: setting.name, value: setting.text, source: formatSource(setting.source), reason: rule.reason });
    }
  }
  return out;
}
