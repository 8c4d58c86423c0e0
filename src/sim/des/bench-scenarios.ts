import type { BackendSpec } from './fleet.js';
import { homogeneous } from './fleet.js';

/** Which of the targets a scenario is checked against. */
export type TargetClass = 'shared-prefix' | 'prefill-heavy' | 'other';

/** A benchmark row: a catalog workload on a fleet, optionally with a stressor. */
export interface Scenario {
  readonly name: string;
  readonly workload: string;
  readonly note: string;
  readonly backends: readonly BackendSpec[];
  readonly arrivalCv?: number;
  /** Restart one backend this fraction into the measured window; it is down for downMs. */
  readonly restart?: { readonly backend: number; readonly atFraction: number; readonly downMs: number };
  /** Starting QPS for the saturation search (any reasonable guess; the search brackets from there). */
  readonly qpsHint: number;
  readonly target: TargetClass;
  /** Included in --quick. */
  readonly quick: boolean;
}

const halfSpeedTwo: BackendSpec[] = [...homogeneous(6), { speed: 0.5 }, { speed: 0.5 }];

export const SCENARIOS: readonly Scenario[] = [
  { name: 'b2b-saas', workload: 'b2b-saas', note: '', backends: homogeneous(8), qpsHint: 15, target: 'shared-prefix', quick: true },
  { name: 'few-sys-chat', workload: 'few-sys-chat', note: '', backends: homogeneous(8), qpsHint: 30, target: 'shared-prefix', quick: false },
  { name: 'long-q-many-sys', workload: 'long-q-many-sys', note: '', backends: homogeneous(8), qpsHint: 12, target: 'prefill-heavy', quick: true },
  { name: 'interactive-chat', workload: 'interactive-chat', note: '', backends: homogeneous(8), qpsHint: 60, target: 'other', quick: false },
  { name: 'code-gen', workload: 'code-gen', note: '', backends: homogeneous(8), qpsHint: 9, target: 'prefill-heavy', quick: true },
  { name: 'reasoning', workload: 'reasoning', note: '', backends: homogeneous(8), qpsHint: 27, target: 'other', quick: true },
  { name: 'sharegpt', workload: 'sharegpt', note: '', backends: homogeneous(8), qpsHint: 450, target: 'other', quick: false },
  { name: 'b2b-saas-bursty', workload: 'b2b-saas', note: 'Gamma arrivals, CV 2.5', backends: homogeneous(8), arrivalCv: 2.5, qpsHint: 12, target: 'shared-prefix', quick: false },
  { name: 'b2b-saas-hetero', workload: 'b2b-saas', note: '2 of 8 replicas at half speed', backends: halfSpeedTwo, qpsHint: 12, target: 'shared-prefix', quick: false },
  { name: 'b2b-saas-restart', workload: 'b2b-saas', note: 'replica 3 restarts (cache flushed, 10 s down) mid-measurement', backends: homogeneous(8), restart: { backend: 3, atFraction: 0.3, downMs: 10_000 }, qpsHint: 12, target: 'other', quick: false },
];

export function scenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown scenario ${name}`);
  return s;
}
