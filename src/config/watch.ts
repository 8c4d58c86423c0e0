import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface ConfigWatcher {
  close(): void;
}

/**
 * Calls `onChange` (debounced) when the config file changes. Watches the directory, not the file, because editors
 * and Kubernetes ConfigMaps replace the file (rename or symlink swap), which ends a watch on the file itself.
 */
export function watchConfigFile(file: string, onChange: () => void, debounceMs = 250): ConfigWatcher {
  const name = basename(file);
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name && changed !== '..data') return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, debounceMs);
      timer.unref();
    });
    watcher.on('error', () => {
      // A vanished directory must not crash the gateway; SIGHUP still reloads.
    });
  } catch {
    watcher = null;
  }
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
    },
  };
}
