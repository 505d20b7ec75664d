"""axe-core in a Playwright page: the WCAG 2.0 and 2.1 A and AA rules, run on what the
page shows now. axe is vendored (``vendor/axe-core``), injected from the disk, never a CDN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_VERSION = "4.14.1"
AXE_JS = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# the WCAG 2.1 AA conformance level (its A and AA criteria and the 2.0 ones it includes),
# and axe's best practices: landmarks, the order of headings, one <h1>, unique ids... which
# the pages meet too (drop "best-practice" to check WCAG alone)
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The violations axe finds on the page as it is now (each with its id, impact,
    help and the nodes' targets). axe is injected if the page does not have it yet."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    version = page.evaluate("window.axe.version")
    assert version == AXE_VERSION, f"vendored axe-core is {version}, expected {AXE_VERSION}"
    result: dict[str, Any] = page.evaluate(
        """tags => axe.run(document, {
                runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
            .then(r => ({violations: r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary}))}))}))""",
        WCAG_TAGS,
    )
    return list(result["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    """The violations one per line: id, impact, help, then each failing node's target and
    why it fails (what a person fixing the template needs)."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"][:10]:
            why = " ".join(str(node["summary"] or "").split())
            lines.append(f"    {node['target']}: {why}")
        if len(v["nodes"]) > 10:
            lines.append(f"    ... and {len(v['nodes']) - 10} more")
    return "\n".join(lines)
