/**
 * Which ssh_config keywords exist, and the values of OpenSSH's flag options. ssh stops at
 * a keyword it does not know ("Bad configuration option", with file:line) unless
 * IgnoreUnknown lists it, and at a flag value it does not know ("unsupported option"),
 * both on every line it reads, in a matching block or not: so do we. A keyword OpenSSH
 * knows is never an error here, implemented or not (unsupportedOptions.ts reports those
 * that would change behaviour).
 */
import { formatSource, type Source } from './configFile';
import { matchPatternList, splitPatternList } from './patterns';
import { ConfigError } from './types';

/** OpenSSH 9.2's readconf.c keywords (Host, Match and Include are handled by the parser). */
const OPENSSH_92 = `addkeystoagent addressfamily batchmode bindaddress bindinterface canonicaldomains
canonicalizefallbacklocal canonicalizehostname canonicalizemaxdots canonicalizepermittedcnames
casignaturealgorithms certificatefile challengeresponseauthentication checkhostip ciphers
clearallforwardings compression connectionattempts connecttimeout controlmaster controlpath
controlpersist dynamicforward enableescapecommandline enablesshkeysign escapechar
exitonforwardfailure fingerprinthash forkafterauthentication forwardagent forwardx11
forwardx11timeout forwardx11trusted gatewayports globalknownhostsfile gssapiauthentication
gssapidelegatecredentials hashknownhosts hostbasedacceptedalgorithms hostbasedkeytypes
hostbasedauthentication hostkeyalgorithms hostkeyalias hostname identitiesonly identityagent
identityfile ignoreunknown ipqos kbdinteractiveauthentication kbdinteractivedevices kexalgorithms
knownhostscommand localcommand localforward loglevel logverbose macs nohostauthenticationforlocalhost
numberofpasswordprompts passwordauthentication permitlocalcommand permitremoteopen pkcs11provider
port preferredauthentications proxycommand proxyjump proxyusefdpass pubkeyacceptedalgorithms
pubkeyacceptedkeytypes pubkeyauthentication rekeylimit remotecommand remoteforward requesttty
requiredrsasize revokedhostkeys securitykeyprovider sendenv serveralivecountmax serveraliveinterval
sessiontype setenv stdinnull streamlocalbindmask streamlocalbindunlink stricthostkeychecking
syslogfacility tcpkeepalive tunnel tunneldevice updatehostkeys user userknownhostsfile
verifyhostkeydns visualhostkey xauthlocation`;

/** Keywords ssh 9.2 accepts as deprecated or unsupported (a debug or error line, never a stop). */
const OPENSSH_RETIRED = `cipher fallbacktorsh globalknownhostsfile2 rhostsauthentication userknownhostsfile2 useroaming
usersh useprivilegedport compressionlevel protocol rhostsrsaauthentication rsaauthentication
afstokenpassing kerberosauthentication kerberostgtpassing smartcarddevice skeyauthentication
tisauthentication dsaauthentication`;

/**
 * Known to other OpenSSH builds: later releases (Tag 9.4, ObscureKeystrokeTiming 9.5,
 * ChannelTimeout 9.6, RefuseConnection 10.0, WarnWeakCrypto 10.1), Debian's GSSAPI key
 * exchange patch, and Apple's UseKeychain. ssh 9.2 stops at these; a config shared with a
 * newer ssh or a Mac must not stop working here.
 */
const OTHER_BUILDS = `tag obscurekeystroketiming channeltimeout refuseconnection warnweakcrypto gssapikeyexchange
gssapiclientidentity gssapiserveridentity gssapirenewalforcesrekey gssapitrustdns gssapikexalgorithms
usekeychain`;

const words = (text: string) => text.split(/\s+/).filter((w) => w !== '');
export const KNOWN_KEYWORDS: ReadonlySet<string> = new Set([...words(OPENSSH_92), ...words(OPENSSH_RETIRED), ...words(OTHER_BUILDS)]);

const YES_NO = ['yes', 'no', 'true', 'false'];
/** readconf.c's multistate tables: the values each flag option takes (case-insensitive). */
const FLAG_VALUES: Record<string, readonly string[]> = {
  ...Object.fromEntries(
    words(`batchmode checkhostip clearallforwardings enableescapecommandline enablesshkeysign
      exitonforwardfailure forkafterauthentication forwardx11 forwardx11trusted gatewayports gssapiauthentication
      gssapidelegatecredentials hashknownhosts hostbasedauthentication identitiesonly kbdinteractiveauthentication
      challengeresponseauthentication nohostauthenticationforlocalhost passwordauthentication permitlocalcommand
      proxyusefdpass stdinnull streamlocalbindunlink tcpkeepalive visualhostkey canonicalizefallbacklocal`).map((k) => [k, YES_NO]),
  ),
  addressfamily: ['inet', 'inet6', 'any'],
  // Compression is yes or no only (not true/false); CanonicalizeHostname has no "none".
  compression: ['yes', 'no'],
  canonicalizehostname: [...YES_NO, 'always'],
  controlmaster: [...YES_NO, 'ask', 'auto', 'autoask'],
  pubkeyauthentication: [...YES_NO, 'unbound', 'host-bound'],
  requesttty: [...YES_NO, 'force', 'auto'],
  sessiontype: ['none', 'subsystem', 'default'],
  stricthostkeychecking: [...YES_NO, 'ask', 'accept-new', 'off'],
  tunnel: [...YES_NO, 'point-to-point', 'ethernet'],
  updatehostkeys: [...YES_NO, 'ask'],
  verifyhostkeydns: [...YES_NO, 'ask'],
  // ssh_digest_alg_by_name(): any digest ssh knows.
  fingerprinthash: ['md5', 'sha1', 'sha256', 'sha384', 'sha512'],
};

export interface OptionLine {
  keyword: string;
  name: string;
  args: readonly string[];
  source: Source;
}

/**
 * Throws the error ssh would stop with for this line, if any. `ignoreUnknown` is the
 * IgnoreUnknown pattern list in force when the line is read.
 */
export function checkOptionLine(line: OptionLine, ignoreUnknown: string | undefined): void {
  const inFile = line.source.file !== 'command line';
  const error = (message: string) =>
    new ConfigError(`${formatSource(line.source)}: ${message}`, inFile ? line.source.file : undefined, inFile ? line.source.line : undefined);
  if (!KNOWN_KEYWORDS.has(line.keyword)) {
    if (ignoreUnknown !== undefined && matchPatternList(line.keyword, splitPatternList(ignoreUnknown)) === 'match') return;
    throw error(`Bad configuration option: ${line.name} (no OpenSSH knows it; to keep it for another program, list it in IgnoreUnknown)`);
  }
  const allowed = FLAG_VALUES[line.keyword];
  const value = line.args[0];
  if (allowed && value !== undefined && !allowed.includes(value.toLowerCase())) {
    throw error(`bad ${line.name} value "${value}": expected ${allowed.map((v) => `"${v}"`).join(', ')}`);
  }
}
