import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';

/** Fetches `path` now and every `everyMs` while mounted (0: once); keeps the last good data through a failed poll. */
export function usePoll<T>(path: string, everyMs: number): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    const load = () =>
      api<T>(path).then(
        (d) => {
          if (!alive) return;
          setData(d);
          setError(null);
        },
        (e: Error) => alive && setError(e.message),
      );
    void load();
    const timer = everyMs > 0 ? setInterval(load, everyMs) : null;
    return () => {
      alive = false;
      if (timer) clearInterval(timer);
    };
  }, [path, everyMs, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}
