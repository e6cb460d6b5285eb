// The reload table: every schema key is classified, and planReload applies exactly the live keys that changed.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, parseConfigText } from '../../../src/config/index.js';
import { describeChanges, planReload, RELOAD, reloadClass } from '../../../src/config/reload.js';
import { KEYS, SECTIONS } from '../../../src/config/schema.js';

describe('RELOAD', () => {
  it('classifies every schema key as live or restart, and nothing else', () => {
    for (const k of KEYS) expect([k.dotted, reloadClass(k.dotted)]).toEqual([k.dotted, expect.stringMatching(/^(live|restart)$/)]);
    const tableFields = SECTIONS.flatMap((s) => Object.keys(RELOAD[s]).map((f) => `${s}.${f}`)).sort();
    expect(tableFields).toEqual(KEYS.map((k) => `${k.section}.${k.field}`).sort());
    expect(reloadClass('limits.no_such_key')).toBeUndefined();
  });

  it('keeps what is bound or sized at start for a restart', () => {
    for (const k of ['listener.address', 'master.address', 'general.key_file', 'general.workers', 'state.dir', 'cluster.redis_url', 'tls.address', 'limits.max_frame_size']) {
      expect([k, reloadClass(k)]).toEqual([k, 'restart']);
    }
    for (const k of ['general.log_level', 'limits.max_connections_per_address', 'limits.handshake_timeout_secs', 'clients.channel_capacity']) {
      expect([k, reloadClass(k)]).toEqual([k, 'live']);
    }
  });
});

describe('planReload', () => {
  it('applies changed live keys, reports changed restart keys with the running value kept, ignores the rest', () => {
    const next = parseConfigText(
      '[general]\nlog_level = "debug"\n[listener]\naddress = "0.0.0.0:42000"\n[limits]\nmax_connections = 10\n[websocket]\nallowed_origins = ["https://a.example"]\n',
    ).config;
    const plan = planReload(DEFAULT_CONFIG, next);
    expect(plan.applied).toEqual([
      { key: 'general.log_level', from: '"info"', to: '"debug"' },
      { key: 'limits.max_connections', from: '100000', to: '10' },
    ]);
    expect(plan.needsRestart).toEqual([
      { key: 'listener.address', from: '127.0.0.1:42000', to: '0.0.0.0:42000' },
      { key: 'websocket.allowed_origins', from: '[]', to: '["https://a.example"]' },
    ]);
    expect(plan.effective.general.logLevel).toBe('debug');
    expect(plan.effective.limits.maxConnections).toBe(10);
    expect(plan.effective.listener.address).toEqual(DEFAULT_CONFIG.listener.address);
    expect(plan.effective.websocket!.allowedOrigins).toEqual([]);
    expect(Object.isFrozen(plan.effective.limits)).toBe(true);
    expect(describeChanges(plan.applied)).toBe('general.log_level "info" -> "debug", limits.max_connections 100000 -> 10');
  });

  it('the same config: nothing applied, nothing to restart', () => {
    const plan = planReload(DEFAULT_CONFIG, parseConfigText('').config);
    expect(plan).toMatchObject({ applied: [], needsRestart: [] });
    expect(plan.effective).toEqual(DEFAULT_CONFIG);
  });
});
