// Tests for src/config/address.ts: every "host:port" form the config accepts or refuses.
import { describe, expect, it } from 'vitest';
import { AddressError, checkAddress, formatAddress, parseAddress } from '../../../src/config/address.js';

describe('parseAddress', () => {
  it.each([
    ['127.0.0.1:42000', '127.0.0.1', 42000],
    ['0.0.0.0:0', '0.0.0.0', 0],
    ['[::1]:42000', '::1', 42000],
    ['::1:42000', '::1', 42000],
    ['[::]:65535', '::', 65535],
    ['fe80::1:8080', 'fe80::1', 8080],
    ['[fe80::1%eth0]:80', 'fe80::1%eth0', 80],
    ['::ffff:10.0.0.1:9', '::ffff:10.0.0.1', 9],
    ['localhost:8080', 'localhost', 8080],
    ['test.example.com:6969', 'test.example.com', 6969],
    ['example.com.:1', 'example.com.', 1],
    ['master_1.internal:33445', 'master_1.internal', 33445],
    ['10.12.1.0:33445', '10.12.1.0', 33445],
  ])('accepts %s', (input, host, port) => {
    expect(parseAddress(input)).toEqual({ host, port });
  });

  it.each([
    ['', 'empty'],
    ['localhost', 'no port'],
    [':42000', 'host is missing'],
    ['localhost:', 'port is missing'],
    ['localhost:65536', 'above 65535'],
    ['localhost:99999', 'above 65535'],
    ['localhost:-1', 'not a whole number'],
    ['localhost:+80', 'not a whole number'],
    ['localhost:80a', 'not a whole number'],
    ['localhost:8.0', 'not a whole number'],
    ['localhost: 80', 'whitespace'],
    ['bad host:80', 'whitespace'],
    ['[::1]', 'port must follow'],
    ['[::1]42000', 'port must follow'],
    ['[::1:42000', 'never closed'],
    ['[1.2.3.4]:80', 'not an IPv6 address'],
    ['1:2:3:4:5:6:7:8:9:80', 'not an IPv6 address'],
    ['::1', 'not an IPv6 address'],
    ['-bad.example.com:80', 'not a valid host name'],
    ['a..b:80', 'not a valid host name'],
    ['bad/host:80', 'not a valid host name'],
    ['999.1.1.1:80', 'not a valid IPv4 address'],
    ['1.2.3:80', 'not a valid IPv4 address'],
    [`${'a'.repeat(64)}.com:80`, 'not a valid host name'],
  ])('refuses %j (%s)', (input, problem) => {
    const result = checkAddress(input);
    expect(typeof result).toBe('string');
    expect(result).toContain(problem);
    expect(() => parseAddress(input)).toThrow(AddressError);
  });

  it('names the key and the expected form in its error', () => {
    let caught: unknown;
    try {
      parseAddress('localhost', 'listener.address');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AddressError);
    const err = caught as AddressError;
    expect(err.key).toBe('listener.address');
    expect(err.input).toBe('localhost');
    expect(err.code).toBe('VL_ERR_ADDRESS');
    expect(err.message).toContain('listener.address');
    expect(err.message).toContain('"localhost"');
    expect(err.message).toContain('has no port');
    expect(err.message).toContain('host:port');
    expect(err.message).toContain('[::1]:42000');
  });
});

describe('formatAddress', () => {
  it.each([
    [{ host: '127.0.0.1', port: 42000 }, '127.0.0.1:42000'],
    [{ host: 'example.com', port: 80 }, 'example.com:80'],
    [{ host: '::1', port: 42000 }, '[::1]:42000'],
    [{ host: 'fe80::1%eth0', port: 1 }, '[fe80::1%eth0]:1'],
  ])('prints %j as %s', (hp, text) => {
    expect(formatAddress(hp)).toBe(text);
    expect(parseAddress(text)).toEqual(hp);
  });

  it('turns the bracketless IPv6 form into the bracketed one', () => {
    expect(formatAddress(parseAddress('::1:42000'))).toBe('[::1]:42000');
  });
});
