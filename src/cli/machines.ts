// `voltlane machines [session|supervisor] [--format mermaid|json|dot]`: print the machines as generated descriptions.
import { DESCRIBE_FORMATS, MACHINES, renderMachines, type DescribeFormat } from '../machines/describe.js';

/** The text the command prints; throws an Error naming the bad argument. Default: every machine, mermaid. */
export function machinesOutput(names: readonly string[], format: string | undefined): string {
  const f = format ?? 'mermaid';
  if (!(DESCRIBE_FORMATS as readonly string[]).includes(f)) {
    throw new Error(`--format must be one of ${DESCRIBE_FORMATS.join(', ')}, not ${JSON.stringify(f)}`);
  }
  return renderMachines(names.length > 0 ? names : Object.keys(MACHINES), f as DescribeFormat);
}

export function runMachines(names: readonly string[], format: string | undefined): void {
  process.stdout.write(machinesOutput(names, format));
}
