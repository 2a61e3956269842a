"""docs/security.md lists every resource limit with its default and override, so it cannot drift."""

from __future__ import annotations

import re

from regiongan.limits import LIMITS, env_name

from .conftest import REPO


def test_every_limit_is_documented_with_its_default_and_variable():
    text = (REPO / "docs" / "security.md").read_text()
    rows = {m.group(1): m for m in re.finditer(r"^\| `(\w+)` \| ([\d,]+) \| `(\w+)` \|", text, re.M)}
    assert set(rows) == set(LIMITS), f"documented {sorted(rows)} vs code {sorted(LIMITS)}"
    for name, limit in LIMITS.items():
        assert int(rows[name].group(2).replace(",", "")) == limit.default, name
        assert rows[name].group(3) == env_name(name), name
