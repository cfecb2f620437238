"""The expanded specifications are kept on disk per specifications version, written atomically."""

import json

from dkist_processing_core.calibration.l1 import spec_cache, translation


def test_translation_rules_are_read_back_from_disk_equal_to_the_schema(tmp_path, monkeypatch):
    monkeypatch.setenv(spec_cache.CACHE_DIR_ENV, str(tmp_path))
    translation._translation_rules.cache_clear()
    translation._level0_only_and_spec122_keys.cache_clear()
    try:
        built = translation._translation_rules("VBI")
        files = sorted(p.name for p in tmp_path.iterdir())
        version = spec_cache._specifications_version()
        assert f"spec214-l0-rules-VBI-spec{version}.json" in files
        assert not [name for name in files if name.startswith(".")]  # no temporary left
        translation._translation_rules.cache_clear()
        assert translation._translation_rules("VBI") == built  # now from the file
        assert [tuple(rule) for rule in translation._build_translation_rules("VBI")] == list(built)
    finally:
        translation._translation_rules.cache_clear()
        translation._level0_only_and_spec122_keys.cache_clear()


def test_a_corrupt_or_unwritable_cache_only_costs_the_computation(tmp_path, monkeypatch):
    monkeypatch.setenv(spec_cache.CACHE_DIR_ENV, str(tmp_path))
    path = tmp_path / f"answer-spec{spec_cache._specifications_version()}.json"
    path.write_text("{not json")
    assert spec_cache.cached("answer", lambda: {"value": 42}) == {"value": 42}
    assert json.loads(path.read_text()) == {"value": 42}  # rewritten whole
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(spec_cache.CACHE_DIR_ENV, str(blocker / "below a file"))
    assert spec_cache.cached("answer", lambda: [1, 2]) == [1, 2]
