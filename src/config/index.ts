// Public face of src/config: load and validate connserver.toml into a frozen Config.
export { loadConfig, parseConfigText, ORIGINAL_MAX_FRAME_SIZE } from './load.js';
export type { LoadOptions, LoadedConfig, ConfigSource } from './load.js';
export { ConfigError, MAX_TIMER_MS } from './schema.js';
export type { Config, HostPort, LogLevel } from './schema.js';
export { DEFAULT_CONFIG, DEFAULT_CONFIG_TOML } from './defaults.js';
export { parseAddress, formatAddress, checkAddress, AddressError } from './address.js';
