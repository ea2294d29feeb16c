/**
 * The five semver functions the feed's code uses, each from its own file
 * (semver documents loading "just the module for the function that you care
 * about"): its index loads all 47 of its modules, about 45 ms of CPU at the
 * start of every `update` and `status` (docs/performance.md).
 */
import compare from "semver/functions/compare.js";
import gt from "semver/functions/gt.js";
import rsort from "semver/functions/rsort.js";
import valid from "semver/functions/valid.js";
import maxSatisfying from "semver/ranges/max-satisfying.js";

export const semver = { compare, gt, maxSatisfying, rsort, valid };
