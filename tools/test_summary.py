#!/usr/bin/env python3
"""Counts test cases of one `bazel test` run and prints "N passed, M failed".

Usage: test_summary.py BUILD_EVENTS_JSON PATTERN...

The build event file says which test targets this invocation ran (or took from the cache) and
how each ended; each such target's JUnit XML gives its test cases. A target that the patterns
name but that has no result in this invocation (it did not build) counts as one failed case, so a
broken build never reads as green. Exits 1 when anything failed or no test ran.
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree


def test_targets(patterns):
    """The tests `bazel test PATTERN...` runs: wildcards leave out tests tagged manual (the GPU
    tests), a label named explicitly keeps them."""
    def expand(pattern):
        wildcard = pattern.endswith("...") or pattern.endswith(":all") or pattern.endswith(":*")
        if wildcard:
            return "(tests(%s) except attr(tags, '\\bmanual\\b', tests(%s)))" % (pattern, pattern)
        return "tests(%s)" % pattern
    query = " + ".join(expand(p) for p in patterns)
    out = subprocess.run(["bazel", "query", query, "--output=label"], capture_output=True,
                         text=True, check=False)
    return [line.strip() for line in out.stdout.splitlines() if line.startswith("//")]


def summaries(events_path):
    """Maps target label -> overall status (PASSED, FAILED, TIMEOUT, ...)."""
    result = {}
    with open(events_path) as events:
        for line in events:
            event = json.loads(line)
            summary_id = event.get("id", {}).get("testSummary")
            if summary_id and "testSummary" in event:
                result[summary_id["label"]] = event["testSummary"].get("overallStatus", "FAILED")
    return result


def count_cases(xml_path, target_status):
    root = ElementTree.parse(xml_path).getroot()
    passed = failed = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.get("status", "run") == "notrun" or case.find("skipped") is not None:
            continue
        else:
            passed += 1
    if target_status != "PASSED" and failed == 0:
        failed = 1  # crashed or timed out before the XML could say so
    if passed == 0 and failed == 0:
        passed = 1  # a target whose XML lists no case (a shell test) counts as one
    return passed, failed


def main():
    events_path = sys.argv[1]
    patterns = [a for a in sys.argv[2:] if not a.startswith("-")] or ["//..."]
    status_by_target = summaries(events_path)
    passed = failed = 0
    failing = []
    for label in test_targets(patterns):
        status = status_by_target.get(label)
        package, _, name = label[2:].partition(":")
        xml_path = os.path.join("bazel-testlogs", package, name, "test.xml")
        if status is None or not os.path.exists(xml_path):
            failed += 1
            failing.append(label + " (no result: did it build?)")
            continue
        target_passed, target_failed = count_cases(xml_path, status)
        passed += target_passed
        failed += target_failed
        if target_failed:
            failing.append("%s (%s)" % (label, status))
    for label in failing:
        print("failed: " + label)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
