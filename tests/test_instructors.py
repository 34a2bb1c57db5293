"""INSTRUCTORS.md quotes only measured numbers: its table of recorded runs is what the record holds."""

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("contrastlab_tools_record_verdicts", ROOT / "tools" / "record_verdicts.py")
record = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = record
_spec.loader.exec_module(record)


def test_guide_table_is_the_recorded_one():
    data = json.loads(record.verdicts.RECORDED.read_text(encoding="utf-8"))
    text = record.GUIDE.read_text(encoding="utf-8")
    block = text.split(record.START, 1)[1].split(record.END, 1)[0].strip()
    assert block == record.render_table(data), "INSTRUCTORS.md's table is stale: python tools/record_verdicts.py --table-only"


def test_every_lesson_is_recorded_and_in_the_guide():
    data = json.loads(record.verdicts.RECORDED.read_text(encoding="utf-8"))
    lessons = {p.stem for p in record.lessons(None)}
    assert set(data["notebooks"]) == lessons, (
        f"recorded {sorted(data['notebooks'])}, lessons {sorted(lessons)}: run python tools/record_verdicts.py")
    text = record.GUIDE.read_text(encoding="utf-8")
    missing = [stem for stem in lessons if f"`{stem}`" not in text.split(record.START)[0]]
    assert not missing, f"INSTRUCTORS.md has no entry before its table for {missing}"
