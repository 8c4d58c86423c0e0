import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';

/**
 * Fetches `path` now and every `everyMs` while mounted (0: once); keeps the last good data through a failed poll.
 * Data and errors belong to the path they came from: when the path changes (another range or grouping on the usage
 * page), the old path's rows are not shown under the new one's headings while it loads, nor beside its error.
 */
export function usePoll<T>(path: string, everyMs: number): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<{ path: string; value: T } | null>(null);
  const [error, setError] = useState<{ path: string; message: string } | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    const load = () =>
      api<T>(path).then(
        (d) => {
          if (!alive) return;
          setData({ path, value: d });
          setError(null);
        },
        (e: Error) => alive && setError({ path, message: e.message }),
      );
    void load();
    const timer = everyMs > 0 ? setInterval(load, everyMs) : null;
    return () => {
      alive = false;
      if (timer) clearInterval(timer);
    };
  }, [path, everyMs, tick]);
  return {
    data: data?.path === path ? data.value : null,
    error: error?.path === path ? error.message : null,
    reload: () => setTick((t) => t + 1),
  };
}
