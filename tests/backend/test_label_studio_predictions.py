"""The refresh steps of backend.label_studio_predictions against a stand-in Label Studio client (pure logic)."""
from __future__ import annotations

import numpy as np

from backend.label_studio_predictions import delete_superseded, is_priority_version, switch_queue


class StandIn:
    """Records calls; holds model versions with their prediction counts."""

    def __init__(self, versions: dict[str, int]):
        self.versions = dict(versions)
        self.calls: list[tuple] = []

    def import_predictions(self, project, rows):
        self.calls.append(("import_predictions", project, len(rows)))
        for r in rows:
            self.versions[r["model_version"]] = self.versions.get(r["model_version"], 0) + 1
        return len(rows)

    def set_queue_version(self, project, version):
        self.calls.append(("set_queue_version", project, version))

    def model_versions(self, project):
        return dict(self.versions)

    def delete_model_version(self, project, version):
        self.calls.append(("delete_model_version", project, version))
        return self.versions.pop(version, 0)


def test_only_this_projects_priority_versions_are_ours():
    assert is_priority_version("modelpicker-p3-n4-abcdef12", 3)
    assert is_priority_version("modelpicker-p3-r2-n0-abcdef12", 3)
    assert not is_priority_version("modelpicker-p31-n4-abcdef12", 3)   # another project
    assert not is_priority_version("modelpicker-priority-1", 3)        # not a name the backend gives
    assert not is_priority_version("svc_rbf", 3)                       # a candidate's predictions


def test_switch_pushes_then_switches_and_delete_keeps_other_versions():
    api = StandIn({"modelpicker-p3-n0-old00000": 5, "modelpicker-p4-n0-other000": 5, "svc_rbf": 5})
    out = switch_queue(api, 3, np.array([11, 12]), np.array([0.0, 0.5]), "modelpicker-p3-n1-new00000")
    assert out["pushed"] == 2
    assert [c[0] for c in api.calls] == ["import_predictions", "set_queue_version"]
    removed = delete_superseded(api, 3, "modelpicker-p3-n1-new00000")
    assert removed["superseded"] == ["modelpicker-p3-n0-old00000"] and removed["deleted"] == 5
    assert set(api.versions) == {"modelpicker-p3-n1-new00000", "modelpicker-p4-n0-other000", "svc_rbf"}


def test_switch_with_nothing_to_push_changes_nothing():
    api = StandIn({"modelpicker-p3-n0-old00000": 5})
    out = switch_queue(api, 3, np.array([], dtype=int), np.array([]), "modelpicker-p3-n5-new00000")
    assert out == {"pushed": 0, "seconds": {"push": 0.0, "switch": 0.0}}
    assert api.calls == []
