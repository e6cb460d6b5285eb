// Checks and paths shared by the scenarios.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Helper } from '../children.js';

/** Fails unless the echo master saw no Failure and no protocol error. */
export async function checkMaster(master: Helper, key: string): Promise<{ data: number; reconnections: number }> {
  const s = await master.request({ type: 'stats' }, 'stats');
  if (s.failures > 0 || s.errors.length > 0) {
    throw new Error(`(${key}) the echo master saw ${s.failures} Failure packet(s) and errors: ${s.errors.join('; ')}`);
  }
  return { data: s.data, reconnections: s.reconnections };
}

/** A fresh sub-directory of the profile directory. */
export function profileFile(dir: string, name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}
