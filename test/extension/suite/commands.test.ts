import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { CommandId } from '../../../src/vscode/commandIds';
import { testApi } from './helpers';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..');
interface Manifest {
  activationEvents: string[];
  extensionKind: string[];
  capabilities: { untrustedWorkspaces: { supported: string; restrictedConfigurations: string[] } };
  contributes: {
    commands: Array<{ command: string; title: string; category: string; enablement?: string }>;
    configuration: { properties: Record<string, { scope?: string; markdownDescription?: string }> };
    viewsContainers: { activitybar: Array<{ id: string; icon: string }> };
    views: Record<string, Array<{ id: string }>>;
    viewsWelcome: Array<{ view: string; contents: string }>;
    terminal: { profiles: Array<{ id: string }> };
  };
}
const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as Manifest;

suite('contributions', () => {
  suiteSetup(async () => {
    await testApi();
  });

  test('every contributed command is registered, and every registered one contributed', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    const contributed = manifest.contributes.commands.map((c) => c.command);
    const missing = contributed.filter((c) => !registered.has(c));
    assert.deepStrictEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
    assert.deepStrictEqual([...contributed].sort(), Object.values(CommandId).sort(), 'package.json and commandIds.ts disagree');
    // VS Code adds `<viewId>.focus` and friends for every view; those are not ours to contribute.
    const ours = [...registered].filter((c) => c.startsWith('sshKeepalive.') && !c.startsWith('sshKeepalive.hosts.'));
    assert.deepStrictEqual(
      ours.filter((c) => !contributed.includes(c)),
      [],
      'registered but not contributed',
    );
  });

  test('commands are in the "SSH Keepalive" category with titles', () => {
    for (const c of manifest.contributes.commands) {
      assert.strictEqual(c.category, 'SSH Keepalive', c.command);
      assert.ok(c.title.length > 0, c.command);
    }
  });

  test('settings that name files or hosts cannot come from an untrusted workspace', () => {
    const props = manifest.contributes.configuration.properties;
    assert.strictEqual(props['sshKeepalive.configFile'].scope, 'machine');
    const restricted = manifest.capabilities.untrustedWorkspaces.restrictedConfigurations;
    assert.ok(restricted.includes('sshKeepalive.autoConnect'));
    assert.strictEqual(manifest.capabilities.untrustedWorkspaces.supported, 'limited');
    for (const [key, p] of Object.entries(props)) assert.ok(p.markdownDescription, `${key} has no markdownDescription`);
    for (const key of [
      'autoConnect',
      'configFile',
      'keepaliveInterval',
      'keepaliveCountMax',
      'reconnect.maxDelay',
      'reattach',
      'slowRttMs',
      'statusBar.maxItems',
    ]) {
      assert.ok(props[`sshKeepalive.${key}`], `setting sshKeepalive.${key} is missing`);
    }
  });

  test('extensionKind prefers the UI side and falls back to the workspace (code-server)', () => {
    assert.deepStrictEqual(manifest.extensionKind, ['ui', 'workspace']);
    assert.ok(manifest.activationEvents.includes('onStartupFinished'));
  });

  test('the activity bar icon is a monochrome 24x24 SVG using currentColor', () => {
    const container = manifest.contributes.viewsContainers.activitybar[0];
    const svg = fs.readFileSync(path.join(REPO_ROOT, container.icon), 'utf8');
    assert.match(svg, /viewBox="0 0 24 24"/);
    assert.match(svg, /currentColor/);
    assert.doesNotMatch(svg, /#[0-9a-f]{3,6}\b/i, 'no fixed colours');
    assert.ok(manifest.contributes.views[container.id].some((v) => v.id === 'sshKeepalive.hosts'));
    assert.ok(manifest.contributes.viewsWelcome.some((w) => w.view === 'sshKeepalive.hosts' && w.contents.includes('command:sshKeepalive.openConfig')));
    assert.ok(manifest.contributes.terminal.profiles.some((p) => p.id === 'sshKeepalive.remoteTerminal'));
  });
});
