import { unwatchFile, watchFile, type Stats } from 'node:fs';

export interface ConfigWatcher {
  close(): void;
}

/** How often the config file's metadata is checked. */
export const CONFIG_POLL_MS = 1000;

/**
 * Calls `onChange` (debounced) when the config file changes, by checking its metadata (stat, through any symlinks)
 * every `pollMs`. libuv compares the whole stat (inode, size, times), so every way a config is replaced is seen: an
 * edit in place, an editor's rename over the file, a Kubernetes ConfigMap's `..data` symlink swap, a `ln -sfn`, a file
 * deleted and created again.
 *
 * Why not inotify (`fs.watch`): a watch on the file itself ends when the file is replaced and misses a symlink swap
 * that leaves the old target in place, so it has to watch the directory, and a directory watch wakes the process for
 * every write to every file beside the config. A usage log or request log kept next to the config (the usual layout)
 * woke every gateway watching that directory hundreds of times a second under load, each wake-up preempting whatever
 * the core was serving (bench/NOTES.md, "The config watcher woke on its neighbours' writes"). A stat a second costs
 * nothing and a reload a second late costs nothing either.
 */
export function watchConfigFile(file: string, onChange: () => void, debounceMs = 250, pollMs = CONFIG_POLL_MS): ConfigWatcher {
  let timer: NodeJS.Timeout | null = null;
  const listener = (curr: Stats, prev: Stats): void => {
    // A file that is still missing (both stats zeroed) has not changed.
    if (curr.mtimeMs === 0 && prev.mtimeMs === 0 && curr.ino === 0 && prev.ino === 0) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, debounceMs);
    timer.unref();
  };
  watchFile(file, { persistent: false, interval: pollMs }, listener);
  return {
    close() {
      if (timer) clearTimeout(timer);
      timer = null;
      unwatchFile(file, listener);
    },
  };
}
