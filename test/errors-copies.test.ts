/**
 * The bundled program has its own copy of src/errors.ts, and the master's
 * modules, loaded beside it from dist/, use tsc's: an UpdaterError of one
 * copy must be one for the other (its code, not E_INTERNAL).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { codeOf, isUpdaterError, UpdaterError } from "../src/errors.js";

test("an UpdaterError from another copy of the module keeps its code", async () => {
  // a second instance of the module, as a bundle and tsc's dist/ each have one
  const other = (await import(
    `../src/errors.js?copy=${Date.now()}`
  )) as typeof import("../src/errors.js");
  assert.notEqual(other.UpdaterError, UpdaterError, "a second copy of the class");
  const error = new other.UpdaterError("E_CONFIG", "config x: key y: expected z, found w");
  assert.ok(error instanceof UpdaterError);
  assert.ok(isUpdaterError(error));
  assert.equal(codeOf(error), "E_CONFIG");
  assert.equal(codeOf(new Error("a bug")), "E_INTERNAL");
  assert.ok(!(new Error("plain") instanceof UpdaterError));
  assert.ok(!((null as unknown) instanceof UpdaterError));
});

test("a subclass is still checked as a class: another UpdaterError is not one of it", () => {
  class Narrow extends UpdaterError {}
  assert.ok(new Narrow("E_IO", "x") instanceof UpdaterError);
  assert.ok(new Narrow("E_IO", "x") instanceof Narrow);
  assert.ok(!(new UpdaterError("E_IO", "x") instanceof Narrow));
});
