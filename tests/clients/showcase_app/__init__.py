"""Code shaped like Tethys's Gizmo Showcase app (its jobs-table page), written for these
tests from the facts in the reference file: what it calls, with which arguments."""
