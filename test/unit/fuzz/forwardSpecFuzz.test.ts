/**
 * Fuzz: -L/-R/-D forward specs (core/config/forwardSpec.ts) and the "Forward a Port..."
 * input box (vscode/forwardInput.ts). Properties: only ConfigError comes out and it names
 * what was typed or the field at fault; what parses formats back to the same forward; the
 * input box never throws and never calls a parsable forward an error; linear time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatDynamicSpec, formatForwardSpec, parseDynamicSpec, parseForwardDirective, parseForwardSpec } from '../../../src/core/config/forwardSpec';
import { ConfigError } from '../../../src/core/config/types';
import { formatForwardRequest, parseForwardInput, parseStoredForward, validateForwardInput, type ForwardKind } from '../../../src/vscode/forwardInput';
import { assertLinear, fuzz, hostText, nastyText, portText } from '../../harness/arbitraries';

/** A field: usually well-formed, sometimes escaped, bracketed or garbage. */
const field = fc.oneof(
  { weight: 4, arbitrary: portText },
  { weight: 4, arbitrary: hostText },
  { weight: 1, arbitrary: fc.constantFrom('*', '', 'localhost', '/run/x.sock', 'a\\:b', '[::1', '::1]', '[a/b]', '\\', '[]') },
  { weight: 2, arbitrary: nastyText },
);

/** Specs built like real ones (2 to 5 fields, joined by `:`, `/` or a space), some then garbled. */
const specText = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.array(field, { minLength: 1, maxLength: 5 }), fc.constantFrom(':', ':', ':', '/', ' ')).map(([f, sep]) => f.join(sep)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.option(hostText), portText, hostText, portText, fc.constantFrom(' ', '  ', '\t'))
      .map(([bind, port, host, hostPort, gap]) => `${bind === null ? '' : `${bind}:`}${port}${gap}${host}:${hostPort}`),
  },
  { weight: 2, arbitrary: nastyText },
);

/** Rejections name what was typed (or, for the two-word form, each word) or the bad field. */
function assertNamesInput(err: unknown, input: string): void {
  if (!(err instanceof ConfigError)) throw new Error(`not a ConfigError: ${(err as Error)?.stack ?? String(err)}`);
  const text = input.trim();
  const words = text.split(/\s+/);
  const named = err.message.includes(text) || words.every((w) => err.message.includes(w));
  assert.ok(named, `the message names neither ${JSON.stringify(text)} nor its words: ${err.message}`);
}

test('property: -L/-R specs parse or fail with a ConfigError naming the spec; what parses formats back to itself', () => {
  fuzz(
    fc.property(specText, (text) => {
      for (const parse of [parseForwardSpec, (t: string) => parseForwardDirective(t, 'local'), (t: string) => parseForwardDirective(t, 'remote')]) {
        let spec;
        try {
          spec = parse(text);
        } catch (err) {
          assertNamesInput(err, text);
          continue;
        }
        assert.ok(Number.isInteger(spec.bindPort) && spec.bindPort >= 0 && spec.bindPort <= 65535);
        assert.ok(Number.isInteger(spec.hostPort) && spec.hostPort >= 1 && spec.hostPort <= 65535);
        assert.notEqual(spec.host, '');
        assert.deepEqual(parseForwardSpec(formatForwardSpec(spec)), spec, `${JSON.stringify(text)} -> ${formatForwardSpec(spec)}`);
      }
    }),
    600,
  );
});

test('property: -D specs parse or fail with a ConfigError naming the spec; what parses formats back to itself', () => {
  fuzz(
    fc.property(specText, (text) => {
      let spec;
      try {
        spec = parseDynamicSpec(text);
      } catch (err) {
        assertNamesInput(err, text);
        return;
      }
      assert.ok(Number.isInteger(spec.bindPort) && spec.bindPort >= 0 && spec.bindPort <= 65535);
      assert.deepEqual(parseDynamicSpec(formatDynamicSpec(spec)), spec, `${JSON.stringify(text)} -> ${formatDynamicSpec(spec)}`);
    }),
    600,
  );
});

test('property: well-formed specs give back their own fields', () => {
  const name = fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6());
  const port = fc.integer({ min: 1, max: 65535 });
  fuzz(
    fc.property(fc.option(name), fc.integer({ min: 0, max: 65535 }), name, port, (bind, listen, host, hostPort) => {
      const b = (h: string) => (h.includes(':') ? `[${h}]` : h);
      const text = `${bind === null ? '' : `${b(bind)}:`}${listen}:${b(host)}:${hostPort}`;
      const want = { ...(bind === null ? {} : { bindAddress: bind }), bindPort: listen, host, hostPort };
      assert.deepEqual(parseForwardSpec(text), want);
      assert.deepEqual(parseDynamicSpec(`${bind === null ? '' : `${b(bind)}:`}${listen}`), {
        ...(bind === null ? {} : { bindAddress: bind }),
        bindPort: listen,
      });
    }),
    300,
  );
});

test('property: the input box never throws, errors only on what does not parse, and what it accepts is stored and read back unchanged', () => {
  fuzz(
    fc.property(fc.constantFrom<ForwardKind>('local', 'remote', 'dynamic'), specText, (kind, text) => {
      const problem = validateForwardInput(kind, text);
      let parsed;
      try {
        parsed = parseForwardInput(kind, text);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw new Error(`not a ConfigError: ${(err as Error)?.stack ?? String(err)}`);
      }
      if (problem) {
        assert.ok(problem.message.trim().length > 0, 'a problem with no message');
        assert.equal(problem.severity === 'error', parsed === undefined, `${JSON.stringify(text)}: ${problem.severity} ${problem.message}`);
      } else {
        assert.ok(parsed, `accepted ${JSON.stringify(text)} without parsing it`);
      }
      if (parsed) assert.deepEqual(parseStoredForward(formatForwardRequest(parsed)), parsed, formatForwardRequest(parsed));
    }),
    600,
  );
});

test('forward spec parsing time grows linearly with the length of the spec', () => {
  for (const [what, build] of [
    ['escapes', (n: number) => `8080:${'a\\:'.repeat(n)}:80`],
    ['brackets', (n: number) => `${'[a]:'.repeat(n)}80`],
    ['slashes', (n: number) => `${'1/'.repeat(n)}1`],
    ['blanks', (n: number) => `8080${' '.repeat(n)}x${' '.repeat(n)}db:80`],
  ] as const) {
    assertLinear(
      `forward spec with ${what}`,
      build,
      (text) => {
        for (const parse of [parseForwardSpec, parseDynamicSpec, parseForwardDirective]) {
          try {
            parse(text);
          } catch {
            // rejections are fine here; only the time counts
          }
        }
        validateForwardInput('local', text);
      },
      2000,
    );
  }
});

test('regression: the slash form takes a bracketed address as in the colon form, and leaves stray brackets and backslashes to the colon parser', () => {
  // Found by the round-trip property: "1/[::1]/1" kept the brackets in the host, and
  // "\/1/x/1" a backslash bind address that formatForwardSpec wrote back as an escape.
  assert.deepEqual(parseForwardSpec('8080/[::1]/80'), { bindPort: 8080, host: '::1', hostPort: 80 });
  assert.deepEqual(parseDynamicSpec('[::1]/1080'), { bindAddress: '::1', bindPort: 1080 });
  assert.throws(() => parseDynamicSpec('::1]/1'), ConfigError);
  assert.throws(() => parseForwardSpec('[/1/1/1'), ConfigError);
  assert.throws(() => parseForwardSpec('\\/1/x/1'), ConfigError);
});

test('regression: a forward whose text holds a line break is stored and read back', () => {
  // Found by the input-box property: "-D 0\r:1" did not match /^-([LRD]) (.+)$/ ('.' stops at \r).
  const request = parseForwardInput('dynamic', '0\r:1');
  assert.deepEqual(parseStoredForward(formatForwardRequest(request)), request);
});

test('regression: a bracket inside a field (escaped or not) is refused, not kept in an address', () => {
  // Found by the input-box property: "\:[]:1" gave the bind address ":[]", written back as
  // "[:[]]:1", which nothing parses.
  for (const text of ['\\:[]:1', '8080:a\\[b:80', 'x]:1080']) {
    assert.throws(() => (text.startsWith('8080') ? parseForwardSpec(text) : parseDynamicSpec(text)), /expected/, text);
  }
});
