"""What changed between two model versions, rule by rule. No I/O."""

from typing import Any

from scoring.rules.model_config import ScoringModelConfig

_RULE_LISTS = ("fit_rules", "engagement_rules", "disqualifiers")
_SETTINGS = ("grades", "default_grade", "mql", "decay", "learning")


def diff_models(old: ScoringModelConfig, new: ScoringModelConfig) -> dict[str, Any]:
    """Rules added, removed and changed (matched by id), and changed settings, old to new."""
    old_dump, new_dump = old.model_dump(mode="json"), new.model_dump(mode="json")
    result: dict[str, Any] = {"added": [], "removed": [], "changed": [], "settings": []}
    for section in _RULE_LISTS:
        before = {rule["id"]: rule for rule in old_dump[section]}
        after = {rule["id"]: rule for rule in new_dump[section]}
        for rule_id in sorted(after.keys() - before.keys()):
            result["added"].append({"section": section, "rule": after[rule_id]})
        for rule_id in sorted(before.keys() - after.keys()):
            result["removed"].append({"section": section, "rule": before[rule_id]})
        for rule_id in sorted(before.keys() & after.keys()):
            fields = sorted(
                key for key in before[rule_id].keys() | after[rule_id].keys()
                if before[rule_id].get(key) != after[rule_id].get(key)
            )
            if fields:
                result["changed"].append({
                    "section": section, "id": rule_id,
                    "fields": {key: {"from": before[rule_id].get(key),
                                     "to": after[rule_id].get(key)} for key in fields},
                })
    for setting in _SETTINGS:
        if old_dump[setting] != new_dump[setting]:
            result["settings"].append({"setting": setting, "from": old_dump[setting],
                                       "to": new_dump[setting]})
    return result
