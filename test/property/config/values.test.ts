// Properties of config value parsing: addresses round-trip through formatAddress, and
// integer env values are accepted exactly when they are plain in-range digits.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { formatAddress, parseAddress } from '../../../src/config/address.js';
import { ConfigError, loadConfig } from '../../../src/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'voltlane-config-prop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const port = fc.integer({ min: 0, max: 65535 });
const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());

describe('addresses', () => {
  it('parseAddress(formatAddress(hp)) gives hp back', () => {
    fc.assert(
      fc.property(host, port, (h, p) => {
        expect(parseAddress(formatAddress({ host: h, port: p }))).toEqual({ host: h, port: p });
      }),
    );
  });

  it('reads bracketless IPv6 "host:port" by splitting at the last colon', () => {
    fc.assert(
      fc.property(fc.ipV6(), port, (h, p) => {
        expect(parseAddress(`${h}:${p}`)).toEqual({ host: h, port: p });
      }),
    );
  });
});

describe('integers from the environment', () => {
  const digits = fc.stringMatching(/^[0-9]{1,12}$/);
  const anything = fc.oneof(digits, fc.string(), fc.double().map(String), fc.integer().map((n) => `${n}x`));

  it('accepts exactly the plain digit strings that are at least 1', () => {
    fc.assert(
      fc.property(anything, (raw) => {
        const load = () =>
          loadConfig({ cwd: dir, writeDefault: false, dotenv: false, env: { VOLTLANE_CLIENTS_CHANNEL_CAPACITY: raw } });
        const text = raw.trim();
        if (/^\+?[0-9]+$/.test(text) && Number(text) >= 1 && Number.isSafeInteger(Number(text))) {
          expect(load().config.clients.channelCapacity).toBe(Number(text));
        } else {
          expect(load).toThrow(ConfigError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
