/** One step of a cycle as a report and the in-flight record carry it: its name, wall time and outcome. */
export interface StepRecord {
  name: string;
  ms: number;
  ok: boolean;
}
