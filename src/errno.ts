// The `code` of a failed system call (ENOENT, EACCES...), read from anything a catch block holds.

export function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}
