// setImmediate/clearImmediate for the browser build (injected where the code names them): a callback queue
// run from one MessageChannel message per turn, after the current task, without the 4 ms clamp of timers.
type Task = { fn: (...args: unknown[]) => void; args: unknown[]; cancelled: boolean };

let queue: Task[] = [];
let posted = false;
/** The browser's MessageChannel, as far as it is used here. */
interface Channel {
  port1: { onmessage: (() => void) | null };
  port2: { postMessage(message: null): void };
}

let channel: Channel | null = null;

function run(): void {
  posted = false;
  const tasks = queue;
  queue = [];
  for (const t of tasks) if (!t.cancelled) t.fn(...t.args);
}

export function setImmediate(fn: (...args: unknown[]) => void, ...args: unknown[]): Task {
  const task: Task = { fn, args, cancelled: false };
  queue.push(task);
  if (!posted) {
    posted = true;
    if (typeof MessageChannel === 'function') {
      if (!channel) {
        channel = new (MessageChannel as unknown as new () => Channel)();
        channel.port1.onmessage = run;
      }
      channel.port2.postMessage(null);
    } else {
      setTimeout(run, 0);
    }
  }
  return task;
}

export function clearImmediate(task: Task | null | undefined): void {
  if (task) task.cancelled = true;
}
