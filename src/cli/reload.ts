// SIGHUP: read the config again (file, .env, environment, the same flags) and apply what may change while running
// (src/config/reload.ts); report what needs a restart; a bad file changes nothing. The TLS certificates are read
// again too.
import type { Edge } from '../actors/edge.js';
import { ConfigError, type LoadedConfig } from '../config/index.js';
import { describeChanges, planReload } from '../config/reload.js';
import type { Logger } from '../log.js';

const LEVEL_VALUE: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

export interface ReloadTarget {
  edge: Edge;
  log: Logger;
  /** Loads the config as the daemon did at start (same path, same flags). Throws ConfigError on a bad file. */
  load: () => LoadedConfig;
}

/**
 * One reload. Log lines: `config.reload_failed` (error, nothing changed) or `config.needs_restart` (warn, the
 * restart-only keys that differ, kept as they are) and exactly one `config.reloaded` (info: the keys applied,
 * old -> new, or that there were none).
 */
export function reloadConfig(t: ReloadTarget, signal = 'SIGHUP'): void {
  const { edge, log } = t;
  let loaded: LoadedConfig;
  try {
    loaded = t.load();
  } catch (err) {
    // The first line: a TOML syntax error goes on with a picture of the line, which a log line can do without.
    const why = (err instanceof ConfigError || err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
    log.error({ signal }, `config.reload_failed: ${why}; nothing changed`);
    reloadCertificates(edge, signal);
    return;
  }
  for (const w of loaded.warnings) log.warn({ path: loaded.path }, `config.warning: ${w}`);
  const plan = planReload(edge.config, loaded.config);
  if (plan.needsRestart.length > 0) {
    log.warn(
      { signal, path: loaded.path, needsRestart: Object.fromEntries(plan.needsRestart.map((c) => [c.key, { from: c.from, to: c.to }])) },
      `config.needs_restart: ${describeChanges(plan.needsRestart)}: kept as they are until the edge is restarted`,
    );
  }
  const changed = Object.fromEntries(plan.applied.map((c) => [c.key, { from: c.from, to: c.to }]));
  const line = () =>
    log.info(
      { signal, path: loaded.path, changed },
      plan.applied.length > 0 ? `config.reloaded: ${describeChanges(plan.applied)}` : 'config.reloaded: no setting that can change while running changed',
    );
  const level = plan.effective.general.logLevel === 'off' ? 'silent' : plan.effective.general.logLevel;
  // The line goes out at whichever of the two levels lets info lines through (a move to a quieter level still says so).
  const quieter = (LEVEL_VALUE[level] ?? 30) > (LEVEL_VALUE[log.level] ?? 30);
  if (quieter) line();
  log.level = level;
  edge.applySettings(plan.effective);
  if (!quieter) line();
  reloadCertificates(edge, signal);
}

function reloadCertificates(edge: Edge, signal: string): void {
  if (edge.transports.hasCertificates) edge.transports.reloadCertificates(signal);
}
